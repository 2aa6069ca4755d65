"""``complaints loadtest``: N complaints through the local stack's front doors, then proof from the store.

1. **Submit** N complaints, C at a time (threads): ``POST /complaints`` with the web form's JSON (and an
   ``Idempotency-Key``, so a retried request is the same complaint) and mail over SMTP to the complaint
   address, in the ``--mix`` given. Texts are real complaints from ``../shared/datasets/`` (Chinese and
   English) when that folder is there, generated ones otherwise. Every complaint has its own customer
   (``lt-<run>-<n>@example.com``), so the customer index finds it and no rate limit or repeat rule ties
   two of them together.
2. **Drain**: wait (bounded by ``--drain-timeout``) until the pipeline's queues hold nothing, in flight
   included, sampling their depth meanwhile.
3. **Verify** from the store, through designed keys only (no Scan): per customer, the customer index
   (``CUSTOMER#<keyed hash>``, pattern 8) must name exactly one case (the web answer's number for a web
   complaint); the case's partition (pattern 2) must show it received once, classified, routed (to a
   department, or waiting in triage) and acknowledged exactly once (one ``acknowledged`` entry, one
   acknowledgement in the delivery log, one ``-ack.eml`` in the stack's outbox when it is known).
   Cases still under way when the queues look empty (an owed event, a retry) are checked again until
   the timeout.
4. **Report**: throughput, latency percentiles per step from the cases' timelines, queue depths and
   waits; JSON to ``--out``. Exit 1 on any missing, duplicate or unfinished complaint.

Loopback only: the tool refuses any API, SMTP or AWS endpoint that is not this machine. Other tools
reuse the parts: :func:`verify` returns a :class:`Verification`, :func:`run` a report dict, and
:func:`started_stack` starts ``complaints run`` with extra environment (fault switches, delivery modes).
"""
from __future__ import annotations

import csv
import ipaddress
import json
import math
import os
import random
import socket
import subprocess
import sys
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"
DEFAULT_OUT = ROOT / "var" / "bench" / "loadtest.json"
COMPLAINT_ADDRESS = "complaints@example.com"  # the stack takes mail for any recipient, as SES's rule does here
PIPELINE_QUEUES = ("EMAIL_INTAKE", "ROUTER", "ASSIGNMENT", "NOTIFIER")
STEPS = ("submitted_to_received", "received_to_classified", "classified_to_routed", "received_to_acknowledged",
         "submitted_to_done")


class LoopbackOnly(ValueError):
    """A target that is not this machine: the load test refuses it."""


# -- where the stack is -----------------------------------------------------------------------------
@dataclass
class LoadTarget:
    api_url: str
    smtp_host: str
    smtp_port: int
    aws_endpoint: str
    region: str = "us-east-1"
    env: dict[str, str] = field(default_factory=dict)  # TABLE_NAME, LOOKUP_KEY_ID, *_QUEUE_URL ...
    outbox: Path | None = None  # the stack's var/outbox (sent mail as .eml), when known

    def check_loopback(self) -> None:
        for what, host in (("API", urlsplit(self.api_url).hostname), ("SMTP", self.smtp_host),
                           ("AWS endpoint", urlsplit(self.aws_endpoint).hostname)):
            if not is_loopback(host):
                raise LoopbackOnly(f"{what} {host!r} is not this machine: loopback only")

    def client(self, service: str) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(service, endpoint_url=self.aws_endpoint, region_name=self.region,
                            aws_access_key_id="testing", aws_secret_access_key="testing",
                            config=Config(max_pool_connections=32, retries={"mode": "standard", "max_attempts": 5}))


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except socket.gaierror:
        return False
    return bool(addresses) and all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses)


def target_from(var_dir: Path, api: str | None = None, smtp: str | None = None,
                endpoint: str | None = None) -> LoadTarget:
    """The running stack's addresses from ``<var_dir>/local-stack.json`` (``make run`` writes it), each
    overridable; without the file, resource names come from the CloudFormation stack at ``endpoint``."""
    state_file = var_dir / "local-stack.json"
    state = json.loads(state_file.read_text(encoding="utf-8")) if state_file.is_file() else {}
    endpoint = endpoint or state.get("aws_endpoint")
    api = api or state.get("api_url")
    smtp = smtp or state.get("smtp") or "127.0.0.1:2525"
    if not (endpoint and api):
        raise SystemExit(f"loadtest: no running stack found ({state_file} is missing): start `make run` "
                         "or give --api and --endpoint")
    host, _, port = smtp.rpartition(":")
    target = LoadTarget(api_url=api.rstrip("/"), smtp_host=host or "127.0.0.1", smtp_port=int(port),
                        aws_endpoint=endpoint.rstrip("/"), region=state.get("region", "us-east-1"))
    target.check_loopback()
    same_stack = state and state.get("aws_endpoint", "").rstrip("/") == target.aws_endpoint
    if same_stack:
        target.env = dict(state["env"])
        target.outbox = state_file.parent / "outbox"
    else:
        target.env = _stack_outputs(target, os.environ.get("STAGE") or "dev")
    return target


