"""Faults, in-process (moto): AWS calls failing, a step broken for good, every message delivered twice,
and the process dying right after each AWS call a consumer makes (docs/local-stack.md, "Faults").

The pipeline runs as Lambda runs it: the event pump (``infra/event_pump.py``) receives from the real
queues, hands real SQS events to the app's handlers and deletes only what they did not report; the
queues' visibility timeout is 0 here, so a failed message comes straight back (and, after
``maxReceiveCount``, goes to its DLQ). Faults are injected into the app's own clients only
(``infra/faults.py``); the pump's, the test's and the "customer's" clients never fail.
"""
from __future__ import annotations

import email
import json
import uuid
from collections import Counter
from email import policy
from typing import Any

import pytest

from infra import faults
from tests.support import post_json

PIPELINE_QUEUES = ("email-intake", "router", "assignment", "notifier")


# -- the harness ----------------------------------------------------------------------------------
class Pipeline:
    """The app's consumers and the outbox schedule, driven step by step until nothing moves."""

    def __init__(self, aws: dict[str, str], client: Any, monkeypatch: Any, *, duplicate: str | None = None):
        from functions.app import app
        from infra.event_pump import EventPump
        from infra.moto_stack import boto3_clients

        monkeypatch.setenv("OUTBOX_GRACE_SECONDS", "0")  # the outbox takes a failed publish at once
        monkeypatch.setenv("SES_SEND_QUOTA", "-1/10000")  # moto's sandbox quota is 1 a second
        monkeypatch.setattr("botocore.endpoint.time", _NoWaits())  # botocore's retry back-off, not waited
        from shared.config import reset_settings

        reset_settings()
        self.env, self.http = aws, client
        self.clients = boto3_clients()  # never faulted: the test's own view
        self.sqs = self.clients("sqs")
        from infra.local_outbox import verify_sender

        verify_sender(self.clients, "complaints@example.com")  # done out of band in AWS
        self.pump = EventPump(app, self.sqs, wait_seconds=0, duplicate_delivery=duplicate,
                              around_invoke=faults.running)
        self.sources = {s.name: s for s in self.pump.sqs_sources()}
        self.schedules = {s.name: s for s in self.pump.schedules()}
        for source in self.sources.values():
            url, _ = self.pump.queue(source)
            self.sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "0"})
        self.drain()  # what setting up left (S3's test event on the email intake queue)

    # the front doors (the customer's side: retries a 5xx with the same Idempotency-Key, as a client does)
    def submit(self, n: int, run: str = "f") -> str:
        address = f"{run}-{n}@example.com"
        body = {"title": f"Dumplings {n}", "channel": "web",
                "description": f"The frozen dumplings of batch B24{n % 9:02d} smelled sour when opened (#{n}).",
                "customer": {"name": f"Fault Test {n}", "email": address, "preferred_language": "en"}}
        key = str(uuid.uuid4())
        for _ in range(6):
            res = post_json(self.http, "/complaints", body, {"Idempotency-Key": key})
            if res.status_code < 500 and res.status_code != 429:
                break
        assert res.status_code == 201, res.body
        return address

    def mail(self, n: int, run: str = "m") -> str:
        """What SES's receipt rule does: the raw message into the bucket (its notification follows)."""
        from email.message import EmailMessage
        from email.utils import make_msgid

        address = f"{run}-{n}@example.com"
        msg = EmailMessage()
        msg["From"], msg["To"] = f"Mail Test {n} <{address}>", "complaints@example.com"
        msg["Subject"], msg["Message-ID"] = f"Broken lid {n}", make_msgid(domain="example.com")
        msg.set_content(f"The lid of my rice cooker broke on the second day (#{n}). Please replace it.")
        self.clients("s3").put_object(Bucket=self.env["INBOUND_MAIL_BUCKET"], Key=f"inbound/{uuid.uuid4().hex}",
                                      Body=msg.as_bytes())
        return address

    # the pump
    def drain(self, max_rounds: int = 60) -> int:
        """Every queue until empty, then the outbox; again until a round moves nothing. Deliveries made."""
        delivered = 0
        for _ in range(max_rounds):
            moved = 0
            for name in ("take_in_email", "route_complaint", "assign_complaint", "notify_customer"):
                while n := self.pump.poll_once(self.sources[name], wait_seconds=0):
                    moved += n
            outbox = self.pump.fire(self.schedules["publish_pending_events"])
            delivered += moved
            if not moved and outbox == {"published": 0, "failed": 0}:
                return delivered
        raise AssertionError(f"the pipeline did not settle in {max_rounds} rounds")

    # what a user (or an operator) would notice
    def depth(self, queue: str) -> int:
        url = self.sqs.get_queue_url(QueueName=f"complaints-dev-{queue}")["QueueUrl"]
        attrs = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages",
                                                                            "ApproximateNumberOfMessagesNotVisible"])
        return sum(int(v) for v in attrs["Attributes"].values())

    def dead_letters(self) -> dict[str, int]:
        return {q: self.depth(f"{q}-dlq") for q in PIPELINE_QUEUES}

    def verify(self, addresses: list[str], kind: str = "web") -> list[Any]:
        """Each customer's complaint exactly once: one case, classified, routed, one acknowledgement
        (``infra.loadtest``'s check, reading the store through the designed keys)."""
        from infra.loadtest import CaseRecords, Submission, check_case

        records = CaseRecords(_Target(self.env, self.clients))
        return [check_case(records, Submission(n=i, kind=kind, email=a, language="en"), None)
                for i, a in enumerate(addresses)]


