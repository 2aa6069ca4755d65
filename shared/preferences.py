"""A staff member's notification preferences: which channels carry their case messages, their quiet
hours, and the kinds they do not want by email or SMS.

    PK = STAFF#<staff_id>   SK = PREFERENCES   email, sms, phone_enc, quiet_hours, muted_kinds,
                                               version, updated_at

* The in-app inbox always receives every message (it is where muted and deferred ones are read).
* Email is on by default (to the address in the staff directory's profile); SMS is off until the
  person turns it on and gives a mobile number.
* The phone number is personal data that only the notifier needs: it is stored encrypted with the
  field cipher (KMS envelope encryption, the staff id bound as associated data), like customers'
  contact data, and shown only to its owner (``GET /staff/me/preferences``).
* Quiet hours (``22:00``-``07:30`` in an IANA time zone, possibly across midnight) defer non-urgent
  email and SMS until they end; urgent messages (see :func:`is_urgent`) ignore them and the mutes.

Plain Python and pydantic above :class:`PreferenceStore`; the store is the only part that talks to AWS.
"""
from __future__ import annotations

import re
from datetime import datetime, time, timedelta, timezone
from typing import Annotated, Any, Iterable, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints, field_validator, model_validator

from shared.events import STAFF_KINDS

HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
ALWAYS_URGENT = ("escalated",)  # never deferred, never muted
StaffKind = Literal[STAFF_KINDS]  # type: ignore[valid-type]


def is_urgent(kind: str, *, urgent: bool = False, priority: str | None = None) -> bool:
    """Urgent staff messages ignore quiet hours and mutes: flagged by the transition, an escalation,
    or a plan of a P1 case waiting for approval."""
    return urgent or kind in ALWAYS_URGENT or (kind == "approval_needed" and priority == "P1")


def _zone(name: str) -> Any:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("is not an IANA time zone (e.g. Asia/Shanghai, Europe/Berlin, UTC)") from None


class QuietHours(BaseModel):
    """``start``-``end`` every day in ``time_zone``; ``end`` before ``start`` runs across midnight."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    start: Annotated[str, StringConstraints(pattern=HHMM)]
    end: Annotated[str, StringConstraints(pattern=HHMM)]
    time_zone: Annotated[str, StringConstraints(min_length=1, max_length=64)]

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        _zone(value)
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> "QuietHours":
        if self.start == self.end:
            raise ValueError("start and end must differ (no quiet hours: leave quiet_hours out)")
        return self

    def end_of(self, at: datetime) -> datetime | None:
        """The end (UTC) of the quiet period ``at`` falls in; None when ``at`` is outside quiet hours.
        Compared in UTC, so a daylight-saving change inside the period is counted right."""
        zone = _zone(self.time_zone)
        start, end = (time.fromisoformat(self.start), time.fromisoformat(self.end))
        at = at.astimezone(timezone.utc)
        today = at.astimezone(zone).date()
        for day in (today - timedelta(days=1), today):
            begins = datetime.combine(day, start, zone).astimezone(timezone.utc)
            ends = datetime.combine(day + timedelta(days=1) if end < start else day, end, zone).astimezone(timezone.utc)
            if begins <= at < ends:
                return ends
        return None


def international_phone(value: str) -> str:
    """A mobile number in E.164 (``+8613800138000``): spaces, dashes and brackets are dropped; a
    number without its country code is refused (we would not know where to send)."""
    from shared.contact import E164

    compact = re.sub(r"[\s().-]", "", value)
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if not E164.match(compact):
        raise ValueError("must be an international number in E.164 form, e.g. +8613800138000")
    return compact


class PreferencesIn(BaseModel):
    """The body of ``PUT /staff/me/preferences``: the whole document (a field left out takes its default)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    email: StrictBool = True
    sms: StrictBool = False
    phone: Annotated[str, StringConstraints(max_length=30)] | None = None
    quiet_hours: QuietHours | None = None
    muted_kinds: Annotated[list[StaffKind], Field(max_length=len(STAFF_KINDS))] = []

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return international_phone(value) if value else None

    @field_validator("muted_kinds")
    @classmethod
    def _mutable(cls, value: list[str]) -> list[str]:
        urgent = [k for k in value if k in ALWAYS_URGENT]
        if urgent:
            raise ValueError(f"{', '.join(urgent)} is always urgent and cannot be muted")
        return list(dict.fromkeys(value))

    @model_validator(mode="after")
    def _sms_needs_phone(self) -> "PreferencesIn":
        if self.sms and not self.phone:
            raise ValueError("SMS needs a phone number: give phone, or leave sms off")
        return self


