"""The outbox: cases whose ComplaintReceived publish failed after the write stay marked pending
(sparse index ``PendingEvents``); this scheduled handler publishes them and clears the mark. The
workflow's case events (:mod:`shared.case_events`) wait in the same index until published.

A case is picked up only after a grace period, so a request still in flight is not raced. A repeat
publish is harmless: every consumer drops events it has seen (``event_id``).
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from shared.config import settings
from shared.observability import logger


def handle(event: dict[str, Any], now: datetime | None = None) -> dict[str, int]:
    from functions.intake.api import intake
    from shared.case_events import announce
    from shared.clock import now as domain_now
    from shared.store import complaint_repository, event_publisher

    now = now or domain_now()
    cutoff = now - timedelta(seconds=settings().outbox_grace_seconds)
    published = failed = 0
    for event in complaint_repository().pending_events(older_than=cutoff):
        if intake().announce(event):
            published += 1
        else:
            failed += 1
    repo = complaint_repository()
    pending = repo.pending_case_events(older_than=cutoff)
    sent = announce(repo, event_publisher(), pending)
    published += sent
    failed += len(pending) - sent
    if published or failed:
        logger().info("outbox run", extra={"published": published, "failed": failed})
    return {"published": published, "failed": failed}
