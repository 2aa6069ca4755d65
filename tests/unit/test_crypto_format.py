"""The stored field format survives the move from ``cryptography`` to pycryptodome (the ``crypto``
layer): a value sealed by ``cryptography``'s AESGCM before the move still opens, and nothing else does."""
from __future__ import annotations

import base64

import pytest

from shared.crypto import DecryptionError, FieldCipher

KEY = bytes(range(32))
ENCRYPTED_KEY = b"kms-encrypted-data-key"
# cryptography's AESGCM(KEY).encrypt(bytes(range(12)), b'{"email": "li.na@example.com"}', b"C-2026-000123")
SEALED_BY_CRYPTOGRAPHY = "PCCzdqSMrjm3YbXn2McWDMOz_1WdCzMZFgSK6D8USyFH8HEWBhcNCR3wem-xdA"


class FakeKms:
    def decrypt(self, CiphertextBlob, EncryptionContext):  # noqa: N803 - boto3's names
        assert CiphertextBlob == ENCRYPTED_KEY
        return {"Plaintext": KEY}

    def generate_data_key(self, KeyId, KeySpec, EncryptionContext):  # noqa: N803
        return {"Plaintext": KEY, "CiphertextBlob": ENCRYPTED_KEY}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _stored() -> str:
    return ".".join(("v1", _b64(ENCRYPTED_KEY), _b64(bytes(range(12))), SEALED_BY_CRYPTOGRAPHY))


def test_a_value_sealed_before_the_move_still_decrypts():
    assert FieldCipher(FakeKms(), "key").decrypt(_stored(), bound_to="C-2026-000123") == \
        '{"email": "li.na@example.com"}'


def test_it_does_not_open_for_another_case_or_when_tampered():
    cipher = FieldCipher(FakeKms(), "key")
    with pytest.raises(DecryptionError):
        cipher.decrypt(_stored(), bound_to="C-2026-000124")
    tampered = _stored()[:-2] + ("AA" if not _stored().endswith("AA") else "BB")
    with pytest.raises(DecryptionError):
        cipher.decrypt(tampered, bound_to="C-2026-000123")
    with pytest.raises(DecryptionError):
        cipher.decrypt(".".join(_stored().split(".")[:3] + ["AAAA"]), bound_to="C-2026-000123")


def test_new_values_keep_the_layout_cryptography_reads():
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    value = FieldCipher(FakeKms(), "key").encrypt("Li Na", bound_to="C-1")
    _, _, nonce, sealed = value.split(".")
    unb64 = lambda t: base64.urlsafe_b64decode(t + "=" * (-len(t) % 4))  # noqa: E731
    assert AESGCM(KEY).decrypt(unb64(nonce), unb64(sealed), b"C-1") == b"Li Na"