def _stack_outputs(target: LoadTarget, stage: str) -> dict[str, str]:
    from infra.moto_stack import env_name

    stack = target.client("cloudformation").describe_stacks(StackName=f"complaints-{stage}")["Stacks"][0]
    return {env_name(o["OutputKey"]): o["OutputValue"] for o in stack.get("Outputs", [])}


# -- what to say ------------------------------------------------------------------------------------
@dataclass
class Text:
    language: str  # zh | en
    title: str
    body: str


class ComplaintTexts:
    """Real complaint texts (zh and en) from the shared datasets, read in place; generated ones without."""

    SOURCES = {"zh": [("food_delivery_reviews_zh", "reviews.csv", "negative"), ("gov_messages_zh", "dev.csv", None),
                      ("shopping_negative_zh", "dev.csv", None)],
               "en": [("cfpb_products_en", "dev.csv", None), ("support_tickets_en", "dev.csv", None)]}

    def __init__(self, datasets: Path = DATASETS, seed: int = 7, max_chars: int = 4000):
        self.rng = random.Random(seed)
        self.pools: dict[str, list[str]] = {}
        for language, sources in self.SOURCES.items():
            pool: list[str] = []
            for folder, name, sentiment in sources:
                path = datasets / folder / name
                if not path.is_file():
                    continue
                with open(path, encoding="utf-8", newline="") as f:
                    pool += [r["text"].strip()[:max_chars] for r in csv.DictReader(f)
                             if len(r.get("text", "").strip()) >= 8
                             and (sentiment is None or r.get("sentiment") == sentiment)]
            self.pools[language] = pool
        self.source = "datasets" if all(self.pools.values()) else "generated"

    def pick(self, n: int) -> Text:
        language = "zh" if n % 2 == 0 else "en"
        pool = self.pools.get(language) or []
        body = self.rng.choice(pool) if pool else self._generated(language, n)
        cut = next((i for i, ch in enumerate(body) if ch in "。！？.!?\n"), len(body))
        title = body[:min(cut, 60)].strip() or body[:40]
        return Text(language, title, body)

    def _generated(self, language: str, n: int) -> str:
        if language == "zh":
            what = self.rng.choice(["速冻水饺", "汤圆", "馄饨", "包子", "粽子"])
            problem = self.rng.choice(["送到时已经化了", "包装破损", "有异味", "数量不对", "配送延误了两天"])
            return f"我买的{what}{problem}，订单号 LT{n:06d}，请尽快处理并退款。"
        what = self.rng.choice(["frozen dumplings", "rice balls", "spring rolls", "wontons"])
        problem = self.rng.choice(["arrived thawed", "had a torn package", "smelled off", "were missing from the box",
                                   "came two days late"])
        return f"The {what} I ordered {problem}. Order LT{n:06d}. Please refund or replace them."


# -- submitting -------------------------------------------------------------------------------------
@dataclass
class Submission:
    n: int
    kind: str  # web | email
    email: str
    language: str
    submitted_at: float = 0.0  # epoch seconds, when the stack accepted it
    seconds: float = 0.0  # the HTTP request / SMTP transaction
    complaint_id: str | None = None  # the web answer's number
    message_id: str | None = None  # the mail's Message-ID
    error: str | None = None


def plan(n: int, mix: dict[str, float], run_id: str) -> list[tuple[int, str, str]]:
    """(n, kind, customer email) for each complaint: the mix spread evenly over the run."""
    total = sum(mix.values())
    kinds, owed = [], {k: 0.0 for k in mix}
    for _ in range(n):
        for k in mix:
            owed[k] += mix[k] / total
        kind = max(owed, key=lambda k: owed[k])
        owed[kind] -= 1
        kinds.append(kind)
    return [(i, kinds[i], f"lt-{run_id}-{i}@example.com") for i in range(n)]


