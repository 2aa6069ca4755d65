"""Reading cases through the slim list indexes.

``ByStatus``, ``ByChannel``, ``ByMonth`` and ``ByQueue`` project only a few small attributes (see
``infra/resources.yaml`` and docs/data-model.md, "Indexes"): a write of the case that changes none of
them writes nothing to the index, and one that does writes a small index item instead of the whole
case. A reader Queries the index (its keys, order and cursor), filters on what the index holds, and
reads the rest of each item it keeps from the table by key (``BatchGetItem``, 100 keys a call).
"""
from __future__ import annotations

from typing import Any, Iterable

# The non-key attributes each index projects (the table's and the index's keys always are).
# infra/resources.yaml must say the same (tests/infrastructure/test_index_projections.py checks it).
PROJECTED: dict[str, frozenset[str]] = {
    # the staff lists' filters, the suggestions' and the retention job's: they change with the status
    # (a key change rewrites the index item anyway), so projecting them costs almost nothing more
    "ByStatus": frozenset({"complaint_id", "channel", "department", "category", "priority", "assignee",
                           "product", "closed_at", "erased_at"}),
    # written once at intake and never changed: the index is written on creation only
    "ByChannel": frozenset({"complaint_id", "product"}),
    "ByMonth": frozenset({"complaint_id", "channel", "product"}),
    # ``task`` lives on task items only (TASKS#<dept>), never on a case
    "ByQueue": frozenset({"complaint_id", "task"}),
}
BATCH_GET_MAX = 100


def projects(index: str, attributes: Iterable[str]) -> bool:
    """Whether ``index`` holds every one of ``attributes`` (keys aside, which it always holds)."""
    return set(attributes) <= PROJECTED[index] | _KEYS.get(index, frozenset())


_KEYS = {
    "ByStatus": frozenset({"PK", "SK", "status", "received_key"}),
    "ByChannel": frozenset({"PK", "SK", "channel", "received_key"}),
    "ByMonth": frozenset({"PK", "SK", "received_month", "received_key"}),
    "ByQueue": frozenset({"PK", "SK", "work_queue", "queue_key"}),
}


def fetch(db: Any, table: str, index_items: Iterable[dict[str, Any]], *,
          attributes: Iterable[str] | None = None, consistent: bool = False,
          keep: Iterable[str] = ()) -> list[dict[str, Any]]:
    """The table's items (raw, as DynamoDB returns them) of ``index_items`` (index items, raw or
    loaded: only their ``PK`` and ``SK`` are used), in the
    same order; an item deleted since the index was read is left out. ``attributes`` limits what is
    read (the keys are always read, to put the items back in order). ``keep`` names index attributes
    copied over the item read (e.g. the index's sort key, so a cursor made from the item continues the
    index where it was read even if the item moved since)."""
    index_items = list(index_items)
    keys = [{"PK": {"S": _text(i["PK"])}, "SK": {"S": _text(i["SK"])}} for i in index_items]
    if not keys:
        return []
    spec: dict[str, Any] = {"ConsistentRead": consistent}
    if attributes is not None:
        names = {f"#b{n}": a for n, a in enumerate(dict.fromkeys(["PK", "SK", *attributes]))}
        spec["ProjectionExpression"] = ", ".join(names)
        spec["ExpressionAttributeNames"] = names
    found: dict[tuple[str, str], dict[str, Any]] = {}
    unique = list({(k["PK"]["S"], k["SK"]["S"]): k for k in keys}.values())
    for start in range(0, len(unique), BATCH_GET_MAX):
        request: dict[str, Any] = {table: {"Keys": unique[start:start + BATCH_GET_MAX], **spec}}
        while request:
            out = db.batch_get_item(RequestItems=request)
            for raw in out.get("Responses", {}).get(table, []):
                found[(raw["PK"]["S"], raw["SK"]["S"])] = raw
            request = out.get("UnprocessedKeys") or {}
    keep = tuple(keep)
    out_items = []
    for index_item, key in zip(index_items, keys):
        item = found.get((key["PK"]["S"], key["SK"]["S"]))
        if item is not None:
            out_items.append({**item, **{k: index_item[k] for k in keep if k in index_item}} if keep else item)
    return out_items


def _text(value: Any) -> str:
    return value["S"] if isinstance(value, dict) else value
