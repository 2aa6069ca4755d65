"""``GET /health`` (functions/health): public, answers 200 when the table, the buckets and the queue the
API depends on can be reached, 503 naming the check that failed otherwise, and never tells a resource
name, ARN, account or error text."""
from __future__ import annotations

import json

import boto3
import pytest

CHECKS = {"table", "attachments_bucket", "inbound_mail_bucket", "reports_bucket", "email_intake_queue"}


@pytest.fixture
def health(client):
    from functions.health import api

    api.reset()
    yield client
    api.reset()


def get(client) -> tuple[int, dict, dict]:
    res = client.http.get("/health")
    return res.status_code, json.loads(res.body), res.headers


def assert_names_nothing(body: dict, aws: dict) -> None:
    text = json.dumps(body)
    for value in (aws["TABLE_NAME"], aws["ATTACHMENTS_BUCKET"], aws["INBOUND_MAIL_BUCKET"], aws["REPORTS_BUCKET"],
                  aws["EMAIL_INTAKE_QUEUE_URL"], "complaints-dev", "arn:", "123456789012", "NoSuchBucket"):
        assert value not in text, value


def test_healthy_when_every_dependency_answers(health, aws):
    status, body, headers = get(health)  # no token: public
    assert status == 200
    assert body == {"status": "ok", "checks": {name: "ok" for name in CHECKS}}
    assert headers["Cache-Control"] == "no-store"
    assert_names_nothing(body, aws)


def test_a_missing_bucket_makes_it_unavailable_and_says_which_check(health, aws, app_logs):
    boto3.client("s3").delete_bucket(Bucket=aws["REPORTS_BUCKET"])  # empty in a fresh stack
    status, body, headers = get(health)
    assert status == 503 and headers["Retry-After"] == "30"
    assert body["status"] == "unavailable" and body["error"] == "unavailable"
    assert body["checks"] == {**{name: "ok" for name in CHECKS}, "reports_bucket": "failed"}
    assert body["details"] == [{"field": "reports_bucket", "problem": "unreachable"}]
    assert_names_nothing(body, aws)
    logged = [json.loads(line) for line in app_logs.getvalue().splitlines() if line.startswith("{")]
    assert any(line.get("message") == "health check failed" and line.get("check") == "reports_bucket"
               for line in logged)

    # a failure is not remembered: the bucket back, healthy again at once
    boto3.client("s3").create_bucket(Bucket=aws["REPORTS_BUCKET"])
    assert get(health)[0] == 200


def test_a_missing_queue_or_table_fails_its_check(health, aws):
    boto3.client("sqs").delete_queue(QueueUrl=aws["EMAIL_INTAKE_QUEUE_URL"])
    dynamodb = boto3.client("dynamodb")
    dynamodb.update_table(TableName=aws["TABLE_NAME"], DeletionProtectionEnabled=False)
    dynamodb.delete_table(TableName=aws["TABLE_NAME"])
    status, body, _ = get(health)
    assert status == 503
    assert {name for name, result in body["checks"].items() if result == "failed"} == {"email_intake_queue", "table"}
    assert_names_nothing(body, aws)


def test_a_dependency_left_out_of_the_configuration_fails(health, aws, monkeypatch):
    from shared.config import settings

    monkeypatch.delenv("INBOUND_MAIL_BUCKET")
    settings.cache_clear()
    try:
        status, body, _ = get(health)
    finally:
        monkeypatch.setenv("INBOUND_MAIL_BUCKET", aws["INBOUND_MAIL_BUCKET"])
        settings.cache_clear()
    assert status == 503 and body["checks"]["inbound_mail_bucket"] == "failed"


def test_a_healthy_answer_is_reused_for_a_few_seconds(health, aws, monkeypatch):
    """A flood of probes costs AWS one round of checks per container every few seconds."""
    from functions.health import api

    calls = []
    real = api.Dependencies.table
    monkeypatch.setattr(api.Dependencies, "table", lambda self: (calls.append(1), real(self))[1])
    for _ in range(5):
        assert get(health)[0] == 200
    assert len(calls) == 1
