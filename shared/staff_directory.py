"""The staff directory: who handles complaints, in which departments, how busy they are.

    PK = HANDLER#<handler_id>   SK = PROFILE           the profile (name, email, languages, skills,
                                                        on duty, open load, cap)
    PK = DEPT#<department>      SK = MEMBER#<handler>   one per department the handler works in
    PK = DEPT#<department>      SK = ROTATION           the round-robin turn (last handler, turn count)

A handler's id is their staff subject (the JWT ``sub``). A department's roster is one Query on its
members plus one BatchGetItem of their profiles. The open load changes only inside the transaction
that changes a case's assignee (``assign_op`` / ``release_op``), conditional on the case's version,
so it stays exact under concurrent routers and handlers; ``assign_op`` also refuses a handler who is
at their cap (or off duty, for automatic assignment) at the moment of the write.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any, Iterable

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from shared.aws import error_code
from shared.models import EmailAddress, Language

HANDLER_ID = r"^[A-Za-z0-9][A-Za-z0-9._@:+-]{0,127}$"
DEPARTMENT_ID = r"^[a-z][a-z0-9_-]{0,39}$"
DepartmentId = Annotated[str, StringConstraints(pattern=DEPARTMENT_ID)]
Category = Annotated[str, StringConstraints(min_length=1, max_length=40)]


class StaleProfile(Exception):
    """The profile changed since it was read."""


class HandlerProfileIn(BaseModel):
    """What an admin sets (``PUT /staff/handlers/{handler_id}``); the load and duty are not theirs to set.
    Built on first validation: only that route reads it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, defer_build=True)

    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    email: EmailAddress | None = None
    language: Language = "en"  # the language of the alerts they receive
    departments: Annotated[list[DepartmentId], Field(min_length=1, max_length=10)]
    skills: Annotated[list[Category], Field(max_length=30)] = []  # categories they specialise in ([] = generalist)
    languages: Annotated[list[Language], Field(max_length=2)] = []  # complaint languages they take ([] = any)
    max_open: int | None = Field(None, ge=1, le=1000)  # their own cap; None: the department's
    version: int | None = Field(None, ge=1, le=2**53, description="the version read, for an update (409 when stale)")


class HandlerProfile(BaseModel):
    handler_id: str
    name: str
    email: str | None = None
    language: Language = "en"
    departments: list[str] = []
    skills: list[str] = []
    languages: list[str] = []
    max_open: int | None = None
    on_duty: bool = False
    open_load: int = 0
    last_assigned_at: datetime | None = None
    version: int = 1
    updated_at: datetime | None = None

    def cap(self, department_cap: int) -> int:
        return self.max_open or department_cap

    def takes_language(self, language: str) -> bool:
        return not self.languages or language in self.languages

    def has_skill(self, category: str | None) -> bool:
        return bool(category) and category in self.skills


def _now() -> datetime:
    return datetime.now(timezone.utc)


