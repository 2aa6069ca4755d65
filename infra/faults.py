"""Fault injection for the local stack and the tests: AWS calls that fail the way AWS calls fail.

Off unless asked for (``complaints run --faults "..."`` or ``COMPLAINTS_FAULTS``); nothing here is in
the Lambda package, and the app's code does not know about it. :func:`install` registers botocore
event hooks on boto3's *default session* - the session every client of the app comes from
(``shared.aws.client``, the health check's clients) - and drops the cached clients, so the next ones
carry the hooks. A client made from another session (the stack's own tooling, the event pump, a test's
checks) is never faulted.

Per attempt (botocore's own retries stay on, as in production, so an injected fault is often absorbed):

* ``throttle``: the service's real throttling answer - DynamoDB ``ProvisionedThroughputExceededException``,
  S3 ``SlowDown`` (503), SQS ``RequestThrottled``, SES ``TooManyRequestsException`` (429), EventBridge and
  KMS ``ThrottlingException``, SNS ``Throttling``;
* ``5xx``: the service's internal error (500);
* ``timeout``: the request never reaches the server (botocore's ``ConnectTimeoutError``);
* ``timeout_after``: the request *is* applied, then the answer is lost (``ReadTimeoutError``): the
  ambiguous case - botocore retries a write that already happened, or the caller sees a timeout for it.

The spec is a comma-separated list: ``dynamodb=0.2,s3=0.2,sqs=0.2,ses=0.2,events=0.2`` (a share of
each service's attempts), ``all=0.2``, ``dynamodb.TransactWriteItems=1`` (one operation; the most
specific rule wins), ``route_complaint:dynamodb=1`` (only while that function runs: the event pump and
the tests' drains name it), ``kinds=throttle+5xx+timeout+timeout_after`` (default: all four; one rule's own after a slash:
``ses=0.2/throttle+5xx``) and ``seed=7``. :class:`FaultInjector` counts what it injected (per service and kind), the retries botocore
made, and the injected faults that surfaced to the app after its retries.

:class:`CrashPoints` is the harsher cousin for tests: it records the AWS calls of a handler, or kills
the "process" (a ``BaseException`` no handler catches) right after the n-th call succeeded.
"""
from __future__ import annotations

import contextlib
import contextvars
import json
import random
import threading
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterator

KINDS = ("throttle", "5xx", "timeout", "timeout_after")
ENV_VAR = "COMPLAINTS_FAULTS"
# spec names -> botocore service ids (hyphenized, as in event names)
SERVICES = {"dynamodb": "dynamodb", "s3": "s3", "sqs": "sqs", "ses": "sesv2", "sesv2": "sesv2",
            "events": "eventbridge", "eventbridge": "eventbridge", "kms": "kms", "sns": "sns",
            "secretsmanager": "secrets-manager", "secrets-manager": "secrets-manager"}
DEFAULT_SERVICES = ("dynamodb", "s3", "sqs", "sesv2", "eventbridge")  # what ``all=`` covers

# (throttling code, its HTTP status), (internal error code, status)
ERRORS: dict[str, tuple[tuple[str, int], tuple[str, int]]] = {
    "dynamodb": (("ProvisionedThroughputExceededException", 400), ("InternalServerError", 500)),
    "s3": (("SlowDown", 503), ("InternalError", 500)),
    "sqs": (("RequestThrottled", 400), ("InternalError", 500)),
    "sesv2": (("TooManyRequestsException", 429), ("InternalFailure", 500)),
    "eventbridge": (("ThrottlingException", 400), ("InternalException", 500)),
    "kms": (("ThrottlingException", 400), ("KMSInternalException", 500)),
    "sns": (("Throttling", 400), ("InternalError", 500)),
    "secrets-manager": (("ThrottlingException", 400), ("InternalServiceError", 500)),
}

_function: contextvars.ContextVar[str | None] = contextvars.ContextVar("faults_function", default=None)


@contextlib.contextmanager
def running(function: str) -> Iterator[None]:
    """Calls made inside are made by ``function`` (rules scoped ``function:service`` apply)."""
    token = _function.set(function)
    try:
        yield
    finally:
        _function.reset(token)


# -- the plan ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Rule:
    service: str  # botocore service id
    rate: float
    operation: str | None = None
    function: str | None = None
    kinds: tuple[str, ...] | None = None  # None: the plan's

    def matches(self, service: str, operation: str, function: str | None) -> bool:
        return (self.service == service and self.operation in (None, operation)
                and self.function in (None, function))

    @property
    def specificity(self) -> int:
        return (self.operation is not None) + 2 * (self.function is not None)


