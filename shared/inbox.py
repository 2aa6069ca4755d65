"""The staff inbox: the alerts each staff member received (SLA warnings, breaches, escalations,
cases waiting in a queue or stuck before routing) and the workflow's case events addressed to them
(assigned, customer replied, approval needed ...: ``source = workflow``), newest first, read or unread.

    PK = INBOX#<staff_id>   SK = <raised_at ISO-8601>#<alert_id>   one alert in one inbox
    PK = INBOX#<staff_id>   SK = ALERT#<alert_id>                  guard: this alert was delivered here

An alert is written once per inbox: the item and its guard are put together, each only if absent,
so a redelivered event - or an overlapping sweep raising the same ``alert_id`` at another
``raised_at`` - adds nothing. Listings read ``SK < ALERT#`` (timestamps sort below letters), so the
guards never show. Items carry identifiers and facts about the case, never customer data; they
expire (TTL) after :data:`KEEP_DAYS`.

An item's public id (``item_id``) is its sort key in URL-safe base64: it names the item only
within its owner's partition, so another staff member's id is simply not found.
"""
from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from pydantic import BaseModel, field_validator

from shared.aws import error_code
from shared.events import CaseEvent, StaffAlertRaised
from shared.repository import iso

KEEP_DAYS = 90
GUARD = "ALERT#"
MAX_ROUNDS = 10  # Query pages read for one filtered (unread) listing before handing back a cursor
_ITEM_SK = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z#.+$", re.S)
_STORED = ("alert_id", "kind", "complaint_id", "department", "clock", "clock_label", "due_at", "share", "level",
           "priority", "reason", "raised_at", "read_at")
_OPTIONAL = ("source", "actor", "data")  # case events only: shown when present


class InvalidInboxCursor(ValueError):
    """A cursor this API did not hand out (answered as 400)."""


class InboxItem(BaseModel):
    """One alert as a staff member's inbox keeps it."""

    alert_id: str
    kind: str
    complaint_id: str
    department: str | None = None
    clock: str | None = None
    clock_label: dict[str, str] = {}
    due_at: str | None = None  # normalised like raised_at
    share: float | None = None
    level: int | None = None
    priority: str | None = None
    reason: str | None = None
    raised_at: str  # normalised to ``YYYY-MM-DDTHH:MM:SS.mmmZ``: the sort key orders by it
    read_at: str | None = None
    source: str | None = None  # "workflow" for case events (None: an SLA alert)
    actor: str | None = None  # who caused it ("staff:<id>", "customer", "system")
    data: dict[str, Any] | None = None  # the event's small facts (task_id, plan_id, approved, level ...)

    @field_validator("raised_at", "due_at")
    @classmethod
    def _normalised(cls, value: str | None) -> str | None:
        return iso(parse_time(value)) if value is not None else None

    @classmethod
    def of(cls, alert: StaffAlertRaised) -> "InboxItem":
        return cls.model_validate(alert.model_dump(include=set(_STORED)))

    @classmethod
    def of_case_event(cls, event: CaseEvent, *, due_at: str | None = None) -> "InboxItem":
        """A workflow event as an inbox item (``alert_id`` = the event's id: one item per event and inbox)."""
        return cls(alert_id=event.event_id, kind=event.kind, complaint_id=event.complaint_id,
                   department=event.department, priority=event.priority, level=level if isinstance(level := event.data.get("level"), int) else None,
                   due_at=due_at, raised_at=event.at, source="workflow", actor=event.actor,
                   data=dict(event.data) or None)

    @property
    def sort_key(self) -> str:
        return f"{self.raised_at}#{self.alert_id}"


@dataclass(frozen=True)
class InboxPage:
    items: list[dict[str, Any]]  # the public view: item_id and the fields of InboxItem
    cursor: str | None


def parse_time(value: str) -> datetime:
    """An ISO 8601 time; naive ones are taken as UTC."""
    at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)


def item_id_of(sort_key: str) -> str:
    return base64.urlsafe_b64encode(sort_key.encode()).decode().rstrip("=")


def _unb64(text: str) -> str | None:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None


def sort_key_of(item_id: str) -> str | None:
    """The sort key an item id names; None for anything that is not an item id."""
    sk = _unb64(item_id) if re.fullmatch(r"[A-Za-z0-9_-]{1,1400}", item_id or "") else None
    return sk if sk and _ITEM_SK.match(sk) else None


