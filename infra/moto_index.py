"""Queries by key for moto's DynamoDB, as DynamoDB serves them.

moto answers every Query - on the table or on an index - by walking *all* the table's items and
keeping those whose key matches. A load test's table grows to ~100,000 items, so each Query cost
more than the one before, and Query was most of the local stack's AWS time. Here a Query sees only
the items that can match: the partition's on the table, and on an index the items whose index key
equals the asked one, from a map of each index kept up to date by the writes. moto's own code still
checks and orders every candidate, so an answer can only be the same as before - or missing an item
the map did not know of; :func:`check` (the unit test) compares both on random writes and queries.

The map follows every way moto changes an item: ``Table.put_item`` (puts, batch writes, the put
half of transactions, an update creating its item), ``Table.delete_item`` and the backend's
``update_item`` (which changes the item in place), and the rollback of a cancelled transaction
(:func:`infra.moto_stack._cheaper_moto_transactions` puts the written items back and calls :func:`touch`).
A table object the map has not seen (moto's own full-copy rollback) is mapped again from scratch.
Only tables whose keys are both strings are mapped (all of ours); others go moto's way.
"""
from __future__ import annotations

import threading
import weakref
from typing import Any, Iterable

_scope = threading.local()  # the candidates of the Query running on this thread: (table, items)
ENABLED = True  # switched off by the equivalence test to get moto's own answers


def _key_value(value: Any) -> tuple[str, Any] | None:
    """A DynamoType's (type, value), hashable (index keys are strings, numbers or binary)."""
    if value is None:
        return None
    v = value.value
    return (value.type, v if isinstance(v, (str, bytes)) else str(v))


class _TableMap:
    """The index map of one table object: index name -> index key -> {(hash, range): item}."""

    def __init__(self, table: Any):
        self.items_ref = table.items
        self.indexes = {i.name: [k["AttributeName"] for k in i.schema if k["KeyType"] == "HASH"]
                        for i in table.all_indexes()}
        self.buckets: dict[str, dict[tuple, dict[tuple, Any]]] = {name: {} for name in self.indexes}
        self.where: dict[tuple, dict[str, tuple]] = {}  # item key -> index name -> its index key
        self.dirty: set[tuple] = set()
        for by_range in table.items.values():
            for item in by_range.values():
                self._add(item)

    @staticmethod
    def item_key(item: Any) -> tuple:
        return (item.hash_key, item.range_key)  # DynamoTypes, as moto keys table.items

    def _add(self, item: Any) -> None:
        key, placed = self.item_key(item), {}
        for name, attrs in self.indexes.items():
            values = tuple(_key_value(item.attrs.get(a)) for a in attrs)
            if None not in values:
                self.buckets[name].setdefault(values, {})[key] = item
                placed[name] = values
        if placed:
            self.where[key] = placed

    def refresh(self, table: Any) -> None:
        for key in self.dirty:
            for name, values in self.where.pop(key, {}).items():
                bucket = self.buckets[name].get(values)
                if bucket is not None:
                    bucket.pop(key, None)
                    if not bucket:
                        del self.buckets[name][values]
            item = table.items.get(key[0], {}).get(key[1])
            if item is not None:
                self._add(item)
        self.dirty.clear()

    def candidates(self, index_name: str, values: tuple) -> Iterable[Any]:
        return self.buckets.get(index_name, {}).get(values, {}).values()


_maps: "weakref.WeakKeyDictionary[Any, _TableMap]" = weakref.WeakKeyDictionary()
_lock = threading.RLock()


def _mapped(table: Any) -> bool:
    return (table.hash_key_type, table.range_key_type) == ("S", "S")


def _map_of(table: Any) -> _TableMap:
    found = _maps.get(table)
    if found is None or found.items_ref is not table.items:
        found = _maps[table] = _TableMap(table)
    elif found.dirty:
        found.refresh(table)
    return found


def touch(table: Any, hash_value: Any, range_value: Any) -> None:
    """Mark an item changed (its DynamoType key): the map reads it again before the next Query."""
    found = _maps.get(table)
    if found is not None and hash_value is not None and range_value is not None:
        found.dirty.add((hash_value, range_value))


def _candidates(table: Any, hash_key: Any, index_name: str | None,
                hash_key_conditions: list[tuple[str, Any]] | None) -> list[Any] | None:
    """The items a Query can match, or None when moto must look at all of them."""
    if not ENABLED or not _mapped(table):
        return None
    if not index_name:
        if hash_key is None:
            return None
        return list(table.items.get(hash_key, {}).values())
    with _lock:
        table_map = _map_of(table)
        attrs = table_map.indexes.get(index_name)
        conditions = dict(hash_key_conditions or [])
        if attrs is None or set(conditions) != set(attrs):
            return None
        values = tuple(_key_value(conditions[a]) for a in attrs)
        return list(table_map.candidates(index_name, values))