class Submitter:
    """Sends complaints; one HTTP session and one SMTP connection per thread."""

    def __init__(self, target: LoadTarget, texts: ComplaintTexts, timeout: float = 30):
        self.target, self.texts, self.timeout = target, texts, timeout
        self._local = threading.local()
        self._lock = threading.Lock()

    def submit(self, n: int, kind: str, email: str) -> Submission:
        with self._lock:
            text = self.texts.pick(n)
        sub = Submission(n=n, kind=kind, email=email, language=text.language)
        started = time.monotonic()
        try:
            (self._web if kind == "web" else self._mail)(sub, text)
        except Exception as exc:  # noqa: BLE001 - a failed submission is a finding, not a crash
            sub.error = f"{type(exc).__name__}: {exc}"[:300]
        sub.seconds = time.monotonic() - started
        sub.submitted_at = time.time()
        return sub

    def _web(self, sub: Submission, text: Text) -> None:
        import requests

        session = getattr(self._local, "http", None)
        if session is None:
            session = self._local.http = requests.Session()
        body = {"description": text.body, "title": text.title, "channel": "web",
                "customer": {"name": f"Load Test {sub.n}", "email": sub.email, "preferred_language": text.language}}
        headers = {"Content-Type": "application/json", "Idempotency-Key": str(uuid.uuid4())}
        for attempt in range(4):  # the same Idempotency-Key: a retry is the same complaint
            try:
                res = session.post(self.target.api_url + "/complaints", json=body, headers=headers,
                                   timeout=self.timeout)
            except requests.ConnectionError:
                if attempt == 3:
                    raise
                time.sleep(0.5 * (attempt + 1))
                continue
            if res.status_code < 500 and res.status_code != 429:
                break
            time.sleep(0.5 * (attempt + 1))
        if res.status_code != 201:
            raise RuntimeError(f"POST /complaints answered {res.status_code}: {res.text[:200]}")
        sub.complaint_id = res.json()["complaint_id"]

    def _mail(self, sub: Submission, text: Text) -> None:
        import smtplib
        from email.message import EmailMessage
        from email.utils import formatdate, make_msgid

        msg = EmailMessage()
        msg["From"] = f"Load Test {sub.n} <{sub.email}>"
        msg["To"] = COMPLAINT_ADDRESS
        msg["Subject"] = text.title
        msg["Date"] = formatdate(localtime=False)
        msg["Message-ID"] = sub.message_id = make_msgid(idstring=f"lt{sub.n}", domain="example.com")
        msg.set_content(text.body)
        for attempt in range(3):
            smtp = self._smtp()
            try:
                smtp.send_message(msg)
                return
            except smtplib.SMTPRecipientsRefused:
                raise
            except smtplib.SMTPResponseException as exc:  # 451: not stored, safe to send again
                self._local.smtp = None
                if attempt == 2 or exc.smtp_code >= 500:
                    raise
            except (smtplib.SMTPServerDisconnected, ConnectionError):  # a reused connection gone stale
                self._local.smtp = None
                if attempt == 2:
                    raise
            time.sleep(0.5 * (attempt + 1))

    def _smtp(self) -> Any:
        import smtplib

        smtp = getattr(self._local, "smtp", None)
        if smtp is None:
            smtp = self._local.smtp = smtplib.SMTP(self.target.smtp_host, self.target.smtp_port, timeout=self.timeout)
        return smtp


