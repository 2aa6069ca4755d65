"""The router's items in the complaints table, shared by the router and the staff triage API.

* order and batch indexes (``ORDER#<order>``, ``BATCH#<product>#<batch>``; sort key the case's
  ``received_key``): the cases of one order, and the cases about one product batch in a window -
  a cluster, whose partition key is the cluster id;
* the triage queue (``TRIAGE``; sort key ``received_key``): cases whose classification was not
  confident enough, oldest first, until a handler corrects or confirms them;
* the classification outbox (``CASE#<id>`` / ``OUTBOX#ComplaintClassified``): what is still owed
  after the classification was written (the event, cluster updates), cleared once done;
* corrections (``CORRECTION#<yyyy-mm>``; sort key ``<at>#<complaint_id>``): a handler's change of a
  decision, the training data ``complaints model export-corrections`` writes out.

Every listing is a Query on a key; see ``docs/data-model.md``.
"""
from __future__ import annotations

import base64
import json
import re
from datetime import date, datetime, timezone
from typing import Any, Iterable

from shared.models import Complaint, Product, TimelineEntry

TRIAGE = "TRIAGE"
OUTBOX_SK = "OUTBOX#ComplaintClassified"
_KEY_JUNK = re.compile(r"[\W_]+", re.UNICODE)


class InvalidTriageCursor(ValueError):
    pass


def _key_part(value: str | None) -> str:
    return _KEY_JUNK.sub("", (value or "").strip()).upper()[:64]


def order_key(product: Product | None) -> str | None:
    """``ORDER#SO1001`` for order "so-1001" (case, spaces and punctuation ignored); None without one."""
    part = _key_part(product.order_id if product else None)
    return f"ORDER#{part}" if part else None


def batch_key(product: Product | None) -> str | None:
    """``BATCH#DUMP1KG#B2411`` from the SKU (or product name) and batch; None without a batch."""
    if product is None or not _key_part(product.batch):
        return None
    return f"BATCH#{_key_part(product.sku) or _key_part(product.name) or '-'}#{_key_part(product.batch)}"


def json_time(at: datetime) -> str:
    """A time as the case items store it (pydantic's JSON form)."""
    from pydantic import TypeAdapter

    return TypeAdapter(datetime).dump_python(at, mode="json")


def received_key(c: Complaint) -> str:
    return f"{json_time(c.received_at)}#{c.complaint_id}"


