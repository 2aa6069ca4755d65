"""decide(): the order of the rules, complaint numbers in subjects, and the thread look-ups."""
from __future__ import annotations

from dataclasses import replace

import pytest

from functions.intake.mail import MailDecision, OfflineThreadLookup, decide, our_message_id, parse_mail
from functions.intake.mail.rules import complaint_of_message_id, subject_numbers
from tests.unit.mail.builders import MISTYPED, NUMBER, text_mail

OTHER = "C333GFMFF7"


class FakeStore:
    """A store that knows some cases, some of our sent Message-IDs and one open case per sender."""

    def __init__(self, cases=(NUMBER,), sent=None, open_case=None):
        self.cases, self.sent, self.open_case = set(cases), dict(sent or {}), open_case
        self.asked: list[list[str]] = []

    def complaint_for_message_ids(self, message_ids):
        self.asked.append(list(message_ids))
        return next((self.sent[m] for m in message_ids if m in self.sent), None)

    def complaint_exists(self, complaint_id):
        return complaint_id in self.cases

    def open_complaint_of_sender(self, sender_address, subject):
        return self.open_case


BASE = parse_mail(text_mail("The kettle leaks."))


def test_a_plain_mail_is_a_new_case():
    assert decide(BASE, FakeStore()) == MailDecision("new", "new_complaint")


def test_order_quarantine_then_ignore_then_reply():
    mail = replace(BASE, subject=f"Re: [{NUMBER}]", quarantine_reason="spam_verdict", auto_reason="auto_reply")
    assert decide(mail, FakeStore()) == MailDecision("quarantine", "spam_verdict")
    assert decide(replace(mail, quarantine_reason=None), FakeStore()) == MailDecision("ignore", "auto_reply")
    assert decide(replace(mail, quarantine_reason=None, auto_reason=None), FakeStore()) == \
        MailDecision("reply", "subject_number", NUMBER)


def test_subject_number_must_exist_in_the_store():
    ours = our_message_id(OTHER, "ack", "example.com")
    mail = replace(BASE, subject=f"Re: [{NUMBER}] kettle", in_reply_to=[ours])
    store = FakeStore(cases=(), sent={ours: OTHER})
    assert decide(mail, store) == MailDecision("reply", "in_reply_to", OTHER)


def test_in_reply_to_before_references_before_same_sender():
    ours1, ours2 = our_message_id(NUMBER, "ack", "example.com"), our_message_id(OTHER, "update", "example.com")
    store = FakeStore(sent={ours1: NUMBER, ours2: OTHER}, open_case="C444")
    mail = replace(BASE, in_reply_to=[ours1], references=[ours2])
    assert decide(mail, store) == MailDecision("reply", "in_reply_to", NUMBER)
    assert decide(replace(mail, in_reply_to=["<x@y>"]), store) == MailDecision("reply", "references", OTHER)
    assert store.asked[-1] == [ours2]
    assert decide(replace(mail, in_reply_to=[], references=[]), store) == \
        MailDecision("reply", "same_sender_open_case", "C444")


def test_nothing_to_work_with_is_quarantined():
    empty = replace(BASE, subject="", text="", attachments=[])
    assert decide(empty, FakeStore()) == MailDecision("quarantine", "empty_message")
    assert decide(replace(empty, subject="Kettle"), FakeStore()) == MailDecision("new", "new_complaint")
    assert decide(replace(BASE, sender_address=None), FakeStore()) == MailDecision("quarantine", "no_sender")


@pytest.mark.parametrize("subject, expected", [
    (f"Re: [{NUMBER}] Broken kettle", [NUMBER]),
    (f"回复：【{NUMBER}】电水壶", [NUMBER]),
    (f"Re: [{NUMBER.lower()[:4]}-{NUMBER.lower()[4:]}]", [NUMBER]),
    (f"Re: [#{NUMBER}]", [NUMBER]),
    (f"About case {NUMBER}, again", [NUMBER]),
    (f"Re: [{MISTYPED}] Broken kettle", []),
    (f"[{NUMBER}] and [{OTHER}]", [NUMBER, OTHER]),
    ("CONFIRMED", []),
    ("", []),
])
def test_subject_numbers(subject, expected):
    assert subject_numbers(subject) == expected


def test_offline_lookup():
    offline = OfflineThreadLookup()
    ours = our_message_id(NUMBER, "ack", "example.com")
    assert complaint_of_message_id(ours) == NUMBER
    assert offline.complaint_for_message_ids(["<abc@gmail.com>", ours]) == NUMBER
    assert offline.complaint_for_message_ids(["<abc@gmail.com>"]) is None
    assert offline.complaint_exists(NUMBER) and not offline.complaint_exists(MISTYPED)
    assert offline.open_complaint_of_sender("a@b.com", "Re: x") is None
    forged = ours.replace(NUMBER, MISTYPED)
    assert offline.complaint_for_message_ids([forged]) is None