@dataclass
class FaultPlan:
    rules: list[Rule] = field(default_factory=list)
    kinds: tuple[str, ...] = KINDS
    seed: int = 0

    @classmethod
    def parse(cls, spec: str) -> "FaultPlan":
        plan = cls()
        for part in (p.strip() for p in spec.split(",")):
            if not part:
                continue
            name, sep, value = part.partition("=")
            name = name.strip()
            if not sep:
                raise ValueError(f"fault spec {part!r}: expected name=value")
            if name == "seed":
                plan.seed = int(value)
                continue
            if name == "kinds":
                plan.kinds = _kinds(value)
                continue
            value, _, rule_kinds = value.partition("/")
            kinds = _kinds(rule_kinds) if rule_kinds else None
            try:
                rate = float(value)
            except ValueError:
                raise ValueError(f"fault spec {part!r}: the rate must be a number from 0 to 1") from None
            if not 0 <= rate <= 1:
                raise ValueError(f"fault spec {part!r}: the rate must be from 0 to 1")
            function, _, target = name.rpartition(":")
            service, _, operation = target.partition(".")
            if service == "all":
                if operation:
                    raise ValueError(f"fault spec {part!r}: all takes no operation")
                plan.rules += [Rule(s, rate, None, function or None, kinds) for s in DEFAULT_SERVICES]
                continue
            if service not in SERVICES:
                raise ValueError(f"fault spec {part!r}: unknown service {service!r} "
                                 f"(known: all, {', '.join(sorted(SERVICES))})")
            plan.rules.append(Rule(SERVICES[service], rate, operation or None, function or None, kinds))
        return plan

    def rule(self, service: str, operation: str, function: str | None) -> Rule | None:
        """The most specific rule for a call (the later one among equals), or None."""
        found = [r for r in self.rules if r.matches(service, operation, function)]
        return max(reversed(found), key=lambda r: r.specificity) if found else None

    def describe(self) -> str:
        rules = ", ".join(f"{r.function + ':' if r.function else ''}{r.service}"
                          f"{'.' + r.operation if r.operation else ''}={r.rate:g}"
                          f"{'/' + '+'.join(r.kinds) if r.kinds else ''}" for r in self.rules)
        return f"{rules or 'nothing'} (kinds {'+'.join(self.kinds)}, seed {self.seed})"


def _kinds(text: str) -> tuple[str, ...]:
    kinds = tuple(k.strip() for k in text.split("+") if k.strip())
    unknown = set(kinds) - set(KINDS)
    if unknown or not kinds:
        raise ValueError(f"fault kinds {sorted(unknown) or text!r}: choose from {'+'.join(KINDS)}")
    return kinds


# -- answers --------------------------------------------------------------------------------------
class _Raw:
    def __init__(self, body: bytes):
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def error_response(url: str, protocol: str, code: str, status: int) -> Any:
    """The HTTP answer ``code`` comes in for this protocol (what botocore parses into a ClientError)."""
    from botocore.awsrequest import AWSResponse, HeadersDict

    request_id = str(uuid.uuid4())
    message = "Rate exceeded" if status in (400, 429, 503) else "We encountered an internal error. Please try again."
    headers = HeadersDict({"x-amzn-RequestId": request_id, "x-amz-request-id": request_id})
    if protocol in ("rest-xml", "query", "ec2"):
        if protocol == "rest-xml":
            body = (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>{message}</Message>"
                    f"<RequestId>{request_id}</RequestId></Error>")
        else:
            body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message>"
                    f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>")
        headers["Content-Type"] = "text/xml"
    elif protocol == "rest-json":
        body = json.dumps({"message": message})
        headers["Content-Type"] = "application/json"
        headers["x-amzn-ErrorType"] = f"{code}:"
    else:  # json (DynamoDB, SQS, EventBridge, KMS ...)
        body = json.dumps({"__type": f"com.amazonaws.fault#{code}", "message": message})
        headers["Content-Type"] = "application/x-amz-json-1.0"
    return AWSResponse(url, status, headers, _Raw(body.encode()))


# -- the injector ---------------------------------------------------------------------------------
_OP = "faults.operation"  # (service id, operation, protocol) of the call, set at before-call
_LAST = "faults.last"  # the fault injected in the latest attempt, or None
_AFTER = "faults.after"  # this attempt is applied, then its answer is lost
_REPLAY = "faults.replay"  # the applied attempt's answer, for the retry of an idempotent call
_ANSWERED = "faults.answered"  # this attempt was answered by the injector: nothing may apply it


