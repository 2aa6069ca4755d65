"""Helpers for building requests in tests."""
from __future__ import annotations

import json
from typing import Any


def post_json(client, path: str, body: Any, headers: dict[str, str] | None = None):
    raw = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.http.post(path, body=raw, headers={"Content-Type": "application/json", **(headers or {})})


def a_complaint(**overrides: Any) -> dict[str, Any]:
    body = {
        "title": "Frozen dumplings smelled off",
        "description": "The dumplings from batch B2411 smelled sour when opened. 饺子有异味。",
        "customer": {"name": "Li Wei", "email": "li.wei@example.com", "phone": "+86 138 0013 8000",
                     "preferred_language": "zh"},
        "product": {"name": "Pork dumplings 1kg", "sku": "DUMP-1KG", "batch": "B2411", "order_id": "SO-1001"},
        "channel": "web",
    }
    body.update(overrides)
    return body


def record_postponements(monkeypatch) -> list[tuple[str, Any, Any]]:
    """Every message the notifier postpones (quiet hours, the SES quota), as ``(receipt handle, until,
    what Redelivery.postpone answered)``, while it still postpones them for real."""
    from functions.notifier.redelivery import Redelivery

    postponed: list[tuple[str, Any, Any]] = []
    original = Redelivery.postpone

    def spy(self, record, until, now):
        postponed.append((record.receipt_handle, until, original(self, record, until, now)))
        return postponed[-1][2]

    monkeypatch.setattr(Redelivery, "postpone", spy)
    return postponed