class Progress:
    """A one-line progress bar on stderr (redrawn at most 10 times a second; a plain line when not a tty)."""

    def __init__(self, total: int, label: str, stream: Any = None, enabled: bool = True):
        self.total, self.label, self.stream, self.enabled = total, label, stream or sys.stderr, enabled
        self.done, self.failed = 0, 0
        self._started = time.monotonic()
        self._drawn = 0.0
        self._lock = threading.Lock()
        self._tty = hasattr(self.stream, "isatty") and self.stream.isatty()

    def step(self, failed: bool = False) -> None:
        with self._lock:
            self.done += 1
            self.failed += int(failed)
            now = time.monotonic()
            if self.enabled and (self.done == self.total or now - self._drawn >= (0.1 if self._tty else 5.0)):
                self._drawn = now
                self._draw(now)

    def _draw(self, now: float) -> None:
        width = 30
        filled = int(width * self.done / max(self.total, 1))
        rate = self.done / max(now - self._started, 1e-9)
        line = (f"{self.label} [{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} "
                f"{rate:.1f}/s" + (f" {self.failed} failed" if self.failed else ""))
        if self._tty:
            self.stream.write("\r" + line + ("\n" if self.done == self.total else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


def submit_all(target: LoadTarget, n: int, concurrency: int, mix: dict[str, float], texts: ComplaintTexts,
               run_id: str, progress: bool = True) -> list[Submission]:
    from concurrent.futures import ThreadPoolExecutor

    submitter = Submitter(target, texts)
    bar = Progress(n, "submitting", enabled=progress)
    results: list[Submission] = []

    def one(item: tuple[int, str, str]) -> Submission:
        sub = submitter.submit(*item)
        bar.step(failed=sub.error is not None)
        return sub

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="loadtest") as pool:
        results = list(pool.map(one, plan(n, mix, run_id)))
    return results


# -- draining ---------------------------------------------------------------------------------------
class QueueWatch:
    """Samples the pipeline queues' depth (visible + in flight + delayed) and the dead-letter queues."""

    def __init__(self, target: LoadTarget, interval: float = 0.5):
        self.sqs = target.client("sqs")
        self.queues = {name.lower(): target.env[f"{name}_QUEUE_URL"] for name in PIPELINE_QUEUES
                       if target.env.get(f"{name}_QUEUE_URL")}
        self.dlqs = {name.lower(): target.env[f"{name}_DEAD_LETTER_QUEUE_URL"] for name in PIPELINE_QUEUES
                     if target.env.get(f"{name}_DEAD_LETTER_QUEUE_URL")}
        self.interval = interval
        self.max_depth = {q: 0 for q in self.queues}
        self.longest_busy = {q: 0.0 for q in self.queues}  # longest stretch a queue was never seen empty
        self._busy_since: dict[str, float | None] = {q: None for q in self.queues}
        self.samples = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @staticmethod
    def interval_for(complaints: int) -> float:
        """Seconds between readings: 0.5 s for a few hundred complaints, up to 2 s from 2,000 on."""
        return min(2.0, max(0.5, complaints / 1000))

    def depth(self, url: str) -> int:
        attrs = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed"])["Attributes"]
        return sum(int(v) for v in attrs.values())

    def sample(self) -> dict[str, int]:
        now = time.monotonic()
        depths = {q: self.depth(url) for q, url in self.queues.items()}
        self.samples += 1
        for q, d in depths.items():
            self.max_depth[q] = max(self.max_depth[q], d)
            if d and self._busy_since[q] is None:
                self._busy_since[q] = now
            elif not d:
                self._busy_since[q] = None
            if self._busy_since[q] is not None:
                self.longest_busy[q] = max(self.longest_busy[q], now - self._busy_since[q])
        return depths

    def dead_letters(self) -> dict[str, int]:
        return {q: self.depth(url) for q, url in self.dlqs.items()}

    def start(self) -> None:
        def loop() -> None:
            while not self._stop.wait(self.interval):
                try:
                    self.sample()
                except Exception:  # noqa: BLE001 - a missed sample is no reason to stop the run
                    pass

        self._thread = threading.Thread(target=loop, name="loadtest-queues", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(5)

    def wait_empty(self, deadline: float, stable_samples: int = 3) -> bool:
        """True once every pipeline queue was empty ``stable_samples`` times in a row; False at the deadline."""
        quiet = 0
        while time.monotonic() < deadline:
            quiet = quiet + 1 if not any(self.sample().values()) else 0
            if quiet >= stable_samples:
                return True
            time.sleep(self.interval)
        return False


# -- verifying --------------------------------------------------------------------------------------
class CaseRecords:
    """Read-only access to the stack's table through designed keys (a test tool's view of the store)."""

    def __init__(self, target: LoadTarget):
        from shared.crypto import LookupHasher

        self.db = target.client("dynamodb")
        self.table = target.env["TABLE_NAME"]
        self.hasher = LookupHasher(target.client("kms"), target.env["LOOKUP_KEY_ID"])

    def cases_of_customer(self, email: str) -> list[str]:
        """Pattern 8: the customer index, every case of this address."""
        out = self.db.query(TableName=self.table, KeyConditionExpression="PK = :pk", ConsistentRead=True,
                            ExpressionAttributeValues={":pk": {"S": "CUSTOMER#" + self.hasher.hash("email", email)}})
        return [i["complaint_id"]["S"] for i in out.get("Items", [])]

    def case_items(self, complaint_id: str) -> list[dict[str, Any]]:
        """Pattern 2: the case's partition (case, timeline, delivery log), plain values."""
        from boto3.dynamodb.types import TypeDeserializer

        plain = TypeDeserializer()
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"TableName": self.table, "KeyConditionExpression": "PK = :pk",
                                  "ConsistentRead": True,
                                  "ExpressionAttributeValues": {":pk": {"S": f"CASE#{complaint_id}"}}}
        while True:
            out = self.db.query(**kwargs)
            items += [{k: plain.deserialize(v) for k, v in i.items()} for i in out.get("Items", [])]
            if "LastEvaluatedKey" not in out:
                return items
            kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]


