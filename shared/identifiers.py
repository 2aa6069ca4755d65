"""Complaint numbers and tracking tokens.

A complaint number reads well over the phone and sorts by day::

    C  K7M  4QX9T  R
    |  |    |      `- check character (Luhn mod 32): a mistyped number is rejected before any look-up
    |  |    `-------- 5 random characters (33.5 million per day; a collision is retried)
    |  `------------- day since 2024-01-01, 3 characters, so numbers sort by the day they were given
    `---------------- prefix

The alphabet has no 0/O and no 1/I, and its characters sort in the same order as their values.
Customers may type it in lower case, with spaces or dashes: :func:`normalize_complaint_number`.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import date, datetime, timezone

ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
_VALUE = {ch: i for i, ch in enumerate(ALPHABET)}
_BASE = len(ALPHABET)
PREFIX = "C"
EPOCH = date(2024, 1, 1)
DAY_CHARS = 3
RANDOM_CHARS = 5
NUMBER_LENGTH = len(PREFIX) + DAY_CHARS + RANDOM_CHARS + 1


class InvalidComplaintNumber(ValueError):
    """The text is not a well-formed complaint number (wrong shape or check character)."""


def _encode(value: int, width: int) -> str:
    chars = []
    for _ in range(width):
        value, rem = divmod(value, _BASE)
        chars.append(ALPHABET[rem])
    if value:
        raise ValueError("value does not fit")
    return "".join(reversed(chars))


def check_character(body: str) -> str:
    """Luhn mod N over the alphabet: catches every single-character error and most transpositions."""
    factor, total = 2, 0
    for ch in reversed(body):
        addend = factor * _VALUE[ch]
        factor = 1 if factor == 2 else 2
        total += addend // _BASE + addend % _BASE
    return ALPHABET[(_BASE - total % _BASE) % _BASE]


def new_complaint_number(on: datetime | date | None = None) -> str:
    day = (on or datetime.now(timezone.utc))
    if isinstance(day, datetime):
        day = day.astimezone(timezone.utc).date()
    body = _encode((day - EPOCH).days, DAY_CHARS) + "".join(
        secrets.choice(ALPHABET) for _ in range(RANDOM_CHARS)
    )
    return PREFIX + body + check_character(body)


def normalize_complaint_number(text: str) -> str:
    """Upper-case, drop spaces and dashes, validate shape and check character; raise if invalid."""
    if not isinstance(text, str):
        raise InvalidComplaintNumber("complaint number must be text")
    number = "".join(text.split()).replace("-", "").upper()
    if len(number) != NUMBER_LENGTH or not number.startswith(PREFIX):
        raise InvalidComplaintNumber("complaint number has the wrong length or prefix")
    body, check = number[1:-1], number[-1]
    if any(ch not in _VALUE for ch in number[1:]):
        raise InvalidComplaintNumber("complaint number contains characters that are never used")
    if check_character(body) != check:
        raise InvalidComplaintNumber("complaint number check character does not match (mistyped?)")
    return number


def day_of_number(number: str) -> date:
    from datetime import timedelta

    value = 0
    for ch in number[1 : 1 + DAY_CHARS]:
        value = value * _BASE + _VALUE[ch]
    return EPOCH + timedelta(days=value)


def new_tracking_token() -> str:
    """192 random bits, URL-safe; the customer keeps it, we keep only its hash."""
    return secrets.token_urlsafe(24)


def hash_tracking_token(token: str) -> str:
    return hashlib.sha256(("tracking-token:" + token).encode()).hexdigest()


def tracking_token_matches(token: str | None, stored_hash: str | None) -> bool:
    """Constant-time comparison; a missing token or hash compares like a wrong one."""
    candidate = hash_tracking_token(token or "")
    return hmac.compare_digest(candidate, stored_hash or "0" * 64) and bool(token) and bool(stored_hash)


def new_attachment_id() -> str:
    return "att_" + secrets.token_hex(12)
