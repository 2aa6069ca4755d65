"""The notifier paces its emails to the account's SES quota (functions/notifier/pacing.py).

What a user notices: at a peak, acknowledgements keep going out at the rate SES accepts instead of
being refused; when the day's quota is used up, the rest wait in the queue and go out later - once
each, none lost. moto's SES answers GetSendQuota (200 a day, 1 a second, and counts what was sent);
the pacer's clock and sleep are fake, so nothing waits for real.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import boto3
import pytest

from tests.integration.test_notifier import QUEUE, SENDER, sent_emails
from tests.support import a_complaint, post_json, record_postponements


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 3))
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    from functions.notifier import pacing

    fake = FakeClock()
    monkeypatch.setattr(pacing, "monotonic", fake.monotonic)
    monkeypatch.setattr(pacing, "sleep", fake.sleep)
    pacing.reset()
    yield fake
    pacing.reset()


@pytest.fixture
def notifier(aws, client, clock):
    from infra.local_outbox import verify_sender

    verify_sender(boto3.client, SENDER)
    return client


def submit(client, n: int) -> list[str]:
    numbers = []
    for i in range(n):
        body = a_complaint(description=f"The dumplings of batch B2411 smelled sour ({i}).")
        body["customer"] = {"name": "Li Wei", "email": f"customer{i}@example.com"}
        res = post_json(client, "/complaints", body)
        assert res.status_code == 201, res.body
        numbers.append(json.loads(res.body)["complaint_id"])
    return numbers


def pump_source():
    from chalice.app import SQSEventConfig

    from functions.app import app
    from infra.event_pump import EventPump

    pump = EventPump(app, boto3.client("sqs"), stage="dev", wait_seconds=0)
    return pump, next(s for s in pump.sqs_sources() if isinstance(s, SQSEventConfig) and s.queue == QUEUE)


def test_a_burst_goes_out_at_the_accounts_sending_rate(notifier, clock):
    """moto's account sends 1 email a second; the notifier runs at most 2 containers (its maximum
    concurrency), each using 80% / 2 of it: one email every 2.5 s after a first burst of 10."""
    submit(notifier, 13)
    pump, source = pump_source()
    while pump.poll_once(source, wait_seconds=0):
        pass
    assert len(sent_emails()) == 13  # every acknowledgement went out, none refused, none twice
    assert clock.slept == [2.5, 2.5, 2.5]  # the 11th, 12th and 13th waited for their turn


def test_the_pace_follows_the_quota_and_the_maximum_concurrency(monkeypatch):
    from functions.notifier.pacing import Quota, SendPacer

    clock = FakeClock()
    quota = Quota(max_24_hour_send=50_000, max_send_rate=14, sent_last_24_hours=0)
    pacer = SendPacer(lambda: quota, senders=2, wall=lambda: datetime.now(timezone.utc),
                      clock=clock.monotonic, sleep=clock.sleep, burst=1)
    for _ in range(4):
        pacer.take()
    assert clock.slept == [pytest.approx(1 / 5.6, abs=1e-3)] * 3  # 14/s * 80% / 2 containers = 5.6/s each


def test_when_the_days_quota_is_used_up_the_rest_waits_in_the_queue_and_goes_out_once(notifier, clock,
                                                                                      monkeypatch):
    from functions.notifier import pacing

    postponed = record_postponements(monkeypatch)
    monkeypatch.setattr(pacing, "DAILY_SHARE", 3 / 200)  # moto's 200 a day: used up after 3 sends
    pacing.reset()
    numbers = submit(notifier, 5)
    pump, source = pump_source()
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=QUEUE)["QueueUrl"]

    assert pump.poll_once(source, wait_seconds=0) == 5
    assert len(sent_emails()) == 3
    assert len(postponed) == 2 and all(seconds == 3600 for _, _, seconds in postponed)  # in an hour
    until = postponed[0][1]
    assert timedelta(minutes=59) < until - datetime.now(timezone.utc) <= timedelta(hours=1)
    assert pump.poll_once(source, wait_seconds=0) == 0  # invisible meanwhile: not lost, not retried at once

    # a day later the quota has room again: the two come back and go out, once each
    monkeypatch.setattr(pacing, "DAILY_SHARE", 0.98)
    pacing.reset()
    for receipt, _, _ in postponed:
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=receipt, VisibilityTimeout=0)
    assert pump.poll_once(source, wait_seconds=0) == 2
    recipients = sorted(m["To"].addresses[0].addr_spec for m in sent_emails())
    assert recipients == sorted(f"customer{i}@example.com" for i in range(5))  # each once
    assert pump.poll_once(source, wait_seconds=0) == 0
    assert sqs.receive_message(QueueUrl=url, VisibilityTimeout=0).get("Messages") is None  # done and deleted
    assert len(numbers) == 5


def test_the_quota_is_read_once_per_container_not_per_email(notifier, clock, monkeypatch):
    from shared.aws import client

    calls = []
    ses = client("ses")
    ses.meta.events.register("before-call.ses.GetSendQuota", lambda **kw: calls.append(1))
    submit(notifier, 4)
    pump, source = pump_source()
    pump.poll_once(source, wait_seconds=0)
    assert len(sent_emails()) == 4 and len(calls) == 1


def test_the_local_stack_s_quota_override_replaces_moto_s_sandbox_figures(monkeypatch):
    from functions.notifier.pacing import Quota, quota_override

    sandbox = Quota(200, 1, 150)
    monkeypatch.delenv("SES_SEND_QUOTA", raising=False)
    assert quota_override(sandbox) == sandbox
    monkeypatch.setenv("SES_SEND_QUOTA", "-1/50")
    assert quota_override(sandbox) == Quota(-1, 50, 0)
    monkeypatch.setenv("SES_SEND_QUOTA", "50000/14")
    assert quota_override(sandbox) == Quota(50000, 14, 150)
    monkeypatch.setenv("SES_SEND_QUOTA", "lots")
    assert quota_override(sandbox) == sandbox