def _keep_moto_from_applying_answered_requests() -> None:
    """botocore hands ``before-send`` to *every* handler and then uses the first answer, so in-process
    moto's stubber (a later handler) still applied a call the injector had already answered with a
    throttle or a 5xx: a "failed" SES send was recorded, a "throttled" write was written. The stubber
    now leaves such a request alone, as the real service never sees it. (Over HTTP - the local
    stack's moto server - an answered request is never sent, so nothing to do there.) Idempotent."""
    try:
        from moto.core.botocore_stubber import BotocoreStubber
    except ImportError:
        return
    if getattr(BotocoreStubber.__call__, "_skips_answered", False):
        return
    original = BotocoreStubber.__call__

    def __call__(self: Any, event_name: str, request: Any, **kwargs: Any) -> Any:
        if (getattr(request, "context", None) or {}).get(_ANSWERED):
            return None
        return original(self, event_name, request, **kwargs)

    __call__._skips_answered = True  # type: ignore[attr-defined]
    BotocoreStubber.__call__ = __call__  # type: ignore[method-assign]
# Calls AWS makes idempotent with a token botocore fills in and keeps across retries (DynamoDB's
# TransactWriteItems: ClientRequestToken). moto ignores the token, so the injector plays AWS's part:
# the retry of an applied call gets the first answer instead of being applied again.
IDEMPOTENT = {("dynamodb", "TransactWriteItems")}


class FaultInjector:
    """Decides per attempt, answers or raises, and counts (thread-safe)."""

    def __init__(self, plan: FaultPlan):
        self.plan = plan
        self._random = random.Random(plan.seed)
        self._lock = threading.Lock()
        self.attempts: Counter[str] = Counter()  # service -> attempts seen
        self.injected: dict[str, Counter[str]] = defaultdict(Counter)  # service -> kind -> count
        self.retries: Counter[str] = Counter()  # service -> attempts after the first
        self.surfaced: dict[str, Counter[str]] = defaultdict(Counter)  # service -> kind -> reached the app
        self._installed: list[tuple[Any, str, Any]] = []

    # botocore hooks
    def before_call(self, model: Any, context: dict[str, Any], **_: Any) -> None:
        context[_OP] = (model.service_model.service_id.hyphenize(), model.name, model.service_model.protocol,
                        _function.get())

    def before_send(self, request: Any, **_: Any) -> Any:
        context = getattr(request, "context", None) or {}
        op = context.get(_OP)
        if op is None:
            return None
        service, operation, protocol, function = op
        attempt = (context.get("retries") or {}).get("attempt", 1)
        context[_LAST] = None
        context.pop(_ANSWERED, None)
        replay = context.pop(_REPLAY, None)
        if replay is not None:  # what DynamoDB answers a retry carrying the applied call's token
            with self._lock:
                self.attempts[service] += 1
                self.retries[service] += 1
            context[_ANSWERED] = True
            return replay
        with self._lock:
            self.attempts[service] += 1
            if attempt > 1:
                self.retries[service] += 1
            rule = self.plan.rule(service, operation, function)
            if rule is None or not rule.rate or self._random.random() >= rule.rate:
                return None
            kind = self._random.choice(rule.kinds or self.plan.kinds)
            if kind != "timeout_after":
                self.injected[service][kind] += 1
        if kind == "timeout_after":
            context[_AFTER] = True  # counted when the answer is dropped (needs-retry)
            return None
        context[_LAST] = kind
        context[_ANSWERED] = True
        if kind == "timeout":  # a request that never got through: a connect timeout, not a read timeout
            from botocore.exceptions import ConnectTimeoutError

            raise ConnectTimeoutError(endpoint_url=request.url)
        throttle, internal = ERRORS.get(service, (("ThrottlingException", 400), ("InternalError", 500)))
        code, status = throttle if kind == "throttle" else internal
        return error_response(request.url, protocol, code, status)

    def needs_retry(self, response: Any, caught_exception: Any, attempts: int, request_dict: dict[str, Any],
                    **_: Any) -> Any:
        context = request_dict.get("context") or {}
        if not context.pop(_AFTER, False):
            return None
        if caught_exception is not None or response is None or response[0].status_code >= 300:
            return None  # the server failed it anyway: nothing was applied to lose
        service = context[_OP][0]
        with self._lock:
            self.injected[service]["timeout_after"] += 1
        context[_LAST] = "timeout_after"
        if attempts < int((context.get("retries") or {}).get("max") or 1):
            if (service, context[_OP][1]) in IDEMPOTENT:
                context[_REPLAY] = response[0]
            return 0  # botocore retries a call the server already applied
        from botocore.exceptions import ReadTimeoutError

        raise ReadTimeoutError(endpoint_url="(answer lost after the server applied it)")

    def after_call(self, http_response: Any, context: dict[str, Any], **_: Any) -> None:
        kind = context.get(_LAST)
        if kind and getattr(http_response, "status_code", 200) >= 300:
            with self._lock:
                self.surfaced[context[_OP][0]][kind] += 1

    def after_call_error(self, context: dict[str, Any], **_: Any) -> None:
        kind = context.get(_LAST)
        if kind:
            with self._lock:
                self.surfaced[context[_OP][0]][kind] += 1

    # wiring
    def register(self, events: Any) -> None:
        _keep_moto_from_applying_answered_requests()
        for event, handler, first in (("before-call", self.before_call, True),
                                      ("before-send", self.before_send, True),  # before moto's own stub
                                      ("needs-retry", self.needs_retry, False),
                                      ("after-call", self.after_call, False),
                                      ("after-call-error", self.after_call_error, False)):
            (events.register_first if first else events.register)(event, handler)
            self._installed.append((events, event, handler))

    def unregister(self) -> None:
        for events, event, handler in self._installed:
            events.unregister(event, handler)
        self._installed.clear()

    # figures
    def counts(self) -> dict[str, Any]:
        with self._lock:
            injected = {s: dict(c) for s, c in sorted(self.injected.items())}
            surfaced = {s: dict(c) for s, c in sorted(self.surfaced.items())}
            return {
                "plan": self.plan.describe(),
                "attempts": dict(sorted(self.attempts.items())),
                "injected": injected,
                "injected_total": sum(sum(c.values()) for c in self.injected.values()),
                "retries": dict(sorted(self.retries.items())),
                "retries_total": sum(self.retries.values()),
                "surfaced": surfaced,
                "surfaced_total": sum(sum(c.values()) for c in self.surfaced.values()),
            }

    def summary(self) -> str:
        c = self.counts()
        by_kind: Counter[str] = Counter()
        for kinds in c["injected"].values():
            by_kind.update(kinds)
        return (f"faults: {c['injected_total']} injected ({', '.join(f'{k} {v}' for k, v in sorted(by_kind.items()))})"
                f" in {sum(c['attempts'].values())} attempts; botocore retried {c['retries_total']}; "
                f"{c['surfaced_total']} reached the app")


