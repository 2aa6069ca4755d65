"""The privacy work's gateways: requests and erasures in the complaints table, export files in S3.

    PK = PRIVACY#<request_id>   SK = REQUEST           a data-subject request (work_queue = PRIVACY#<status>,
                                                       queue_key = <due_at>#<request_id>: the ByQueue index
                                                       lists the requests of a status, earliest deadline first)
    PK = PRIVACY#RETENTION      SK = CURSOR#<status>   where the retention job's pass through ByStatus stands
    PK = CASE#<complaint_id>    SK = RAWMAIL#<sha256>  a raw email of the case (bucket, key), for erasure

A case is read whole (``Query PK = CASE#<id>``: the case, its timeline, its notifications, its raw-mail
links) and erased in one ``TransactWriteItems`` when it fits (the usual case); a case with more than
100 items to change writes the idempotent part (redacted entries, index deletions) first, in batches,
and the case itself last, conditional on its version and on not being erased yet. See
docs/data-model.md (patterns 95-99) and docs/privacy.md.
"""
from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime, timedelta
from typing import Any, Iterable, Iterator

from shared import audit
from shared.aws import error_code
from shared.crypto import DecryptionError, FieldCipher, LookupHasher
from shared.index_reads import fetch
from shared.models import Complaint, Customer, TimelineEntry
from shared.privacy import ENDED, CaseRecord, ErasedCase, PrivacyRequest, StaleRequest

TRANSACTION_MAX = 100
OPEN_REQUESTS_MAX = 1000  # open requests the follow-up job reads per run
CUSTOMER_CHANNELS = ("email", "sms", "none")  # a customer's notifications (staff and webhooks name others)
EXPORT_PREFIX = "exports/privacy/"  # the reports bucket's lifecycle rule expires exports/ after 30 days


class InvalidRequestCursor(ValueError):
    pass


def raw_mail_sk(key: str) -> str:
    return "RAWMAIL#" + hashlib.sha256(key.encode()).hexdigest()[:32]


def raw_mail_link_op(table: str, complaint_id: str, bucket: str, key: str) -> dict[str, Any]:
    """A transaction ``Put`` linking a raw email (the inbound bucket's object) to its case, so that an
    erasure deletes it too (for the email intake to write with the case or the reply it opened)."""
    from shared.items import ItemCodec

    return {"Put": {"TableName": table, "Item": ItemCodec().dump({
        "PK": f"CASE#{complaint_id}", "SK": raw_mail_sk(key), "bucket": bucket, "key": key,
        "complaint_id": complaint_id})}}


