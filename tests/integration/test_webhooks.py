"""Outbound webhooks: a department's staff-facing case events are POSTed to its receivers (a real HTTP
server on 127.0.0.1), signed, in each receiver's format and language, without personal data, retried
with backoff until the receiver answers, once per event however often SQS delivers it.

The webhooks are configured through the admin API (``PUT /staff/config/notifications``), the signing
secret lives in (moto's) Secrets Manager, and events travel bus -> notifier queue -> handler.
"""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest

from infra.event_pump import sqs_event
from shared.lifecycle import Status
from tests.support import a_complaint, post_json

QUEUE = "complaints-dev-notifier"
SECRET_NAME, SECRET = "complaints/dev/webhooks/quality", "whsec-4f1c9a7e2b"
AGENT = "staff-li-wei"


# -- a receiver ----------------------------------------------------------------------------------------
class Receiver:
    """An HTTP server on 127.0.0.1 that records every POST and answers the scripted statuses per
    path (200 once the script is used up)."""

    def __init__(self) -> None:
        self.posts: list[dict] = []
        self.scripts: dict[str, list[int]] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                script = receiver.scripts.get(self.path) or []
                status = script.pop(0) if script else 200
                receiver.posts.append({"path": self.path, "headers": dict(self.headers), "body": body,
                                       "status": status})
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def at(self, path: str) -> list[dict]:
        return [p for p in self.posts if p["path"] == path]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.stop()


@pytest.fixture
def hooks(aws, client, make_token):
    """Configure the quality department's webhooks (admin API) with the signing secret in Secrets
    Manager; returns the configure function."""
    from infra.local_outbox import verify_sender

    verify_sender(boto3.client, "complaints@example.com")
    boto3.client("secretsmanager").create_secret(Name=SECRET_NAME, SecretString=SECRET)
    admin = {"Authorization": "Bearer " + make_token(role="admin", name="Admin"), "Content-Type": "application/json"}
    version = [0]

    def configure(*webhooks: dict, attempts: int = 3, backoff: float = 0.01) -> None:
        config = {"departments": [{"department": "quality", "webhooks": list(webhooks)}],
                  "webhook_attempts": attempts, "webhook_backoff_seconds": backoff, "webhook_timeout_seconds": 2}
        res = client.http.put("/staff/config/notifications", headers=admin,
                              body=json.dumps({"version": version[0], "config": config}))
        assert res.status_code == 200, res.body
        version[0] += 1

    return configure


def hook(webhook_id: str, url: str, **extra) -> dict:
    return {"webhook_id": webhook_id, "url": url, "secret_name": SECRET_NAME, **extra}


def queued_event() -> dict:
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=QUEUE)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"],
                                   MessageAttributeNames=["All"]).get("Messages", [])
    for m in messages:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return sqs_event(messages, arn, "us-east-1")


def notify(client, event) -> dict:
    return client.lambda_.invoke("notify_customer", event).payload


def a_case(client) -> str:
    """A submitted case (its acknowledgement drained), routed to quality."""
    from shared.clock import now
    from shared.store import complaint_repository

    number = json.loads(post_json(client, "/complaints", a_complaint()).body)["complaint_id"]
    queued_event()
    repo = complaint_repository()
    case, _ = repo.get(number)
    repo.save(case.model_copy(update={"version": case.version + 1, "updated_at": now(), "status": Status.IN_PROGRESS,
                                      "department": "quality", "assignee": AGENT, "priority": "P2",
                                      "category": "food_safety"}), [], expected_version=case.version)
    return number


def announce(number: str, kind: str, **fields):
    from shared.clock import now
    from shared.events import CaseEvent
    from shared.store import complaint_repository, event_publisher

    case, _ = complaint_repository().get(number)
    event = CaseEvent.of(case, kind, actor="system", at=now(), **fields)
    event_publisher().publish(event)
    return event


def log_item(aws, number: str, event_id: str, webhook_id: str) -> dict:
    key = {"PK": {"S": f"CASE#{number}"}, "SK": {"S": f"NOTIFY#{event_id}#webhook:{webhook_id}"}}
    return boto3.client("dynamodb").get_item(TableName=aws["TABLE_NAME"], Key=key).get("Item")