def _default_session() -> Any:
    import boto3

    if boto3.DEFAULT_SESSION is None:
        boto3.setup_default_session()
    return boto3.DEFAULT_SESSION


def forget_clients() -> None:
    """Drop the app's cached clients: the next ones are made with (or without) the hooks."""
    from shared.aws import reset_clients

    reset_clients()
    try:
        from functions.health import api as health

        health.reset()
    except ImportError:
        pass
    try:
        from infra.moto_stack import forget_cached_services

        forget_cached_services()
    except ImportError:
        pass


def install(plan: FaultPlan | str) -> FaultInjector:
    """Fault the app's AWS calls from now on (see the module docstring); :func:`uninstall` ends it."""
    injector = FaultInjector(FaultPlan.parse(plan) if isinstance(plan, str) else plan)
    injector.register(_default_session().events)
    forget_clients()
    return injector


def uninstall(injector: FaultInjector) -> None:
    injector.unregister()
    forget_clients()


@contextlib.contextmanager
def injected(plan: FaultPlan | str) -> Iterator[FaultInjector]:
    injector = install(plan)
    try:
        yield injector
    finally:
        uninstall(injector)


def from_environment(environ: Any = None) -> FaultInjector | None:
    """``COMPLAINTS_FAULTS`` installed, or None when it is unset or empty."""
    import os

    spec = (environ if environ is not None else os.environ).get(ENV_VAR, "").strip()
    return install(spec) if spec else None


# -- crash points (tests) ---------------------------------------------------------------------------
class SimulatedCrash(BaseException):
    """The process died: a BaseException, so no ``except Exception`` in the app (nor Powertools'
    batch processor) catches it, and the message is not acknowledged."""