class StaffDirectory:
    def __init__(self, dynamodb: Any, table: str):
        from shared.items import ItemCodec

        self._db, self._table = dynamodb, table
        codec = ItemCodec()
        self._dump, self._load = codec.dump, codec.load

    @staticmethod
    def _key(handler_id: str) -> dict[str, str]:
        return {"PK": f"HANDLER#{handler_id}", "SK": "PROFILE"}

    def _profile(self, item: dict[str, Any]) -> HandlerProfile:
        return HandlerProfile.model_validate({k: v for k, v in item.items() if k in HandlerProfile.model_fields})

    # -- reading ----------------------------------------------------------------------------------
    def profile(self, handler_id: str) -> HandlerProfile | None:
        out = self._db.get_item(TableName=self._table, Key=self._dump(self._key(handler_id)), ConsistentRead=True)
        return self._profile(self._load(out["Item"])) if "Item" in out else None

    def profiles(self, handler_ids: Iterable[str]) -> dict[str, HandlerProfile]:
        ids = list(dict.fromkeys(handler_ids))
        found: dict[str, HandlerProfile] = {}
        for start in range(0, len(ids), 100):
            request = {self._table: {"Keys": [self._dump(self._key(h)) for h in ids[start:start + 100]],
                                     "ConsistentRead": True}}
            while request:
                out = self._db.batch_get_item(RequestItems=request)
                for raw in out.get("Responses", {}).get(self._table, []):
                    p = self._profile(self._load(raw))
                    found[p.handler_id] = p
                request = out.get("UnprocessedKeys") or {}
        return found

    def members(self, department: str) -> list[str]:
        ids: list[str] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table, "KeyConditionExpression": "PK = :pk AND begins_with(SK, :m)",
            "ExpressionAttributeValues": {":pk": {"S": f"DEPT#{department}"}, ":m": {"S": "MEMBER#"}},
            "ConsistentRead": True,
        }
        while True:
            out = self._db.query(**kwargs)
            ids.extend(self._load(i)["handler_id"] for i in out.get("Items", []))
            if "LastEvaluatedKey" not in out:
                return ids
            kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]

    def roster(self, department: str) -> list[HandlerProfile]:
        """The department's handlers, sorted by id (the round-robin order)."""
        profiles = self.profiles(self.members(department))
        return sorted((p for p in profiles.values() if department in p.departments), key=lambda p: p.handler_id)

    # -- admin changes ----------------------------------------------------------------------------
    def put_profile(self, handler_id: str, data: HandlerProfileIn, *, now: datetime | None = None) -> HandlerProfile:
        """Create or update a profile (keeping its duty and load) and its department memberships,
        in one transaction conditional on the version read."""
        now = now or _now()
        current = self.profile(handler_id)
        if data.version is not None and (current is None or current.version != data.version):
            raise StaleProfile(handler_id)
        if current is not None and data.version is None:
            raise StaleProfile(handler_id)
        fields = data.model_dump(exclude={"version"})
        profile = HandlerProfile(
            handler_id=handler_id, **fields,
            on_duty=current.on_duty if current else False, open_load=current.open_load if current else 0,
            last_assigned_at=current.last_assigned_at if current else None,
            version=(current.version + 1) if current else 1, updated_at=now)
        sets = {k: v for k, v in profile.model_dump(mode="json").items()
                if k not in ("handler_id", "open_load", "on_duty", "last_assigned_at")}
        removes = [k for k, v in sets.items() if v is None]
        sets = {k: v for k, v in sets.items() if v is not None}
        names = {f"#f{i}": k for i, k in enumerate([*sets, *removes])}
        values = {f":v{i}": v for i, v in enumerate(sets.values())}
        expression = "SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(sets)))
        expression += ", handler_id = :hid, open_load = if_not_exists(open_load, :zero), " \
                      "on_duty = if_not_exists(on_duty, :off)"
        if removes:
            expression += " REMOVE " + ", ".join(f"#f{len(sets) + i}" for i in range(len(removes)))
        values.update({":hid": handler_id, ":zero": 0, ":off": False})
        if current is None:
            condition = "attribute_not_exists(PK)"
        else:
            condition, values[":expected"] = "version = :expected", current.version
        ops: list[dict[str, Any]] = [{"Update": {
            "TableName": self._table, "Key": self._dump(self._key(handler_id)), "UpdateExpression": expression,
            "ConditionExpression": condition, "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": self._dump(values)}}]
        before = set(current.departments) if current else set()
        for dept in set(profile.departments) - before:
            ops.append({"Put": {"TableName": self._table, "Item": self._dump(
                {"PK": f"DEPT#{dept}", "SK": f"MEMBER#{handler_id}", "handler_id": handler_id})}})
        for dept in before - set(profile.departments):
            ops.append({"Delete": {"TableName": self._table,
                                   "Key": self._dump({"PK": f"DEPT#{dept}", "SK": f"MEMBER#{handler_id}"})}})
        try:
            self._db.transact_write_items(TransactItems=ops)
        except Exception as exc:
            if error_code(exc) == "TransactionCanceledException":
                raise StaleProfile(handler_id) from None
            raise
        return profile

    def set_on_duty(self, handler_id: str, on_duty: bool, *, now: datetime | None = None) -> HandlerProfile | None:
        """Set availability; None when there is no such handler."""
        try:
            out = self._db.update_item(
                TableName=self._table, Key=self._dump(self._key(handler_id)),
                UpdateExpression="SET on_duty = :d, duty_changed_at = :now",
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeValues=self._dump({":d": on_duty, ":now": (now or _now()).isoformat()}),
                ReturnValues="ALL_NEW")
        except Exception as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return None
            raise
        return self._profile(self._load(out["Attributes"]))

    # -- load counters (operations for the case's transaction) ---------------------------------------
    def assign_op(self, handler_id: str, *, cap: int | None, at: datetime, require_on_duty: bool) -> dict[str, Any]:
        """+1 open case, only if the handler exists, is below ``cap`` (None: no cap) and, for automatic
        assignment, on duty."""
        conditions, values = ["attribute_exists(PK)"], {":one": 1, ":at": at.isoformat()}
        if cap is not None:
            conditions.append("open_load < :cap")
            values[":cap"] = cap
        if require_on_duty:
            conditions.append("on_duty = :on")
            values[":on"] = True
        return {"Update": {
            "TableName": self._table, "Key": self._dump(self._key(handler_id)),
            "UpdateExpression": "ADD open_load :one SET last_assigned_at = :at",
            "ConditionExpression": " AND ".join(conditions), "ExpressionAttributeValues": self._dump(values)}}

    def release_op(self, handler_id: str) -> dict[str, Any]:
        """-1 open case (the case left the handler: transferred, resolved, closed ...)."""
        return {"Update": {
            "TableName": self._table, "Key": self._dump(self._key(handler_id)),
            "UpdateExpression": "ADD open_load :minus", "ConditionExpression": "open_load > :zero",
            "ExpressionAttributeValues": self._dump({":minus": -1, ":zero": 0})}}

    # -- round robin --------------------------------------------------------------------------------
    def rotation(self, department: str) -> tuple[str | None, int]:
        """The handler who got the department's last case, and the turn count."""
        out = self._db.get_item(TableName=self._table, ConsistentRead=True,
                                Key=self._dump({"PK": f"DEPT#{department}", "SK": "ROTATION"}))
        if "Item" not in out:
            return None, 0
        item = self._load(out["Item"])
        return item.get("last_handler"), int(item.get("turn", 0))

    def rotation_op(self, department: str, handler_id: str, turn_read: int) -> dict[str, Any]:
        """Advance the turn, only if nobody else advanced it since it was read (strict round robin)."""
        condition = "attribute_not_exists(PK)" if turn_read == 0 else "turn = :read"
        values: dict[str, Any] = {":h": handler_id, ":next": turn_read + 1}
        if turn_read:
            values[":read"] = turn_read
        return {"Update": {
            "TableName": self._table, "Key": self._dump({"PK": f"DEPT#{department}", "SK": "ROTATION"}),
            "UpdateExpression": "SET last_handler = :h, turn = :next", "ConditionExpression": condition,
            "ExpressionAttributeValues": self._dump(values)}}


def staff_directory() -> StaffDirectory:
    from shared.aws import client
    from shared.config import settings

    return StaffDirectory(client("dynamodb"), settings().table_name)