# -- delivery -----------------------------------------------------------------------------------------------
def test_each_receiver_gets_one_signed_post_in_its_format_without_personal_data(client, hooks, receiver, aws):
    from functions.notifier.webhooks import feishu_sign, verify_signature

    hooks(hook("ops", receiver.url("/generic")), hook("slack", receiver.url("/slack"), format="slack"),
          hook("feishu", receiver.url("/feishu"), format="feishu", language="zh"),
          hook("wecom", receiver.url("/wecom"), format="wecom", language="zh"),
          hook("escalations", receiver.url("/escalations"), kinds=["escalated"]))
    number = a_case(client)
    event = announce(number, "assigned", recipients=[AGENT])
    announce(number, "staff_replied")  # customer-facing: no webhook hears of it
    assert notify(client, queued_event()) == {"batchItemFailures": []}

    assert sorted(p["path"] for p in receiver.posts) == ["/feishu", "/generic", "/slack", "/wecom"]
    for post in receiver.posts:
        headers = post["headers"]
        assert headers["X-Complaints-Event-Id"] == event.event_id
        assert headers["Content-Type"] == "application/json; charset=utf-8"
        assert verify_signature(SECRET, headers["X-Complaints-Signature"], post["body"])
        assert not verify_signature("another secret", headers["X-Complaints-Signature"], post["body"])
        assert not verify_signature(SECRET, headers["X-Complaints-Signature"], post["body"] + b" ")
        for personal in ("Li Wei", "li.wei@example.com", "13800138000", "dumplings", "饺子", "SO-1001", AGENT):
            assert personal not in post["body"].decode("utf-8"), personal

    [generic] = receiver.at("/generic")
    body = json.loads(generic["body"])
    assert body == {"event_id": event.event_id, "kind": "assigned", "complaint_id": number, "department": "quality",
                    "priority": "P2", "category": "food_safety", "due_at": None, "at": event.at, "urgent": False,
                    "url": f"http://127.0.0.1:8000/staff/complaints/{number}", "language": "en",
                    "text": f"[P2] {number}: assigned to a handler | quality | food_safety | "
                            f"http://127.0.0.1:8000/staff/complaints/{number}"}
    assert json.loads(receiver.at("/slack")[0]["body"]) == {"text": body["text"]}
    feishu = json.loads(receiver.at("/feishu")[0]["body"])
    assert feishu["msg_type"] == "text" and "已分派处理人" in feishu["content"]["text"]
    assert feishu["sign"] == feishu_sign(SECRET, int(feishu["timestamp"]))
    wecom = json.loads(receiver.at("/wecom")[0]["body"])
    assert wecom == {"msgtype": "text", "text": {"content": feishu["content"]["text"]}}
    assert log_item(aws, number, event.event_id, "ops")["state"]["S"] == "sent"


def test_a_receiver_failing_twice_gets_exactly_one_successful_delivery(client, hooks, receiver, aws):
    hooks(hook("ops", receiver.url("/hook")), attempts=4)
    receiver.scripts["/hook"] = [503, 429, 200]
    number = a_case(client)
    event = announce(number, "escalated", data={"level": 1})
    assert notify(client, queued_event()) == {"batchItemFailures": []}
    assert [p["status"] for p in receiver.at("/hook")] == [503, 429, 200]  # three attempts, one success
    assert len({p["body"] for p in receiver.posts}) == 1  # the same signed body each time
    item = log_item(aws, number, event.event_id, "ops")
    assert item["state"]["S"] == "sent" and "error_code" not in item


def test_a_permanently_failing_receiver_fails_the_record_until_it_recovers(client, hooks, receiver, aws):
    hooks(hook("ops", receiver.url("/hook")), attempts=3)
    receiver.scripts["/hook"] = [500] * 6
    number = a_case(client)
    event = announce(number, "approval_needed", recipients=["staff-wang-fang"])
    delivery = queued_event()
    message_id = delivery["Records"][0]["messageId"]
    assert notify(client, delivery) == {"batchItemFailures": [{"itemIdentifier": message_id}]}
    assert len(receiver.at("/hook")) == 3  # webhook_attempts, then the record fails: SQS tries later
    item = log_item(aws, number, event.event_id, "ops")
    assert item["state"]["S"] == "failed" and item["error_code"]["S"] == "http_500"

    assert notify(client, delivery)["batchItemFailures"]  # SQS's next try: three more, still failing
    assert len(receiver.at("/hook")) == 6
    assert notify(client, delivery) == {"batchItemFailures": []}  # the receiver is back
    assert [p["status"] for p in receiver.at("/hook")][-1] == 200
    assert notify(client, delivery) == {"batchItemFailures": []}  # and it is not posted again
    assert len(receiver.at("/hook")) == 7
    assert log_item(aws, number, event.event_id, "ops")["state"]["S"] == "sent"