def _in_range(table: Any, found: list[Any], index_name: str | None, comparison: str, values: list[Any],
              range_conditions: list[tuple[str, str, list[Any]]] | None) -> list[Any] | None:
    """The candidates that meet the range condition, tested as moto tests them (None: leave it to
    moto). moto sorts every candidate and works out each one's size (for the 1 MB page limit) before
    testing it: a sweep's shard of thousands of clocks, of which a few are due, cost thousands of item
    sizes per Query. Given only the matching ones, moto answers the same page - except that it gives a
    LastEvaluatedKey when exactly ``Limit`` items match and any other candidate follows them, so the
    caller leaves that case, and a page after a start key, to moto. (moto's page-size check also reads
    the size of the first candidate that does not match; DynamoDB's limit counts only items read.)"""
    if range_conditions and len(range_conditions) > 1:
        return None  # a multi-attribute range key: moto's way
    if not index_name:
        return [i for i in found if i.range_key is not None and i.range_key.compare(comparison, values)]
    if range_conditions:
        attr = range_conditions[-1][0]
    else:
        ranges = [k["AttributeName"] for k in table.get_index(index_name).schema if k["KeyType"] == "RANGE"]
        if len(ranges) != 1:
            return None
        attr = ranges[0]
    return [i for i in found if i.attrs.get(attr) and i.attrs[attr].compare(comparison, values)]


def install(setattr_: Any = setattr) -> None:
    """Patch moto (``setattr_``: pytest's ``monkeypatch.setattr`` in tests, so they undo it). Idempotent."""
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    if getattr(Table.query, "_by_key", False):
        return
    query, all_items, put_item, delete_item = Table.query, Table.all_items, Table.put_item, Table.delete_item
    update_item = DynamoDBBackend.update_item

    def scoped_query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        # moto's backend passes index_name by position: (range_comparison, range_objs, limit,
        # exclusive_start_key, scan_index_forward, projection_expressions, index_name, ...)
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
        found = _candidates(self, hash_key, index_name, kwargs.get("hash_key_conditions"))
        if found is None:
            return query(self, hash_key, *args, **kwargs)
        if args and args[0] and not args[3]:  # a range condition, from the start: see _in_range
            matching = _in_range(self, found, index_name, args[0], args[1], kwargs.get("range_key_conditions"))
            if matching is not None and len(matching) != args[2]:
                found = matching
        previous = getattr(_scope, "query", None)
        _scope.query = (self, found)
        try:
            return query(self, hash_key, *args, **kwargs)
        finally:
            _scope.query = previous

    def scoped_all_items(self: Any) -> Any:
        scope = getattr(_scope, "query", None)
        if scope is None or scope[0] is not self:
            return all_items(self)
        # the order moto's all_items gives (infra.moto_stack's sort: the keys' plain values)
        return sorted(scope[1], key=lambda i: (i.hash_key.value, i.range_key.value))

    def mapped_put_item(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return put_item(self, *args, **kwargs)
        finally:
            if self in _maps:
                item_attrs = args[0] if args else kwargs.get("item_attrs", {})
                _touch_raw(self, item_attrs)

    def mapped_delete_item(self: Any, hash_value: Any, range_value: Any = None, *args: Any, **kwargs: Any) -> Any:
        try:
            return delete_item(self, hash_value, range_value, *args, **kwargs)
        finally:
            touch(self, hash_value, range_value)

    def mapped_update_item(self: Any, table_name: str, key: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return update_item(self, table_name, key, *args, **kwargs)
        finally:
            table = self.tables.get(table_name)
            if table is not None and table in _maps:
                _touch_raw(table, key)

    scoped_query._by_key = True  # type: ignore[attr-defined]
    setattr_(Table, "query", scoped_query)
    setattr_(Table, "all_items", scoped_all_items)
    setattr_(Table, "put_item", mapped_put_item)
    setattr_(Table, "delete_item", mapped_delete_item)
    setattr_(DynamoDBBackend, "update_item", mapped_update_item)


def _touch_raw(table: Any, attrs: dict[str, Any]) -> None:
    """Mark an item changed, from its key attributes in the wire form ({"S": "..."})."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    try:
        key = (DynamoType(attrs[table.hash_key_attr]), DynamoType(attrs[table.range_key_attr]))
        found = _maps.get(table)
        if found is not None:
            found.dirty.add(key)
    except (KeyError, TypeError, AttributeError, ValueError):
        with _lock:
            _maps.pop(table, None)  # a key we cannot read: map the table again on its next Query
