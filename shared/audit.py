"""The audit trail: who did what, to which case, when - append-only.

    PK = AUDIT#<complaint_id>   SK = <at ISO-8601, ms, UTC>#<record_id>    one record about a case
    PK = AUDIT#-                SK = <at>#<record_id>                      one record about no case

Attributes: ``record_id``, ``action`` (``contact.viewed``, ...), ``actor`` (the staff subject),
``role``, ``complaint_id``, ``request_id`` (the API request, to match the access logs), ``at``,
``details`` (facts about the action: field names, counts, ids - never personal data or free text).

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
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Union

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

        record = AuditRecord(record_id=secrets.token_hex(8), action=action, actor=actor, role=role,
                             complaint_id=complaint_id, request_id=request_id, at=iso(at or now()),
                             details=details or {})
        item = {"PK": _partition(complaint_id), "SK": f"{record.at}#{record.record_id}",
                **record.model_dump(exclude_none=True)}
        try:
            self._db.put_item(TableName=self._table, Item=self._dump(item),
                              ConditionExpression="attribute_not_exists(PK)")
        except Exception as exc:
            # a condition failure means a record with this key exists: never replaced, so this one is lost too
            raise AuditUnavailable(error_code(exc) or type(exc).__name__) from None
        return record

    def for_case(self, complaint_id: str | None, *, limit: int = 50, cursor: str | None = None) -> AuditPage:
        """The records about a case (``None``: about no case), newest first; ``cursor`` from the last page."""
        limit = max(1, min(limit, MAX_PAGE))
        kwargs: dict[str, Any] = {
            "TableName": self._table, "KeyConditionExpression": "PK = :pk",
            "ExpressionAttributeValues": {":pk": {"S": _partition(complaint_id)}},
            "ScanIndexForward": False, "Limit": limit, "ConsistentRead": True,
        }
        if cursor:
            kwargs["ExclusiveStartKey"] = {"PK": {"S": _partition(complaint_id)}, "SK": {"S": _decode(cursor)}}
        out = self._db.query(**kwargs)
        records = [AuditRecord.model_validate({k: v for k, v in self._load(i).items() if k in AuditRecord.model_fields})
                   for i in out.get("Items", [])]
        last = out.get("LastEvaluatedKey")
        return AuditPage(records, _encode(last["SK"]["S"]) if last else None)


def _partition(complaint_id: str | None) -> str:
    return f"AUDIT#{complaint_id or NO_CASE}"


def _encode(sk: str) -> str:
    return base64.urlsafe_b64encode(sk.encode()).decode().rstrip("=")


def _decode(cursor: str) -> str:
    try:
        sk = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidAuditCursor("cursor is not one this API returned") from None
    if not _SK.match(sk):
        raise InvalidAuditCursor("cursor is not one this API returned")
    return sk


def audit_log() -> AuditLog:
    from shared.aws import client
    from shared.config import settings

    return AuditLog(client("dynamodb"), settings().table_name)