@dataclass
class CaseCheck:
    """One submitted complaint as found in the store."""

    n: int
    kind: str
    complaint_ids: list[str] = field(default_factory=list)
    problem: str | None = None  # None: done, exactly once
    final: bool = False  # missing/duplicate/wrong: waiting will not help
    times: dict[str, float] = field(default_factory=dict)  # epoch seconds: received, classified, routed, acknowledged
    department: str | None = None
    triage: bool = False


def _epoch(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def check_case(records: CaseRecords, sub: Submission, outbox_acks: dict[str, int] | None) -> CaseCheck:
    check = CaseCheck(n=sub.n, kind=sub.kind)
    ids = check.complaint_ids = records.cases_of_customer(sub.email)
    if not ids:
        check.problem = "missing: no case for this customer"
        return check
    if len(ids) > 1:
        check.problem, check.final = f"duplicate: {len(ids)} cases for one complaint", True
        return check
    if sub.complaint_id and ids[0] != sub.complaint_id:
        check.problem, check.final = f"wrong case: the answer said {sub.complaint_id}", True
        return check
    items = records.case_items(ids[0])
    case = next((i for i in items if i["SK"] == "CASE"), None)
    if case is None:
        check.problem = "missing: the customer index names a case that is not there"
        return check
    timeline = [i for i in items if i["SK"].startswith("TL#")]
    kinds: dict[str, list[dict[str, Any]]] = {}
    for entry in timeline:
        kinds.setdefault(entry.get("kind", ""), []).append(entry)
    acks = [i for i in items if i["SK"].startswith("NOTIFY#") and i.get("purpose") == "ack"]
    check.department, check.triage = case.get("department"), bool(case.get("needs_triage"))
    check.times["received"] = _epoch(case["received_at"])
    for kind in ("classified", "routed", "acknowledged"):
        if kinds.get(kind):
            check.times[kind] = min(_epoch(e["at"]) for e in kinds[kind])
    if len(kinds.get("received", [])) != 1:
        check.problem, check.final = f"{len(kinds.get('received', []))} received entries", True
    elif len(kinds.get("classified", [])) > 1 or len(kinds.get("routed", [])) > 1:
        check.problem, check.final = "classified or routed more than once", True
    elif len(kinds.get("acknowledged", [])) > 1 or len([a for a in acks if a.get("state") == "sent"]) > 1:
        check.problem, check.final = "acknowledged more than once", True
    elif outbox_acks is not None and outbox_acks.get(ids[0], 0) > 1:
        check.problem, check.final = f"{outbox_acks[ids[0]]} acknowledgement emails sent", True
    elif not case.get("category"):
        check.problem = "not classified"
    elif not (check.department or check.triage):
        check.problem = "not routed (no department, not in triage)"
    elif check.department and not kinds.get("routed"):
        check.problem = "department set without a routed entry"
    elif not kinds.get("acknowledged") or not any(a.get("state") == "sent" for a in acks):
        check.problem = "not acknowledged"
    elif outbox_acks is not None and outbox_acks.get(ids[0], 0) != 1:
        check.problem = NO_OUTBOX_ACK
    return check


NO_OUTBOX_ACK = "no acknowledgement email in the outbox"


def outbox_acknowledgements(outbox: Path | None) -> dict[str, int]:
    """Acknowledgement emails the stack sent, per case (``<time>-<case>-ack.eml`` under var/outbox/)."""
    counts: dict[str, int] = {}
    if outbox is None or not outbox.is_dir():
        return counts
    for path in outbox.glob("*-ack.eml"):
        complaint_id = path.name.rsplit("-", 2)[-2]
        counts[complaint_id] = counts.get(complaint_id, 0) + 1
    return counts


@dataclass
class Verification:
    """The outcome of :func:`verify`: ``passed`` when every accepted complaint is done exactly once."""

    passed: bool
    submitted: int
    accepted: int
    found: int
    done: int
    missing: int
    duplicates: int
    unfinished: int
    failed_submissions: int
    routed_to_department: int
    in_triage: int
    acknowledged: int
    outbox_checked: bool
    problems: list[dict[str, Any]]
    checks: list[CaseCheck] = field(default_factory=list, repr=False)

    def counts(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k not in ("checks", "problems")}


def verify(target: LoadTarget, submissions: Sequence[Submission], *, deadline: float | None = None,
           concurrency: int = 8, recheck_interval: float = 2.0) -> Verification:
    """Check every accepted submission in the store; re-check the unfinished ones until ``deadline``."""
    from concurrent.futures import ThreadPoolExecutor

    records = CaseRecords(target)
    accepted = [s for s in submissions if s.error is None]
    checks: dict[int, CaseCheck] = {}
    todo = list(accepted)
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="loadtest-verify") as pool:
        while True:
            acks = outbox_acknowledgements(target.outbox) if target.outbox else None
            for sub, check in zip(todo, pool.map(lambda s: check_case(records, s, acks), todo)):
                checks[sub.n] = check
            todo = [s for s in todo if checks[s.n].problem and not checks[s.n].final]
            if not todo or deadline is None or time.monotonic() >= deadline:
                break
            time.sleep(recheck_interval)
    # the outbox was listed before the store was read: an email sent in between (its file is written
    # before the delivery log says "sent") shows in the store only. Listed again now, it shows.
    late = [s for s in accepted if checks[s.n].problem == NO_OUTBOX_ACK]
    if late and target.outbox:
        acks = outbox_acknowledgements(target.outbox)
        for sub in late:
            checks[sub.n] = check_case(records, sub, acks)
    every = [checks[s.n] for s in accepted]
    problems = [{"n": c.n, "kind": c.kind, "complaint_ids": c.complaint_ids, "problem": c.problem}
                for c in every if c.problem]
    problems += [{"n": s.n, "kind": s.kind, "complaint_ids": [], "problem": f"not accepted: {s.error}"}
                 for s in submissions if s.error]
    missing = sum(1 for c in every if not c.complaint_ids or (c.problem or "").startswith("missing"))
    duplicates = sum(1 for c in every if len(c.complaint_ids) > 1 or (c.problem and c.final))
    done = sum(1 for c in every if not c.problem)
    return Verification(
        passed=not problems and len(accepted) == len(submissions),
        submitted=len(submissions), accepted=len(accepted), found=sum(1 for c in every if c.complaint_ids),
        done=done, missing=missing, duplicates=duplicates, unfinished=len(every) - done - missing - duplicates,
        failed_submissions=len(submissions) - len(accepted),
        routed_to_department=sum(1 for c in every if c.department), in_triage=sum(1 for c in every if c.triage),
        acknowledged=sum(1 for c in every if "acknowledged" in c.times), outbox_checked=target.outbox is not None,
        problems=problems[:100], checks=every)


