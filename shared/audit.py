"""The audit trail: who did what, to which case, when - append-only.

    PK = AUDIT#<complaint_id>   SK = <at ISO-8601, ms, UTC>#<record_id>    one record about a case
    PK = AUDIT#-                SK = <at>#<record_id>                      one record about no case
    index AuditByActor: audit_actor = <actor>,           audit_key = <at>#<record_id>
    index AuditByDay:   audit_day = AUDITDAY#<yyyy-mm-dd>, audit_key = <at>#<record_id>

Attributes: ``record_id``, ``action`` (``contact.viewed``, ``api.act_on_complaint``, ``case.classified``
...), ``actor`` (the staff subject; ``customer`` for the public API; ``system:<function>`` for the
pipeline), ``role``, ``complaint_id``, ``request_id`` (the API request, to match the access logs),
``at``, ``details`` (facts about the action: field names, counts, ids, the HTTP status - never personal
data or free text) and ``before`` / ``after`` (a case's non-personal fields that changed: status,
version, category, priority, department, assignee ...).

Who writes what (docs/audit.md):

* every **case write** (``ComplaintRepository.create`` / ``save_many``) carries its record in the same
  transaction (:func:`case_write_op`): no state change of a case without its record, and no record of
  a change that did not happen;
* every successful **state-changing API request** (POST, PUT, PATCH, DELETE answered 2xx) has exactly
  one record: the first case write it makes carries it, else the app's audit middleware
  (``functions/app.py``) writes it once the handler has answered (configuration, directory,
  preferences, inbox, quarantine re-drive ...);
* explicit records: a decrypted view of contact data (``contact.viewed``), exports, data-subject
  requests - written *before* what they record happens, so it never happens unrecorded.

The invocation's actor comes from an :class:`AuditScope` (a context variable) that the middleware
opens for each request or event and :func:`identify` fills in once the staff token is verified.

A record is written once, conditional on ``attribute_not_exists(PK)``: nothing in the code updates or
deletes one, and a write can never replace another. The records of a case sort by time in its own
partition (``for_case``: newest first, paged). No TTL: the trail is kept as long as the table.

Writing is part of the action it records: a caller that cannot write the record must not go on
(``GET /staff/complaints/{id}`` answers 503 rather than show contact data unaudited).
"""
from __future__ import annotations

import base64
import binascii
import re
import secrets
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Iterable, Union

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from shared.aws import error_code

NO_CASE = "-"
MAX_PAGE = 100
_SK = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z#[0-9a-f]{16}$")

Fact = Union[str, int, bool, None, list[str]]


class AuditUnavailable(Exception):
    """The record could not be written: the action it records must not happen."""


class InvalidAuditCursor(ValueError):
    """A cursor that ``for_case`` did not hand out."""


class AuditRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    record_id: str
    action: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z_]*(\.[a-z][a-z_]*)+$", max_length=60)]
    actor: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    role: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    complaint_id: str | None = None
    request_id: Annotated[str, StringConstraints(max_length=200)] | None = None
    at: str  # ISO-8601 UTC with milliseconds, as in the sort key
    details: Annotated[dict[Annotated[str, StringConstraints(max_length=60)], Fact], Field(max_length=20)] = {}
    before: Annotated[dict[Annotated[str, StringConstraints(max_length=60)], Fact], Field(max_length=20)] = {}
    after: Annotated[dict[Annotated[str, StringConstraints(max_length=60)], Fact], Field(max_length=20)] = {}

    @property
    def sort_key(self) -> str:
        return f"{self.at}#{self.record_id}"


# -- the invocation's actor --------------------------------------------------------------------------------
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# the case fields a record shows before/after: no personal data (the customer, texts) among them
CASE_FIELDS = ("status", "version", "category", "priority", "department", "assignee", "needs_triage", "repeat_of",
               "cluster_id", "merged_into", "channel")


