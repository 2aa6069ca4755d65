"""Email intake: each raw message that SES (or the local SMTP listener) stored in the inbound-mail
bucket becomes a new case, a customer message on its case, or is ignored or quarantined.

The outcome is recorded before the queue message is acknowledged, and recorded once: a redelivered
notification finds the record and changes nothing (a new case is also protected by the intake's
idempotency record, keyed by the message's S3 key).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from functions.intake.mail.cleaning import FORWARD_SUBJECT, REPLY_SUBJECT
from functions.intake.mail.parser import MailAttachment, ParsedMail, parse_mail
from functions.intake.mail.rules import MailDecision, decide
from functions.intake.service import IdempotencyConflict, Intake, idempotency_key_hash
from shared.clock import now as domain_now
from shared.attachments import AttachmentRejected, AttachmentStore, check_upload
from shared.config import Settings
from shared.events import CustomerReplied, EventPublisher
from shared.file_types import HEAD_BYTES, content_matches, looks_like, mismatch_problem
from shared.lifecycle import OPEN_STATES, Status, check_transition
from shared.mailbox import Mailbox
from shared.models import (MAX_ATTACHMENTS, Attachment, ComplaintSubmission, TimelineEntry, TimelineKind,
                           DESCRIPTION_MAX, TITLE_MAX)
from shared.observability import logger
from shared.repository import AttachmentUpload, ComplaintRepository, ConditionFailed, StaleVersion

SAVE_ATTEMPTS = 3


@dataclass(frozen=True)
class MailOutcome:
    outcome: str  # new | reply | ignore | quarantine
    reason: str
    complaint_id: str | None = None
    repeated: bool = False  # this delivery found the outcome already recorded


class InboundMail:
    """The inbound-mail bucket (raw MIME as SES stored it)."""

    def __init__(self, s3: Any):
        self._s3 = s3

    def read(self, bucket: str, key: str, max_bytes: int) -> tuple[bytes | None, int]:
        from shared.aws import error_code

        try:
            head = self._s3.head_object(Bucket=bucket, Key=key)
        except Exception as exc:
            if error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                return None, 0
            raise
        size = int(head["ContentLength"])
        if size > max_bytes:
            return None, size
        return self._s3.get_object(Bucket=bucket, Key=key)["Body"].read(), size


class StoreThreadLookup:
    """Thread look-ups against the store, for :func:`functions.intake.mail.rules.decide`."""

    def __init__(self, repository: ComplaintRepository, mailbox: Mailbox, *, ignoring: str | None = None):
        """``ignoring``: a case these look-ups do not see (the one a redelivered message opened itself)."""
        self._repo, self._mailbox, self._ignoring = repository, mailbox, ignoring

    def complaint_for_message_ids(self, message_ids: list[str]) -> str | None:
        found = self._mailbox.complaint_for_message_ids(message_ids)
        return None if found == self._ignoring else found

    def complaint_exists(self, complaint_id: str) -> bool:
        return complaint_id != self._ignoring and self._repo.get(complaint_id) is not None

    def open_complaint_of_sender(self, sender_address: str, subject: str) -> str | None:
        replying = bool(REPLY_SUBJECT.match(subject))
        bare = _bare_subject(subject)
        for complaint_id in self._repo.cases_of_customer("email", sender_address, limit=5):
            if complaint_id == self._ignoring:
                continue
            found = self._repo.get(complaint_id)
            if found and found[0].status in OPEN_STATES and (replying or _bare_subject(found[0].title or "") == bare):
                return complaint_id
        return None


def _bare_subject(subject: str) -> str:
    """The subject without its reply/forward prefixes ("Re: Fwd: 回复：…"), for comparing titles."""
    text = subject.strip()
    while True:
        match = REPLY_SUBJECT.match(text) or FORWARD_SUBJECT.match(text)
        if not match:
            return text.lower()
        text = text[match.end():].strip()


def _attachment_id(key: str, index: int) -> str:
    return "att_" + hashlib.sha256(f"{key}#{index}".encode()).hexdigest()[:24]


class EmailIntake:
    def __init__(self, repository: ComplaintRepository, mailbox: Mailbox, inbound: InboundMail, intake: Intake,
                 attachments: AttachmentStore, publisher: EventPublisher, settings: Settings):
        self._repo, self._mailbox, self._inbound, self._intake = repository, mailbox, inbound, intake
        self._attachments, self._publisher, self._settings = attachments, publisher, settings
        self._lookup = StoreThreadLookup(repository, mailbox)

    def process(self, bucket: str, key: str, received_at: datetime) -> MailOutcome:
        record = self._mailbox.message_record(key)
        if record and not record.get("redrive"):
            return self._repeat(key, record, received_at)
        redriven = bool(record)
        raw, size = self._inbound.read(bucket, key, self._settings.max_email_bytes)
        if raw is None:
            reason = "too_large" if size else "raw_message_missing"
            return self._quarantine(bucket, key, reason, None, size, received_at)
        mail = parse_mail(raw, own_addresses=[self._settings.sender_address])
        decision = decide(mail, self._lookup)
        # a redelivery of the mail that opened a case (the first delivery died before recording its
        # outcome, or is still running) finds "its" case by sender and subject: it is not a reply to it.
        # It decides as the first delivery did, without that case, so both record the same outcome.
        opened = self._case_opened_by(key) if decision.outcome == "reply" else None
        if opened:
            decision = decide(mail, StoreThreadLookup(self._repo, self._mailbox, ignoring=opened))
        log = logger()
        log.info("email decided", extra={"outcome": decision.outcome, "reason": decision.reason,
                                         "bytes": size, "attachments": len(mail.attachments)})
        if decision.outcome == "quarantine":
            return self._quarantine(bucket, key, decision.reason, mail, size, received_at)
        if decision.outcome == "ignore":
            self._mailbox.record(key, "ignore", decision.reason)
            return MailOutcome("ignore", decision.reason)
        if decision.outcome == "reply" and decision.complaint_id and not opened:
            return self._reply(key, mail, decision, received_at)
        return self._new(bucket, key, mail, decision, received_at, size, bypass_limit=redriven, opened=opened)

    # -- outcomes -------------------------------------------------------------------------------
    def _new(self, bucket: str, key: str, mail: ParsedMail, decision: MailDecision, received_at: datetime,
             size: int, *, bypass_limit: bool, opened: str | None = None) -> MailOutcome:
        """``opened``: the case an earlier delivery of this message opened, when :meth:`process` has
        already read it from the idempotency record."""
        sender = mail.sender_address or ""
        idempotency_key = "email:" + key
        if opened is None:
            opened = self._case_opened_by(key)
        if opened:  # an earlier delivery opened the case but did not get to record the outcome
            self._mailbox.record(key, "new", decision.reason, complaint_id=opened)
            return MailOutcome("new", decision.reason, opened, repeated=True)
        if not bypass_limit and not self._mailbox.allow_new_case(
                sender, per_hour=self._settings.max_cases_per_sender_per_hour, message=key):
            return self._quarantine(bucket, key, "sender_rate_limited", mail, size, received_at)
        stored, refused = self._store_attachments(key, mail.attachments, claimable=True)
        attachment_ids = [a.attachment_id for a in stored]
        from pydantic import ValidationError

        try:
            submission = ComplaintSubmission.model_validate({
                "title": mail.subject[:TITLE_MAX] or None,
                "description": (mail.text or mail.subject or _no_text(mail.language))[:DESCRIPTION_MAX],
                "customer": {"name": (mail.sender_name or sender.split("@")[0] or sender)[:100], "email": sender,
                             "preferred_language": mail.language},
                "channel": "email",
                "attachment_ids": attachment_ids,
            })
        except ValidationError as exc:
            fields = ",".join(sorted({".".join(map(str, e["loc"])) for e in exc.errors()}))
            return self._quarantine(bucket, key, f"invalid_fields: {fields}", mail, size, received_at)
        try:
            receipt = self._intake.submit(submission, idempotency_key=idempotency_key,
                                          notes={"refused_attachments": refused} if refused else None)
            complaint_id = receipt.complaint_id
        except IdempotencyConflict:  # an earlier delivery opened the case with a different parse
            complaint_id = self._repo.idempotency_record(idempotency_key_hash(idempotency_key))["complaint_id"]
        self._repo.link_raw_mail(complaint_id, bucket, key)  # an erasure deletes the raw email too
        self._mailbox.record(key, "new", decision.reason, complaint_id=complaint_id)
        return MailOutcome("new", decision.reason, complaint_id)

    def _case_opened_by(self, key: str) -> str | None:
        record = self._repo.idempotency_record(idempotency_key_hash("email:" + key))
        return record["complaint_id"] if record else None

    def _reply(self, key: str, mail: ParsedMail, decision: MailDecision, received_at: datetime) -> MailOutcome:
        from shared.privacy_store import raw_mail_link_op

        complaint_id = decision.complaint_id
        stored, refused = self._store_attachments(key, mail.attachments, claimable=False)
        for _ in range(SAVE_ATTEMPTS):
            found = self._repo.get(complaint_id)
            if found is None:  # the number in the subject was well formed but is not ours
                return self._new_instead(key, mail, received_at)
            case, _ = found
            now = domain_now()
            entries = [TimelineEntry(
                at=received_at, kind=TimelineKind.CUSTOMER_MESSAGE, actor="customer",
                text=(mail.text or mail.subject)[:DESCRIPTION_MAX],
                details={"channel": "email", "attachments": [a.attachment_id for a in stored],
                         **({"refused_attachments": refused} if refused else {})},
            )]
            changes: dict[str, Any] = {"version": case.version + 1, "updated_at": now,
                                       "attachments": [*case.attachments, *stored][: MAX_ATTACHMENTS * 5]}
            if case.status == Status.WAITING_ON_CUSTOMER:
                check_transition(case.status, Status.IN_PROGRESS)
                changes["status"] = Status.IN_PROGRESS
                entries.append(TimelineEntry(at=now, kind=TimelineKind.STATUS_CHANGED, status=Status.IN_PROGRESS,
                                             details={"from": case.status.value, "because": "customer_replied"}))
                resumed, clock_entries = self._resume_clocks(case, now)  # the SLA clocks run again
                changes.update(resumed)
                entries += clock_entries
            try:
                self._repo.save(case.model_copy(update=changes), entries, expected_version=case.version,
                                also=[self._mailbox.record_op(key, "reply", decision.reason, complaint_id=complaint_id,
                                                              event_pending=True),
                                      raw_mail_link_op(self._repo_table(), complaint_id,
                                                       self._settings.required("inbound_mail_bucket"), key)])
            except StaleVersion:
                continue
            except ConditionFailed:  # another delivery of the same message got there first
                return MailOutcome("reply", decision.reason, complaint_id, repeated=True)
            self._announce_reply(key, complaint_id, mail, received_at)
            return MailOutcome("reply", decision.reason, complaint_id)
        raise StaleVersion(complaint_id)  # busy case: let the queue redeliver

    def _repo_table(self) -> str:
        return self._settings.table_name

    def _resume_clocks(self, case: Any, now: datetime) -> tuple[dict, list]:
        if not case.clocks:
            return {}, []
        from shared.clock_changes import resume_clocks
        from shared.config_store import config_store

        return resume_clocks(case, now, config_store())

    def _new_instead(self, key: str, mail: ParsedMail, received_at: datetime) -> MailOutcome:
        decision = MailDecision("new", "unknown_complaint_number")
        return self._new(self._settings.required("inbound_mail_bucket"), key, mail, decision, received_at,
                         mail.size, bypass_limit=False)

    def _quarantine(self, bucket: str, key: str, reason: str, mail: ParsedMail | None, size: int,
                    received_at: datetime) -> MailOutcome:
        self._mailbox.quarantine(
            key, bucket=bucket, reason=reason, sender=mail.sender_address if mail else None,
            subject=mail.subject if mail else None, size=size, defects=list(mail.defects) if mail else [],
            received_at=_iso(received_at))
        logger().warning("email quarantined", extra={"reason": reason, "bytes": size})
        return MailOutcome("quarantine", reason)

    def _repeat(self, key: str, record: dict[str, Any], received_at: datetime) -> MailOutcome:
        if record.get("outcome") == "reply" and record.get("event_pending"):
            self._publisher.publish(CustomerReplied(
                event_id=f"{record['complaint_id']}:reply:{hashlib.sha256(key.encode()).hexdigest()[:16]}",
                complaint_id=record["complaint_id"], message_id=None, received_at=_iso(received_at)))
            self._mailbox.clear_event_pending(key)
        return MailOutcome(record["outcome"], record["reason"], record.get("complaint_id"), repeated=True)

    def _announce_reply(self, key: str, complaint_id: str, mail: ParsedMail, received_at: datetime) -> None:
        self._publisher.publish(CustomerReplied(
            event_id=f"{complaint_id}:reply:{hashlib.sha256(key.encode()).hexdigest()[:16]}",
            complaint_id=complaint_id, message_id=mail.message_id, received_at=_iso(received_at)))
        self._mailbox.clear_event_pending(key)

    # -- attachments ----------------------------------------------------------------------------
    def _store_attachments(self, key: str, parts: list[MailAttachment], *,
                           claimable: bool) -> tuple[list[Attachment], list[dict[str, Any]]]:
        """Store the allowed attachments (same allow-list, cap and content check as the web form) under
        ids derived from the message, so a redelivery stores the same objects again instead of new
        ones. Returns them, and the parts refused because their content is not their declared type
        (``{"part", "content_type", "problem"}``: never stored, marked on the case's timeline entry)."""
        from shared.aws import error_code

        cap = self._settings.attachment_max_bytes
        stored: list[Attachment] = []
        refused: list[dict[str, Any]] = []
        for index, part in enumerate(parts):
            if len(stored) >= MAX_ATTACHMENTS:
                break
            try:
                filename, content_type = check_upload(part.filename, part.content_type, len(part.data), cap)
            except AttachmentRejected:
                continue
            if not content_matches(content_type, part.data[:HEAD_BYTES]):
                refused.append({"part": index + 1, "content_type": content_type,
                                "problem": mismatch_problem(content_type, part.data[:HEAD_BYTES])})
                logger().warning("email attachment refused: content does not match its type",
                                 extra={"content_type": content_type, "looks_like": looks_like(part.data[:HEAD_BYTES])})
                continue
            attachment = Attachment(attachment_id=_attachment_id(key, index), filename=filename,
                                    content_type=content_type, size=len(part.data),
                                    key=f"attachments/{_attachment_id(key, index)}")
            self._attachments.put(attachment.key, part.data, content_type)
            if claimable:
                try:
                    self._repo.record_attachment_upload(AttachmentUpload(
                        attachment_id=attachment.attachment_id, filename=filename, content_type=content_type,
                        key=attachment.key, max_bytes=cap, expires_at=int(datetime.now(timezone.utc).timestamp()) + 86_400))
                except Exception as exc:
                    if error_code(exc) != "ConditionalCheckFailedException":
                        raise
            stored.append(attachment)
        return stored, refused


def _no_text(language: str) -> str:
    return "（邮件无正文，请见附件）" if language == "zh" else "(no text in the email; see the attachments)"


def _iso(at: datetime) -> str:
    return at.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