# -- figures ----------------------------------------------------------------------------------------
def percentiles(values: Sequence[float]) -> dict[str, Any]:
    if not values:
        return {"count": 0}
    ordered = sorted(values)

    def at(q: float) -> float:  # nearest rank: the smallest value with at least q of them at or below it
        return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered) - 1e-9) - 1))]

    return {"count": len(ordered), "p50": round(at(0.50), 3), "p90": round(at(0.90), 3),
            "p99": round(at(0.99), 3), "max": round(ordered[-1], 3)}


def step_latencies(submissions: Sequence[Submission], checks: Sequence[CaseCheck]) -> dict[str, dict[str, Any]]:
    by_n = {s.n: s for s in submissions}
    steps: dict[str, list[float]] = {s: [] for s in STEPS}
    for c in checks:
        t, sub = c.times, by_n[c.n]
        if "received" in t:
            steps["submitted_to_received"].append(max(0.0, t["received"] - sub.submitted_at))
        if "classified" in t:
            steps["received_to_classified"].append(t["classified"] - t["received"])
        if "classified" in t and "routed" in t:
            steps["classified_to_routed"].append(t["routed"] - t["classified"])
        if "acknowledged" in t:
            steps["received_to_acknowledged"].append(t["acknowledged"] - t["received"])
        if not c.problem:
            steps["submitted_to_done"].append(max(t.values()) - min(sub.submitted_at, t["received"]))
    return {s: percentiles(v) for s, v in steps.items()}


