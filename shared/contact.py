"""Contact data in one canonical form, so the same phone number always hashes and dials the same."""
from __future__ import annotations

import re

E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


def e164(phone: str | None, default_country_code: str | None) -> str | None:
    """The number in E.164 (``+8613800138000``), or None if it cannot be made one: stored numbers keep
    a leading ``+`` when the customer typed one; others get ``default_country_code`` (without a
    national trunk ``0``), if configured."""
    if not phone:
        return None
    digits = "".join(ch for ch in phone if ch.isdigit())
    if phone.strip().startswith("+"):
        candidate = "+" + digits
    elif phone.strip().startswith("00"):
        candidate = "+" + digits[2:]
    elif default_country_code:
        candidate = "+" + default_country_code + digits.lstrip("0")
    else:
        return None
    return candidate if E164.match(candidate) else None


def normalize_contact(kind: str, value: str, default_country_code: str | None = None) -> str:
    """Lower-case emails; phones in E.164 when they can be (else their digits); others trimmed."""
    value = value.strip()
    if kind == "email":
        return value.lower()
    if kind == "phone":
        return e164(value, default_country_code) or "".join(ch for ch in value if ch.isdigit())
    return value
