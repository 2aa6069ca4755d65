"""The complaint store: one DynamoDB table, every access pattern served by a key or an index.

See ``docs/data-model.md`` for the item layout and the access patterns. Every write that moves a
case is conditional: creation on the number not existing, changes on the version read.
"""
from __future__ import annotations

import base64
import json
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable

from pydantic import ValidationError

from shared import audit
from shared.aws import error_code
from shared.crypto import FieldCipher, LookupHasher
from shared.items import ItemCodec, drop_none
from shared.events import CaseEvent, ComplaintReceived
from shared.lifecycle import Status
from shared.models import Attachment, Complaint, Customer, TimelineEntry

CASE = "CASE"
TOKENS = "TOKENS"  # CASE#<id> / TOKENS: tracking-token hashes given out after creation (add_tracking_token)
BY_STATUS, BY_CHANNEL, BY_MONTH, PENDING_EVENTS = "ByStatus", "ByChannel", "ByMonth", "PendingEvents"
BY_DUE, BY_QUEUE = "ByDue", "ByQueue"
DUE_SHARDS = 4  # the ByDue index's partitions: writes spread over them, a sweep queries each
# Index attributes derived from the case on every write; removed when they no longer apply.
DERIVED = ("due_shard", "due_key", "work_queue", "queue_key")
# Case fields a save may clear (written once at intake, or kept by other writers, are not here).
_CLEARABLE = None
MONTHS_BACK_WITHOUT_SINCE = 36
CONFLICT_ATTEMPTS = 4  # a transaction cancelled only by a conflict on a shared item is sent again
# A staff list with filters (``list``): index items one Query page evaluates, and the bounds of one call
LIST_FILTERED_PAGE, LIST_MAX_EVALUATED, LIST_MAX_QUERIES = 200, 2000, 48
CONTACT_KINDS = ("email", "phone", "member_id")
# Case attributes left out of the item while they hold the model's default (no index key, filter or
# raw reader uses them): fewer bytes on every case write.
_DEFAULTS_NOT_STORED = ("escalated", "reopened_count", "needs_triage", "repeat_count", "merged_cases",
                        "attachments", "redrives", "tasks", "escalation_level")


class NumberTaken(Exception):
    """Another case already has this complaint number (retry with a new one)."""


class IdempotencyKeyUsed(Exception):
    def __init__(self, record: dict[str, Any] | None):
        super().__init__("idempotency key already used")
        self.record = record


class AttachmentUnavailable(Exception):
    def __init__(self, attachment_ids: list[str]):
        super().__init__("attachments not uploaded, expired or used by another complaint")
        self.attachment_ids = attachment_ids


class StoredRecordInvalid(RuntimeError):
    """A stored item no longer fits its model: our data or code is wrong, not the request (a 500, logged;
    a pydantic ValidationError would reach the client as a 422 naming stored fields)."""


class StaleVersion(Exception):
    """The case changed since it was read (another handler or a repeated delivery won)."""


class ConditionFailed(Exception):
    """A condition of one of the extra operations given to ``save(also=...)`` failed."""

    def __init__(self, indexes: list[int]):
        super().__init__(f"conditions failed: {indexes}")
        self.indexes = indexes


class InvalidCursor(ValueError):
    pass


@dataclass(frozen=True)
class IdempotencyClaim:
    key_hash: str
    request_hash: str
    complaint_id: str
    received_at: str
    tracking_token_enc: str
    expires_at: int


@dataclass(frozen=True)
class AttachmentUpload:
    attachment_id: str
    filename: str
    content_type: str
    key: str
    max_bytes: int
    expires_at: int


@dataclass(frozen=True)
class Page:
    complaints: list[Complaint]
    cursor: str | None


