"""The delivery log: one item per notification, in the case's own partition.

    PK = CASE#<complaint_id>    SK = NOTIFY#<event_id>#<channel>

(channel: ``email``, ``sms`` or ``none`` for customers; staff messages put the recipient in the
event part, ``NOTIFY#<event_id>#<staff_id>#email``; webhooks use ``webhook:<webhook_id>``), so a
case's notifications come with its timeline query (``ComplaintRepository.get`` reads the case and
``TL#`` items and ignores the rest). An item moves

    (absent | failed | deferred | sending with an expired lease) --claim--> sending --> sent | failed
    (absent | failed | deferred) --defer--> deferred   (a staff member's quiet hours: until they end)
    (absent) --> skipped   (nothing to send to)

A claim is one conditional update, so of two deliveries of the same event only one sends; a
delivery that finds ``sent`` or ``skipped`` sends nothing. A claim whose holder died (the function
timed out between claiming and recording) can be taken over once its lease has expired; the lease
is shorter than the queue's visibility timeout, so the redelivered message finds it expired.

Message-IDs of sent emails are recorded as ``PK=MSGID#<message-id>``, ``SK=MSGID`` ->
``complaint_id`` (read by the email intake to thread replies; see ``shared.mail_ids``). The case's
mail thread, ``PK=CASE#<complaint_id>``, ``SK=MAILTHREAD``, keeps our acknowledgement's Message-ID and
the customer's latest one, so later emails about the case answer in the same thread.
"""
from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable

from shared.aws import error_code
from shared.mail_ids import message_id_key
from shared.repository import iso

LEASE = timedelta(seconds=120)  # < the notifier queue's visibility timeout (180 s)
NOTIFY = "NOTIFY"

class DeliveryInProgress(Exception):
    """Another delivery of the same event holds a live claim: try again later."""

@dataclass(frozen=True)
class Claim:
    complaint_id: str
    event_id: str
    channel: str
    claim_id: str
    attempt: int

@dataclass(frozen=True)
class Record:
    """A notification that needs nothing more (``sent`` or ``skipped``)."""

    state: str
    sent_at: str | None = None
    message_ids: tuple[str, ...] = ()

