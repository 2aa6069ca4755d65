"""No complaint is stuck: if the publish fails after the write, the outbox delivers the event."""
from __future__ import annotations

import json

import boto3

from tests.support import a_complaint, post_json


def router_messages():
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName="complaints-dev-router")["QueueUrl"]
    out = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    for m in out:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return [json.loads(m["Body"])["detail"] for m in out]


def pending_mark(aws, number):
    item = boto3.client("dynamodb").get_item(TableName=aws["TABLE_NAME"],
                                             Key={"PK": {"S": "CASE#" + number}, "SK": {"S": "CASE"}})["Item"]
    return item.get("pending_event", {}).get("S")


def run_outbox(client):
    event = client.events.generate_cw_event(source="aws.events", detail_type="Scheduled Event", detail={},
                                            resources=["arn:aws:events:us-east-1:123456789012:rule/outbox"])
    return client.lambda_.invoke("publish_pending_events", event).payload


def test_failed_publish_still_accepts_and_the_outbox_delivers_later(client, aws, monkeypatch):
    from botocore.exceptions import ClientError

    from shared.events import EventPublisher

    real_publish = EventPublisher.publish

    def outage(self, event):
        raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "down"}}, "PutEvents")

    monkeypatch.setattr(EventPublisher, "publish", outage)
    res = post_json(client, "/complaints", a_complaint())
    assert res.status_code == 201
    number = json.loads(res.body)["complaint_id"]
    assert router_messages() == [] and pending_mark(aws, number) == "ComplaintReceived"

    monkeypatch.setenv("OUTBOX_GRACE_SECONDS", "0")
    from tests.conftest import _forget_cached_services
    _forget_cached_services()
    assert run_outbox(client) == {"published": 0, "failed": 1}  # still down: stays pending
    assert pending_mark(aws, number) == "ComplaintReceived"

    monkeypatch.setattr(EventPublisher, "publish", real_publish)
    assert run_outbox(client) == {"published": 1, "failed": 0}
    assert [m["complaint_id"] for m in router_messages()] == [number]
    assert pending_mark(aws, number) is None
    assert run_outbox(client) == {"published": 0, "failed": 0}


def test_the_outbox_leaves_recent_cases_to_their_own_request(client, aws):
    from shared.events import EventPublisher

    original = EventPublisher.publish
    EventPublisher.publish = lambda self, event: (_ for _ in ()).throw(RuntimeError("down"))
    try:
        number = json.loads(post_json(client, "/complaints", a_complaint()).body)["complaint_id"]
    finally:
        EventPublisher.publish = original
    assert run_outbox(client) == {"published": 0, "failed": 0}  # within the 60 s grace period
    assert pending_mark(aws, number) == "ComplaintReceived"