def iso(at: datetime) -> str:
    return at.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class ComplaintRepository:
    def __init__(self, dynamodb: Any, table: str, cipher: FieldCipher, hasher: LookupHasher, *, stats: Any = None):
        self._db, self._table = dynamodb, table
        self._cipher, self._hasher = cipher, hasher
        self._stats = stats  # shared.stats_store.StatsStore (default: one on the same table, made on first use)
        codec = ItemCodec()
        self._dump, self._load = codec.dump, codec.load

    @property
    def stats(self) -> Any:
        """The report counters written with every creation and transition (:mod:`shared.stats_store`)."""
        if self._stats is None:
            from shared.stats_store import StatsStore

            self._stats = StatsStore(self._db, self._table)
        return self._stats

    def _transact(self, ops: list[dict[str, Any]]) -> None:
        """``TransactWriteItems``, tried again (briefly, with jitter) when DynamoDB cancelled it only for
        a conflict with another transaction on a shared item (the report counters): nothing was
        written, so the same operations, conditions and all, are simply sent again."""
        for attempt in range(CONFLICT_ATTEMPTS):
            try:
                self._db.transact_write_items(TransactItems=ops)
                return
            except Exception as exc:
                if attempt + 1 == CONFLICT_ATTEMPTS or not _conflict_only(exc):
                    raise
                time.sleep(random.uniform(0, 0.02 * 2 ** attempt))

    def contact_hashes(self, customer: Customer) -> dict[str, str]:
        return {
            kind: self._hasher.hash(kind, getattr(customer, kind))
            for kind in CONTACT_KINDS
            if getattr(customer, kind)
        }

    def _case_item(self, c: Complaint, hashes: dict[str, str]) -> dict[str, Any]:
        data = c.model_dump(mode="json", exclude={"customer"})
        received_key = f"{data['received_at']}#{c.complaint_id}"
        item = {
            "PK": f"{CASE}#{c.complaint_id}",
            "SK": CASE,
            **data,
            "received_key": received_key,
            "received_month": "MONTH#" + data["received_at"][:7],
            "contact_hashes": hashes or None,
            "tracking_token_hashes": set(c.tracking_token_hashes) or None,
        }
        # the case item is rewritten by every transition and billed by its size: values that equal the
        # model's defaults are not stored (loading restores them; a save REMOVEs them, clearable_fields)
        item["clocks"] = [clock.model_dump(mode="json", exclude_defaults=True) for clock in c.clocks] or None
        for name in _DEFAULTS_NOT_STORED:
            if data.get(name) == Complaint.model_fields[name].default:
                item[name] = None
        item.update(index_attributes(c))
        if c.customer is not None:
            item["customer_enc"] = self._cipher.encrypt(
                c.customer.model_dump_json(exclude_none=True), bound_to=c.complaint_id
            )
            item["preferred_language"] = c.customer.preferred_language
        return item

    def _complaint(self, item: dict[str, Any], *, with_contact: bool) -> Complaint:
        customer = None
        if with_contact and item.get("customer_enc"):
            customer = Customer.model_validate_json(
                self._cipher.decrypt(item["customer_enc"], bound_to=item["complaint_id"])
            )
        fields = {k: v for k, v in item.items() if k in Complaint.model_fields}
        try:
            return Complaint.model_validate({**fields, "customer": customer})
        except ValidationError as exc:
            raise StoredRecordInvalid(f"case {item.get('complaint_id')}: {exc.error_count()} invalid field(s) "
                                      f"{sorted({str(e['loc'][0]) for e in exc.errors() if e['loc']})}") from None

    def _entry_item(self, complaint_id: str, entry: TimelineEntry, index: int, version: int = 0) -> dict[str, Any]:
        data = entry.model_dump(mode="json")
        # FIX: the case version written with the entry is part of its key (``TL#<at>#<version>.<nnn>``):
        # two saves at the same instant (a simulated clock, shared.clock.set_clock, holds time still)
        # overwrote each other's entries (both ``TL#<at>#000``); same-instant entries now sort in write order
        return {"PK": f"{CASE}#{complaint_id}", "SK": f"TL#{data['at']}#{version:06d}.{index:03d}", **data}

    # -- creation ------------------------------------------------------------------------------
    def create(
        self,
        complaint: Complaint,
        entries: Iterable[TimelineEntry],
        *,
        idempotency: IdempotencyClaim | None = None,
        attachment_ids: Iterable[str] = (),
        pending_event: str = "ComplaintReceived",
    ) -> None:
        """Write the case, its first timeline entries, its customer index and idempotency record in
        one transaction, with the event it owes marked pending (the outbox) and the report counters."""
        from shared.stats import increments

        entries = list(entries)
        hashes = self.contact_hashes(complaint.customer) if complaint.customer else {}
        case = self._case_item(complaint, hashes)
        case["pending_event"] = pending_event
        ops: list[dict[str, Any]] = [
            {"Put": {"TableName": self._table, "Item": self._dump(case),
                     "ConditionExpression": "attribute_not_exists(PK)"}},
        ]
        for i, entry in enumerate(entries):
            ops.append({"Put": {"TableName": self._table, "Item": self._dump(
                self._entry_item(complaint.complaint_id, entry, i, complaint.version))}})
        for kind, digest in hashes.items():
            ops.append({"Put": {"TableName": self._table, "Item": self._dump({
                "PK": f"CUSTOMER#{digest}", "SK": case["received_key"], "kind": kind,
                "complaint_id": complaint.complaint_id, "status": None,
            })}})
        idem_index = None
        if idempotency:
            idem_index = len(ops)
            ops.append(self.idempotency_op(idempotency.key_hash, {
                "request_hash": idempotency.request_hash, "complaint_id": idempotency.complaint_id,
                "received_at": idempotency.received_at, "tracking_token_enc": idempotency.tracking_token_enc,
                "expires_at": idempotency.expires_at}))
        attachment_start = len(ops)
        attachment_ids = list(attachment_ids)
        ops.extend(self.attachment_ops(complaint.complaint_id, attachment_ids))
        ops.extend(self.stats.ops(increments(None, complaint, entries)))  # unconditional: they never fail
        records = self._audit_records([(complaint, entries, None)])
        ops.extend(audit.put_op(self._table, self._dump, r) for r in records)  # last: the indexes above stay
        try:
            self._transact(ops)
            for record in records:
                audit.written(record)
        except Exception as exc:
            if error_code(exc) != "TransactionCanceledException":
                raise
            reasons = getattr(exc, "response", {}).get("CancellationReasons") or []
            failed = {i: r for i, r in enumerate(reasons) if r.get("Code") == "ConditionalCheckFailed"}
            if idem_index is not None and idem_index in failed:
                old = failed[idem_index].get("Item")
                raise IdempotencyKeyUsed(self._load(old) if old else None) from None
            if 0 in failed:
                raise NumberTaken(complaint.complaint_id) from None
            bad = [attachment_ids[i - attachment_start] for i in failed if i >= attachment_start]
            if bad:
                raise AttachmentUnavailable(bad) from None
            raise

    def idempotency_op(self, key_hash: str, record: dict[str, Any]) -> dict[str, Any]:
        """Claim an idempotency key (``PK = IDEMPOTENCY#<key_hash>``) with what the first request did
        (``record``: ``request_hash``, ``complaint_id``, ``expires_at`` ...), unless an unexpired claim
        exists (then the transaction fails and returns the old record)."""
        return {"Put": {
            "TableName": self._table,
            "Item": self._dump({"PK": f"IDEMPOTENCY#{key_hash}", "SK": "IDEMPOTENCY", **record}),
            "ConditionExpression": "attribute_not_exists(PK) OR expires_at < :now",
            "ExpressionAttributeValues": {":now": {"N": str(int(datetime.now(timezone.utc).timestamp()))}},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }}

    def attachment_ops(self, complaint_id: str, attachment_ids: Iterable[str]) -> list[dict[str, Any]]:
        """Attach uploads to a case: each pending upload becomes the case's, only if it is still
        pending (not expired, not used by another case or message)."""
        return [{"Update": {
            "TableName": self._table,
            "Key": self._dump({"PK": f"ATTACHMENT#{att_id}", "SK": "ATTACHMENT"}),
            "UpdateExpression": "SET #s = :attached, complaint_id = :cid REMOVE expires_at",
            "ConditionExpression": "#s = :pending",
            "ExpressionAttributeNames": {"#s": "state"},
            "ExpressionAttributeValues": self._dump({":attached": "attached", ":pending": "pending",
                                                     ":cid": complaint_id}),
        }} for att_id in attachment_ids]

    def idempotency_record(self, key_hash: str) -> dict[str, Any] | None:
        out = self._db.get_item(
            TableName=self._table,
            Key=self._dump({"PK": f"IDEMPOTENCY#{key_hash}", "SK": "IDEMPOTENCY"}),
            ConsistentRead=True,
        )
        return self._load(out["Item"]) if "Item" in out else None

    # -- reading -------------------------------------------------------------------------------
    def get(self, complaint_id: str, *, with_contact: bool = False) -> tuple[Complaint, list[TimelineEntry]] | None:
        """The case and its whole timeline in one query."""
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "PK = :pk",
            "ExpressionAttributeValues": {":pk": {"S": f"{CASE}#{complaint_id}"}},
            "ConsistentRead": True,
        }
        while True:
            out = self._db.query(**kwargs)
            items.extend(self._load(i) for i in out.get("Items", []))
            if "LastEvaluatedKey" not in out:
                break
            kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]
        case = next((i for i in items if i["SK"] == CASE), None)
        if case is None:
            return None
        timeline = [
            TimelineEntry.model_validate({k: v for k, v in i.items() if k in TimelineEntry.model_fields})
            for i in items
            if i["SK"].startswith("TL#")
        ]
        tokens = next((i for i in items if i["SK"] == TOKENS), None)  # the tokens added later (notifier)
        if tokens:
            case = {**case, "tracking_token_hashes": sorted(set(case.get("tracking_token_hashes") or ())
                                                            | set(tokens.get("tracking_token_hashes") or ()))}
        return self._complaint(case, with_contact=with_contact), timeline

    def list(
        self,
        *,
        status: Status | None = None,
        channel: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 25,
        cursor: str | None = None,
        departments: list[str] | None = None,
        category: str | None = None,
        priority: str | None = None,
        assignee: str | None = None,
        product: str | None = None,
        batch: str | None = None,
        text: str | None = None,
    ) -> Page:
        """Newest first. By status (channel as a filter), by channel, or month by month (from ``until``'s
        month, else the current one); ``since``/``until`` bound the index's sort key. ``departments``,
        ``category``, ``priority``, ``assignee``, ``product`` (SKU, else product name: the reports'
        dimension value) and ``batch`` are filters on the same Query; ``text`` keeps the cases whose
        title or description contains every word of it (case-insensitive), matched on the items the
        Query returns. One call evaluates at most :data:`LIST_MAX_EVALUATED` index items (and
        :data:`LIST_MAX_QUERIES` Query calls): a rare match may answer fewer than ``limit`` cases with
        a cursor to read on."""
        state = _decode_cursor(cursor) if cursor else {}
        since_key = iso(since) if since else None
        # received_key starts with the time as pydantic writes it (fractions only when there are some):
        # "<second>~" sorts after every key of that second, so ``until`` counts to the whole second
        until_key = until.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") + "~" if until else None
        from shared.index_reads import fetch, projects

        # Each test: the attribute it reads, its FilterExpression (with its names and values) and the
        # same test in Python. The index's slim projection decides where it runs: in the Query when the
        # index holds the attribute, else on the page's cases read from the table.
        tests: list[_ListTest] = []
        if departments is not None:
            wanted = departments or [""]
            tests.append(_ListTest(
                "department", "#dep IN (" + ", ".join(f":dep{i}" for i in range(len(wanted))) + ")",
                {"#dep": "department"}, {f":dep{i}": {"S": d} for i, d in enumerate(wanted)},
                lambda i, w=frozenset(wanted): i.get("department") in w))
        for tag, attribute, value in (("cat", "category", category), ("pri", "priority", priority),
                                      ("asg", "assignee", assignee)):
            if value:
                tests.append(_ListTest(attribute, f"#{tag} = :{tag}", {f"#{tag}": attribute},
                                       {f":{tag}": {"S": value}}, lambda i, a=attribute, v=value: i.get(a) == v))
        if product:
            tests.append(_ListTest(
                "product", "(#prod.#sku = :prod OR (attribute_not_exists(#prod.#sku) AND #prod.#pname = :prod))",
                {"#prod": "product", "#sku": "sku", "#pname": "name"}, {":prod": {"S": product}},
                lambda i, v=product: _product_of(i) == v))
        if batch:
            tests.append(_ListTest("product", "#prod.#batch = :batch", {"#prod": "product", "#batch": "batch"},
                                   {":batch": {"S": batch}},
                                   lambda i, v=batch: (i.get("product") or {}).get("batch") == v))
        if status:
            index, pk_name, pk_value = BY_STATUS, "status", status.value
            if channel:
                tests.append(_ListTest("channel", "#c = :c", {"#c": "channel"}, {":c": {"S": channel}},
                                       lambda i, v=channel: i.get("channel") == v))
        elif channel:
            index, pk_name, pk_value = BY_CHANNEL, "channel", channel
        else:
            index, pk_name = BY_MONTH, "received_month"
            month = state.get("month") or min(datetime.now(timezone.utc).strftime("%Y-%m"),
                                              until_key[:7] if until_key else "9999-12")
            pk_value = "MONTH#" + month
        if state and state.get("index") != index:
            raise InvalidCursor("cursor belongs to another listing")
        terms = text_terms(text)
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        filters: list[str] = []
        for test in tests:
            if projects(index, [test.attribute]):
                filters.append(test.expression)
                names.update(test.names)
                values.update(test.values)
        checks = [t.check for t in tests if not projects(index, [t.attribute])]
        whole = bool(checks or terms)  # each page's cases are read from the table to be tested
        # With filters a Query page reads more index items than it keeps: read wider pages, keep
        # ``limit`` and continue after the last one kept.
        page_size = LIST_FILTERED_PAGE if tests or terms else None
        found: list[dict[str, Any]] = []
        start_key = state.get("key")
        oldest_month = (since_key or _months_before(MONTHS_BACK_WITHOUT_SINCE))[:7]
        evaluated = queries = 0
        while True:
            names["#pk"] = pk_name
            values[":pk"] = {"S": pk_value}
            key_cond = "#pk = :pk"
            if since_key and until_key:
                key_cond += " AND received_key BETWEEN :since AND :until"
            elif since_key:
                key_cond += " AND received_key >= :since"
            elif until_key:
                key_cond += " AND received_key <= :until"
            if since_key:
                values[":since"] = {"S": since_key}
            if until_key:
                values[":until"] = {"S": until_key}
            kwargs: dict[str, Any] = {
                "TableName": self._table, "IndexName": index, "KeyConditionExpression": key_cond,
                "ExpressionAttributeNames": names, "ExpressionAttributeValues": values,
                "ScanIndexForward": False, "Limit": max(limit - len(found), page_size or 0),
            }
            if filters:
                kwargs["FilterExpression"] = " AND ".join(filters)
            if start_key:
                kwargs["ExclusiveStartKey"] = start_key
            out = self._db.query(**kwargs)
            queries += 1
            evaluated += int(out.get("ScannedCount", 0))
            if whole:
                index_items = {(i["PK"]["S"], i["SK"]["S"]): self._load(i) for i in out.get("Items", [])}
                items = [self._load(i) for i in fetch(self._db, self._table, out.get("Items", []))]
                items = [i for i in items if all(check(i) for check in checks) and _contains_all(i, terms)]
            else:
                index_items = {}
                items = [self._load(i) for i in out.get("Items", [])]
            start_key = out.get("LastEvaluatedKey")
            if len(found) + len(items) > limit:  # a wide page: continue after the last case kept
                found.extend(items[:limit - len(found)])
                last = index_items.get((found[-1]["PK"], found[-1]["SK"]), found[-1])  # where the index had it
                start_key = self._dump({"PK": last["PK"], "SK": last["SK"], pk_name: last[pk_name],
                                        "received_key": last["received_key"]})
                break
            found.extend(items)
            if len(found) >= limit or evaluated >= LIST_MAX_EVALUATED or queries >= LIST_MAX_QUERIES:
                break
            if start_key:
                continue
            if index != BY_MONTH:
                break
            previous = _previous_month(pk_value[6:])
            if previous < oldest_month:
                break
            pk_value = "MONTH#" + previous
        month = pk_value[6:] if index == BY_MONTH else None
        stopped_early = len(found) >= limit or evaluated >= LIST_MAX_EVALUATED or queries >= LIST_MAX_QUERIES
        next_cursor = None
        if start_key:
            next_cursor = _encode_cursor({"index": index, "key": start_key, "month": month})
        elif month and stopped_early and _previous_month(month) >= oldest_month:
            next_cursor = _encode_cursor({"index": index, "key": None, "month": _previous_month(month)})
        if not whole:  # index items: the cases themselves, by key
            found = [self._load(i) for i in fetch(self._db, self._table, found[:limit])]
        return Page([self._complaint(i, with_contact=False) for i in found[:limit]], next_cursor)

    def cases_of_customer(self, kind: str, value: str, *, limit: int = 20) -> list[str]:
        """A customer's recent complaint numbers, newest first, by keyed hash of email/phone/member id."""
        out = self._db.query(
            TableName=self._table, KeyConditionExpression="PK = :pk",
            ExpressionAttributeValues={":pk": {"S": f"CUSTOMER#{self._hasher.hash(kind, value)}"}},
            ScanIndexForward=False, Limit=limit,
        )
        return [self._load(i)["complaint_id"] for i in out.get("Items", [])]

    def cases_by_contact_hash(self, digest: str, *, limit: int = 20, since: datetime | None = None) -> list[str]:
        """Like :meth:`cases_of_customer` for a hash already computed (a case's ``contact_hashes``), so
        the router finds a customer's recent cases without decrypting contact data."""
        values: dict[str, Any] = {":pk": {"S": f"CUSTOMER#{digest}"}}
        condition = "PK = :pk"
        if since:
            condition += " AND SK >= :since"
            values[":since"] = {"S": iso(since)}
        out = self._db.query(TableName=self._table, KeyConditionExpression=condition,
                             ExpressionAttributeValues=values, ScanIndexForward=False, Limit=limit)
        return [self._load(i)["complaint_id"] for i in out.get("Items", [])]

    def get_many(self, complaint_ids: Iterable[str]) -> dict[str, Complaint]:
        """Several cases without their timelines or contact data (``BatchGetItem``, 100 at a time)."""
        ids = list(dict.fromkeys(complaint_ids))
        found: dict[str, Complaint] = {}
        for start in range(0, len(ids), 100):
            request = {self._table: {"Keys": [self._dump({"PK": f"{CASE}#{i}", "SK": CASE}) for i in ids[start:start + 100]],
                                     "ConsistentRead": True}}
            while request:
                out = self._db.batch_get_item(RequestItems=request)
                for raw in out.get("Responses", {}).get(self._table, []):
                    complaint = self._complaint(self._load(raw), with_contact=False)
                    found[complaint.complaint_id] = complaint
                request = out.get("UnprocessedKeys") or {}
        return found

    # -- the outbox ----------------------------------------------------------------------------
    def pending_events(self, *, older_than: datetime, limit: int = 100) -> list[ComplaintReceived]:
        """ComplaintReceived events still owed by cases written before ``older_than``."""
        out = self._db.query(
            TableName=self._table, IndexName=PENDING_EVENTS,
            KeyConditionExpression="pending_event = :e AND received_key < :cutoff",
            ExpressionAttributeValues={":e": {"S": "ComplaintReceived"}, ":cutoff": {"S": iso(older_than)}},
            Limit=limit,
        )
        events = []
        for raw in out.get("Items", []):
            item = self._load(raw)
            events.append(ComplaintReceived(
                event_id=f"{item['complaint_id']}:received", complaint_id=item["complaint_id"],
                received_at=item["received_at"], channel=item["channel"], language=item["language"],
                has_attachments=bool(item.get("attachments")),
            ))
        return events

    # -- the sweep's work list and the work queues ------------------------------------------------
    def due(self, shard: str, until: datetime, *, limit: int = 200) -> tuple[list[str], int]:
        """Numbers of the cases of one ByDue shard whose next check is at or before ``until``, most
        overdue first; and how many index items the query read (the sweep's cost)."""
        out = self._db.query(
            TableName=self._table, IndexName=BY_DUE,
            KeyConditionExpression="due_shard = :s AND due_key <= :until",
            ExpressionAttributeValues={":s": {"S": shard}, ":until": {"S": iso(until) + "#~"}},
            ProjectionExpression="complaint_id", Limit=limit)
        return [i["complaint_id"]["S"] for i in out.get("Items", [])], int(out.get("ScannedCount", 0))

    def queue(self, work_queue: str, *, limit: int = 25, cursor: str | None = None) -> Page:
        """A department's waiting cases (``QUEUE#<dept>``) or a handler's (``HANDLER#<id>``), most
        urgent deadline first."""
        kwargs: dict[str, Any] = {
            "TableName": self._table, "IndexName": BY_QUEUE, "KeyConditionExpression": "work_queue = :q",
            "ExpressionAttributeValues": {":q": {"S": work_queue}}, "Limit": limit}
        if cursor:
            state = _decode_cursor(cursor)
            if state.get("index") != BY_QUEUE or state.get("queue") != work_queue:
                raise InvalidCursor("cursor belongs to another listing")
            kwargs["ExclusiveStartKey"] = state["key"]
        out = self._db.query(**kwargs)
        last = out.get("LastEvaluatedKey")
        next_cursor = _encode_cursor({"index": BY_QUEUE, "queue": work_queue, "key": last}) if last else None
        from shared.index_reads import fetch

        cases = fetch(self._db, self._table, out.get("Items", []))  # the index holds keys: the cases by key
        return Page([self._complaint(self._load(i), with_contact=False) for i in cases], next_cursor)

    def mark_event_published(self, complaint_id: str) -> None:
        try:
            self._db.update_item(
                TableName=self._table, Key=self._dump({"PK": f"{CASE}#{complaint_id}", "SK": CASE}),
                UpdateExpression="REMOVE pending_event", ConditionExpression="attribute_exists(PK)",
            )
        except Exception as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise

    # -- transitions ---------------------------------------------------------------------------
    def save(self, complaint: Complaint, entries: Iterable[TimelineEntry], *, expected_version: int,
             also: Iterable[dict[str, Any]] = (), events: Iterable[CaseEvent] = (),
             before: Complaint | None = None) -> None:
        """Write a changed case (its version already raised) with its new timeline entries,
        only if nobody changed it since ``expected_version`` was read. ``also`` adds raw
        transaction operations (e.g. the mail log's record of the message that caused the change)
        that succeed or fail with it; ``events`` are written as outbox items in the same transaction
        (publish them with :func:`shared.case_events.announce`; the outbox schedule publishes what
        that misses). ``before``: the case as read, for the report counters (without it they read
        what changed from the entries, :func:`shared.stats.previous`)."""
        self.save_many([(complaint, list(entries), expected_version, before)], also=also, events=events)

    def save_many(self, changes: list[tuple[Any, ...]], *,
                  also: Iterable[dict[str, Any]] = (), events: Iterable[CaseEvent] = ()) -> None:
        """Several cases changed together (a merge, a split), all or none: each conditional on its
        version. ``changes``: ``(case, entries, expected_version)``, or with the case as read as a
        fourth element (the report counters' ``before``). The counters' ``ADD`` operations ride in
        the same transaction. Raises :class:`StaleVersion` naming the first case that changed meanwhile."""
        from shared.stats import increments, previous

        ops: list[dict[str, Any]] = []
        counted, audited = [], []
        for complaint, entries, expected_version, *read in changes:
            ops.extend(self._transition_ops(complaint, entries, expected_version))
            before = read[0] if read and read[0] is not None else previous(complaint, entries)
            audited.append((complaint, entries, before))
            counted += increments(before, complaint, entries)
        first_also = len(ops)
        ops.extend(also)
        ops.extend(self.event_ops(events))
        ops.extend(self.stats.ops(counted))  # unconditional: the indexes above stay as they were
        records = self._audit_records(audited)  # the same "before" the counters took
        ops.extend(audit.put_op(self._table, self._dump, r) for r in records)  # never exist: cannot fail
        try:
            self._transact(ops)
            for record in records:
                audit.written(record)
        except Exception as exc:
            if error_code(exc) != "TransactionCanceledException":
                raise
            reasons = getattr(exc, "response", {}).get("CancellationReasons") or []
            failed = [i for i, r in enumerate(reasons) if r.get("Code") == "ConditionalCheckFailed"]
            if failed and failed[0] >= first_also:
                raise ConditionFailed([i - first_also for i in failed]) from None
            stale = next((ops[i]["Update"]["Key"]["PK"]["S"][len(CASE) + 1:] for i in failed
                          if "Update" in ops[i] and ops[i]["Update"]["Key"]["SK"]["S"] == CASE), None)
            raise StaleVersion(stale or changes[0][0].complaint_id) from None

    def link_raw_mail(self, complaint_id: str, bucket: str, key: str) -> None:
        """Remember that the raw email ``bucket/key`` belongs to the case (an erasure deletes it too:
        shared/privacy_store.py). Idempotent."""
        from shared.privacy_store import raw_mail_link_op

        self._db.put_item(**raw_mail_link_op(self._table, complaint_id, bucket, key)["Put"])

    def _audit_records(self, changes: list[tuple[Complaint, list[TimelineEntry], Complaint | None]]) -> list[Any]:
        """The audit records a write carries (:mod:`shared.audit`): one per case changed by the pipeline;
        for an API request one in all (its first case), or none when the request has its record."""
        scope = audit.current_scope()
        records = []
        for complaint, entries, before in changes:
            kinds = [e.kind.value if hasattr(e.kind, "value") else str(e.kind) for e in entries]
            record = audit.pending_case_record(complaint.complaint_id, before, complaint, kinds)
            if record is not None:
                records.append(record)
            if scope is not None and scope.http:
                break
        return records

    def _transition_ops(self, complaint: Complaint, entries: Iterable[TimelineEntry],
                        expected_version: int) -> list[dict[str, Any]]:
        hashes = self.contact_hashes(complaint.customer) if complaint.customer else None
        item = self._case_item(complaint, hashes or {})
        if complaint.customer is None:
            item.pop("contact_hashes", None)
        sets, names, values = [], {}, {":expected": expected_version}
        item = drop_none(item)
        for i, (k, v) in enumerate(item.items()):
            if k in ("PK", "SK", "tracking_token_hashes"):  # tokens are only ever added (add_tracking_token)
                continue
            names[f"#a{i}"], values[f":v{i}"] = k, v
            sets.append(f"#a{i} = :v{i}")
        # a field set to None (e.g. the sweep's next check, a queue the case left) is removed
        removes = [k for k in clearable_fields() if k not in item]
        for j, k in enumerate(removes):
            names[f"#r{j}"] = k
        expression = "SET " + ", ".join(sets)
        if removes:
            expression += " REMOVE " + ", ".join(f"#r{j}" for j in range(len(removes)))
        ops = [{"Update": {
            "TableName": self._table, "Key": self._dump({"PK": item["PK"], "SK": CASE}),
            "UpdateExpression": expression,
            "ConditionExpression": "version = :expected",
            "ExpressionAttributeNames": names, "ExpressionAttributeValues": self._dump(values),
        }}]
        for i, entry in enumerate(entries):
            ops.append({"Put": {"TableName": self._table, "Item": self._dump(
                self._entry_item(complaint.complaint_id, entry, i, complaint.version))}})
        return ops

    # -- case events (the outbox of the workflow) -------------------------------------------------
    def event_ops(self, events: Iterable[CaseEvent]) -> list[dict[str, Any]]:
        """Outbox items for ``events`` (``PK = CASE#<id>``, ``SK = EVENT#<event_id>``), in the sparse
        PendingEvents index (``pending_event = CaseEvent``) until published. Written only if absent:
        a repeated transition cannot owe an event twice."""
        ops = []
        for event in events:
            ops.append({"Put": {"TableName": self._table, "Item": self._dump({
                "PK": f"{CASE}#{event.complaint_id}", "SK": f"EVENT#{event.event_id}",
                "pending_event": "CaseEvent", "received_key": f"{event.at}#{event.event_id}",
                "complaint_id": event.complaint_id, "event": event.model_dump_json(exclude={"detail_type"}),
            })}})
        return ops

    def event_published(self, event: CaseEvent) -> None:
        """The event is out: its outbox item goes."""
        self._db.delete_item(TableName=self._table, Key=self._dump(
            {"PK": f"{CASE}#{event.complaint_id}", "SK": f"EVENT#{event.event_id}"}))

    def pending_case_events(self, *, older_than: datetime, limit: int = 100) -> list[CaseEvent]:
        """Case events written before ``older_than`` and not yet published (the index holds their
        keys; the items are read by key)."""
        out = self._db.query(
            TableName=self._table, IndexName=PENDING_EVENTS,
            KeyConditionExpression="pending_event = :e AND received_key < :cutoff",
            ExpressionAttributeValues={":e": {"S": "CaseEvent"}, ":cutoff": {"S": iso(older_than)}},
            Limit=limit)
        keys = [{"PK": i["PK"], "SK": i["SK"]} for i in out.get("Items", [])]
        events: list[CaseEvent] = []
        while keys:
            batch, keys = keys[:100], keys[100:]
            request = {self._table: {"Keys": batch, "ConsistentRead": True}}
            while request:
                got = self._db.batch_get_item(RequestItems=request)
                for raw in got.get("Responses", {}).get(self._table, []):
                    events.append(CaseEvent.model_validate_json(self._load(raw)["event"]))
                request = got.get("UnprocessedKeys") or {}
        return sorted(events, key=lambda e: (e.at, e.event_id))

    def add_tracking_token(self, complaint_id: str, token_hash: str) -> None:
        """Another token for the same case (e.g. the one in the acknowledgement), kept in the case's small
        ``CASE#<id> / TOKENS`` item (read with the case by :meth:`get`), so the notifier never rewrites the
        large case item; the case's version does not change, so this never conflicts with a transition."""
        self._db.update_item(
            TableName=self._table, Key=self._dump({"PK": f"{CASE}#{complaint_id}", "SK": TOKENS}),
            UpdateExpression="ADD tracking_token_hashes :h",
            ExpressionAttributeValues={":h": {"SS": [token_hash]}},
        )

    def add_timeline_entry(self, complaint_id: str, entry: TimelineEntry, *, key: str) -> bool:
        """Add an entry that changes nothing else on the case (e.g. ``acknowledged``), once: its sort key
        ``TL#<at>#<key>`` is deterministic, so a repeated call with the same entry writes nothing.
        Returns False when the entry was there already."""
        item = self._entry_item(complaint_id, entry, 0)
        item["SK"] = f"TL#{item['at']}#{key}"
        try:
            self._db.put_item(TableName=self._table, Item=self._dump(item),
                              ConditionExpression="attribute_not_exists(SK)")
        except Exception as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    # -- attachments ---------------------------------------------------------------------------
    def record_attachment_upload(self, upload: AttachmentUpload) -> None:
        self._db.put_item(
            TableName=self._table,
            Item=self._dump({"PK": f"ATTACHMENT#{upload.attachment_id}", "SK": "ATTACHMENT", "state": "pending",
                             **upload.__dict__}),
            ConditionExpression="attribute_not_exists(PK)",
        )

    def attachment_uploads(self, attachment_ids: list[str]) -> dict[str, AttachmentUpload]:
        if not attachment_ids:
            return {}
        out = self._db.batch_get_item(RequestItems={self._table: {
            "Keys": [self._dump({"PK": f"ATTACHMENT#{a}", "SK": "ATTACHMENT"}) for a in attachment_ids],
            "ConsistentRead": True,
        }})
        found = {}
        for raw in out.get("Responses", {}).get(self._table, []):
            item = self._load(raw)
            if item.get("state") == "pending":
                found[item["attachment_id"]] = AttachmentUpload(**{
                    k: item[k] for k in AttachmentUpload.__dataclass_fields__
                })
        return found

    # -- the workflow: plans waiting for a manager (shared/resolution.py) --------------------------------
    def plans_awaiting_approval(self, *, limit: int = 500) -> list[Complaint]:
        """Cases whose resolution plan waits for a manager, the longest waiting first: ``Query ByStatus
        status = resolution_proposed``, the page's cases read by key and kept with ``plan.state =
        pending_approval`` (a case with a pending plan is always in that status), sorted by the plan's
        proposal time."""
        from shared.index_reads import fetch

        # the index does not hold the plan: each page's cases are read by key and tested here
        kwargs: dict[str, Any] = {
            "TableName": self._table, "IndexName": BY_STATUS, "KeyConditionExpression": "#s = :s",
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": {":s": {"S": Status.RESOLUTION_PROPOSED.value}}, "Limit": 100}
        found: list[Complaint] = []
        while len(found) < limit:
            out = self._db.query(**kwargs)
            items = [self._load(i) for i in fetch(self._db, self._table, out.get("Items", []))]
            found += [self._complaint(i, with_contact=False) for i in items
                      if (i.get("plan") or {}).get("state") == "pending_approval"]
            if "LastEvaluatedKey" not in out:
                break
            kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]
        return sorted(found[:limit], key=lambda c: c.plan.proposed_at if c.plan else c.updated_at)


