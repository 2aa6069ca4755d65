"""Hostile mail (issue 10): a hypothesis fuzzer over the MIME parser and the intake's decision.

Structured hostile messages and mutated real mails (``infra.fuzz_bench`` holds the strategies and the
oracle; ``python -m infra.fuzz_bench --inputs 100000`` is the long run). Every input must end as exactly
one of new case, thread, ignore or quarantine with a reason, and never through the parser's
``parse_error`` fallback (which hides an exception). Derandomized and without an example database, so
CI sees the same few thousand inputs each run. Each ``@example`` is a bug the fuzzer found, fixed.
"""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings

from infra.fuzz_bench import FuzzFailure, Known, ParseOracle, hostile_mail, load_seeds

KNOWN = Known()
ORACLE = ParseOracle(KNOWN)


@settings(max_examples=3000, derandomize=True, database=None, deadline=None,
          suppress_health_check=list(HealthCheck))
@given(hostile_mail(KNOWN, load_seeds()))
# found by the fuzzer: 8-bit bytes in Message-ID / In-Reply-To / References came out as lone surrogates,
# which the store, the events and a reply's headers cannot carry
@example(b"From: a@example.com\r\nMessage-ID: <1234@local.machine.ex\xf6\xcbample>\r\n\r\nhello")
@example(b"From: a@example.com\rReferences: \xdd\xf1\xdb\xef=$\rIn-Reply-To: <\xe4\xbd\xa0@x.cn>\r\rhello")
def test_every_hostile_mail_ends_as_exactly_one_outcome(raw):
    ORACLE.check(raw)


def test_the_oracle_fails_on_a_hidden_parser_exception(monkeypatch):
    from functions.intake.mail import parser

    def broken(self):
        raise KeyError("boundary")

    monkeypatch.setattr(parser._Reader, "read", broken)
    with pytest.raises(FuzzFailure, match="parse_error: KeyError"):
        ORACLE.check(b"From: a@example.com\r\nSubject: x\r\n\r\nhello")


@pytest.mark.parametrize("raw, outcome", [
    (b"From: amy@example.com\r\nSubject: [" + KNOWN.numbers[0].encode() + b"] more\r\n\r\nany news?", "reply:subject_number"),
    (b"From: amy@example.com\r\nIn-Reply-To: " + KNOWN.message_ids[1].encode() + b"\r\n\r\nany news?", "reply:in_reply_to"),
    (b"From: amy@example.com\r\nSubject: kettle\r\n\r\nIt leaks.", "new:new_complaint"),
    (b"\x00\x01\xff", "quarantine:not_an_email"),
])
def test_the_oracle_reports_the_outcome(raw, outcome):
    assert ORACLE.check(raw) == outcome


def test_a_mail_that_starts_with_a_byte_order_mark_is_read_like_any_other():
    from functions.intake.mail.parser import parse_mail

    raw = ("From: Li Lei <li@example.com>\r\nTo: complaints@example.com\r\nSubject: 饺子变质\r\n"
           "Message-ID: <bom-1@example.com>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
           "饺子打开有酸味。\r\n").encode()
    plain, with_mark = parse_mail(raw), parse_mail(b"\xef\xbb\xbf" + raw)
    assert with_mark.subject == plain.subject == "饺子变质"
    assert with_mark.sender_address == plain.sender_address == "li@example.com"