@dataclass
class AuditScope:
    """Who acts in this invocation. ``http``: one API request (``action`` = ``api.<view>``); else an
    event or schedule of the pipeline (``actor`` = ``system:<function>``)."""

    action: str
    actor: str = "system"
    role: str = "system"
    request_id: str | None = None
    complaint_id: str | None = None
    http: bool = False
    method: str = ""
    records: int = 0  # records written within this scope
    details: dict[str, Fact] = field(default_factory=dict)

    @property
    def mutating(self) -> bool:
        return self.http and self.method in MUTATING


_SCOPE: ContextVar[AuditScope | None] = ContextVar("audit_scope", default=None)


def open_scope(scope: AuditScope) -> Token:
    return _SCOPE.set(scope)


def close_scope(token: Token) -> None:
    _SCOPE.reset(token)


def current_scope() -> AuditScope | None:
    return _SCOPE.get()


def identify(actor: str, role: str) -> None:
    """The verified staff member behind this request (called by ``shared.auth.authenticate``)."""
    scope = _SCOPE.get()
    if scope is not None:
        scope.actor, scope.role = actor, role


def note(**facts: Fact) -> None:
    """Facts for this request's record (e.g. the workflow action taken); never personal data."""
    scope = _SCOPE.get()
    if scope is not None:
        scope.details.update({k: v for k, v in facts.items() if len(scope.details) < 16 or k in scope.details})


def _fact(value: Any) -> Fact:
    if value is None or isinstance(value, (bool, int, str)):
        return value if not isinstance(value, str) else value[:200]
    if hasattr(value, "value"):  # an enum
        return str(value.value)
    return str(value)[:200]


def case_change(before: Any, after: Any) -> tuple[dict[str, Fact], dict[str, Fact]]:
    """The :data:`CASE_FIELDS` that differ between two versions of a case (``before`` None: created)."""
    old, new = {}, {}
    for name in CASE_FIELDS:
        a = _fact(getattr(before, name, None)) if before is not None else None
        b = _fact(getattr(after, name, None))
        if before is None:
            if b is not None:
                new[name] = b
        elif a != b:
            old[name], new[name] = a, b
    return old, new


def pending_case_record(complaint_id: str, before: Any, after: Any, kinds: Iterable[str]) -> AuditRecord | None:
    """The record a case write carries, or None when this request already has its record. In a request:
    ``api.<view>`` by the signed-in staff member (or ``customer``); in the pipeline: ``case.<first entry
    kind>`` by ``system:<function>``."""
    from shared.clock import now
    from shared.repository import iso

    scope = _SCOPE.get() or AuditScope(action="")
    if scope.http and scope.records:
        return None
    kinds = [k for k in kinds if k]
    action = scope.action if scope.http else f"case.{kinds[0] if kinds else 'changed'}"
    old, new = case_change(before, after)
    details: dict[str, Fact] = dict(list(scope.details.items())[:16]) if scope.http else {}
    if kinds:
        details["entries"] = list(dict.fromkeys(kinds))[:10]
    return AuditRecord(record_id=secrets.token_hex(8), action=action, actor=scope.actor, role=scope.role,
                       complaint_id=complaint_id, request_id=scope.request_id, at=iso(now()), details=details,
                       before=old, after=new)


def written(record: AuditRecord | None) -> None:
    """The transaction carrying ``record`` succeeded."""
    scope = _SCOPE.get()
    if record is not None and scope is not None:
        scope.records += 1


def item_of(record: AuditRecord) -> dict[str, Any]:
    return {"PK": _partition(record.complaint_id), "SK": record.sort_key, "audit_actor": record.actor,
            "audit_day": "AUDITDAY#" + record.at[:10], "audit_key": record.sort_key,
            **record.model_dump(exclude_none=True)}


def put_op(table: str, dump: Any, record: AuditRecord) -> dict[str, Any]:
    """The record as a ``TransactWriteItems`` Put: only if no item has its key (never replaces one)."""
    return {"Put": {"TableName": table, "Item": dump(item_of(record)), "ConditionExpression": "attribute_not_exists(PK)"}}


