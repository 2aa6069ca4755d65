"""Taking a complaint in: validate attachments (uploaded, within the cap, of their declared type by
name and by content), give it a number and a tracking token, store it
with its first timeline entry in one transaction, then announce it on the event bus.

If the announcement fails, the case stays marked as owing its event and the outbox
(:mod:`functions.intake.outbox`) delivers it later: no complaint is ever stuck after intake.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable

from shared.clock import now as domain_now
from shared.attachments import AttachmentStore
from shared.config import Settings
from shared.crypto import FieldCipher
from shared.events import ComplaintReceived, EventPublisher
from shared.file_types import HEAD_BYTES, content_matches, looks_like, mismatch_problem
from shared.identifiers import hash_tracking_token, new_complaint_number, new_tracking_token
from shared.models import (Attachment, Complaint, ComplaintSubmission, Customer, Product, TimelineEntry,
                           TimelineKind, detect_language)
from shared import metrics
from shared.observability import logger
from shared.repository import (AttachmentUnavailable, ComplaintRepository, IdempotencyClaim, IdempotencyKeyUsed,
                               NumberTaken, expiry, iso)

NUMBER_ATTEMPTS = 5


@dataclass(frozen=True)
class Receipt:
    complaint_id: str
    tracking_token: str
    received_at: str
    status: str = "received"
    replayed: bool = False

    def as_json(self) -> dict[str, str]:
        return {"complaint_id": self.complaint_id, "tracking_token": self.tracking_token,
                "status": self.status, "received_at": self.received_at}


class IdempotencyConflict(Exception):
    """The Idempotency-Key was used before with a different request."""


class AttachmentsInvalid(Exception):
    def __init__(self, problems: list[dict[str, str]]):
        super().__init__("attachments invalid")
        self.problems = problems


def request_fingerprint(submission: ComplaintSubmission) -> str:
    return hashlib.sha256(submission.model_dump_json(exclude_none=True).encode()).hexdigest()


def idempotency_key_hash(key: str) -> str:
    return hashlib.sha256(("complaints:submit:" + key).encode()).hexdigest()


class Intake:
    def __init__(self, repository: ComplaintRepository, publisher: EventPublisher, attachments: AttachmentStore,
                 cipher: FieldCipher, settings: Settings, clock: Callable[[], datetime] | None = None):
        self._repo, self._publisher, self._store = repository, publisher, attachments
        self._cipher, self._settings = cipher, settings
        self._now = clock or domain_now

    def submit(self, submission: ComplaintSubmission, *, idempotency_key: str | None = None,
               notes: dict[str, Any] | None = None) -> Receipt:
        """``notes``: more details for the case's ``received`` entry (staff see them), e.g. the email
        attachments refused because their content did not match their type."""
        attachments = self.checked_attachments(submission.attachment_ids)
        now = self._now()
        fingerprint = request_fingerprint(submission)
        key_hash = idempotency_key_hash(idempotency_key) if idempotency_key else None
        token = new_tracking_token()
        for _ in range(NUMBER_ATTEMPTS):
            complaint = self._new_complaint(submission, attachments, token, now)
            claim = None
            if key_hash:
                claim = IdempotencyClaim(
                    key_hash=key_hash, request_hash=fingerprint, complaint_id=complaint.complaint_id,
                    received_at=iso(now), expires_at=expiry(self._settings.idempotency_ttl_hours),
                    tracking_token_enc=self._cipher.encrypt(token, bound_to="idempotency:" + key_hash),
                )
            try:
                self._repo.create(
                    complaint,
                    [TimelineEntry(at=now, kind=TimelineKind.RECEIVED, status=complaint.status,
                                   details={"channel": complaint.channel.value, **(notes or {})})],
                    idempotency=claim, attachment_ids=[a.attachment_id for a in attachments],
                )
                break
            except NumberTaken:
                continue
            except IdempotencyKeyUsed as used:
                return self._replay(key_hash, fingerprint, used.record)
            except AttachmentUnavailable as exc:
                raise AttachmentsInvalid([{"field": "attachment_ids", "problem": f"{a} is unknown, expired or "
                                           "already used by another complaint"} for a in exc.attachment_ids]) from None
        else:
            raise RuntimeError("could not find a free complaint number")
        log = logger()
        log.append_keys(complaint_id=complaint.complaint_id)
        log.info("complaint received", extra={"channel": complaint.channel.value, "language": complaint.language,
                                              "attachments": len(attachments)})
        metrics.count(metrics.COMPLAINTS_RECEIVED, channel=complaint.channel.value)
        self.announce(ComplaintReceived.of(complaint))
        return Receipt(complaint.complaint_id, token, iso(now))

    def is_replay(self, idempotency_key: str, submission: ComplaintSubmission) -> bool:
        """Whether this key already stored this very submission (its retry then only replays the receipt)."""
        import time

        record = self._repo.idempotency_record(idempotency_key_hash(idempotency_key))
        return (record is not None and int(record.get("expires_at", 0)) >= time.time()
                and record.get("request_hash") == request_fingerprint(submission))

    def announce(self, event: ComplaintReceived) -> bool:
        """Publish ComplaintReceived and clear the pending mark; on failure leave it for the outbox."""
        try:
            self._publisher.publish(event)
        except Exception as exc:  # noqa: BLE001 - the outbox retries; the customer's case is safe
            logger().warning("event publish failed; the outbox will retry",
                             extra={"complaint_id": event.complaint_id, "error": type(exc).__name__})
            return False
        try:
            self._repo.mark_event_published(event.complaint_id)
        except Exception as exc:  # noqa: BLE001 - a repeat publish is harmless: consumers are idempotent
            logger().warning("could not clear the pending event mark",
                             extra={"complaint_id": event.complaint_id, "error": type(exc).__name__})
        return True

    def _replay(self, key_hash: str, fingerprint: str, record: dict | None) -> Receipt:
        record = record or self._repo.idempotency_record(key_hash)
        if record is None:  # expired and removed between our write and the read: treat as conflict
            raise IdempotencyConflict()
        if record.get("request_hash") != fingerprint:
            raise IdempotencyConflict()
        token = self._cipher.decrypt(record["tracking_token_enc"], bound_to="idempotency:" + key_hash)
        logger().info("idempotent replay", extra={"complaint_id": record["complaint_id"]})
        return Receipt(record["complaint_id"], token, record["received_at"], replayed=True)

    def checked_attachments(self, attachment_ids: list[str]) -> list[Attachment]:
        if not attachment_ids:
            return []
        uploads = self._repo.attachment_uploads(attachment_ids)
        problems, found = [], []
        for att_id in attachment_ids:
            upload = uploads.get(att_id)
            if upload is None:
                problems.append({"field": "attachment_ids", "problem": f"{att_id} is unknown, expired or already used"})
                continue
            stored = self._store.inspect(upload.key)
            if stored is None:
                problems.append({"field": "attachment_ids", "problem": f"{att_id} has not been uploaded yet"})
            elif stored.size > upload.max_bytes:
                problems.append({"field": "attachment_ids", "problem": f"{att_id} is larger than {upload.max_bytes} bytes"})
            elif stored.content_type != upload.content_type:
                problems.append({"field": "attachment_ids", "problem": f"{att_id} was uploaded with another type"})
            elif not content_matches(upload.content_type, head := self._store.head_bytes(upload.key, HEAD_BYTES)):
                logger().warning("attachment refused: content does not match its type",
                                 extra={"content_type": upload.content_type, "looks_like": looks_like(head)})
                problems.append({"field": "attachment_ids",
                                 "problem": f"{att_id}: {mismatch_problem(upload.content_type, head)}"})
            else:
                found.append(Attachment(attachment_id=att_id, filename=upload.filename,
                                        content_type=upload.content_type, size=stored.size, key=upload.key))
        if problems:
            raise AttachmentsInvalid(problems)
        return found

    def _new_complaint(self, s: ComplaintSubmission, attachments: list[Attachment], token: str,
                       now: datetime) -> Complaint:
        customer = Customer.model_validate(s.customer.model_dump())
        return Complaint(
            complaint_id=new_complaint_number(now),
            channel=s.channel,
            language=s.customer.preferred_language or detect_language(s.title, s.description),
            title=s.title or None,
            description=s.description,
            expected_resolution=s.expected_resolution or None,
            customer=customer,
            product=Product.model_validate(s.product.model_dump()) if s.product else None,
            attachments=attachments,
            occurred_at=s.occurred_at,
            received_at=now,
            updated_at=now,
            tracking_token_hashes=[hash_tracking_token(token)],
            region=s.region,
            # the sweep looks again if the router has not classified it by then (docs/routing-and-sla.md)
            next_check_at=now + timedelta(minutes=self._settings.unclassified_alert_minutes),
        )
