"""Business metrics (CloudWatch EMF lines on the function's stdout, ``shared/metrics.py``) and the logs'
correlation keys, seen as an operator sees them: through the functions' handlers as Lambda calls them
(the HTTP API, the SQS consumers, the SLA schedule).

EMF lines are written with ``sys.stdout`` of the moment, so ``capsys`` holds them; the structured logs
go to ``app_logs`` (see tests/conftest.py).
"""
from __future__ import annotations

import json

import boto3
import pytest

from shared.metrics import emitted
from tests.integration.test_assignment_concurrency import atomic_transactions  # noqa: F401 - fixture
from tests.integration.test_notifier import SENDER, notify, queued_event, sent_emails
from tests.integration.test_routing import (  # noqa: F401 - fixtures
    FOOD, POISONING, ROUTER_QUEUE, admin, assign, clock, drain, fake_model, hire, set_leads, staff_alerts, submit)
from tests.support import a_complaint, post_json


@pytest.fixture(autouse=True, scope="module")
def logger_made_outside_capsys():
    """The Powertools handler keeps the stdout of the moment it is made: make it before any capsys."""
    from shared.observability import logger

    logger()


def metrics_of(out: str, name: str) -> list[dict]:
    return [m for m in emitted(out) if m["name"] == name]


def log_lines(app_logs) -> list[dict]:
    return [json.loads(line) for line in app_logs.getvalue().splitlines() if line.startswith("{")]


# -- intake ---------------------------------------------------------------------------------------------------
def test_a_submitted_complaint_counts_as_received_by_channel_with_no_personal_data(client, capsys, app_logs):
    res = post_json(client, "/complaints", a_complaint(), {"Idempotency-Key": "metrics-1"})
    assert res.status_code == 201
    number = json.loads(res.body)["complaint_id"]
    out = capsys.readouterr().out
    [received] = metrics_of(out, "ComplaintsReceived")
    assert received["value"] == 1 and received["unit"] == "Count" and received["namespace"] == "Complaints"
    assert received["dimensions"] == {"service": "complaints-service", "channel": "web"}
    for secret in ("li.wei@example.com", "Li Wei", "13800138000", "dumplings", number):
        assert secret not in out, secret  # metrics carry counts and bounded dimensions only

    # a replay of the same request (idempotency key) is not a second complaint
    post_json(client, "/complaints", a_complaint(), {"Idempotency-Key": "metrics-1"})
    assert metrics_of(capsys.readouterr().out, "ComplaintsReceived") == []
    # every log line of the request carries its correlation id; the complaint's carry its number
    lines = [line for line in log_lines(app_logs) if line.get("message") == "complaint received"]
    assert lines and lines[0]["complaint_id"] == number and lines[0]["correlation_id"]


def test_a_refused_complaint_counts_nothing(client, capsys):
    res = post_json(client, "/complaints", a_complaint(customer={"name": "x", "email": "not-an-email"}))
    assert res.status_code in (400, 422)
    assert metrics_of(capsys.readouterr().out, "ComplaintsReceived") == []


def test_each_request_has_its_own_correlation_id_and_no_case_number_leaks_into_the_next(client, app_logs):
    first = json.loads(post_json(client, "/complaints", a_complaint()).body)["complaint_id"]
    post_json(client, "/complaints", a_complaint(customer={"name": "x", "email": "bad"}))  # logged, refused
    lines = log_lines(app_logs)
    received = next(line for line in lines if line.get("message") == "complaint received")
    refused = [line for line in lines if line.get("message") == "request invalid"]
    assert received["complaint_id"] == first
    assert refused and all("complaint_id" not in line for line in refused)
    assert all(line["correlation_id"] != received["correlation_id"] for line in refused)


