from datetime import date, datetime, timezone

import pytest

from shared.identifiers import (ALPHABET, InvalidComplaintNumber, day_of_number, hash_tracking_token,
                                new_complaint_number, new_tracking_token, normalize_complaint_number,
                                tracking_token_matches)


def test_numbers_are_short_readable_and_valid():
    for _ in range(500):
        n = new_complaint_number()
        assert len(n) == 10 and n[0] == "C"
        assert not set(n[1:]) & set("01IO")
        assert normalize_complaint_number(n) == n


def test_numbers_sort_by_the_day_they_were_given():
    days = [datetime(2025, 1, 1, tzinfo=timezone.utc), datetime(2026, 11, 23, tzinfo=timezone.utc),
            datetime(2026, 11, 24, 0, 0, 1, tzinfo=timezone.utc), datetime(2030, 6, 1, tzinfo=timezone.utc)]
    numbers = [new_complaint_number(d) for d in days]
    assert [n[:4] for n in numbers] == sorted(n[:4] for n in numbers)
    assert [day_of_number(n) for n in numbers] == [d.date() for d in days]


def test_every_single_character_typo_is_caught():
    n = new_complaint_number(date(2026, 11, 23))
    for i in range(1, len(n)):
        for ch in ALPHABET:
            if ch != n[i]:
                with pytest.raises(InvalidComplaintNumber):
                    normalize_complaint_number(n[:i] + ch + n[i + 1:])


def test_most_adjacent_swaps_are_caught():
    caught = total = 0
    for _ in range(200):
        n = new_complaint_number()
        for i in range(1, len(n) - 1):
            if n[i] != n[i + 1]:
                total += 1
                try:
                    normalize_complaint_number(n[:i] + n[i + 1] + n[i] + n[i + 2:])
                except InvalidComplaintNumber:
                    caught += 1
    assert caught / total > 0.9


@pytest.mark.parametrize("text", ["", "C123", "X" + "2" * 9, "C2222222O2", None, 123])
def test_malformed_numbers_are_rejected(text):
    with pytest.raises(InvalidComplaintNumber):
        normalize_complaint_number(text)


def test_customer_may_type_lower_case_with_spaces_and_dashes():
    n = new_complaint_number()
    assert normalize_complaint_number(f" {n[:4].lower()}-{n[4:7]} {n[7:]} ") == n


def test_tracking_tokens_are_random_long_and_only_their_hash_is_compared():
    tokens = {new_tracking_token() for _ in range(1000)}
    assert len(tokens) == 1000 and min(len(t) for t in tokens) >= 32  # 192 bits, base64url
    t = tokens.pop()
    h = hash_tracking_token(t)
    assert t not in h and tracking_token_matches(t, h)
    assert not tracking_token_matches(t + "x", h)
    assert not tracking_token_matches(None, h) and not tracking_token_matches("", h)
    assert not tracking_token_matches(t, None)