class _NoWaits:
    """``time`` for botocore's endpoint: its retries happen (that is what is tested), their back-off
    sleeps do not (the test would wait minutes for nothing)."""

    def __getattr__(self, name: str) -> Any:
        import time

        return getattr(time, name)

    @staticmethod
    def sleep(seconds: float) -> None:
        pass


class _Target:  # what infra.loadtest.CaseRecords reads
    def __init__(self, env: dict[str, str], clients: Any):
        self.env, self.client = env, clients


def sent_emails() -> list[Any]:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    return [email.message_from_string(m.raw_data, policy=policy.default)
            for m in ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages]


def emails_per_recipient() -> Counter[str]:
    return Counter(str(m["To"].addresses[0].addr_spec) for m in sent_emails())


def problems(checks: list[Any]) -> list[str]:
    return [f"#{c.n} {c.complaint_ids}: {c.problem}" for c in checks if c.problem]


@pytest.fixture
def pipeline(aws, client, monkeypatch):
    return Pipeline(aws, client, monkeypatch)


# -- a. 20% of the app's AWS calls failing ------------------------------------------------------------
# SES's SendEmail is faulted with throttling, 5xx and timeouts, but not with the ambiguous "timeout
# after the server applied it": SES has no idempotency token, so no client can tell whether such a send
# went out (docs/local-stack.md, "Faults"); every other call gets all four kinds.
TWENTY_PERCENT = "all=0.2,kms=0.2,ses.SendEmail=0.2/throttle+5xx+timeout,seed=11"


def test_with_a_fifth_of_all_calls_failing_every_complaint_is_processed_exactly_once(pipeline):
    web, mails = 60, 20
    with faults.injected(TWENTY_PERCENT) as injector:
        addresses = [pipeline.submit(i) for i in range(web)]
        mailed = [pipeline.mail(i) for i in range(mails)]
        pipeline.drain()
        counts = injector.counts()
    print(injector.summary())  # the figures, with -s

    assert counts["injected_total"] > 100 and counts["retries_total"] > 0
    assert set(counts["injected"]) >= {"dynamodb", "sesv2", "eventbridge"}, counts
    assert all(counts["injected"].get(s) for s, n in counts["attempts"].items() if n >= 50), counts
    assert problems(pipeline.verify(addresses)) == []
    assert problems(pipeline.verify(mailed, kind="email")) == []
    sent = emails_per_recipient()
    assert {a: sent[a] for a in addresses + mailed if sent[a] != 1} == {}, "an acknowledgement missing or sent twice"
    assert pipeline.dead_letters() == {q: 0 for q in PIPELINE_QUEUES}




# -- b. a step broken for good: the DLQ, the alarm condition, the re-drive after the fix ------------------
ROUTER_TABLE_FAILS = "route_complaint:dynamodb=1/throttle"  # every table call of the router, every time


def dlq_alarm_fires(sqs: Any, alarm_name: str) -> bool:
    """The template's alarm (infra/merge.yaml) evaluated on the live metric it watches: a DLQ's
    ``ApproximateNumberOfMessagesVisible`` (Maximum) compared with its threshold."""
    from pathlib import Path

    from infra.moto_stack import load_template

    infra = Path(__file__).resolve().parents[2] / "infra"
    alarm = load_template(infra / "merge.yaml")["Resources"][alarm_name]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    [dimension] = alarm["Dimensions"]
    queue = load_template(infra / "resources.yaml")["Resources"][_logical_id(dimension["Value"])]
    name = str(_sub(queue["Properties"]["QueueName"])).replace("${Stage}", "dev")
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    # the metric ApproximateNumberOfMessagesVisible is the queue attribute ApproximateNumberOfMessages
    visible = int(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
                  ["Attributes"]["ApproximateNumberOfMessages"])
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    return visible > float(alarm["Threshold"])


