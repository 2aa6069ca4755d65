"""What to do with a parsed mail: a new case, a reply on a case, ignore it, or quarantine it.

Order (first match wins):
1. ``quarantine_reason`` set by the parser (virus/spam verdict, unusable message, parse error);
2. ``auto_reason`` set by the parser (loop, bounce, auto-reply, bulk, mailing list) -> ignore;
3. a reply: a complaint number in the subject (``[CK7M4QX9TR]``, check character valid) that
   exists; else one of our Message-IDs in ``In-Reply-To``, then in ``References``; else the
   sender's open case whose title the subject answers (the store decides, see ThreadLookup);
4. a new case, when there is anything to work with (text, attachments or a subject);
   else quarantine ``empty_message``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, Protocol

from shared.identifiers import InvalidComplaintNumber, normalize_complaint_number
from shared.mail_ids import complaint_of_message_id, our_message_id  # the format lives with the notifier's

from .cleaning import has_reply_prefix, strip_subject_prefixes
from .parser import ParsedMail

Outcome = Literal["new", "reply", "ignore", "quarantine"]
OUTCOMES: tuple[Outcome, ...] = ("new", "reply", "ignore", "quarantine")

__all__ = ["Outcome", "OUTCOMES", "MailDecision", "ThreadLookup", "OfflineThreadLookup", "decide",
           "subject_numbers", "our_message_id", "complaint_of_message_id", "has_reply_prefix",
           "strip_subject_prefixes"]

# "[CK7M4QX9TR]", "[ck7m-4qx9tr]", "[#CK7M4QX9TR]", "(CK7M4QX9TR)", "【CK7M4QX9TR】"; bare "CK7M4QX9TR" too
_BRACKETED = re.compile(r"[\[(【［]\s*(?:#|no\.?|编号[:：]?)?\s*(C[0-9A-Za-z][0-9A-Za-z \-]{7,14}?)\s*[\])】］]", re.I)
_BARE = re.compile(r"(?<![0-9A-Za-z])(C[2-9A-HJ-NP-Z]{9})(?![0-9A-Za-z])")


@dataclass(frozen=True)
class MailDecision:
    outcome: Outcome
    reason: str  # e.g. new_complaint, subject_number, in_reply_to, references, same_sender_open_case,
    #              loop, bounce, auto_submitted, auto_reply, bulk, mailing_list, spam_verdict,
    #              virus_verdict, no_sender, empty_message, parse_error: KeyError
    complaint_id: str | None = None


class ThreadLookup(Protocol):
    def complaint_for_message_ids(self, message_ids: list[str]) -> str | None:
        """The complaint one of our sent Message-IDs belongs to."""

    def complaint_exists(self, complaint_id: str) -> bool: ...

    def open_complaint_of_sender(self, sender_address: str, subject: str) -> str | None:
        """The sender's open case that this subject answers (reply prefix, or equal to its title)."""


class OfflineThreadLookup:
    """No store (``complaints mail parse``): our Message-ID format and the check character decide."""

    def complaint_for_message_ids(self, message_ids: list[str]) -> str | None:
        for mid in message_ids:
            number = complaint_of_message_id(mid)
            if number:
                return number
        return None

    def complaint_exists(self, complaint_id: str) -> bool:
        try:
            normalize_complaint_number(complaint_id)
        except InvalidComplaintNumber:
            return False
        return True

    def open_complaint_of_sender(self, sender_address: str, subject: str) -> str | None:
        return None


def subject_numbers(subject: str) -> list[str]:
    """Well-formed complaint numbers in a subject, bracketed ones first, each once."""
    found: list[str] = []
    for candidate in [m.group(1) for m in _BRACKETED.finditer(subject)] + _BARE.findall(subject):
        try:
            number = normalize_complaint_number(candidate)
        except InvalidComplaintNumber:
            continue
        if number not in found:
            found.append(number)
    return found


def decide(mail: ParsedMail, lookup: ThreadLookup) -> MailDecision:
    if mail.quarantine_reason:
        return MailDecision("quarantine", mail.quarantine_reason)
    if mail.auto_reason:
        return MailDecision("ignore", mail.auto_reason)
    for number in subject_numbers(mail.subject):
        if lookup.complaint_exists(number):
            return MailDecision("reply", "subject_number", number)
    for reason, ids in (("in_reply_to", mail.in_reply_to), ("references", mail.references)):
        if ids:
            number = lookup.complaint_for_message_ids(list(ids))
            if number:
                return MailDecision("reply", reason, number)
    if not mail.sender_address:
        return MailDecision("quarantine", "no_sender")
    number = lookup.open_complaint_of_sender(mail.sender_address, mail.subject)
    if number:
        return MailDecision("reply", "same_sender_open_case", number)
    if mail.text.strip() or mail.attachments or mail.subject.strip():
        return MailDecision("new", "new_complaint")
    return MailDecision("quarantine", "empty_message")