def _conflict_only(exc: BaseException) -> bool:
    """A cancelled transaction whose only failures are conflicts with other transactions."""
    if error_code(exc) != "TransactionCanceledException":
        return False
    codes = [r.get("Code") for r in getattr(exc, "response", {}).get("CancellationReasons") or []]
    return "TransactionConflict" in codes and all(c in (None, "None", "TransactionConflict") for c in codes)


def clearable_fields() -> tuple[str, ...]:
    """Case attributes a save removes when the model no longer has them (None)."""
    global _CLEARABLE
    if _CLEARABLE is None:
        keep = {"customer", "contact_hashes", "tracking_token_hashes", "complaint_id", "received_at"}
        _CLEARABLE = tuple(k for k in Complaint.model_fields if k not in keep) + DERIVED
    return _CLEARABLE


def due_shard(complaint_id: str) -> str:
    import zlib

    return f"DUE#{zlib.crc32(complaint_id.encode()) % DUE_SHARDS}"


def index_attributes(c: Complaint) -> dict[str, Any]:
    """The ByDue and ByQueue index keys of a case (absent keys: the case is not in that index).

    * ByDue: ``due_shard`` / ``due_key`` = ``<next_check_at>#<id>`` - the sweep's work list;
    * ByQueue: ``work_queue`` = ``QUEUE#<department>`` while nobody has it, ``HANDLER#<id>`` once
      assigned; ``queue_key`` = ``<nearest deadline>#<id>`` - a queue ordered by urgency.
    """
    from shared.lifecycle import OPEN_STATES
    from shared.sla import nearest_deadline

    out: dict[str, Any] = {}
    if c.next_check_at is not None:
        out["due_shard"], out["due_key"] = due_shard(c.complaint_id), f"{iso(c.next_check_at)}#{c.complaint_id}"
    if c.department and c.status in OPEN_STATES and not c.repeat_of:
        out["work_queue"] = f"HANDLER#{c.assignee}" if c.assignee else f"QUEUE#{c.department}"
        urgent = nearest_deadline(c.clocks) or c.received_at
        out["queue_key"] = f"{iso(urgent)}#{c.complaint_id}"
    return out