def _logical_id(value: Any) -> str:  # {Fn::GetAtt: [RouterDeadLetterQueue, QueueName]}, in either spelling
    got = value.get("Fn::GetAtt") if isinstance(value, dict) else value
    return got[0] if isinstance(got, list) else str(got).split(".")[0]


def _sub(value: Any) -> Any:
    return value.get("Fn::Sub", value) if isinstance(value, dict) else value


def test_a_broken_step_fills_its_dlq_raises_the_alarm_and_a_redrive_after_the_fix_completes_every_complaint(pipeline):
    from infra.redrive import redrive

    with faults.injected(ROUTER_TABLE_FAILS) as injector:
        addresses = [pipeline.submit(i, run="broken") for i in range(4)]
        pipeline.drain()
    assert injector.counts()["surfaced_total"] > 0, injector.counts()
    assert pipeline.dead_letters() == {"email-intake": 0, "router": 4, "assignment": 0, "notifier": 0}, \
        (injector.counts(), [c.problem for c in pipeline.verify(addresses)])
    assert dlq_alarm_fires(pipeline.sqs, "RouterDeadLetterQueueAlarm")
    assert not dlq_alarm_fires(pipeline.sqs, "NotifierDeadLetterQueueAlarm")
    assert {c.problem for c in pipeline.verify(addresses)} == {"not classified"}  # received and acknowledged

    # the fix is deployed (the fault removed); the operator re-drives the DLQ
    dlq = pipeline.sqs.get_queue_url(QueueName="complaints-dev-router-dlq")["QueueUrl"]
    assert redrive(pipeline.sqs, dlq) == 4
    pipeline.drain()
    assert problems(pipeline.verify(addresses)) == []
    assert not dlq_alarm_fires(pipeline.sqs, "RouterDeadLetterQueueAlarm")
    assert pipeline.dead_letters() == {q: 0 for q in PIPELINE_QUEUES}
    sent = emails_per_recipient()
    assert [sent[a] for a in addresses] == [1, 1, 1, 1]


