"""Structured logging (Powertools Logger), created once, on first use, under a lock.

Log keys carry identifiers (complaint number, request id), never contact data or free text.
Also the per-invocation part (Chalice middleware in functions/app.py): correlation keys on every log
line, debug-log sampling, the X-Ray tracer (botocore only, in Lambda only) and the flush of the
invocation's metrics (shared/metrics.py). docs/observability.md tells what an operator sees.
The Powertools service name differs from the Chalice app name on purpose: both use Python's
``logging.getLogger(name)``, and sharing one logger would mix Chalice's plain handler into ours.
"""
from __future__ import annotations

import os
import threading
from typing import Any

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME") or "complaints-service"
if SERVICE == "complaints":  # the Chalice app's own logger name: never share it
    SERVICE = "complaints-service"
_lock = threading.Lock()
_logger: Any = None


def logger() -> Any:
    global _logger
    if _logger is None:
        with _lock:
            if _logger is None:
                from aws_lambda_powertools import Logger

                _logger = Logger(service=SERVICE, use_rfc3339=True)
    return _logger


# -- one invocation: correlation keys, debug sampling, tracing, metrics ---------------------------------
# Registered as Chalice middleware in functions/app.py (next to the audit trail's). Every log line of
# an invocation carries ``correlation_id`` (the API Gateway request id, the SQS message id of the
# record being handled, the schedule's event id), ``function_request_id`` (Lambda's request id) and,
# when known, ``complaint_id``. The keys are set with Powertools' thread-safe keys (the local stack
# serves requests on threads) and removed when the invocation ends.
INVOCATION_KEYS = ("correlation_id", "function_request_id", "cold_start")
_cold = True
_tracer: Any = None
_tracer_tried = False


def in_lambda() -> bool:
    return bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME")) and not os.environ.get("AWS_SAM_LOCAL")


def tracing_enabled() -> bool:
    disabled = os.environ.get("POWERTOOLS_TRACE_DISABLED", "").strip().lower() in ("1", "true", "yes", "on")
    return in_lambda() and not disabled


def tracer() -> Any:
    """Powertools Tracer in Lambda (active tracing), patching botocore only - the AWS calls every
    function makes - so no other library is imported for it; None elsewhere (tests, the local stack)
    or when the X-Ray SDK is not installed. Made on the first invocation, not at import."""
    global _tracer, _tracer_tried
    if _tracer_tried or not tracing_enabled():
        return _tracer
    with _lock:
        if not _tracer_tried:
            _tracer_tried = True
            try:
                from aws_lambda_powertools import Tracer

                _tracer = Tracer(service=SERVICE, patch_modules=["botocore"])
            except ImportError:  # aws-xray-sdk missing: Lambda's own segments still show the function
                logger().warning("X-Ray SDK not installed; AWS calls are not traced")
    return _tracer


def _begin(correlation_id: str, lambda_context: Any, complaint_id: str | None = None) -> Any:
    global _cold
    log = logger()
    if log.sampling_rate:  # POWERTOOLS_LOGGER_SAMPLE_RATE: this invocation logs DEBUG with that chance
        log.refresh_sample_rate_calculation()
    keys: dict[str, Any] = {"correlation_id": correlation_id, "cold_start": _cold}
    request_id = getattr(lambda_context, "aws_request_id", None)
    if request_id:
        keys["function_request_id"] = request_id
    if complaint_id:
        keys["complaint_id"] = complaint_id
    _cold = False
    log.thread_safe_append_keys(**keys)
    tracer()
    return log


def _end(log: Any) -> None:
    log.thread_safe_remove_keys([*INVOCATION_KEYS, "complaint_id"])
    log.remove_keys(["complaint_id"])  # a step may have appended it for the whole container


def around_request(request: Any, get_response: Any) -> Any:
    """An API request: correlation id = API Gateway's request id; complaint id from the path."""
    import uuid

    from shared import metrics

    context = getattr(request, "context", None) or {}
    params = getattr(request, "uri_params", None) or {}
    correlation = context.get("requestId") or f"local-{uuid.uuid4().hex}"
    log = _begin(correlation, getattr(request, "lambda_context", None), params.get("complaint_id"))
    try:
        with metrics.invocation():
            return get_response(request)
    finally:
        _end(log)


def around_event(event: Any, get_response: Any) -> Any:
    """An SQS batch or a schedule. A schedule's correlation id is its event id; an SQS batch's is Lambda's
    request id, and each record's own message id while it is handled (:func:`per_record`)."""
    from shared import metrics

    raw = event.to_dict() if hasattr(event, "to_dict") else (event if isinstance(event, dict) else {})
    context = getattr(event, "context", None)
    correlation = str(raw.get("id") or getattr(context, "aws_request_id", None) or "event")
    log = _begin(correlation, context)
    try:
        with metrics.invocation():
            return get_response(event)
    finally:
        _end(log)


def per_record(handler: Any) -> Any:
    """Wraps an SQS record handler: while it runs, the logs carry the record's message id as the
    correlation id, and the complaint id of the EventBridge event it holds (``detail.complaint_id``)."""
    import functools
    import json

    @functools.wraps(handler)
    def handle(record: Any) -> Any:
        log = logger()
        before = log.thread_safe_get_current_keys().get("correlation_id")
        keys: dict[str, Any] = {"correlation_id": getattr(record, "message_id", None) or before}
        try:
            detail = json.loads(getattr(record, "body", "") or "{}").get("detail")
            complaint_id = detail.get("complaint_id") if isinstance(detail, dict) else None
        except (ValueError, AttributeError):
            complaint_id = None
        if isinstance(complaint_id, str) and len(complaint_id) <= 40:
            keys["complaint_id"] = complaint_id
        log.thread_safe_append_keys(**keys)
        try:
            return handler(record)
        finally:
            log.thread_safe_remove_keys(["complaint_id"])
            log.remove_keys(["complaint_id"])  # a step may have appended it for the container: not the next record's
            if before:
                log.thread_safe_append_keys(correlation_id=before)

    return handle