# -- router and assignment --------------------------------------------------------------------------------------
def test_classification_records_its_confidence_and_routing_its_department(client, clock, capsys, app_logs):
    hire("staff-alice")
    numbers = [submit(client, FOOD), submit(client, POISONING)]
    capsys.readouterr()
    event = drain(ROUTER_QUEUE)
    assert len(event["Records"]) == 2
    assert client.lambda_.invoke("route_complaint", event).payload == {"batchItemFailures": []}
    out = capsys.readouterr().out
    confidences = metrics_of(out, "ClassificationConfidence")
    assert len(confidences) == 2 and all(0 <= c["value"] <= 1 for c in confidences)
    assert len(metrics_of(out, "ComplaintsClassified")) == 2
    # one invocation, one flush: both records' values in a single EMF line
    assert len([line for line in out.splitlines() if '"ClassificationConfidence"' in line]) == 1

    # each record's log lines carry its own message id and case number
    by_message = {r["messageId"]: r for r in event["Records"]}
    classified = [line for line in log_lines(app_logs) if line.get("message") == "complaint classified"]
    assert {line["complaint_id"] for line in classified} == set(numbers)
    for line in classified:
        assert line["correlation_id"] in by_message
        assert json.loads(by_message[line["correlation_id"]]["body"])["detail"]["complaint_id"] == line["complaint_id"]

    assign(client)
    routed = metrics_of(capsys.readouterr().out, "ComplaintsRouted")
    assert sum(r["value"] for r in routed) == 2
    assert {r["dimensions"]["department"] for r in routed} == {"quality"}
    assert {r["dimensions"]["kind"] for r in routed} <= {"assigned", "queued"}


# -- the SLA sweep -------------------------------------------------------------------------------------------------
def scheduled(client) -> dict:
    return client.events.generate_cw_event(source="aws.events", detail_type="Scheduled Event", detail={},
                                           resources=["arn:aws:events:us-east-1:123456789012:rule/sweep"])


def test_an_sla_breach_is_counted_once(client, clock, admin, staff_alerts, capsys, app_logs):
    set_leads(client, admin, quality=("staff-qa-lead", "staff-qa-boss"))
    hire("staff-alice")
    submit(client, POISONING)  # P1: first response due within the hour
    assert client.lambda_.invoke("route_complaint", drain(ROUTER_QUEUE)).payload == {"batchItemFailures": []}
    assign(client)
    capsys.readouterr()

    clock.set(minutes=35)  # half the first-response time used: a warning
    assert client.lambda_.invoke("sweep_sla", scheduled(client)).payload["errors"] == 0
    out = capsys.readouterr().out
    assert [m["value"] for m in metrics_of(out, "SlaWarnings")] == [1] and metrics_of(out, "SlaBreaches") == []

    clock.set(minutes=65)  # the deadline has passed
    event = scheduled(client)
    assert client.lambda_.invoke("sweep_sla", event).payload["errors"] == 0
    out = capsys.readouterr().out
    assert [m["value"] for m in metrics_of(out, "SlaBreaches")] == [1]
    assert metrics_of(out, "SlaBreaches")[0]["dimensions"] == {"service": "complaints-service"}  # as the alarm reads
    done = [line for line in log_lines(app_logs) if line.get("message") == "sla sweep done"]
    assert done[-1]["correlation_id"] == event["id"]  # the schedule's event id

    clock.set(minutes=66)  # swept again: nothing new
    client.lambda_.invoke("sweep_sla", scheduled(client))
    assert metrics_of(capsys.readouterr().out, "SlaBreaches") == []


# -- the notifier ---------------------------------------------------------------------------------------------------
@pytest.fixture
def notifier(aws, client):
    from infra.local_outbox import verify_sender

    verify_sender(boto3.client, SENDER)
    return client


def test_notifications_sent_and_failed_are_counted_by_channel(notifier, monkeypatch, capsys):
    from functions.notifier.channels import EmailChannel, SendFailed

    post_json(notifier, "/complaints", a_complaint())
    body = a_complaint()
    body["customer"] = {"name": "Zhang San", "phone": "+8613900139000"}
    post_json(notifier, "/complaints", body)
    capsys.readouterr()
    assert notify(notifier, queued_event()) == {"batchItemFailures": []}
    out = capsys.readouterr().out
    sent = {m["dimensions"]["channel"]: m["value"] for m in metrics_of(out, "NotificationsSent")}
    assert sent == {"email": 1, "sms": 1} and len(sent_emails()) == 1
    assert "13900139000" not in out and "Zhang San" not in out

    post_json(notifier, "/complaints", a_complaint())
    monkeypatch.setattr(EmailChannel, "send", lambda *a, **k: (_ for _ in ()).throw(
        SendFailed("email", "MessageRejected")))
    capsys.readouterr()
    assert len(notify(notifier, queued_event())["batchItemFailures"]) == 1
    out = capsys.readouterr().out
    assert [(m["dimensions"]["channel"], m["value"]) for m in metrics_of(out, "NotificationsFailed")] == [("email", 1)]
    assert metrics_of(out, "NotificationsSent") == []


def test_metrics_can_be_turned_off(client, capsys, monkeypatch):
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    post_json(client, "/complaints", a_complaint())
    assert emitted(capsys.readouterr().out) == []