class PrivacyStore:
    def __init__(self, dynamodb: Any, table: str, cipher: FieldCipher, hasher: LookupHasher):
        from shared.items import ItemCodec

        self._db, self._table, self._cipher, self._hasher = dynamodb, table, cipher, hasher
        codec = ItemCodec()
        self._dump, self._load = codec.dump, codec.load

    # -- the person and their cases -----------------------------------------------------------------
    def subject_hash(self, kind: str, value: str) -> str:
        return self._hasher.hash(kind, value)

    def case_numbers(self, digest: str, *, limit: int = 500) -> list[str]:
        """Every case of a look-up hash, newest first (``Query PK = CUSTOMER#<hash>``, every page)."""
        kwargs: dict[str, Any] = {"TableName": self._table, "KeyConditionExpression": "PK = :pk",
                                  "ExpressionAttributeValues": {":pk": {"S": f"CUSTOMER#{digest}"}},
                                  "ScanIndexForward": False, "ConsistentRead": True}
        found: list[str] = []
        while len(found) < limit:
            out = self._db.query(**kwargs)
            found += [self._load(i)["complaint_id"] for i in out.get("Items", [])]
            if "LastEvaluatedKey" not in out:
                break
            kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]
        return list(dict.fromkeys(found))[:limit]

    def read_case(self, complaint_id: str) -> CaseRecord | None:
        """The case's whole partition (consistent), its contact data decrypted."""
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"TableName": self._table, "KeyConditionExpression": "PK = :pk",
                                  "ExpressionAttributeValues": {":pk": {"S": f"CASE#{complaint_id}"}},
                                  "ConsistentRead": True}
        while True:
            out = self._db.query(**kwargs)
            items += [self._load(i) for i in out.get("Items", [])]
            if "LastEvaluatedKey" not in out:
                break
            kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]
        case = next((i for i in items if i["SK"] == "CASE"), None)
        if case is None:
            return None
        customer, unreadable = None, False
        if case.get("customer_enc"):
            try:
                customer = Customer.model_validate_json(self._cipher.decrypt(case["customer_enc"],
                                                                             bound_to=complaint_id))
            except DecryptionError:
                unreadable = True
        fields = {k: v for k, v in case.items() if k in Complaint.model_fields}
        complaint = Complaint.model_validate({**fields, "customer": customer})
        entries = [(i["SK"], TimelineEntry.model_validate({k: v for k, v in i.items() if k in TimelineEntry.model_fields}))
                   for i in items if i["SK"].startswith("TL#")]
        notifications = [i for i in items if i["SK"].startswith("NOTIFY#") and _for_customer(i)]
        raw_mail = [{"bucket": i["bucket"], "key": i["key"]} for i in items if i["SK"].startswith("RAWMAIL#")]
        return CaseRecord(complaint=complaint, entries=entries, notifications=notifications, raw_mail=raw_mail,
                          erased_at=case.get("erased_at"), unreadable=unreadable)

    # -- erasure --------------------------------------------------------------------------------------
    def erase(self, record: CaseRecord, erased: ErasedCase, *, at: datetime) -> bool:
        """Write the erased case: False when it changed (or was erased) since ``record`` was read."""
        from shared.repository import iso
        from shared.routing_store import batch_key, order_key, received_key

        before, after = record.complaint, erased.complaint
        sort_key = received_key(before)
        ops: list[dict[str, Any]] = []
        for sk, entry in erased.entries:
            ops.append({"Put": {"TableName": self._table, "Item": self._dump(
                {"PK": f"CASE#{before.complaint_id}", "SK": sk, **entry.model_dump(mode="json")})}})
        deletes = [{"PK": f"CUSTOMER#{h}", "SK": sort_key} for h in sorted(set(before.contact_hashes.values()))]
        if order_key(before.product):
            deletes.append({"PK": order_key(before.product), "SK": sort_key})
        deletes += [{"PK": "TRIAGE", "SK": sort_key}, {"PK": f"CASE#{before.complaint_id}", "SK": "MAILTHREAD"},
                    {"PK": f"CASE#{before.complaint_id}", "SK": "TOKENS"}]  # later tracking tokens (repository)
        deletes += [{"PK": f"ATTACHMENT#{a.attachment_id}", "SK": "ATTACHMENT"} for a in before.attachments]
        deletes += [{"PK": f"MSGID#{m}", "SK": "MSGID"} for n in record.notifications for m in n.get("message_ids") or []]
        deletes += [{"PK": f"CASE#{before.complaint_id}", "SK": raw_mail_sk(link["key"])} for link in record.raw_mail]
        unique = {(d["PK"], d["SK"]): d for d in deletes}
        ops += [{"Delete": {"TableName": self._table, "Key": self._dump(d)}} for d in unique.values()]
        case_update = self._case_update(before, after, at=iso(at))
        # the audit trail's record rides with the case (shared/audit.py): in a request, its one record
        # (if it has none yet); in a scheduled job, ``case.erased`` by the job
        record = audit.pending_case_record(before.complaint_id, before, after, ["erased"])
        last = [case_update] + ([audit.put_op(self._table, self._dump, record)] if record else [])
        keep = TRANSACTION_MAX - len(last)
        overflow, final = ops[:max(0, len(ops) - keep)], ops[max(0, len(ops) - keep):]
        self._write_idempotent(overflow)
        try:
            self._db.transact_write_items(TransactItems=[*final, *last])
        except Exception as exc:
            reasons = [r.get("Code") for r in getattr(exc, "response", {}).get("CancellationReasons") or []]
            if error_code(exc) == "TransactionCanceledException" and "ConditionalCheckFailed" in reasons:
                return False
            raise
        audit.written(record)
        batch = batch_key(before.product)
        if batch:
            self._forget_customer_on(batch, sort_key)
        self._redact_alert_samples(before, after)
        return True

    def _case_update(self, before: Complaint, after: Complaint, *, at: str) -> dict[str, Any]:
        data = after.model_dump(mode="json")
        sets, removes = {"erased_at": at, "version": before.version + 1, "attachments": [],
                         "tracking_token_hashes": [], "tasks": data["tasks"], "description": data["description"]}, \
            ["customer_enc", "contact_hashes", "preferred_language"]
        for name in ("title", "expected_resolution", "product", "plan", "feedback", "classification"):
            if data[name] is None:
                removes.append(name)
            else:
                sets[name] = data[name]
        names = {f"#s{i}": k for i, k in enumerate(sets)} | {f"#r{i}": k for i, k in enumerate(removes)}
        # empty lists stay lists: no tracking token opens the case any more, no file is left
        values = self._dump({f":s{i}": v for i, v in enumerate(sets.values())} | {":expected": before.version})
        expression = ("SET " + ", ".join(f"#s{i} = :s{i}" for i in range(len(sets)))
                      + " REMOVE " + ", ".join(f"#r{i}" for i in range(len(removes))))
        return {"Update": {
            "TableName": self._table, "Key": self._dump({"PK": f"CASE#{before.complaint_id}", "SK": "CASE"}),
            "UpdateExpression": expression, "ExpressionAttributeNames": {**names, "#v": "version", "#e": "erased_at"},
            "ExpressionAttributeValues": values,
            "ConditionExpression": "#v = :expected AND attribute_not_exists(#e)"}}

    def _write_idempotent(self, ops: list[dict[str, Any]]) -> None:
        """Puts and deletes that may be written again (a case too large for one transaction)."""
        requests = [{"PutRequest": {"Item": op["Put"]["Item"]}} if "Put" in op else
                    {"DeleteRequest": {"Key": op["Delete"]["Key"]}} for op in ops]
        for start in range(0, len(requests), 25):
            pending = {self._table: requests[start:start + 25]}
            while pending:
                out = self._db.batch_write_item(RequestItems=pending)
                pending = out.get("UnprocessedItems") or {}

    def _forget_customer_on(self, batch: str, sort_key: str) -> None:
        """The batch index keeps the case (clusters count cases) but not its customer's look-up hashes."""
        try:
            self._db.update_item(TableName=self._table, Key=self._dump({"PK": batch, "SK": sort_key}),
                                 UpdateExpression="REMOVE customer", ConditionExpression="attribute_exists(PK)")
        except Exception as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise

    def _redact_alert_samples(self, before: Complaint, after: Complaint) -> None:
        """Root-cause alerts quote up to three cases' texts: the case's quotes are replaced by its
        redacted text (alerts of its month and the month before: an episode cites recent cases)."""
        from shared.alert_store import ALERT_PREFIX, sample_text

        month = before.received_at.strftime("%Y-%m")
        year, mon = int(month[:4]), int(month[5:7])
        previous = f"{year - (mon == 1):04d}-{(mon - 2) % 12 + 1:02d}"
        replacement = sample_text(after.title, after.description)
        for m in (previous, month):
            kwargs: dict[str, Any] = {"TableName": self._table, "KeyConditionExpression": "PK = :pk",
                                      "ExpressionAttributeValues": {":pk": {"S": ALERT_PREFIX + m}},
                                      "ProjectionExpression": "PK, SK, #ev", "ExpressionAttributeNames": {"#ev": "evidence"}}
            while True:
                out = self._db.query(**kwargs)
                for raw in out.get("Items", []):
                    item = self._load(raw)
                    samples = (item.get("evidence") or {}).get("samples") or []
                    if not any(s.get("complaint_id") == before.complaint_id for s in samples):
                        continue
                    kept = [{**s, "text": replacement} if s.get("complaint_id") == before.complaint_id else s
                            for s in samples]
                    self._db.update_item(TableName=self._table, Key=self._dump({"PK": item["PK"], "SK": item["SK"]}),
                                         UpdateExpression="SET #ev.samples = :s", ConditionExpression="attribute_exists(PK)",
                                         ExpressionAttributeNames={"#ev": "evidence"},
                                         ExpressionAttributeValues=self._dump({":s": kept}))
                if "LastEvaluatedKey" not in out:
                    break
                kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]

    # -- requests -------------------------------------------------------------------------------------
    def _request_item(self, request: PrivacyRequest) -> dict[str, Any]:
        from shared.repository import iso

        return {"PK": f"PRIVACY#{request.request_id}", "SK": "REQUEST", **request.model_dump(mode="json"),
                "work_queue": f"PRIVACY#{request.status}", "queue_key": f"{iso(request.due_at)}#{request.request_id}"}

    def put_request(self, request: PrivacyRequest) -> None:
        self._db.put_item(TableName=self._table, Item=self._dump(self._request_item(request)),
                          ConditionExpression="attribute_not_exists(PK)")

    def save_request(self, request: PrivacyRequest, *, expected_version: int) -> None:
        item = self._request_item(request.model_copy(update={"version": expected_version + 1}))
        try:
            self._db.put_item(TableName=self._table, Item=self._dump(item), ConditionExpression="version = :v",
                              ExpressionAttributeValues={":v": {"N": str(expected_version)}})
        except Exception as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise StaleRequest(request.request_id) from None
            raise

    def get_request(self, request_id: str) -> PrivacyRequest | None:
        out = self._db.get_item(TableName=self._table, ConsistentRead=True,
                                Key=self._dump({"PK": f"PRIVACY#{request_id}", "SK": "REQUEST"}))
        return _request(self._load(out["Item"])) if "Item" in out else None

    def list_requests(self, statuses: Iterable[str], *, limit: int = 25,
                      cursor: str | None = None) -> tuple[list[PrivacyRequest], str | None]:
        """The requests of some statuses, earliest deadline first (``Query ByQueue work_queue =
        PRIVACY#<status>`` per status, merged; the cursor keeps each status's place)."""
        statuses = list(statuses)
        state = _decode(cursor, statuses) if cursor else {s: None for s in statuses}
        pages: dict[str, tuple[list[dict[str, Any]], Any]] = {}
        for status in statuses:
            if state.get(status) == "done":
                continue
            kwargs: dict[str, Any] = {"TableName": self._table, "IndexName": "ByQueue",
                                      "KeyConditionExpression": "work_queue = :q",
                                      "ExpressionAttributeValues": {":q": {"S": f"PRIVACY#{status}"}}, "Limit": limit}
            if state.get(status):
                kwargs["ExclusiveStartKey"] = state[status]
            out = self._db.query(**kwargs)
            # the index holds the requests' keys: the requests by key, in the index's order and place
            requests = fetch(self._db, self._table, out.get("Items", []), keep=("work_queue", "queue_key"))
            pages[status] = ([self._load(i) for i in requests], out.get("LastEvaluatedKey"))
        merged = sorted((i for items, _ in pages.values() for i in items), key=lambda i: i["queue_key"])[:limit]
        taken = {i["request_id"] for i in merged}
        next_state: dict[str, Any] = {}
        for status in statuses:
            if status not in pages:
                next_state[status] = "done"
                continue
            items, last = pages[status]
            kept = [i for i in items if i["request_id"] in taken]
            if len(kept) < len(items):  # the page was cut: continue after the last item shown
                next_state[status] = (self._dump({k: kept[-1][k] for k in ("PK", "SK", "work_queue", "queue_key")})
                                      if kept else state.get(status))
            else:
                next_state[status] = last or "done"
        more = any(v != "done" for v in next_state.values())
        return [_request(i) for i in merged], (_encode(next_state) if more else None)

    def open_requests(self) -> Iterator[PrivacyRequest]:
        """Every request still received or pending (at most :data:`OPEN_REQUESTS_MAX`), by deadline."""
        seen = 0
        for status in ("received", "pending"):
            kwargs: dict[str, Any] = {"TableName": self._table, "IndexName": "ByQueue",
                                      "KeyConditionExpression": "work_queue = :q",
                                      "ExpressionAttributeValues": {":q": {"S": f"PRIVACY#{status}"}}}
            while seen < OPEN_REQUESTS_MAX:
                out = self._db.query(**kwargs)
                for raw in fetch(self._db, self._table, out.get("Items", [])):  # the index holds keys
                    seen += 1
                    yield _request(self._load(raw))
                if "LastEvaluatedKey" not in out:
                    break
                kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]

    # -- retention --------------------------------------------------------------------------------------
    def retention_candidates(self, *, before: datetime, budget: int, cases: int) -> tuple[list[str], int]:
        """Ended cases received before ``before``, not erased, ended before it (``Query ByStatus`` per
        ended status, oldest first, from where the last run stopped; at most ``budget`` index items and
        ``cases`` cases in all). A pass that reaches ``before`` starts again from the oldest next time: a
        case closed long after it was received is found on the next pass. Returns the numbers and the
        index items read."""
        from shared.repository import iso

        found, evaluated = [], 0
        order = sorted(ENDED, key=lambda s: s == "closed")  # the small partitions first: closed gets what is left
        for n, status in enumerate(order):
            share = max(1, (budget - evaluated) // (len(order) - n))
            cursor_key = self._dump({"PK": "PRIVACY#RETENTION", "SK": f"CURSOR#{status.value}"})
            held = self._db.get_item(TableName=self._table, Key=cursor_key, ConsistentRead=True).get("Item")
            start = json.loads(self._load(held)["key"]) if held and held.get("key") else None
            kwargs: dict[str, Any] = {
                "TableName": self._table, "IndexName": "ByStatus",
                "KeyConditionExpression": "#s = :s AND received_key <= :before",
                "FilterExpression": "attribute_not_exists(erased_at) AND "
                                    "(attribute_not_exists(closed_at) OR closed_at <= :before)",
                "ExpressionAttributeNames": {"#s": "status"},
                "ExpressionAttributeValues": {":s": {"S": status.value}, ":before": {"S": iso(before)}},
                "ProjectionExpression": "PK, SK, #s, received_key, complaint_id"}
            spent, last, queried = 0, None, False
            if start:
                kwargs["ExclusiveStartKey"] = start
            while spent < share and len(found) < cases:
                queried = True
                kwargs["Limit"] = min(share - spent, 500)
                out = self._db.query(**kwargs)
                spent += int(out.get("ScannedCount", 0))
                items = out.get("Items", [])
                last = out.get("LastEvaluatedKey")
                if len(found) + len(items) > cases:  # enough for this run: continue after the last one taken
                    items = items[:cases - len(found)]
                    last = {k: items[-1][k] for k in ("PK", "SK", "status", "received_key")}
                found += [i["complaint_id"]["S"] for i in items]
                if not last:
                    break
                kwargs["ExclusiveStartKey"] = last
            evaluated += spent
            if not queried:  # this run had its cases before reaching this status: its place stays
                continue
            if last:
                self._db.put_item(TableName=self._table, Item={**cursor_key, "key": {"S": json.dumps(last)}})
            else:
                self._db.delete_item(TableName=self._table, Key=cursor_key)
        return list(dict.fromkeys(found)), evaluated


def _for_customer(item: dict[str, Any]) -> bool:
    """A customer's notification (``NOTIFY#<event_id>#email|sms|none``), not a staff member's or a webhook's."""
    parts = item["SK"].split("#")
    return len(parts) == 3 and parts[2] in CUSTOMER_CHANNELS


def _request(item: dict[str, Any]) -> PrivacyRequest:
    return PrivacyRequest.model_validate({k: v for k, v in item.items() if k in PrivacyRequest.model_fields})


def _encode(state: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(state, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode(cursor: str, statuses: list[str]) -> dict[str, Any]:
    try:
        state = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, TypeError):  # binascii.Error and JSONDecodeError are ValueErrors
        state = None
    if not (isinstance(state, dict) and set(state) == set(statuses) and all(map(_place, state.values()))):
        raise InvalidRequestCursor("cursor is not one this API returned for these statuses")
    return state


def _place(value: Any) -> bool:
    """A status's place in a listing: not started (None), done, or the ByQueue key to continue after."""
    return value is None or value == "done" or (
        isinstance(value, dict) and set(value) == {"PK", "SK", "work_queue", "queue_key"}
        and all(isinstance(v, dict) and set(v) == {"S"} and isinstance(v["S"], str) for v in value.values()))


class PrivacyFiles:
    """The export files (reports bucket, under ``exports/privacy/``), attachment links and deletions."""

    def __init__(self, s3: Any, *, reports_bucket: str | None, attachments_bucket: str):
        self._s3, self._reports, self._attachments = s3, reports_bucket, attachments_bucket

    def _reports_bucket(self) -> str:
        if not self._reports:
            from shared.config import ConfigurationError

            raise ConfigurationError("REPORTS_BUCKET is not set for this function")
        return self._reports

    def write_export(self, request_id: str, document: bytes, page: bytes) -> dict[str, str]:
        keys = {"json": f"{EXPORT_PREFIX}{request_id}/personal-data.json",
                "html": f"{EXPORT_PREFIX}{request_id}/personal-data.html"}
        for name, data, content_type in (("json", document, "application/json; charset=utf-8"),
                                         ("html", page, "text/html; charset=utf-8")):
            self._s3.put_object(Bucket=self._reports_bucket(), Key=keys[name], Body=data, ContentType=content_type,
                                ContentDisposition=f'attachment; filename="{keys[name].rsplit("/", 1)[1]}"')
        return keys

    def export_link(self, key: str, expires: timedelta) -> str:
        return self._s3.generate_presigned_url("get_object", ExpiresIn=int(expires.total_seconds()), Params={
            "Bucket": self._reports_bucket(), "Key": key,
            "ResponseContentDisposition": f'attachment; filename="{key.rsplit("/", 1)[1]}"'})

    def attachment_link(self, key: str, filename: str, expires: timedelta) -> str:
        from urllib.parse import quote

        return self._s3.generate_presigned_url("get_object", ExpiresIn=int(expires.total_seconds()), Params={
            "Bucket": self._attachments, "Key": key,
            "ResponseContentDisposition": f"attachment; filename*=UTF-8''{quote(filename, safe='')}"})

    def delete_attachments(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):
            out = self._s3.delete_objects(Bucket=self._attachments, Delete={
                "Objects": [{"Key": k} for k in keys[start:start + 1000]], "Quiet": True})
            if out.get("Errors"):
                raise RuntimeError(f"{len(out['Errors'])} attachments could not be deleted")

    def delete_raw_mail(self, links: list[dict[str, str]]) -> None:
        for link in links:
            self._s3.delete_object(Bucket=link["bucket"], Key=link["key"])


# -- wiring (one per container) ---------------------------------------------------------------------------
def privacy_store() -> PrivacyStore:
    from shared.aws import client
    from shared.config import settings
    from shared.store import field_cipher, lookup_hasher

    return PrivacyStore(client("dynamodb"), settings().table_name, field_cipher(), lookup_hasher())


def privacy_files() -> PrivacyFiles:
    from shared.aws import client
    from shared.config import settings

    s = settings()
    return PrivacyFiles(client("s3"), reports_bucket=s.reports_bucket, attachments_bucket=s.attachments_bucket)


def privacy_desk() -> Any:
    from shared.clock import now
    from shared.config import settings
    from shared.config_store import config_store
    from shared.privacy import PrivacyDesk

    configs = config_store()
    from shared.audit import note

    return PrivacyDesk(privacy_store(), privacy_files(), config=lambda: configs.current("privacy").config,
                       business=lambda: list(configs.current("sla").config.business_jurisdictions),
                       clock=now, default_language=settings().default_language, observe=note)