# -- c. every message delivered twice -------------------------------------------------------------------
def end_state(env: dict[str, str]) -> tuple[list[str], Counter[str]]:
    """The whole table, normalised (case numbers, times, random ids and ciphertexts replaced), as sorted
    JSON lines; and the emails sent, per recipient and subject. Read from moto's backend (no AWS call)."""
    import re

    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    table = dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].tables[env["TABLE_NAME"]]
    items = [item.to_json()["Attributes"] for by_range in table.items.values() for item in by_range.values()]
    cases = sorted((i.get("received_at", {}).get("S", ""), i["complaint_id"]["S"])  # submitted one by one
                   for i in items if i.get("SK", {}).get("S") == "CASE" and "complaint_id" in i)
    numbers = {number: f"<case{k}>" for k, (_, number) in enumerate(cases)}
    patterns = [(re.compile(r"^v1\.[\w\-.]+$"), lambda m: "<ciphertext>"),  # field encryption: random IVs
                (re.compile(r"^DUE#\d+$"), lambda m: "DUE#<shard>"),  # the SLA index's shard: random
                (re.compile("|".join(map(re.escape, numbers)) or "(?!)"), lambda m: numbers[m.group(0)]),
                (re.compile(r"\d{4}-\d\d-\d\d(?:[T ][\d:.]+(?:Z|[+-]\d\d:?\d\d)?)?"), lambda m: "<time>"),
                (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"), lambda m: "<uuid>"),
                (re.compile(r"\b[0-9a-f]{16,}\b"), lambda m: "<hex>"), (re.compile(r"<[^<>@\s]+@[^<>\s]+>"), lambda m: "<msgid>")]

    def norm(value: Any) -> Any:
        if isinstance(value, dict):
            if set(value) in ({"B"}, {"BS"}):
                return "<bytes>"
            if set(value) == {"N"} and len(value["N"].split(".")[0]) >= 9:
                return "<epoch>"
            return {k: norm(v) for k, v in value.items()}
        if isinstance(value, list):
            return [norm(v) for v in value]
        if isinstance(value, str):
            for pattern, replace in patterns:
                value = pattern.sub(replace, value)
        return value

    counters: dict[tuple[str, str], Counter[str]] = {}  # report counters: shards summed (a shard is random)
    rest = []
    for item in (norm(i) for i in items):
        if item.get("PK", {}).get("S", "").startswith("STATS#"):
            total = counters.setdefault((item["PK"]["S"], re.sub(r"#\d+$", "", item["SK"]["S"])), Counter())
            total.update({k: int(v["N"]) for k, v in item.items() if isinstance(v, dict) and set(v) == {"N"}})
        else:
            rest.append(item)
    rest += [{"PK": pk, "SK": sk, **totals} for (pk, sk), totals in counters.items()]
    lines = sorted(json.dumps(i, sort_keys=True, ensure_ascii=False) for i in rest)
    mails = Counter(f"{m['To']} | {re.sub(r'C[0-9A-Z]{9}', '<case>', str(m['Subject']))}" for m in sent_emails())
    return lines, mails


def _differences(once: list[str], again: list[str]) -> list[str]:
    """Per item (PK, SK) that differs: the attributes that differ, single vs double delivery."""
    def by_key(lines: list[str]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for line in lines:
            item = json.loads(line)
            key = json.dumps([item.get("PK"), item.get("SK")])
            out[key if key not in out else key + f"#{len(out)}"] = item
        return out

    a, b = by_key(sorted(set(once) - set(again))), by_key(sorted(set(again) - set(once)))
    found = []
    for key in sorted(set(a) | set(b)):
        x, y = a.get(key, {}), b.get(key, {})
        found += [f"{key} {name}: {x.get(name)!r} != {y.get(name)!r}"[:400]
                  for name in sorted(set(x) | set(y)) if x.get(name) != y.get(name)]
    return found


def scenario(pipeline: Pipeline) -> None:
    for i in range(3):
        pipeline.submit(i, run="dup")
    pipeline.mail(0, run="dupmail")
    pipeline.drain()


@pytest.mark.parametrize("mode", ["twice", "concurrent"])
def test_every_message_delivered_twice_ends_as_if_delivered_once(aws, client, monkeypatch, mode):
    from moto.moto_api._internal.models import moto_api_backend

    from infra.moto_stack import boto3_clients, create_resources, environment
    from tests.conftest import _forget_cached_services, _without_stream_history

    from infra.moto_stack import serialize_dynamodb

    serialize_dynamodb(monkeypatch.setattr)  # two deliveries at once: moto's backend, like DynamoDB, atomic
    scenario(Pipeline(aws, client, monkeypatch))
    once, mails_once = end_state(aws)

    moto_api_backend.reset()  # a fresh account, the same resources, the same inputs, every delivery doubled
    env = environment(create_resources(boto3_clients(), "dev", "us-east-1"))
    _without_stream_history(env["TABLE_NAME"])
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    _forget_cached_services()
    twice = Pipeline(env, client, monkeypatch, duplicate=mode)
    scenario(twice)
    again, mails_again = end_state(env)

    assert mails_again == mails_once and sum(mails_once.values()) >= 4
    assert _differences(once, again) == []
    assert again == once  # the same items, the same number of each (audit records per change ...)


# -- d. crash points: the process dies right after each AWS call a consumer makes for one message -------
CONSUMERS = ("take_in_email", "route_complaint", "assign_complaint", "notify_customer", "publish_pending_events")
# SES has no idempotency token: a death between SendEmail's success and the delivery log's "sent" (the
# next UpdateItem) sends that email again once the claim's lease is over (at-least-once, never lost;
# docs/local-stack.md, "Faults"). Those points are expected to fail (xfail, strict).
SENDS = {"sesv2.SendEmail", "ses.SendRawEmail", "sesv2.SendBulkEmail"}


def _in_send_window(calls: list[str], i: int) -> bool:
    sends = [k for k in range(i + 1) if calls[k] in SENDS]
    return bool(sends) and "dynamodb.UpdateItem" not in calls[sends[-1] + 1:i + 1]


def prepare(pipeline: Pipeline, consumer: str) -> tuple[str, str]:
    """One message (or one pending case) waiting for ``consumer``; (the customer's address, its kind)."""
    if consumer == "take_in_email":
        return pipeline.mail(0, run="crash"), "email"
    if consumer == "publish_pending_events":
        with faults.injected("events.PutEvents=1/5xx"):  # the publish after the write fails: the outbox owes it
            return pipeline.submit(0, run="crash"), "web"
    address = pipeline.submit(0, run="crash")
    if consumer == "assign_complaint":
        while pipeline.pump.poll_once(pipeline.sources["route_complaint"], wait_seconds=0):
            pass
    return address, "web"


def handle_once(pipeline: Pipeline, consumer: str) -> None:
    if consumer in pipeline.sources:
        handled = pipeline.pump.poll_once(pipeline.sources[consumer], wait_seconds=0)
        assert handled == 1, f"{consumer}: {handled} messages waiting, not 1"
    else:
        assert pipeline.pump.fire(pipeline.schedules[consumer]) is not None


def clean_run_calls(pipeline: Pipeline, consumer: str) -> list[str]:
    """The consumer's AWS calls for its one message, in order, in a fresh stack without faults."""
    recorder = faults.CrashPoints().install()
    try:
        prepare(pipeline, consumer)
        recorder.arm()
        handle_once(pipeline, consumer)
        return list(recorder.calls)
    finally:
        recorder.uninstall()


def _enumerate_in_a_subprocess() -> list[tuple[str, int, str]]:
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", "from tests.integration.test_faults import _main; _main()"],
                         cwd=root, capture_output=True, text=True, timeout=600)
    if out.returncode:
        raise RuntimeError(f"enumerating the crash points failed:\n{out.stderr[-3000:]}")
    calls = json.loads(out.stdout.strip().splitlines()[-1])
    return [(consumer, i, call, calls[consumer][:i].count(call), _in_send_window(calls[consumer], i))
            for consumer in CONSUMERS for i, call in enumerate(calls[consumer])]


def _main() -> None:  # the subprocess: a clean run with the fixtures' environment
    import os
    import tempfile

    from chalice.test import Client
    from moto import mock_aws

    from functions.app import app
    from infra.moto_stack import boto3_clients, create_resources, environment
    from tests.conftest import BASE_ENV, _forget_cached_services, _without_stream_history

    mp = pytest.MonkeyPatch()
    for key in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        mp.delenv(key, raising=False)
    for key, value in {**BASE_ENV, "POWERTOOLS_LOG_LEVEL": "CRITICAL"}.items():
        mp.setenv(key, value)
    mp.setenv("JWKS_PATH", os.path.join(tempfile.gettempdir(), "no-jwks.json"))
    calls = {}
    for consumer in CONSUMERS:  # each in a fresh account with cold caches, as each test starts
        with mock_aws():
            env = environment(create_resources(boto3_clients(), "dev", "us-east-1"))
            _without_stream_history(env["TABLE_NAME"])
            for key, value in env.items():
                mp.setenv(key, value)
            _forget_cached_services()
            with Client(app) as client:
                calls[consumer] = clean_run_calls(Pipeline(env, client, mp), consumer)
            _forget_cached_services()
    print(json.dumps(calls))


def _source_digest() -> str:
    import hashlib
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    digest = hashlib.sha256()
    for path in sorted([*root.glob("functions/**/*.py"), *root.glob("shared/**/*.py"), *root.glob("shared/*.json"),
                        Path(__file__)]):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def pytest_generate_tests(metafunc):
    """Crash points from a clean run (in a subprocess, cached by the app's source digest): a new AWS
    call in a consumer is a new test, named after the call."""
    if "crash_point" not in metafunc.fixturenames:
        return
    cache, key = getattr(metafunc.config, "cache", None), f"complaints/crash-points/{_source_digest()}"
    points = cache.get(key, None) if cache is not None else None
    if points is None:
        points = _enumerate_in_a_subprocess()
        if cache is not None:
            cache.set(key, points)
    metafunc.parametrize("crash_point", [  # id: consumer, position in the clean run, call
        pytest.param(tuple(p), id=f"{p[0]}-{p[1]:02d}-{p[2]}",
                     marks=[pytest.mark.xfail(strict=True, reason="SES sends are at-least-once in this window")]
                     if p[4] else []) for p in points])


def test_a_crash_right_after_a_call_loses_nothing_and_processes_nothing_twice(pipeline, monkeypatch, crash_point):
    consumer, _, call, occurrence, _ = crash_point
    address, kind = prepare(pipeline, consumer)
    crash = faults.CrashPoints().install()
    try:
        crash.arm(call, occurrence)
        with pytest.raises(faults.SimulatedCrash):
            handle_once(pipeline, consumer)
    finally:
        crash.uninstall()
    # the message comes back after the visibility timeout (180 s), past every claim's lease (120 s)
    from functions.notifier import delivery_log

    monkeypatch.setattr(delivery_log, "LEASE", delivery_log.LEASE * 0)
    pipeline.drain()
    assert problems(pipeline.verify([address], kind=kind)) == []
    assert emails_per_recipient()[address] == 1, [(m["Subject"], m["Message-ID"], m["In-Reply-To"])
                                                  for m in sent_emails()]
    assert pipeline.dead_letters() == {q: 0 for q in PIPELINE_QUEUES}