class CrashPoints:
    """Records the app's AWS calls (``calls``, as ``service.Operation``) and, when armed, dies right
    after the ``occurrence``-th (0-based) successful call of ``call``; after dying, every further call
    dies too (a dead process makes none). By name and occurrence rather than position, so a cache that
    is warm in one run and cold in another (a KMS data key) does not move the point."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.crash_after: tuple[str, int] | None = None
        self.crashed_at: str | None = None
        self._installed: list[tuple[Any, str, Any]] = []

    def arm(self, call: str | None = None, occurrence: int = 0) -> None:
        self.calls, self.crash_after, self.crashed_at = [], (call, occurrence) if call else None, None

    def before_call(self, model: Any, **_: Any) -> None:
        if self.crashed_at is not None:
            raise SimulatedCrash(f"dead since {self.crashed_at}")

    def after_call(self, http_response: Any, model: Any, **_: Any) -> None:
        name = f"{model.service_model.service_name}.{model.name}"
        self.calls.append(name)
        if self.crash_after is not None and self.crash_after == (name, self.calls.count(name) - 1) \
                and getattr(http_response, "status_code", 200) < 300:
            self.crashed_at = f"{name} #{self.crash_after[1]}"
            raise SimulatedCrash(f"crashed right after {self.crashed_at}")

    def install(self) -> "CrashPoints":
        events = _default_session().events
        for event, handler in (("before-call", self.before_call), ("after-call", self.after_call)):
            events.register(event, handler)
            self._installed.append((events, event, handler))
        forget_clients()
        return self

    def uninstall(self) -> None:
        for events, event, handler in self._installed:
            events.unregister(event, handler)
        self._installed.clear()
        forget_clients()


# -- the fault run of the benchmarks ----------------------------------------------------------------
DEFAULT_BENCH_SPEC = "all=0.2,ses.SendEmail=0.2/throttle+5xx+timeout,seed=7"


def bench(complaints: int = 2_000, spec: str = DEFAULT_BENCH_SPEC, concurrency: int = 8,
          out: Any = None) -> dict[str, Any]:
    """``complaints loadtest`` against a local stack started with ``--faults spec``: the load test's
    verdict (every complaint exactly once, no DLQ message) plus the injected / retried / surfaced
    counts the stack wrote when it stopped. Written to ``var/bench/faults.json``."""
    import sys
    import tempfile
    from pathlib import Path

    from infra.loadtest import ROOT, LoadtestOptions, run, started_stack, write_report

    out = Path(out) if out else ROOT / "var" / "bench" / "faults.json"
    with tempfile.TemporaryDirectory(prefix="complaints-faults-") as tmp:
        var = Path(tmp) / "var"
        with started_stack(var, extra_env={"SCHEDULE_SPEEDUP": "60", ENV_VAR: spec}) as target:
            # with a fifth of the calls failing the notifier's retry back-offs make it ~1 complaint a
            # second here (2 pollers, as its maximum concurrency): twice the load test's allowance
            options = LoadtestOptions(complaints=complaints, concurrency=concurrency,
                                      drain_timeout=max(600.0, complaints * 2.0), progress=False)
            report = run(target, options, log=lambda s: print(f"faults: {s}", file=sys.stderr, flush=True))
        counts_file = var / "faults.json"
        report["faults"] = json.loads(counts_file.read_text(encoding="utf-8")) if counts_file.is_file() else None
    report["passed"] = bool(report["passed"] and report["faults"] and report["faults"]["injected_total"] > 0)
    write_report(report, out)
    return report


def summary_lines(report: dict[str, Any]) -> list[str]:
    v, f = report["verification"], report.get("faults") or {}
    injected: Counter[str] = Counter()
    for kinds in (f.get("injected") or {}).values():
        injected.update(kinds)
    return [f"faults:     {report['options']['complaints']} complaints with {f.get('plan', '?')}: "
            f"{'PASSED' if report['passed'] else 'FAILED'} ({v['done']} done exactly once, {v['duplicates']} "
            f"duplicates, {v['missing']} missing, DLQ {sum(report['queues']['dead_letters'].values())})",
            f"            injected {f.get('injected_total', 0)} ({', '.join(f'{k} {n}' for k, n in sorted(injected.items()))}) "
            f"in {sum((f.get('attempts') or {}).values())} attempts; botocore retried {f.get('retries_total', 0)}; "
            f"{f.get('surfaced_total', 0)} reached the app"]
