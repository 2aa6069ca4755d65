"""The router's SQS consumer. Each record's body is an EventBridge event (the bus's rule puts
``ComplaintReceived`` on the router queue). Powertools' ``BatchProcessor`` reports the records that
failed in ``batchItemFailures``: they come back after the visibility timeout (five receives, then
the dead-letter queue), the others are done.

A model or rules file that cannot be loaded fails every record with a clear log line: the
messages wait in the queue (then the DLQ) until the deployment is fixed; no case is ever given a
default label.
"""
from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from shared.events import SOURCE, ComplaintReceived
from shared.identifiers import normalize_complaint_number
from shared.observability import logger


@lru_cache(maxsize=2)
def _model(uri: str | None) -> Any:
    from functions.router.classifier import load_model

    return load_model(uri)


def text_classifier() -> Any:
    """The classifier named by ``MODEL_URI`` (unset: the bundled default), loaded once per container."""
    from shared.config import settings

    return _model(settings().model_uri or None)


@lru_cache(maxsize=2)
def _rules(uri: str | None) -> Any:
    from functions.router.priority import load_rules

    return load_rules(uri)


def priority_rules() -> Any:
    from shared.config import settings

    return _rules(settings().priority_rules_uri or None)


def router() -> Any:
    from functions.router.service import Router
    from shared.config import settings
    from shared.routing_store import routing_store
    from shared.store import complaint_repository, event_publisher

    # the functions, not their results: a redelivery for a finished case loads no model
    return Router(complaint_repository(), routing_store(), event_publisher(),
                  lambda: text_classifier(), lambda: priority_rules(), settings())


def reset() -> None:
    """Forget the loaded model and rules (tests switch them)."""
    _model.cache_clear()
    _rules.cache_clear()


def handle(event: Any) -> dict[str, Any]:
    """``event``: Chalice's SQSEvent (or the raw Lambda event); returns the partial batch response."""
    from shared.batch import process_sqs_batch

    return process_sqs_batch(event, _record)


def _record(record: Any) -> str:
    received = received_event(record.body)
    log = logger()
    if received is None:
        log.info("event ignored by the router", extra={"sqs_message_id": record.message_id})
        return "ignored"
    log.append_keys(complaint_id=received.complaint_id)
    try:
        return router().handle(received)
    except Exception as exc:
        if _is_load_error(exc):
            log.error("model or rules could not be loaded; the message returns to the queue",
                      extra={"error": str(exc), "sqs_message_id": record.message_id})
        else:
            log.exception("routing failed; the message returns to the queue",
                          extra={"error": type(exc).__name__, "sqs_message_id": record.message_id})
        raise
    finally:
        log.remove_keys(["complaint_id"])


def _is_load_error(exc: Exception) -> bool:
    from functions.router.priority import RulesLoadError

    if isinstance(exc, RulesLoadError):
        return True
    try:
        from functions.router.classifier import ModelLoadError
    except ImportError:
        return False
    return isinstance(exc, ModelLoadError)


def received_event(body: str) -> ComplaintReceived | None:
    """The ComplaintReceived an EventBridge envelope carries; None for other events. A malformed
    event raises (retried, then dead-lettered for a look)."""
    envelope = json.loads(body)
    if envelope.get("source") != SOURCE or envelope.get("detail-type") != "ComplaintReceived":
        return None
    received = ComplaintReceived.model_validate(envelope["detail"])
    number = normalize_complaint_number(received.complaint_id)
    return received.model_copy(update={"complaint_id": number})


# -- assignment: ComplaintClassified -> department, clocks, handler ----------------------------------
def handle_classified(event: Any) -> dict[str, Any]:
    """The assignment queue's consumer (``ComplaintClassified`` from the router, or from a triage
    correction); returns the partial batch response."""
    from shared.batch import process_sqs_batch

    return process_sqs_batch(event, _classified_record)


def _classified_record(record: Any) -> str:
    from shared.assignment import assigner
    from shared.events import ROUTER_SOURCE

    envelope = json.loads(record.body)
    if envelope.get("source") != ROUTER_SOURCE or envelope.get("detail-type") != "ComplaintClassified":
        logger().info("event ignored by the assigner", extra={"sqs_message_id": record.message_id})
        return "ignored"
    number = normalize_complaint_number(str(envelope["detail"]["complaint_id"]))
    log = logger()
    log.append_keys(complaint_id=number)
    try:
        outcome = assigner().route(number)
        log.info("routing done", extra={"outcome": outcome.state})
        if outcome.state in ("assigned", "queued") and outcome.case is not None:
            from shared import metrics

            metrics.count(metrics.COMPLAINTS_ROUTED, department=outcome.case.department or "none", kind=outcome.state)
        return outcome.state
    except Exception as exc:
        log.exception("routing failed; the message returns to the queue",
                      extra={"error": type(exc).__name__, "sqs_message_id": record.message_id})
        raise
    finally:
        log.remove_keys(["complaint_id"])
