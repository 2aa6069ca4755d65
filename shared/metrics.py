"""Business metrics as CloudWatch embedded metric format (EMF) lines, through Powertools' EMF provider.

The steps record what happened where it happened (``count("ComplaintsReceived", channel="web")``);
the lines are written once per invocation, when the function's middleware closes it
(:func:`shared.observability.around_invocation`), one line per set of dimensions. In Lambda the line
goes to stdout, i.e. the function's log group, where CloudWatch turns it into metrics of the
``Complaints`` namespace (``POWERTOOLS_METRICS_NAMESPACE``) without any API call; outside an
invocation (a CLI, a bench) each value is written at once. ``POWERTOOLS_METRICS_DISABLED=true``
turns them off.

Dimensions are bounded sets the configuration defines (channel, department...), never identifiers or
personal data: a dimension outside :data:`DIMENSIONS` is refused. docs/observability.md lists the
metrics, their units and what reads them (alarms, the dashboard).
"""
from __future__ import annotations

import contextvars
import json
import os
import sys
from contextlib import contextmanager
from typing import Any, Callable, Iterator

NAMESPACE_DEFAULT = "Complaints"

# -- the metrics (names are part of the alarms and dashboard in infra/merge.yaml) ---------------------
COMPLAINTS_RECEIVED = "ComplaintsReceived"  # Count, by channel: intake (form, email)
COMPLAINTS_CLASSIFIED = "ComplaintsClassified"  # Count: the router, one per case classified
CLASSIFICATION_CONFIDENCE = "ClassificationConfidence"  # None (0..1), one value per classification
COMPLAINTS_TRIAGED = "ComplaintsNeedingTriage"  # Count: classified below the confidence threshold
COMPLAINTS_ROUTED = "ComplaintsRouted"  # Count, by department: assignment
SLA_WARNINGS = "SlaWarnings"  # Count: the SLA sweep
SLA_BREACHES = "SlaBreaches"  # Count: the SLA sweep (alarmed above a threshold)
NOTIFICATIONS_SENT = "NotificationsSent"  # Count, by channel: the notifier
NOTIFICATIONS_FAILED = "NotificationsFailed"  # Count, by channel: the notifier (retried, then DLQ)
NOTIFICATIONS_UNCONFIRMED = "NotificationsUnconfirmed"  # Count: SES's answer lost; recorded as sent, not resent

METRICS = (COMPLAINTS_RECEIVED, COMPLAINTS_CLASSIFIED, CLASSIFICATION_CONFIDENCE, COMPLAINTS_TRIAGED,
           COMPLAINTS_ROUTED, SLA_WARNINGS, SLA_BREACHES, NOTIFICATIONS_SENT, NOTIFICATIONS_FAILED,
           NOTIFICATIONS_UNCONFIRMED)
# Bounded, non-personal dimension names; the value is cut to 64 characters.
DIMENSIONS = frozenset({"channel", "department", "kind"})

Sink = Callable[[str], None]
_buffer: contextvars.ContextVar[list[tuple[str, str, float, tuple[tuple[str, str], ...]]] | None] = \
    contextvars.ContextVar("complaints_metrics", default=None)


def _stdout(line: str) -> None:
    out = sys.stdout  # looked up at each write: Lambda's stdout is the log group, a test's is captured
    out.write(line + "\n")
    out.flush()


_sink: Sink = _stdout


def namespace() -> str:
    return os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or NAMESPACE_DEFAULT


def disabled() -> bool:
    return os.environ.get("POWERTOOLS_METRICS_DISABLED", "").strip().lower() in ("1", "true", "yes", "on")


def count(name: str, value: float = 1, **dimensions: str) -> None:
    record(name, value, "Count", **dimensions)


def record(name: str, value: float, unit: str = "None", **dimensions: str) -> None:
    """One value of metric ``name``; written when the invocation ends (at once outside one)."""
    if name not in METRICS:
        raise ValueError(f"unknown metric {name!r}: add it to shared/metrics.py METRICS")
    unknown = set(dimensions) - DIMENSIONS
    if unknown:
        raise ValueError(f"dimensions {sorted(unknown)} are not allowed (bounded, non-personal: {sorted(DIMENSIONS)})")
    dims = tuple(sorted((k, str(v)[:64] or "unknown") for k, v in dimensions.items()))
    buffered = _buffer.get()
    if buffered is None:
        _write([(name, unit, float(value), dims)])
    else:
        buffered.append((name, unit, float(value), dims))


@contextmanager
def invocation() -> Iterator[None]:
    """Collects the metrics recorded inside, and writes them when it closes (even on an error)."""
    if _buffer.get() is not None:  # nested (a handler calling another): the outer one flushes
        yield
        return
    collected: list[tuple[str, str, float, tuple[tuple[str, str], ...]]] = []
    token = _buffer.set(collected)
    try:
        yield
    finally:
        _buffer.reset(token)
        _write(collected)


def _write(collected: list[tuple[str, str, float, tuple[tuple[str, str], ...]]]) -> None:
    if not collected or disabled():
        return
    from aws_lambda_powertools.metrics import EphemeralMetrics

    from shared.observability import SERVICE

    groups: dict[tuple[tuple[str, str], ...], list[tuple[str, str, float]]] = {}
    for name, unit, value, dims in collected:
        groups.setdefault(dims, []).append((name, unit, value))
    for dims, values in groups.items():
        emf = EphemeralMetrics(namespace=namespace(), service=SERVICE)
        for key, value in dims:
            emf.add_dimension(name=key, value=value)
        for name, unit, value in values:
            emf.add_metric(name=name, unit=unit, value=value)
        _sink(json.dumps(emf.serialize_metric_set(), separators=(",", ":")))


# -- for tests and the local stack ----------------------------------------------------------------------
def emitted(lines: str) -> list[dict[str, Any]]:
    """The metric values in some captured output: ``[{"name", "value", "unit", "dimensions"}]``."""
    out = []
    for line in lines.splitlines():
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        blob = json.loads(line)
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            dims = {d: blob[d] for group in directive["Dimensions"] for d in group}
            for metric in directive["Metrics"]:
                values = blob[metric["Name"]]
                for v in values if isinstance(values, list) else [values]:
                    out.append({"name": metric["Name"], "value": v, "unit": metric.get("Unit"), "dimensions": dims,
                                "namespace": directive["Namespace"]})
    return out
