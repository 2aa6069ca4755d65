"""Publishing the events a transition owes (:class:`shared.events.CaseEvent`).

The transition wrote them as outbox items with the case (``repository.save(..., events=...)``);
:func:`announce` publishes them right away and removes each item once it is out. A publish that
fails is left for the outbox schedule (``functions/intake/outbox.py``), which publishes every item
older than a grace period: nothing is lost between the write and the publish, and a repeat is
harmless because consumers drop an ``event_id`` they have seen.
"""
from __future__ import annotations

from typing import Any, Iterable

from shared.events import CaseEvent
from shared.observability import logger


def announce(repository: Any, publisher: Any, events: Iterable[CaseEvent]) -> int:
    """Publish ``events`` (already written by the transition); returns how many went out now."""
    sent = 0
    for event in events:
        try:
            publisher.publish(event)
        except Exception as exc:  # noqa: BLE001 - the outbox schedule publishes it later
            logger().warning("case event not published; the outbox will retry",
                             extra={"complaint_id": event.complaint_id, "event_id": event.event_id,
                                    "kind": event.kind, "error": type(exc).__name__})
            continue
        sent += 1
        try:
            repository.event_published(event)
        except Exception as exc:  # noqa: BLE001 - published twice at worst; consumers drop repeats
            logger().warning("case event published but its outbox item stays",
                             extra={"complaint_id": event.complaint_id, "event_id": event.event_id,
                                    "error": type(exc).__name__})
    return sent


def announce_now(events: Iterable[CaseEvent]) -> int:
    """:func:`announce` with the function's own repository and publisher."""
    from shared.store import complaint_repository, event_publisher

    return announce(complaint_repository(), event_publisher(), list(events))