class DeliveryLog:
    def __init__(self, dynamodb: Any, table: str, clock: Any = None):
        from shared.items import ItemCodec

        self._db, self._table = dynamodb, table
        codec = ItemCodec()
        self._dump, self._load = codec.dump, codec.load
        self._now = clock or (lambda: datetime.now(timezone.utc))

    @staticmethod
    def key(complaint_id: str, event_id: str, channel: str) -> dict[str, str]:
        return {"PK": f"CASE#{complaint_id}", "SK": f"{NOTIFY}#{event_id}#{channel}"}

    def claim(self, complaint_id: str, event_id: str, channel: str, *, purpose: str) -> Claim | Record:
        """Take the right to send this notification, or learn that it needs nothing more
        (a :class:`Record`); raises :class:`DeliveryInProgress` while another delivery holds it."""
        now = self._now()
        claim_id = secrets.token_hex(8)
        try:
            out = self._db.update_item(
                TableName=self._table, Key=self._dump(self.key(complaint_id, event_id, channel)),
                UpdateExpression=("SET #s = :sending, claim_id = :claim, claimed_at = :now, purpose = :purpose, "
                                  "complaint_id = :cid, event_id = :eid, channel = :channel "
                                  "ADD attempts :one"),
                ConditionExpression=("attribute_not_exists(PK) OR #s = :failed OR #s = :deferred "
                                     "OR (#s = :sending AND claimed_at < :lease_expired)"),
                ExpressionAttributeNames={"#s": "state"},
                ExpressionAttributeValues=self._dump({
                    ":sending": "sending", ":failed": "failed", ":deferred": "deferred", ":claim": claim_id,
                    ":now": iso(now),
                    ":lease_expired": iso(now - LEASE), ":purpose": purpose, ":cid": complaint_id,
                    ":eid": event_id, ":channel": channel, ":one": 1,
                }),
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except Exception as exc:
            # the SDK retried a claim whose first attempt was applied (its answer lost): the claim is ours
            old = self._load(getattr(exc, "response", {}).get("Item") or {})
            if error_code(exc) == "ConditionalCheckFailedException" and old.get("claim_id") == claim_id:
                return Claim(complaint_id, event_id, channel, claim_id, int(old.get("attempts") or 1))
            return self._settled(exc, complaint_id, event_id)
        return Claim(complaint_id, event_id, channel, claim_id, int(self._load(out["Attributes"])["attempts"]))

    def _settled(self, exc: Exception, complaint_id: str, event_id: str) -> Record:
        """A claim or deferral refused by its condition: the record of a notification already settled
        (sent or skipped); raises :class:`DeliveryInProgress` while another delivery is sending it."""
        if error_code(exc) != "ConditionalCheckFailedException":
            raise exc
        old = self._load(getattr(exc, "response", {}).get("Item") or {})
        if old.get("state") in ("sent", "skipped"):
            return Record(old["state"], old.get("sent_at"), tuple(old.get("message_ids") or ()))
        raise DeliveryInProgress(f"{complaint_id} {event_id}: another delivery is sending") from None

    def defer(self, complaint_id: str, event_id: str, channel: str, *, purpose: str, until: datetime) -> Record | None:
        """Record that this notification waits until ``until`` (quiet hours); None when recorded, the
        :class:`Record` when it needs nothing more (sent or skipped meanwhile). Raises
        :class:`DeliveryInProgress` while another delivery is sending it."""
        try:
            self._db.update_item(
                TableName=self._table, Key=self._dump(self.key(complaint_id, event_id, channel)),
                UpdateExpression=("SET #s = :deferred, deferred_until = :until, deferred_at = :now, purpose = :purpose, "
                                  "complaint_id = :cid, event_id = :eid, channel = :channel"),
                ConditionExpression="attribute_not_exists(PK) OR #s = :failed OR #s = :deferred",
                ExpressionAttributeNames={"#s": "state"},
                ExpressionAttributeValues=self._dump({
                    ":deferred": "deferred", ":failed": "failed", ":until": iso(until), ":now": iso(self._now()),
                    ":purpose": purpose, ":cid": complaint_id, ":eid": event_id, ":channel": channel}),
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except Exception as exc:
            return self._settled(exc, complaint_id, event_id)
        return None

    def skip(self, complaint_id: str, event_id: str, *, purpose: str, reason: str) -> bool:
        """Record that there is nobody to send to (e.g. no usable contact); False if already recorded."""
        try:
            self._db.put_item(
                TableName=self._table, ConditionExpression="attribute_not_exists(PK)",
                Item=self._dump({**self.key(complaint_id, event_id, "none"), "state": "skipped", "reason": reason,
                                 "purpose": purpose, "complaint_id": complaint_id, "event_id": event_id,
                                 "channel": "none", "skipped_at": iso(self._now())}),
            )
        except Exception as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def sent(self, claim: Claim, *, sent_at: datetime, message_ids: Iterable[str]) -> bool:
        """Close the claim as sent; False if the claim was lost meanwhile (its lease expired and
        another delivery took it over: that one records its own outcome)."""
        ids = list(message_ids)
        if not ids:  # a webhook post has none
            return self._close(claim, "SET #s = :sent, sent_at = :at REMOVE error_code",
                               {":sent": "sent", ":at": iso(sent_at)})
        return self._close(claim, "SET #s = :sent, sent_at = :at, message_ids = :ids REMOVE error_code",
                           {":sent": "sent", ":at": iso(sent_at), ":ids": ids})

    def failed(self, claim: Claim, *, error: str) -> bool:
        return self._close(claim, "SET #s = :failed, failed_at = :at, error_code = :error",
                           {":failed": "failed", ":at": iso(self._now()), ":error": error[:100]})

    def _close(self, claim: Claim, update: str, values: dict[str, Any]) -> bool:
        try:
            self._db.update_item(
                TableName=self._table, Key=self._dump(self.key(claim.complaint_id, claim.event_id, claim.channel)),
                UpdateExpression=update, ConditionExpression="claim_id = :claim",
                ExpressionAttributeNames={"#s": "state"},
                ExpressionAttributeValues=self._dump({**values, ":claim": claim.claim_id}),
            )
        except Exception as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def get(self, complaint_id: str, event_id: str, channel: str) -> dict[str, Any] | None:
        out = self._db.get_item(TableName=self._table, ConsistentRead=True,
                                Key=self._dump(self.key(complaint_id, event_id, channel)))
        return self._load(out["Item"]) if "Item" in out else None

    # -- the case's mail thread ---------------------------------------------------------------------
    @staticmethod
    def thread_key(complaint_id: str) -> dict[str, str]:
        return {"PK": f"CASE#{complaint_id}", "SK": "MAILTHREAD"}

    def record_acknowledgement_id(self, complaint_id: str, message_id: str) -> None:
        """Our acknowledgement's Message-ID: the thread's root. Written before each attempt to send
        it; the attempt that succeeds is the last one, so its id stays."""
        self._db.update_item(
            TableName=self._table, Key=self._dump(self.thread_key(complaint_id)),
            UpdateExpression="SET ack_message_id = :m",
            ExpressionAttributeValues=self._dump({":m": message_id}))

    def record_customer_message_id(self, complaint_id: str, message_id: str, *, received_at: str) -> None:
        """The customer's latest Message-ID (a later one replaces an earlier one, never the reverse,
        whatever order the events arrive in)."""
        try:
            self._db.update_item(
                TableName=self._table, Key=self._dump(self.thread_key(complaint_id)),
                UpdateExpression="SET customer_message_id = :m, customer_message_at = :at",
                ConditionExpression="attribute_not_exists(customer_message_at) OR customer_message_at <= :at",
                ExpressionAttributeValues=self._dump({":m": message_id, ":at": received_at}))
        except Exception as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise

    def thread(self, complaint_id: str) -> dict[str, Any]:
        """``ack_message_id`` and ``customer_message_id`` of the case's mail thread (either may be absent)."""
        out = self._db.get_item(TableName=self._table, ConsistentRead=True,
                                Key=self._dump(self.thread_key(complaint_id)))
        return self._load(out["Item"]) if "Item" in out else {}

    # -- Message-IDs -----------------------------------------------------------------------------
    def record_message_ids(self, complaint_id: str, message_ids: Iterable[str], *, purpose: str) -> None:
        """``MSGID#<id>`` -> complaint, for each id (a repeat overwrites with the same values)."""
        at = iso(self._now())
        requests = [{"PutRequest": {"Item": self._dump({**message_id_key(m), "complaint_id": complaint_id,
                                                         "purpose": purpose, "recorded_at": at})}}
                    for m in dict.fromkeys(message_ids)]
        for start in range(0, len(requests), 25):
            pending = {self._table: requests[start:start + 25]}
            for attempt in range(6):
                out = self._db.batch_write_item(RequestItems=pending)
                pending = out.get("UnprocessedItems") or {}
                if not pending:
                    break
                time.sleep(0.05 * 2 ** attempt)
            else:
                raise RuntimeError("Message-ID records were not all written (throttled)")
