"""Hostile mail through the email intake itself (issue 10): ``EmailIntake.process``, what the queue
consumer calls for each stored message, in moto. Each input ends as exactly one recorded outcome
(case, thread, ignore or quarantine), a case or thread names a stored complaint, a quarantined
message keeps its raw mail and is listed for staff, and a redelivery changes nothing
(``infra.fuzz_bench.IntakeOracle``). The long run: ``python -m infra.fuzz_bench``."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from infra.fuzz_bench import IntakeOracle, Known, hostile_mail, load_seeds

KNOWN = Known(numbers=[])  # filled by the fixture with the cases it opens in moto
SEEDS = load_seeds()


@pytest.fixture
def oracle(aws, monkeypatch):
    from tests.conftest import _forget_cached_services

    monkeypatch.setenv("MAX_CASES_PER_SENDER_PER_HOUR", "25")  # some rate-limited senders, not most
    _forget_cached_services()
    KNOWN.numbers.clear()
    return IntakeOracle(KNOWN)


@settings(max_examples=150, derandomize=True, database=None, deadline=None,
          suppress_health_check=list(HealthCheck))
@given(raw=hostile_mail(KNOWN, SEEDS))
def test_every_hostile_mail_is_recorded_once_and_nothing_is_lost(oracle, raw):
    oracle.check(raw)


def test_cases_and_threads_reach_the_store(oracle):
    number = KNOWN.numbers[0]
    reply = b"From: seed0@example.cn\r\nIn-Reply-To: " + KNOWN.message_ids[0].encode() + b"\r\n\r\nAny news?"
    assert oracle.check(reply) == "reply:in_reply_to"
    found, _ = oracle.repo.get(number)
    assert found.complaint_id == number
    assert oracle.check(b"\x00garbage\xff") == "quarantine:not_an_email"