def queue_waits(latencies: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The longest a message of this run waited in each queue, its step's handling included: the
    upper bound of ApproximateAgeOfOldestMessage (a CloudWatch metric moto does not produce)."""
    step_of = {"email_intake": "submitted_to_received", "router": "received_to_classified",
               "assignment": "classified_to_routed", "notifier": "received_to_acknowledged"}
    return {q: latencies[s].get("max") for q, s in step_of.items()}


def summary_lines(report: dict[str, Any]) -> list[str]:
    v, t = report["verification"], report["throughput"]
    kinds = ", ".join(f"{k} {n}" for k, n in report["by_kind"].items())
    lines = [f"loadtest:   {v['submitted']} complaints ({kinds}), "
             f"concurrency {report['options']['concurrency']}, texts from {report['texts']}: "
             f"{'PASSED' if v['passed'] else 'FAILED'} - {v['done']} done exactly once, {v['missing']} missing, "
             f"{v['duplicates']} duplicate, {v['unfinished']} unfinished, {v['failed_submissions']} not accepted; "
             f"{v['routed_to_department']} routed to a department, {v['in_triage']} in triage",
             f"            submitted {t['submitted_per_second']:.1f}/s, completed {t['completed_per_second']:.1f}/s "
             f"({t['submit_seconds']:.1f} s submitting, {t['drain_seconds']:.1f} s draining)"]
    for step, p in report["latency_seconds"].items():
        if p.get("count"):
            lines.append(f"            {step:<26} p50 {p['p50']:.2f} s  p90 {p['p90']:.2f} s  p99 {p['p99']:.2f} s  "
                         f"max {p['max']:.2f} s  (n={p['count']})")
    q = report["queues"]
    lines.append("            queues: " + ", ".join(
        f"{name} max depth {q['max_depth'][name]}, longest wait {q['max_wait_seconds'].get(name) or 0:.1f} s"
        for name in q["max_depth"]) + "; dead letters " + json.dumps(q["dead_letters"]))
    for p in report["verification"]["problems"][:10]:
        lines.append(f"            problem: complaint #{p['n']} ({p['kind']}) {p['complaint_ids']}: {p['problem']}")
    return lines


# -- the run ----------------------------------------------------------------------------------------
@dataclass
class LoadtestOptions:
    complaints: int = 500
    concurrency: int = 8
    mix: dict[str, float] = field(default_factory=lambda: {"web": 1.0, "email": 1.0})
    drain_timeout: float = 300.0
    # once the queues are empty, unfinished cases are re-checked this long at most (the outbox sweep
    # re-publishes an event its writer could not send after a minute): a case the pipeline lost
    # does not keep the run waiting for the whole drain allowance
    settle_seconds: float = 300.0
    datasets: Path = DATASETS
    seed: int = 7
    progress: bool = True


def parse_mix(text: str) -> dict[str, float]:
    """``web,email`` (equal shares), ``web`` or ``web=3,email=1``."""
    mix: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        kind, _, share = part.partition("=")
        if kind not in ("web", "email"):
            raise ValueError(f"unknown channel {kind!r} in --mix (web, email)")
        mix[kind] = float(share or 1)
        if mix[kind] < 0:
            raise ValueError("--mix shares must not be negative")
    if not mix or not sum(mix.values()):
        raise ValueError("--mix names no channel")
    return mix


def run(target: LoadTarget, options: LoadtestOptions, log: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """Submit, drain, verify; the report as a dict (its ``verification.passed`` is the verdict)."""
    target.check_loopback()
    texts = ComplaintTexts(options.datasets, options.seed)
    run_id = uuid.uuid4().hex[:8]
    # every depth reading makes moto look at each message of the queue: a big run's deep queues are
    # read less often (one reading per 2 s at 10,000 complaints was ~1/5 of moto's time at 0.5 s)
    watch = QueueWatch(target, interval=QueueWatch.interval_for(options.complaints))
    watch.start()
    started = time.monotonic()
    submissions = submit_all(target, options.complaints, options.concurrency, options.mix, texts, run_id,
                             progress=options.progress)
    submitted = time.monotonic()
    log(f"submitted {options.complaints} in {submitted - started:.1f} s; waiting for the pipeline to drain")
    deadline = submitted + options.drain_timeout
    watch.stop()
    drained = watch.wait_empty(deadline)
    drain_seconds = time.monotonic() - submitted
    log(f"queues {'empty' if drained else 'still busy'} after {drain_seconds:.1f} s; verifying")
    verification = verify(target, submissions,
                          deadline=min(deadline, time.monotonic() + options.settle_seconds) if drained else deadline)
    dead = watch.dead_letters()
    latencies = step_latencies(submissions, verification.checks)
    done_times = [max(c.times.values()) for c in verification.checks if not c.problem]
    first_submit = min((s.submitted_at - s.seconds for s in submissions), default=0.0)
    accepted = [s for s in submissions if s.error is None]
    submit_span = max((s.submitted_at for s in accepted), default=first_submit) - first_submit
    complete_span = (max(done_times) - first_submit) if done_times else 0.0
    report = {
        "run_id": run_id,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "options": {"complaints": options.complaints, "concurrency": options.concurrency, "mix": options.mix,
                    "drain_timeout": options.drain_timeout, "seed": options.seed},
        "target": {"api": target.api_url, "smtp": f"{target.smtp_host}:{target.smtp_port}",
                   "aws_endpoint": target.aws_endpoint, "outbox": str(target.outbox) if target.outbox else None},
        "texts": texts.source,
        "by_kind": {k: sum(1 for s in submissions if s.kind == k) for k in options.mix},
        "by_language": {lang: sum(1 for s in submissions if s.language == lang) for lang in ("zh", "en")},
        "verification": {**verification.counts(), "problems": verification.problems},
        "throughput": {
            "submit_seconds": round(submit_span, 3),
            "drain_seconds": round(drain_seconds, 3),
            "drained": drained,
            "submitted_per_second": round(len(accepted) / submit_span, 2) if submit_span else None,
            "completed_per_second": round(len(done_times) / complete_span, 2) if complete_span else None,
            "complete_seconds": round(complete_span, 3),
        },
        "request_seconds": {k: percentiles([s.seconds for s in accepted if s.kind == k]) for k in options.mix},
        "latency_seconds": latencies,
        "queues": {"max_depth": watch.max_depth,
                   "longest_busy_seconds": {q: round(v, 2) for q, v in watch.longest_busy.items()},
                   "max_wait_seconds": queue_waits(latencies), "dead_letters": dead, "samples": watch.samples},
    }
    report["passed"] = verification.passed and not any(dead.values())
    if any(dead.values()):
        report["verification"]["problems"].append({"n": -1, "kind": "-", "complaint_ids": [],
                                                   "problem": f"messages in dead-letter queues: {dead}"})
    return report


def write_report(report: dict[str, Any], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def main(args: Any) -> int:
    """``complaints loadtest`` (infra/cli.py declares the arguments)."""
    from infra import devkeys

    if args.complaints < 1 or args.concurrency < 1 or args.drain_timeout <= 0:
        print("loadtest: --complaints, --concurrency and --drain-timeout must be positive", file=sys.stderr)
        return 2
    try:
        mix = parse_mix(args.mix)
        target = target_from(devkeys.var_dir(), args.api, args.smtp, args.endpoint)
    except (LoopbackOnly, ValueError) as exc:
        print(f"loadtest: {exc}", file=sys.stderr)
        return 2
    options = LoadtestOptions(complaints=args.complaints, concurrency=args.concurrency, mix=mix,
                              drain_timeout=args.drain_timeout, seed=args.seed, progress=not args.no_progress)
    report = run(target, options, log=lambda s: print(f"loadtest: {s}", file=sys.stderr, flush=True))
    out = args.out or devkeys.var_dir() / "bench" / "loadtest.json"
    write_report(report, out)
    for line in summary_lines(report):
        print(line)
    print(f"            report written to {out}")
    return 0 if report["passed"] else 1


# -- a stack of one's own (benchmarks, fault runs) --------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def started_stack(var_dir: Path, *, extra_env: dict[str, str] | None = None, extra_args: Sequence[str] = (),
                  start_timeout: float = 90) -> Iterator[LoadTarget]:
    """``complaints run`` in a subprocess on free ports, files under ``var_dir``; stopped with Ctrl-C on exit.
    ``extra_env`` / ``extra_args`` pass stack options through (fault switches, delivery modes ...)."""
    import signal

    var_dir.mkdir(parents=True, exist_ok=True)
    ports = {"MOTO_PORT": _free_port(), "API_PORT": _free_port(), "SMTP_PORT": _free_port()}
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "TABLE_NAME"}
    env.update({k: str(v) for k, v in ports.items()}, COMPLAINTS_VAR_DIR=str(var_dir), PYTHONUNBUFFERED="1",
               **(extra_env or {}))
    log_path = var_dir / "local-stack.log"
    with open(log_path, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "infra.cli", "run", *extra_args], cwd=ROOT, env=env,
                                   stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        state_file = var_dir / "local-stack.json"
        deadline = time.monotonic() + start_timeout
        while not state_file.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"complaints run did not start (see {log_path})")
            time.sleep(0.2)
        yield target_from(var_dir, smtp=f"127.0.0.1:{ports['SMTP_PORT']}")
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


def bench(complaints: int = 10_000, concurrency: int = 8, *, extra_env: dict[str, str] | None = None,
          out: Path = DEFAULT_OUT) -> dict[str, Any]:
    """``make bench``'s load test: a stack of its own (temporary files), ``complaints`` over web and email,
    the report written to ``out`` and returned."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="complaints-loadtest-") as tmp:
        env = {"SCHEDULE_SPEEDUP": "60", **(extra_env or {})}
        with started_stack(Path(tmp) / "var", extra_env=env) as target:
            options = LoadtestOptions(complaints=complaints, concurrency=concurrency,
                                      drain_timeout=max(300.0, complaints * 1.0))
            report = run(target, options, log=lambda s: print(f"loadtest: {s}", file=sys.stderr, flush=True))
    write_report(report, out)
    return report