class RoutingStore:
    def __init__(self, dynamodb: Any, table: str):
        from shared.items import ItemCodec

        self._db, self._table = dynamodb, table
        codec = ItemCodec()
        self._dump, self._load = codec.dump, codec.load

    def _put(self, item: dict[str, Any]) -> dict[str, Any]:
        return {"Put": {"TableName": self._table, "Item": self._dump(item)}}

    # -- order and batch indexes (duplicates, clusters) ---------------------------------------------
    def index_ops(self, c: Complaint, keys: Iterable[str]) -> list[dict[str, Any]]:
        """Puts listing the case under each order/batch key (idempotent: same key, same item)."""
        return [self._put({"PK": key, "SK": received_key(c), "complaint_id": c.complaint_id,
                           "customer": sorted(c.contact_hashes.values()) or None, "received_at": json_time(c.received_at)})
                for key in keys]

    def members(self, key: str, *, since: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """The cases under an order/batch key, newest first (from ``since``, a time in the stored
        form): ``complaint_id``, ``customer`` (contact hashes), ``SK`` (the case's received key)."""
        values: dict[str, Any] = {":pk": {"S": key}}
        condition = "PK = :pk"
        if since:
            condition += " AND SK >= :since"
            values[":since"] = {"S": since}
        out = self._db.query(TableName=self._table, KeyConditionExpression=condition,
                             ExpressionAttributeValues=values, ScanIndexForward=False, Limit=limit)
        return [self._load(i) for i in out.get("Items", [])]

    # -- the triage queue ---------------------------------------------------------------------------
    def triage_put_op(self, c: Complaint, summary: dict[str, Any]) -> dict[str, Any]:
        return self._put({"PK": TRIAGE, "SK": received_key(c), "complaint_id": c.complaint_id,
                          "received_at": json_time(c.received_at), "channel": c.channel.value,
                          "language": c.language, "title": c.title, **summary})

    def triage_delete_op(self, c: Complaint) -> dict[str, Any]:
        return {"Delete": {"TableName": self._table, "Key": self._dump({"PK": TRIAGE, "SK": received_key(c)})}}

    def triage(self, *, limit: int = 25, cursor: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
        """Cases waiting for a handler's category, oldest first."""
        kwargs: dict[str, Any] = {"TableName": self._table, "KeyConditionExpression": "PK = :pk",
                                  "ExpressionAttributeValues": {":pk": {"S": TRIAGE}}, "Limit": limit}
        if cursor:
            kwargs["ExclusiveStartKey"] = {"PK": {"S": TRIAGE}, "SK": {"S": _decode(cursor)}}
        out = self._db.query(**kwargs)
        last = out.get("LastEvaluatedKey")
        items = [{k: v for k, v in self._load(i).items() if k not in ("PK", "SK")} for i in out.get("Items", [])]
        return items, (_encode(last["SK"]["S"]) if last else None)

    # -- the outbox of a classification ---------------------------------------------------------------
    def outbox_put_op(self, complaint_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        return self._put({"PK": f"CASE#{complaint_id}", "SK": OUTBOX_SK, "payload": json.dumps(payload, ensure_ascii=False)})

    def outbox(self, complaint_id: str) -> dict[str, Any] | None:
        out = self._db.get_item(TableName=self._table, ConsistentRead=True,
                                Key=self._dump({"PK": f"CASE#{complaint_id}", "SK": OUTBOX_SK}))
        return json.loads(self._load(out["Item"])["payload"]) if "Item" in out else None

    def clear_outbox(self, complaint_id: str) -> None:
        self._db.delete_item(TableName=self._table, Key=self._dump({"PK": f"CASE#{complaint_id}", "SK": OUTBOX_SK}))

    # -- a repeat, on its original ---------------------------------------------------------------------
    def repeat_ops(self, original_id: str, original_version: int, entry: TimelineEntry, *, repeat_id: str,
                   repeat_count: int, priority: str | None, now: datetime) -> list[dict[str, Any]]:
        """Raise the original's repeat count (and priority) if its version is still the one read, and
        add the entry to its timeline - in the same transaction as the repeat's classification."""
        sets = {"repeat_count": repeat_count, "version": original_version + 1, "updated_at": json_time(now)}
        if priority:
            sets["priority"] = priority
        names = {f"#s{i}": k for i, k in enumerate(sets)}
        values = {f":s{i}": v for i, v in enumerate(sets.values())}
        values[":expected"] = original_version
        update = {"Update": {
            "TableName": self._table, "Key": self._dump({"PK": f"CASE#{original_id}", "SK": "CASE"}),
            "UpdateExpression": "SET " + ", ".join(f"{n} = :s{i}" for i, n in enumerate(names)),
            "ConditionExpression": "version = :expected",
            "ExpressionAttributeNames": names, "ExpressionAttributeValues": self._dump(values),
        }}
        data = entry.model_dump(mode="json")
        put = self._put({"PK": f"CASE#{original_id}", "SK": f"TL#{data['at']}#repeat-{repeat_id}", **data})
        return [update, put]

    # -- corrections (training data) --------------------------------------------------------------------
    def correction_put_op(self, complaint_id: str, at: datetime, record: dict[str, Any]) -> dict[str, Any]:
        stamp = json_time(at)
        return self._put({"PK": f"CORRECTION#{stamp[:7]}", "SK": f"{stamp}#{complaint_id}",
                          "complaint_id": complaint_id, "at": stamp, **record})

    def corrections(self, since: date, until: date | None = None) -> list[dict[str, Any]]:
        """Every correction from ``since`` on, oldest first: one Query per month."""
        until = until or datetime.now(timezone.utc).date()
        found: list[dict[str, Any]] = []
        month = date(since.year, since.month, 1)
        while month <= until:
            kwargs: dict[str, Any] = {
                "TableName": self._table, "KeyConditionExpression": "PK = :pk AND SK >= :since",
                "ExpressionAttributeValues": {":pk": {"S": f"CORRECTION#{month:%Y-%m}"},
                                              ":since": {"S": since.isoformat()}},
            }
            while True:
                out = self._db.query(**kwargs)
                found.extend(self._load(i) for i in out.get("Items", []))
                if "LastEvaluatedKey" not in out:
                    break
                kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]
            month = date(month.year + (month.month == 12), month.month % 12 + 1, 1)
        return found


def _encode(sk: str) -> str:
    return base64.urlsafe_b64encode(sk.encode()).decode().rstrip("=")


def _decode(cursor: str) -> str:
    try:
        sk = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except Exception:  # noqa: BLE001 - any malformed cursor is the caller's mistake
        raise InvalidTriageCursor("cursor is not one this API returned") from None
    if not re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+Z#C[0-9A-Z]{9}", sk):
        raise InvalidTriageCursor("cursor is not one this API returned")
    return sk


def routing_store() -> RoutingStore:
    from shared.aws import client
    from shared.config import settings

    return RoutingStore(client("dynamodb"), settings().table_name)
