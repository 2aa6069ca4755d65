"""Versioned configuration documents (routing rules, SLA policies), edited by admins at run time.

    PK = CONFIG#<kind>   SK = CURRENT        the version in force: number, document, who, when, comment
    PK = CONFIG#<kind>   SK = V#<000042>     every version ever saved (history, and what a case's
                                             decision cites)

A change is one transaction: the new version item (which must not exist) and the CURRENT item
(conditional on the version the admin read), so two admins cannot both make version 8. Until the
first change, the bundled default (``shared/<kind>_config.json``) is version 0. Readers cache the
document for ``CONFIG_CACHE_SECONDS`` (30 s by default), so a change takes effect in every
function within that time, without a deployment.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from shared.aws import error_code

BUNDLED = Path(__file__).with_name


def _models() -> dict[str, type[BaseModel]]:
    from shared.canned_responses import ResponsesConfig
    from shared.notification_config import NotificationConfig
    from shared.privacy import PrivacyConfig
    from shared.report_config import ReportConfig
    from shared.routing_rules import RoutingConfig
    from shared.sla import SlaConfig
    from shared.workflow_config import WorkflowConfig

    return {"routing": RoutingConfig, "sla": SlaConfig, "workflow": WorkflowConfig, "responses": ResponsesConfig,
            "notifications": NotificationConfig, "reports": ReportConfig, "privacy": PrivacyConfig}


KINDS = ("routing", "sla", "workflow", "responses", "notifications", "reports", "privacy")


class StaleConfig(Exception):
    """Another change was saved since the version the admin read."""

    def __init__(self, current: int):
        super().__init__(f"the configuration is now at version {current}")
        self.current = current


@dataclass(frozen=True)
class VersionedConfig:
    kind: str
    version: int
    config: Any  # RoutingConfig | SlaConfig
    updated_by: str | None = None
    updated_at: str | None = None
    comment: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "version": self.version, "updated_by": self.updated_by,
                "updated_at": self.updated_at, "comment": self.comment,
                "config": self.config.model_dump(mode="json", exclude_none=True)}


def bundled(kind: str) -> VersionedConfig:
    data = json.loads(BUNDLED(f"{kind}_config.json").read_text(encoding="utf-8"))
    return VersionedConfig(kind, 0, _models()[kind].model_validate(data), updated_by="bundled default")


class ConfigStore:
    def __init__(self, dynamodb: Any, table: str, *, cache_seconds: float = 30.0):
        from shared.items import ItemCodec

        self._db, self._table, self._cache_seconds = dynamodb, table, cache_seconds
        codec = ItemCodec()
        self._dump, self._load = codec.dump, codec.load
        self._cache: dict[str, tuple[float, VersionedConfig]] = {}
        self._lock = threading.Lock()

    def _versioned(self, kind: str, raw: dict[str, Any]) -> VersionedConfig:
        item = self._load(raw)
        config = _models()[kind].model_validate_json(item["document"])
        return VersionedConfig(kind, int(item["version"]), config, item.get("updated_by"),
                               item.get("updated_at"), item.get("comment"))

    def current(self, kind: str, *, fresh: bool = False) -> VersionedConfig:
        """The version in force (cached for ``cache_seconds`` unless ``fresh``)."""
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(kind)
            if hit and not fresh and now - hit[0] < self._cache_seconds:
                return hit[1]
        out = self._db.get_item(TableName=self._table, ConsistentRead=True,
                                Key=self._dump({"PK": f"CONFIG#{kind}", "SK": "CURRENT"}))
        found = self._versioned(kind, out["Item"]) if "Item" in out else bundled(kind)
        with self._lock:
            self._cache[kind] = (now, found)
        return found

    def version(self, kind: str, number: int) -> VersionedConfig | None:
        if number == 0:
            return bundled(kind)
        out = self._db.get_item(TableName=self._table, ConsistentRead=True,
                                Key=self._dump({"PK": f"CONFIG#{kind}", "SK": f"V#{number:06d}"}))
        return self._versioned(kind, out["Item"]) if "Item" in out else None

    def history(self, kind: str, *, limit: int = 20) -> list[dict[str, Any]]:
        """The latest versions, newest first (without their documents)."""
        out = self._db.query(
            TableName=self._table, KeyConditionExpression="PK = :pk AND begins_with(SK, :v)",
            ExpressionAttributeValues={":pk": {"S": f"CONFIG#{kind}"}, ":v": {"S": "V#"}},
            ProjectionExpression="version, updated_by, updated_at, #c", ExpressionAttributeNames={"#c": "comment"},
            ScanIndexForward=False, Limit=limit)
        rows = [self._load(i) for i in out.get("Items", [])]
        return [{**r, "version": int(r["version"])} for r in rows]

    def save(self, kind: str, document: dict[str, Any], *, expected_version: int, actor: str,
             comment: str | None = None) -> VersionedConfig:
        """Validate and store a new version (raises pydantic's ValidationError, or StaleConfig)."""
        config = _models()[kind].model_validate(document)
        number = expected_version + 1
        at = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        item = {"version": number, "document": config.model_dump_json(exclude_none=True), "updated_by": actor,
                "updated_at": at, "comment": comment}
        current_condition = ("attribute_not_exists(PK)" if expected_version == 0 else "version = :expected")
        current_put: dict[str, Any] = {"TableName": self._table, "ConditionExpression": current_condition,
                                       "Item": self._dump({"PK": f"CONFIG#{kind}", "SK": "CURRENT", **item})}
        if expected_version:
            current_put["ExpressionAttributeValues"] = {":expected": {"N": str(expected_version)}}
        try:
            self._db.transact_write_items(TransactItems=[
                {"Put": current_put},
                {"Put": {"TableName": self._table, "ConditionExpression": "attribute_not_exists(PK)",
                         "Item": self._dump({"PK": f"CONFIG#{kind}", "SK": f"V#{number:06d}", **item})}},
            ])
        except Exception as exc:
            if error_code(exc) != "TransactionCanceledException":
                raise
            raise StaleConfig(self.current(kind, fresh=True).version) from None
        saved = VersionedConfig(kind, number, config, actor, at, comment)
        with self._lock:
            self._cache[kind] = (time.monotonic(), saved)
        return saved


_store: ConfigStore | None = None
_store_lock = threading.Lock()


def config_store() -> ConfigStore:
    """One store per container (its cache is what makes a change reach every function within seconds)."""
    global _store
    from shared.aws import client
    from shared.config import settings

    with _store_lock:
        if _store is None:
            s = settings()
            _store = ConfigStore(client("dynamodb"), s.table_name, cache_seconds=s.config_cache_seconds)
        return _store


def reset() -> None:
    global _store
    with _store_lock:
        _store = None
