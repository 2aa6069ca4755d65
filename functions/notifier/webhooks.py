"""Outbound webhooks: a department's chat channels and tools hear of its staff-facing case events.

Each webhook of the event's department (``NotificationConfig``, config kind ``notifications``) whose
``kinds`` take the event gets one JSON POST per event, in its format:

    generic  {"event_id", "kind", "complaint_id", "department", "priority", "category", "due_at",
              "at", "urgent", "language", "text", "url"}
    slack    {"text": ...}
    feishu   {"msg_type": "text", "content": {"text": ...}, "timestamp", "sign"}  (Feishu's own
             signature: base64 HMAC-SHA256 keyed with "<timestamp>\\n<secret>" over nothing)
    wecom    {"msgtype": "text", "text": {"content": ...}}

``text`` is one short line in the webhook's language (template ``webhook.<language>.txt.j2``) and
``url`` the case in the staff console. Bodies hold the case's number, the kind, department,
priority, category and due time only: never personal data or anyone's words.

Every POST is signed: ``X-Complaints-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">``
with the secret named by ``secret_name`` in Secrets Manager (``shared.secrets``, cached), and carries
``X-Complaints-Event-Id`` (receivers drop repeats by it). :func:`verify_signature` is the receiver's
side. A failed POST is retried ``webhook_attempts`` times, pausing ``webhook_backoff_seconds`` and
doubling (plus up to 10 % jitter), on connection errors, timeouts, 429 and 5xx; any other 4xx is a
receiver that refuses us (recorded failed, logged, not retried). When the attempts are used up the
event raises, so SQS redelivers it later and a permanently broken receiver ends in the DLQ; the
delivery log (``NOTIFY#<event_id>#webhook:<webhook_id>``) keeps a redelivery from posting twice.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

from functions.notifier.delivery_log import DeliveryInProgress, DeliveryLog, Record
from functions.notifier.messages import render_part
from shared.aws import error_code
from shared.events import CaseEvent
from shared.notification_config import NotificationConfig, Webhook
from shared import metrics
from shared.observability import logger
from shared.repository import iso

SIGNATURE_HEADER = "X-Complaints-Signature"
EVENT_ID_HEADER = "X-Complaints-Event-Id"
MAX_PAUSE_SECONDS = 8.0  # one pause between attempts never exceeds this, whatever the doubling reaches
USER_AGENT = "complaints-notifier/1"


# -- signatures -----------------------------------------------------------------------------------
def signature(secret: str, body: bytes, timestamp: int) -> str:
    """The ``X-Complaints-Signature`` value of ``body`` sent at ``timestamp`` (unix seconds)."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode("ascii") + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature(secret: str, header: str | None, body: bytes, tolerance: float = 300,
                     now: float | None = None) -> bool:
    """For receivers: True when ``header`` signs ``body`` with ``secret`` and its time is within
    ``tolerance`` seconds of ``now`` (replays of old posts are refused). Constant-time comparison."""
    if not header:
        return False
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    stamp, given = parts.get("t", ""), parts.get("v1", "")
    if not stamp.isdigit() or not given:
        return False
    if abs((time.time() if now is None else now) - int(stamp)) > tolerance:
        return False
    expected = signature(secret, body, int(stamp)).split("v1=", 1)[1]
    return hmac.compare_digest(expected, given)


def feishu_sign(secret: str, timestamp: int) -> str:
    """Feishu's custom-bot signature (its "signature verification" setting)."""
    key = f"{timestamp}\n{secret}".encode("utf-8")
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode("ascii")


# -- bodies ----------------------------------------------------------------------------------------
def console_url(base: str, complaint_id: str) -> str:
    return f"{base.rstrip('/')}/staff/complaints/{complaint_id}"


def event_facts(event: CaseEvent, *, category: str | None, due_at: datetime | None, url: str) -> dict[str, Any]:
    """What any webhook may learn of an event (no personal data)."""
    return {"event_id": event.event_id, "kind": event.kind, "complaint_id": event.complaint_id,
            "department": event.department, "priority": event.priority, "category": category,
            "due_at": iso(due_at) if due_at else None, "at": event.at, "urgent": event.urgent, "url": url}


def body_of(webhook: Webhook, facts: dict[str, Any], text: str, secret: str, timestamp: int) -> dict[str, Any]:
    if webhook.format == "slack":
        return {"text": text}
    if webhook.format == "feishu":
        return {"timestamp": str(timestamp), "sign": feishu_sign(secret, timestamp), "msg_type": "text",
                "content": {"text": text}}
    if webhook.format == "wecom":
        return {"msgtype": "text", "text": {"content": text}}
    return {**facts, "language": webhook.language, "text": text}


def webhook_text(webhook: Webhook, facts: dict[str, Any], event: CaseEvent) -> str:
    from functions.notifier.staff_alerts import format_due
    from shared.inbox import parse_time

    due = format_due(parse_time(facts["due_at"]), webhook.language) if facts.get("due_at") else None
    return " ".join(render_part("webhook", webhook.language, "txt", **facts, due=due,
                                level=event.data.get("level"), approved=event.data.get("approved")).split())


# -- posting ---------------------------------------------------------------------------------------
class WebhookRefused(Exception):
    """The receiver answered a 4xx other than 429: retrying would not help."""

    def __init__(self, status: int):
        super().__init__(f"webhook refused: HTTP {status}")
        self.code = f"http_{status}"