class NotificationPreferences(PreferencesIn):
    """A staff member's preferences as stored (defaults when they never saved any)."""

    model_config = ConfigDict(extra="ignore")

    staff_id: str
    version: int = 0  # 0: never saved
    updated_at: datetime | None = None

    def wants(self, channel: str, kind: str, *, urgent: bool) -> bool:
        """Whether ``channel`` (email or sms) should carry a message of ``kind`` at all."""
        if (channel == "email" and not self.email) or (channel == "sms" and not (self.sms and self.phone)):
            return False
        return urgent or kind not in self.muted_kinds

    def deferred_until(self, at: datetime, *, urgent: bool) -> datetime | None:
        """When a non-urgent email/SMS due ``at`` may go out instead (the end of the quiet hours), or
        None to send it now."""
        if urgent or self.quiet_hours is None:
            return None
        return self.quiet_hours.end_of(at)

    def view(self) -> dict[str, Any]:
        """The owner's view (``GET``/``PUT /staff/me/preferences``)."""
        return {"email": self.email, "sms": self.sms, "phone": self.phone,
                "quiet_hours": self.quiet_hours.model_dump() if self.quiet_hours else None,
                "muted_kinds": list(self.muted_kinds), "version": self.version,
                "updated_at": self.updated_at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
                if self.updated_at else None}


class PreferenceStore:
    def __init__(self, dynamodb: Any, table: str, cipher: Any):
        from shared.items import ItemCodec

        self._db, self._table, self._cipher = dynamodb, table, cipher
        codec = ItemCodec()
        self._dump, self._load = codec.dump, codec.load

    @staticmethod
    def key(staff_id: str) -> dict[str, str]:
        return {"PK": f"STAFF#{staff_id}", "SK": "PREFERENCES"}

    def _preferences(self, staff_id: str, item: dict[str, Any] | None, *, with_phone: bool) -> NotificationPreferences:
        if not item:
            return NotificationPreferences(staff_id=staff_id)
        phone = None
        if with_phone and item.get("phone_enc"):
            phone = self._cipher.decrypt(item["phone_enc"], bound_to=f"STAFF#{staff_id}")
        fields = {k: item.get(k) for k in ("email", "sms", "quiet_hours", "muted_kinds", "version", "updated_at")
                  if item.get(k) is not None}
        # model_construct: the stored document was validated when it was saved (a phone left
        # undecrypted must not trip the "sms needs a phone" rule)
        quiet = QuietHours.model_validate(fields.pop("quiet_hours")) if "quiet_hours" in fields else None
        updated = fields.pop("updated_at", None)
        return NotificationPreferences.model_construct(
            staff_id=staff_id, phone=phone, quiet_hours=quiet,
            updated_at=datetime.fromisoformat(updated.replace("Z", "+00:00")) if updated else None,
            **{"email": True, "sms": False, "muted_kinds": [], "version": 0, **fields})

    def get(self, staff_id: str, *, with_phone: bool = True) -> NotificationPreferences:
        out = self._db.get_item(TableName=self._table, Key=self._dump(self.key(staff_id)), ConsistentRead=True)
        return self._preferences(staff_id, self._load(out["Item"]) if "Item" in out else None, with_phone=with_phone)

    def many(self, staff_ids: Iterable[str]) -> dict[str, NotificationPreferences]:
        """Everyone's preferences (defaults for those who saved none), phones decrypted only for
        those who turned SMS on."""
        ids = list(dict.fromkeys(staff_ids))
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), 100):
            request = {self._table: {"Keys": [self._dump(self.key(s)) for s in ids[start:start + 100]],
                                     "ConsistentRead": True}}
            while request:
                out = self._db.batch_get_item(RequestItems=request)
                for raw in out.get("Responses", {}).get(self._table, []):
                    item = self._load(raw)
                    found[item["PK"].removeprefix("STAFF#")] = item
                request = out.get("UnprocessedKeys") or {}
        return {s: self._preferences(s, found.get(s), with_phone=bool(found.get(s, {}).get("sms"))) for s in ids}

    def put(self, staff_id: str, data: PreferencesIn, *, at: datetime) -> NotificationPreferences:
        """Replace the whole document (the owner's own: the last write wins); one UpdateItem that also
        counts the version up."""
        fields = {"staff_id": staff_id, "email": data.email, "sms": data.sms,
                  "phone_enc": self._cipher.encrypt(data.phone, bound_to=f"STAFF#{staff_id}") if data.phone else None,
                  "quiet_hours": data.quiet_hours.model_dump() if data.quiet_hours else None,
                  "muted_kinds": list(data.muted_kinds) or None,
                  "updated_at": at.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")}
        sets = {k: v for k, v in fields.items() if v is not None}
        removes = [k for k, v in fields.items() if v is None]
        names = {f"#f{i}": k for i, k in enumerate([*sets, *removes])}
        expression = "SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(sets))) + " ADD version :one"
        if removes:
            expression += " REMOVE " + ", ".join(f"#f{len(sets) + i}" for i in range(len(removes)))
        values = {**{f":v{i}": v for i, v in enumerate(sets.values())}, ":one": 1}
        out = self._db.update_item(TableName=self._table, Key=self._dump(self.key(staff_id)),
                                   UpdateExpression=expression, ExpressionAttributeNames=names,
                                   ExpressionAttributeValues=self._dump(values), ReturnValues="UPDATED_NEW")
        version = int(self._load(out["Attributes"])["version"])
        return NotificationPreferences(staff_id=staff_id, **data.model_dump(), version=version, updated_at=at)


def preference_store() -> PreferenceStore:
    from shared.aws import client
    from shared.config import settings
    from shared.store import field_cipher

    return PreferenceStore(client("dynamodb"), settings().table_name, field_cipher())