def attachment_of(upload: AttachmentUpload, size: int) -> Attachment:
    return Attachment(attachment_id=upload.attachment_id, filename=upload.filename,
                      content_type=upload.content_type, size=size, key=upload.key)


def text_terms(text: str | None) -> list[str]:
    """The words a text search looks for: case-folded, NFKC-normalised (full-width letters and digits
    as typed on a Chinese keyboard match their ASCII forms); Chinese has no spaces, so a phrase is one term."""
    import unicodedata

    return unicodedata.normalize("NFKC", text or "").casefold().split()


def _contains_all(item: dict[str, Any], terms: list[str]) -> bool:
    import unicodedata

    haystack = unicodedata.normalize("NFKC", f"{item.get('title') or ''}\n{item.get('description') or ''}").casefold()
    return all(term in haystack for term in terms)


@dataclass(frozen=True)
class _ListTest:
    """One filter of a staff list: in the Query (``expression``) or on the cases read (``check``)."""
    attribute: str
    expression: str
    names: dict[str, str]
    values: dict[str, Any]
    check: Any


def _product_of(item: dict[str, Any]) -> str | None:
    """The reports' product value of a case: its SKU, else its product name."""
    product = item.get("product") or {}
    return product.get("sku") if product.get("sku") is not None else product.get("name")


def _encode_cursor(state: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(state, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> dict[str, Any]:
    try:
        state = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        assert isinstance(state, dict) and state.get("index") in (BY_STATUS, BY_CHANNEL, BY_MONTH, BY_QUEUE)
        key = state.get("key")
        assert key is None or (isinstance(key, dict) and all(isinstance(v, dict) for v in key.values()))
        month = state.get("month")
        assert month is None or (isinstance(month, str) and len(month) == 7)
        return state
    except Exception:  # noqa: BLE001 - any malformed cursor is the caller's mistake
        raise InvalidCursor("cursor is not one this API returned") from None


def _previous_month(month: str) -> str:
    year, mon = int(month[:4]), int(month[5:7])
    return f"{year - 1}-12" if mon == 1 else f"{year}-{mon - 1:02d}"


def _months_before(count: int) -> str:
    month = datetime.now(timezone.utc).strftime("%Y-%m")
    for _ in range(count):
        month = _previous_month(month)
    return month


def expiry(hours: int) -> int:
    return int((datetime.now(timezone.utc) + timedelta(hours=hours)).timestamp())