def encode_cursor(sort_key: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"sk": sort_key}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    raw = _unb64(cursor) if re.fullmatch(r"[A-Za-z0-9_-]{1,2000}", cursor or "") else None
    try:
        sk = json.loads(raw)["sk"] if raw else None
    except (ValueError, TypeError, KeyError):
        sk = None
    if not isinstance(sk, str) or not _ITEM_SK.match(sk):
        raise InvalidInboxCursor("cursor is not one this API returned")
    return sk


class StaffInbox:
    def __init__(self, dynamodb: Any, table: str):
        from shared.items import ItemCodec

        self._db, self._table = dynamodb, table
        codec = ItemCodec()
        self._dump, self._load = codec.dump, codec.load

    def _view(self, raw: dict[str, Any]) -> dict[str, Any]:
        item = self._load(raw)
        return {"item_id": item_id_of(item["SK"]), **{k: item.get(k) for k in _STORED},
                **{k: item[k] for k in _OPTIONAL if item.get(k) is not None}}

    @staticmethod
    def _pk(staff_id: str) -> str:
        return f"INBOX#{staff_id}"

    # -- writing ----------------------------------------------------------------------------------
    def put(self, staff_id: str, item: InboxItem) -> bool:
        """Add the alert to the inbox; False if it is there already (nothing is changed)."""
        expires_at = int((parse_time(item.raised_at) + timedelta(days=KEEP_DAYS)).timestamp())
        pk = self._pk(staff_id)
        stored = {**item.model_dump(exclude={"read_at"}), "PK": pk, "SK": item.sort_key, "expires_at": expires_at}
        guard = {"PK": pk, "SK": GUARD + item.alert_id, "item_sk": item.sort_key, "expires_at": expires_at}
        try:
            self._db.transact_write_items(TransactItems=[
                {"Put": {"TableName": self._table, "Item": self._dump(stored),
                         "ConditionExpression": "attribute_not_exists(SK)"}},
                {"Put": {"TableName": self._table, "Item": self._dump(guard),
                         "ConditionExpression": "attribute_not_exists(SK)"}},
            ])
        except Exception as exc:
            reasons = [r.get("Code") for r in getattr(exc, "response", {}).get("CancellationReasons") or []]
            if error_code(exc) == "TransactionCanceledException" and "ConditionalCheckFailed" in reasons:
                return False
            raise
        return True

    def mark_read(self, staff_id: str, item_id: str, at: datetime) -> dict[str, Any] | None:
        """Mark an item read (the first time counts); None when the inbox has no such item."""
        sk = sort_key_of(item_id)
        if sk is None:
            return None
        try:
            out = self._db.update_item(
                TableName=self._table, Key=self._dump({"PK": self._pk(staff_id), "SK": sk}),
                UpdateExpression="SET read_at = if_not_exists(read_at, :at)",
                ConditionExpression="attribute_exists(SK)",
                ExpressionAttributeValues=self._dump({":at": iso(at)}), ReturnValues="ALL_NEW")
        except Exception as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return None
            raise
        return self._view(out["Attributes"])

    # -- reading ----------------------------------------------------------------------------------
    def list(self, staff_id: str, *, unread_only: bool = False, limit: int = 25,
             cursor: str | None = None) -> InboxPage:
        """The inbox newest first, ``limit`` items a page. Unread only is a filter on the partition:
        at most :data:`MAX_ROUNDS` pages are read per call, then a cursor says where to go on."""
        kwargs: dict[str, Any] = {
            "TableName": self._table, "KeyConditionExpression": "PK = :pk AND SK < :guards",
            "ExpressionAttributeValues": {":pk": {"S": self._pk(staff_id)}, ":guards": {"S": GUARD}},
            "ScanIndexForward": False, "Limit": limit + 1,  # one more: is there a next page?
        }
        if unread_only:
            kwargs["FilterExpression"] = "attribute_not_exists(read_at)"
        if cursor:
            kwargs["ExclusiveStartKey"] = {"PK": {"S": self._pk(staff_id)}, "SK": {"S": decode_cursor(cursor)}}
        found: list[dict[str, Any]] = []
        for _ in range(MAX_ROUNDS):
            out = self._db.query(**kwargs)
            found.extend(out.get("Items", []))
            last = out.get("LastEvaluatedKey")
            if len(found) > limit or not last:
                break
            kwargs["ExclusiveStartKey"] = last
        if len(found) > limit:
            found = found[:limit]
            next_sk: str | None = found[-1]["SK"]["S"]
        else:
            next_sk = last["SK"]["S"] if last else None
        return InboxPage([self._view(i) for i in found], encode_cursor(next_sk) if next_sk else None)


def staff_inbox() -> StaffInbox:
    from shared.aws import client
    from shared.config import settings

    return StaffInbox(client("dynamodb"), settings().table_name)