def test_a_receiver_refusing_the_post_is_not_retried(client, hooks, receiver, aws, app_logs):
    hooks(hook("ops", receiver.url("/gone")), attempts=4)
    receiver.scripts["/gone"] = [410]
    number = a_case(client)
    event = announce(number, "reopened")
    assert notify(client, queued_event()) == {"batchItemFailures": []}
    assert len(receiver.at("/gone")) == 1
    item = log_item(aws, number, event.event_id, "ops")
    assert item["state"]["S"] == "failed" and item["error_code"]["S"] == "http_410"
    assert "webhook refused the event; not retried" in app_logs.getvalue()


def test_an_unreachable_receiver_and_a_missing_secret_fail_the_record(client, hooks, aws):
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}/hook"
    hooks(hook("down", closed), {**hook("nosecret", closed), "secret_name": "complaints/dev/webhooks/none"},
          attempts=2)
    number = a_case(client)
    event = announce(number, "disputed")
    delivery = queued_event()
    assert notify(client, delivery) == {"batchItemFailures": [{"itemIdentifier": delivery["Records"][0]["messageId"]}]}
    assert log_item(aws, number, event.event_id, "down")["error_code"]["S"] == "ConnectionRefusedError"
    assert log_item(aws, number, event.event_id, "nosecret")["error_code"]["S"] == "ResourceNotFoundException"


def test_a_duplicate_delivery_does_not_post_twice(client, hooks, receiver):
    hooks(hook("ops", receiver.url("/hook")))
    number = a_case(client)
    announce(number, "customer_replied")
    delivery = queued_event()
    again = json.loads(json.dumps(delivery))
    again["Records"][0]["messageId"] = "redelivered-1"
    for each in (delivery, again):
        assert notify(client, each) == {"batchItemFailures": []}
    assert len(receiver.posts) == 1


# -- the parts ----------------------------------------------------------------------------------------------
def test_backoff_doubles_between_attempts(receiver):
    from functions.notifier.webhooks import WebhookPoster, WebhookUnreachable

    receiver.scripts["/hook"] = [502, 503, 200]
    pauses: list[float] = []
    poster = WebhookPoster(sleep=pauses.append, jitter=lambda: 0.0)
    posted = poster.post(receiver.url("/hook"), b"{}", {}, attempts=5, backoff=0.25, timeout=2)
    assert (posted.status, posted.attempts, pauses) == (200, 3, [0.25, 0.5])

    receiver.scripts["/down"] = [500] * 3
    pauses.clear()
    with pytest.raises(WebhookUnreachable) as failed:
        poster.post(receiver.url("/down"), b"{}", {}, attempts=3, backoff=1, timeout=2)
    assert (failed.value.code, failed.value.attempts, pauses) == ("http_500", 3, [1, 2])


def test_signatures_refuse_old_and_malformed_headers():
    from functions.notifier.webhooks import signature, verify_signature

    body = b'{"kind":"assigned"}'
    header = signature(SECRET, body, 1_800_000_000)
    assert header.startswith("t=1800000000,v1=") and len(header.split("v1=")[1]) == 64
    assert verify_signature(SECRET, header, body, now=1_800_000_100)
    assert not verify_signature(SECRET, header, body, tolerance=300, now=1_800_000_301)  # a replay, too late
    for broken in (None, "", "v1=abc", "t=soon,v1=abc", header.replace("v1=", "v0=")):
        assert not verify_signature(SECRET, broken, body, now=1_800_000_000)


def test_secrets_are_cached_for_minutes():
    from shared.secrets import SecretStore, SecretUnavailable

    class Client:
        calls = 0

        def get_secret_value(self, SecretId):  # noqa: N803 - boto3's name
            Client.calls += 1
            if SecretId == "missing":
                from botocore.exceptions import ClientError

                raise ClientError({"Error": {"Code": "ResourceNotFoundException", "Message": "no " + SecretId}},
                                  "GetSecretValue")
            return {"SecretString": f"value-{Client.calls}"}

    now = [0.0]
    store = SecretStore(Client(), cache_seconds=300, clock=lambda: now[0])
    assert store.get("a") == "value-1" and store.get("a") == "value-1"
    now[0] = 299
    assert store.get("a") == "value-1" and Client.calls == 1
    now[0] = 301
    assert store.get("a") == "value-2"  # a rotated secret is read again after the cache time
    with pytest.raises(SecretUnavailable) as missing:
        store.get("missing")
    assert missing.value.code == "ResourceNotFoundException"