class WebhookUnreachable(Exception):
    """Every attempt failed (connection, timeout, 429 or 5xx): the event is retried later."""

    def __init__(self, code: str, attempts: int):
        super().__init__(f"webhook unreachable after {attempts} attempt(s): {code}")
        self.code, self.attempts = code, attempts


@dataclass(frozen=True)
class Posted:
    status: int
    attempts: int


class WebhookPoster:
    """POSTs with retries (urllib: no extra dependency). ``opener``, ``sleep`` and ``jitter`` are
    the standard library's unless a test gives its own."""

    def __init__(self, opener: Callable[..., Any] | None = None, sleep: Callable[[float], None] = time.sleep,
                 jitter: Callable[[], float] = random.random):
        import urllib.request

        self._open = opener or urllib.request.urlopen
        self._sleep, self._jitter = sleep, jitter

    def post(self, url: str, body: bytes, headers: dict[str, str], *, attempts: int, backoff: float,
             timeout: float) -> Posted:
        import urllib.error
        import urllib.request

        last = "none"
        for attempt in range(1, attempts + 1):
            request = urllib.request.Request(url, data=body, method="POST", headers={
                "Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT, **headers})
            try:
                with self._open(request, timeout=timeout) as response:
                    status = response.status
            except urllib.error.HTTPError as exc:
                status = exc.code
                exc.close()
            except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
                status, last = 0, type(getattr(exc, "reason", None) or exc).__name__
            if 200 <= status < 300:
                return Posted(status, attempt)
            if status and status != 429 and status < 500:
                raise WebhookRefused(status)
            if status:
                last = f"http_{status}"
            if attempt < attempts:
                self._sleep(min(backoff * 2 ** (attempt - 1), MAX_PAUSE_SECONDS) * (1 + 0.1 * self._jitter()))
        raise WebhookUnreachable(last, attempts)


class WebhookNotDelivered(Exception):
    """Some webhooks were unreachable (or busy in another delivery): retry the event."""


class Webhooks:
    def __init__(self, log: DeliveryLog, secrets: Any, poster: WebhookPoster, *, console_base: str,
                 clock: Callable[[], datetime] | None = None):
        self._log, self._secrets, self._poster = log, secrets, poster
        self._console_base = console_base
        self._now = clock or (lambda: datetime.now(timezone.utc))

    def deliver(self, event: CaseEvent, config: NotificationConfig, *, category: str | None,
                due_at: datetime | None) -> int:
        """POST ``event`` to each of its department's webhooks that takes its kind, once each; returns
        how many were posted now. Raises :class:`WebhookNotDelivered` after trying them all if any
        is unreachable."""
        hooks = [w for w in config.webhooks_for(event.department) if not w.kinds or event.kind in w.kinds]
        facts = event_facts(event, category=category, due_at=due_at,
                            url=console_url(self._console_base, event.complaint_id))
        posted, unreachable = 0, []
        for hook in hooks:
            try:
                posted += self._deliver_one(hook, event, facts, config) == "sent"
            except (WebhookUnreachable, DeliveryInProgress) as exc:
                unreachable.append(getattr(exc, "code", "in_progress"))
        if unreachable:
            raise WebhookNotDelivered(f"{event.event_id}: {len(unreachable)} webhook(s) not reached "
                                      f"({', '.join(sorted(set(unreachable)))})")
        return posted

    def _deliver_one(self, hook: Webhook, event: CaseEvent, facts: dict[str, Any], config: NotificationConfig) -> str:
        channel = f"webhook:{hook.webhook_id}"
        extra = {"complaint_id": event.complaint_id, "event_id": event.event_id, "kind": event.kind,
                 "webhook_id": hook.webhook_id, "format": hook.format}
        claim = self._log.claim(event.complaint_id, event.event_id, channel, purpose=f"webhook_{event.kind}")
        if isinstance(claim, Record):
            return "duplicate"
        try:
            secret = self._secrets.get(hook.secret_name)
            timestamp = int(self._now().timestamp())
            body = json.dumps(body_of(hook, facts, webhook_text(hook, facts, event), secret, timestamp),
                              ensure_ascii=False, separators=(",", ":")).encode("utf-8")
            posted = self._poster.post(hook.url, body, {SIGNATURE_HEADER: signature(secret, body, timestamp),
                                                        EVENT_ID_HEADER: event.event_id},
                                       attempts=config.webhook_attempts, backoff=config.webhook_backoff_seconds,
                                       timeout=config.webhook_timeout_seconds)
        except WebhookRefused as exc:
            self._log.failed(claim, error=exc.code)
            metrics.count(metrics.NOTIFICATIONS_FAILED, channel="webhook")
            logger().warning("webhook refused the event; not retried", extra={**extra, "error": exc.code})
            return "refused"
        except Exception as exc:
            code = getattr(exc, "code", None) or error_code(exc) or type(exc).__name__
            self._log.failed(claim, error=code)
            metrics.count(metrics.NOTIFICATIONS_FAILED, channel="webhook")
            logger().warning("webhook not reached; the event will be retried",
                             extra={**extra, "error": code, "attempt": claim.attempt})
            if isinstance(exc, WebhookUnreachable):
                raise
            raise WebhookUnreachable(code, 0) from None
        self._log.sent(claim, sent_at=self._now(), message_ids=[])
        metrics.count(metrics.NOTIFICATIONS_SENT, channel="webhook")
        logger().info("webhook posted", extra={**extra, "status": posted.status, "attempts": posted.attempts})
        return "sent"