@dataclass(frozen=True)
class AuditPage:
    records: list[AuditRecord]
    cursor: str | None


class AuditLog:
    def __init__(self, dynamodb: Any, table: str):
        from shared.items import ItemCodec

        self._db, self._table = dynamodb, table
        codec = ItemCodec()
        self._dump, self._load = codec.dump, codec.load

    def record(self, *, action: str, actor: str, role: str, complaint_id: str | None = None,
               request_id: str | None = None, details: dict[str, Fact] | None = None,
               at: datetime | None = None) -> AuditRecord:
        """Append one record; raises :class:`AuditUnavailable` when it cannot be written."""
        from shared.clock import now
        from shared.repository import iso

        scope = _SCOPE.get()
        record = AuditRecord(record_id=secrets.token_hex(8), action=action, actor=actor, role=role,
                             complaint_id=complaint_id, request_id=request_id or (scope.request_id if scope else None),
                             at=iso(at or now()), details=details or {})
        item = self._dump(item_of(record))
        try:
            self._db.put_item(TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(PK)")
        except Exception as exc:
            # a condition failure means a record with this key exists: never replaced. It is this very record
            # when an earlier attempt was applied and its answer lost (the SDK retried a timed-out write).
            if not (error_code(exc) == "ConditionalCheckFailedException" and self._stored(item)):
                raise AuditUnavailable(error_code(exc) or type(exc).__name__) from None
        written(record)
        return record

    def _stored(self, item: dict[str, Any]) -> bool:
        """Is exactly ``item`` in the table? (Its key holds a random record id: no one else writes it.)"""
        try:
            found = self._db.get_item(TableName=self._table, Key={"PK": item["PK"], "SK": item["SK"]},
                                      ConsistentRead=True).get("Item")
        except Exception:  # noqa: BLE001 - cannot tell: the caller reports the record as not written
            return False
        return found == item

    def for_case(self, complaint_id: str | None, *, limit: int = 50, cursor: str | None = None) -> AuditPage:
        """The records about a case (``None``: about no case), newest first; ``cursor`` from the last page."""
        day, start = _decode(cursor) if cursor else (None, None)
        query: dict[str, Any] = {"TableName": self._table, "KeyConditionExpression": "PK = :pk",
                                 "ExpressionAttributeValues": {":pk": {"S": _partition(complaint_id)}},
                                 "ScanIndexForward": False, "ConsistentRead": True}
        return self._pages(query, max(1, min(limit, MAX_PAGE)), start, key=("PK", "SK"), day=None)

    def search(self, *, complaint_id: str | None = None, actor: str | None = None, since: str, until: str,
               limit: int = 50, cursor: str | None = None) -> AuditPage:
        """Records from ``since`` to ``until`` (days, ``YYYY-MM-DD``, inclusive), newest first, ``limit`` a
        page: a case's own partition (``actor`` then filters), else an actor's records (index
        ``AuditByActor``), else every record, day by day back from ``until`` (index ``AuditByDay``)."""
        limit = max(1, min(limit, MAX_PAGE))
        lo, hi = since, until + "T~"
        day, start = _decode(cursor) if cursor else (None, None)
        base: dict[str, Any] = {"TableName": self._table, "ScanIndexForward": False,
                                "ExpressionAttributeValues": {":lo": {"S": lo}, ":hi": {"S": hi}}}
        if complaint_id is not None:
            query = {**base, "KeyConditionExpression": "PK = :pk AND SK BETWEEN :lo AND :hi", "ConsistentRead": True}
            query["ExpressionAttributeValues"] = {**base["ExpressionAttributeValues"], ":pk": {"S": _partition(complaint_id)}}
            if actor is not None:
                query["FilterExpression"] = "actor = :a"
                query["ExpressionAttributeValues"][":a"] = {"S": actor}
            return self._pages(query, limit, start, key=("PK", "SK"), day=None)
        if actor is not None:
            query = {**base, "IndexName": "AuditByActor",
                     "KeyConditionExpression": "audit_actor = :a AND audit_key BETWEEN :lo AND :hi"}
            query["ExpressionAttributeValues"] = {**base["ExpressionAttributeValues"], ":a": {"S": actor}}
            return self._pages(query, limit, start, key=("audit_actor", "audit_key"), day=None)
        found: list[AuditRecord] = []
        day = day or until
        while day >= since:
            query = {**base, "IndexName": "AuditByDay",
                     "KeyConditionExpression": "audit_day = :d AND audit_key BETWEEN :lo AND :hi"}
            query["ExpressionAttributeValues"] = {**base["ExpressionAttributeValues"], ":d": {"S": "AUDITDAY#" + day}}
            page = self._pages(query, limit - len(found), start, key=("audit_day", "audit_key"), day=day)
            found += page.records
            if page.cursor is not None:
                return AuditPage(found, page.cursor)
            if len(found) >= limit:  # the day is done, the page too: go on from the day before next time
                earlier = _day_before(day)
                return AuditPage(found, _encode(earlier, None) if earlier >= since else None)
            day, start = _day_before(day), None
        return AuditPage(found, None)

    def _pages(self, query: dict[str, Any], limit: int, start: str | None, *, key: tuple[str, str],
               day: str | None) -> AuditPage:
        """Up to ``limit`` records of one key range (following DynamoDB's pages), and where to go on."""
        found: list[AuditRecord] = []
        if start:
            query["ExclusiveStartKey"] = self._start_key(query, start, key)
        while len(found) < limit:
            query["Limit"] = limit - len(found)
            out = self._db.query(**query)
            found += [AuditRecord.model_validate({k: v for k, v in self._load(i).items() if k in AuditRecord.model_fields})
                      for i in out.get("Items", [])]
            last = out.get("LastEvaluatedKey")
            if not last:
                return AuditPage(found, None)
            query["ExclusiveStartKey"] = last
        sk = found[-1].sort_key
        return AuditPage(found, _encode(day, f"{_partition(found[-1].complaint_id)}|{sk}"))

    def _start_key(self, query: dict[str, Any], start: str, key: tuple[str, str]) -> dict[str, Any]:
        pk, sk = start.split("|", 1)
        values = query["ExpressionAttributeValues"]
        hash_value = {"audit_actor": values.get(":a"), "audit_day": values.get(":d")}.get(key[0])
        out = {"PK": {"S": pk}, "SK": {"S": sk}}
        if key[0] != "PK":
            out.update({key[0]: hash_value, key[1]: {"S": sk}})
        return out


def _day_before(day: str) -> str:
    from datetime import date, timedelta

    return (date.fromisoformat(day) - timedelta(days=1)).isoformat()


def _partition(complaint_id: str | None) -> str:
    return f"AUDIT#{complaint_id or NO_CASE}"


def _encode(day: str | None, start: str | None) -> str:
    import json

    return base64.urlsafe_b64encode(json.dumps([day, start]).encode()).decode().rstrip("=")


def _decode(cursor: str) -> tuple[str | None, str | None]:
    import json

    try:
        day, start = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode())
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError):
        raise InvalidAuditCursor("cursor is not one this API returned") from None
    if day is not None and not (isinstance(day, str) and re.fullmatch(r"\d{4}-\d\d-\d\d", day)):
        raise InvalidAuditCursor("cursor is not one this API returned")
    if start is not None:
        if not isinstance(start, str) or "|" not in start:
            raise InvalidAuditCursor("cursor is not one this API returned")
        pk, sk = start.split("|", 1)
        if not pk.startswith("AUDIT#") or not _SK.match(sk):
            raise InvalidAuditCursor("cursor is not one this API returned")
    return day, start


def audit_log() -> AuditLog:
    from shared.aws import client
    from shared.config import settings

    return AuditLog(client("dynamodb"), settings().table_name)
