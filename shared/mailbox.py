"""The email intake's records in the complaints table.

* one item per received message, keyed by a hash of its S3 key: what became of it (new case,
  reply, ignored, quarantined), so a redelivered notification changes nothing;
* quarantined messages listed newest first for staff (``GET /staff/quarantine``), with sender and
  subject encrypted like other contact data, and a re-drive request flag;
* a counter per sender and hour that caps how many cases one sender can open;
* the Message-IDs we sent (written by the notifier), to thread replies by In-Reply-To/References.
"""
from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime, timedelta, timezone
from typing import Any

from shared.aws import error_code
from shared.crypto import FieldCipher, LookupHasher

QUARANTINE = "QUARANTINE"


def mail_key_hash(key: str) -> str:
    return hashlib.sha256(("inbound-mail:" + key).encode()).hexdigest()


def quarantine_id(key: str) -> str:
    return "q_" + mail_key_hash(key)


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Mailbox:
    def __init__(self, dynamodb: Any, table: str, cipher: FieldCipher, hasher: LookupHasher):
        from shared.items import ItemCodec

        self._db, self._table, self._cipher, self._hasher = dynamodb, table, cipher, hasher
        codec = ItemCodec()
        self._dump, self._load = codec.dump, codec.load

    # -- what became of each message -----------------------------------------------------------
    def message_record(self, key: str) -> dict[str, Any] | None:
        out = self._db.get_item(TableName=self._table, ConsistentRead=True,
                                Key=self._dump({"PK": "MAIL#" + mail_key_hash(key), "SK": "MAIL"}))
        return self._load(out["Item"]) if "Item" in out else None

    def record_op(self, key: str, outcome: str, reason: str, *, complaint_id: str | None = None,
                  event_pending: bool = False, quarantine_sk: str | None = None) -> dict[str, Any]:
        """A transaction Put of the message's outcome; fails if it was recorded already, unless
        staff asked for a re-drive."""
        return {"Put": {
            "TableName": self._table,
            "Item": self._dump({
                "PK": "MAIL#" + mail_key_hash(key), "SK": "MAIL", "outcome": outcome, "reason": reason,
                "complaint_id": complaint_id, "event_pending": event_pending or None,
                "quarantine_sk": quarantine_sk, "recorded_at": _now_iso(),
            }),
            "ConditionExpression": "attribute_not_exists(PK) OR redrive = :yes",
            "ExpressionAttributeValues": {":yes": {"BOOL": True}},
        }}

    def record(self, key: str, outcome: str, reason: str, *, complaint_id: str | None = None) -> bool:
        """Record an outcome on its own; False if another delivery recorded it first."""
        try:
            self._db.transact_write_items(TransactItems=[self.record_op(key, outcome, reason, complaint_id=complaint_id)])
        except Exception as exc:
            if error_code(exc) == "TransactionCanceledException":
                return False
            raise
        return True

    def clear_event_pending(self, key: str) -> None:
        self._db.update_item(TableName=self._table, UpdateExpression="REMOVE event_pending",
                             Key=self._dump({"PK": "MAIL#" + mail_key_hash(key), "SK": "MAIL"}))

    # -- quarantine ----------------------------------------------------------------------------
    def quarantine(self, key: str, *, bucket: str, reason: str, sender: str | None, subject: str | None,
                   size: int, defects: list[str], received_at: str) -> str:
        qid = quarantine_id(key)
        secret = json.dumps({"sender": sender, "subject": subject}, ensure_ascii=False)
        item = {
            "PK": QUARANTINE, "SK": f"{received_at}#{qid}", "quarantine_id": qid, "state": "quarantined",
            "reason": reason, "bucket": bucket, "key": key, "size": size, "defects": defects[:20] or None,
            "received_at": received_at, "quarantined_at": _now_iso(),
            "sender_subject_enc": self._cipher.encrypt(secret, bound_to=qid),
        }
        ops = [self.record_op(key, "quarantine", reason, quarantine_sk=item["SK"]),
               {"Put": {"TableName": self._table, "Item": self._dump(item)}}]
        try:
            self._db.transact_write_items(TransactItems=ops)
        except Exception as exc:
            if error_code(exc) != "TransactionCanceledException":
                raise
        return qid

    def quarantined(self, *, limit: int = 25, cursor: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
        kwargs: dict[str, Any] = {
            "TableName": self._table, "KeyConditionExpression": "PK = :q", "ScanIndexForward": False,
            "ExpressionAttributeValues": {":q": {"S": QUARANTINE}}, "Limit": limit,
        }
        if cursor:
            kwargs["ExclusiveStartKey"] = {"PK": {"S": QUARANTINE}, "SK": {"S": _decode(cursor)}}
        out = self._db.query(**kwargs)
        items = [self._reveal(self._load(i)) for i in out.get("Items", [])]
        last = out.get("LastEvaluatedKey")
        return items, (_encode(last["SK"]["S"]) if last else None)

    def quarantined_message(self, qid: str) -> dict[str, Any] | None:
        """One quarantined message: its mail record points at its place in the list."""
        if not (qid.startswith("q_") and len(qid) == 66 and all(c in "0123456789abcdef" for c in qid[2:])):
            return None
        record = self._db.get_item(TableName=self._table, ConsistentRead=True,
                                   Key=self._dump({"PK": "MAIL#" + qid[2:], "SK": "MAIL"})).get("Item")
        sk = self._load(record).get("quarantine_sk") if record else None
        if not sk:
            return None
        out = self._db.get_item(TableName=self._table, ConsistentRead=True,
                                Key=self._dump({"PK": QUARANTINE, "SK": sk}))
        return self._reveal(self._load(out["Item"])) if "Item" in out else None

    def request_redrive(self, message: dict[str, Any], actor: str) -> None:
        """Mark the message as re-driven and let its next delivery be processed again."""
        self._db.transact_write_items(TransactItems=[
            {"Update": {"TableName": self._table,
                        "Key": self._dump({"PK": QUARANTINE, "SK": message["sk"]}),
                        "UpdateExpression": "SET #s = :r, redriven_at = :t, redriven_by = :a",
                        "ConditionExpression": "#s = :q",
                        "ExpressionAttributeNames": {"#s": "state"},
                        "ExpressionAttributeValues": self._dump({":r": "redriven", ":q": "quarantined",
                                                                 ":t": _now_iso(), ":a": actor})}},
            {"Update": {"TableName": self._table,
                        "Key": self._dump({"PK": "MAIL#" + mail_key_hash(message["key"]), "SK": "MAIL"}),
                        "UpdateExpression": "SET redrive = :yes",
                        "ExpressionAttributeValues": {":yes": {"BOOL": True}}}},
        ])

    def _reveal(self, item: dict[str, Any]) -> dict[str, Any]:
        secret = json.loads(self._cipher.decrypt(item.pop("sender_subject_enc"), bound_to=item["quarantine_id"]))
        item["sk"] = item.pop("SK")
        item.pop("PK", None)
        return {**item, **secret}

    # -- limits --------------------------------------------------------------------------------
    def allow_new_case(self, sender: str, *, per_hour: int, message: str, now: datetime | None = None) -> bool:
        """Count one more case for this sender this hour; False once the hour's cap is reached. A message
        is counted once however often (or concurrently) it is delivered: its key's hash joins the hour's
        ``counted`` set in the same conditional update."""
        now = now or datetime.now(timezone.utc)
        digest = self._hasher.hash("email", sender)
        counted = mail_key_hash(message)
        try:
            self._db.update_item(
                TableName=self._table,
                Key=self._dump({"PK": f"SENDER#{digest}", "SK": "HOUR#" + now.strftime("%Y-%m-%dT%H")}),
                UpdateExpression="ADD opened :one, counted :message SET expires_at = :ttl",
                ConditionExpression=("(attribute_not_exists(opened) OR opened < :cap) "
                                     "AND NOT contains(counted, :key)"),
                ExpressionAttributeValues={**self._dump({":one": 1, ":cap": per_hour, ":key": counted,
                                                         ":ttl": int((now + timedelta(hours=3)).timestamp())}),
                                           ":message": {"SS": [counted]}},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except Exception as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                old = getattr(exc, "response", {}).get("Item") or {}
                return counted in old.get("counted", {}).get("SS", [])  # counted already: still allowed
            raise
        return True

    # -- threading -----------------------------------------------------------------------------
    def complaint_for_message_ids(self, message_ids: list[str]) -> str | None:
        """The complaint one of our sent messages belongs to (newest reference wins)."""
        from shared.mail_ids import normalize_message_id

        ids = list(dict.fromkeys(filter(None, map(normalize_message_id, message_ids))))[-25:]
        if not ids:
            return None
        out = self._db.batch_get_item(RequestItems={self._table: {
            "Keys": [self._dump({"PK": "MSGID#" + m, "SK": "MSGID"}) for m in ids]}})
        found = {i["PK"][6:]: i["complaint_id"] for i in map(self._load, out.get("Responses", {}).get(self._table, []))}
        for message_id in reversed(ids):
            if message_id in found:
                return found[message_id]
        return None


def _encode(sk: str) -> str:
    return base64.urlsafe_b64encode(sk.encode()).decode().rstrip("=")


def _decode(cursor: str) -> str:
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except Exception:  # noqa: BLE001
        from shared.repository import InvalidCursor

        raise InvalidCursor("cursor is not one this API returned") from None
