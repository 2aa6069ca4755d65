import os

import pytest
from pydantic import ValidationError

from shared.crypto import DecryptionError, FieldCipher, LookupHasher
from shared.models import ComplaintSubmission, detect_language


class FakeKms:
    """Counts calls; 'encrypts' data keys by prefixing them (enough to test the envelope logic)."""

    def __init__(self):
        self.calls = []

    def generate_data_key(self, **kw):
        self.calls.append("GenerateDataKey")
        key = os.urandom(32)
        return {"Plaintext": key, "CiphertextBlob": b"wrapped:" + key}

    def decrypt(self, CiphertextBlob, **kw):  # noqa: N803 - boto3's parameter name
        self.calls.append("Decrypt")
        if not CiphertextBlob.startswith(b"wrapped:"):
            raise ValueError("bad blob")
        return {"Plaintext": CiphertextBlob[len(b"wrapped:"):]}

    def generate_mac(self, **kw):
        self.calls.append("GenerateMac")
        return {"Mac": b"k" * 32}


def test_envelope_encryption_round_trips_and_caches_the_data_key():
    kms = FakeKms()
    cipher = FieldCipher(kms, "alias/pii")
    values = [cipher.encrypt(f"li.wei{i}@example.com", bound_to="C1") for i in range(100)]
    assert kms.calls == ["GenerateDataKey"]
    assert all("example.com" not in v for v in values) and len(set(values)) == 100
    assert FieldCipher(kms, "alias/pii").decrypt(values[5], bound_to="C1") == "li.wei5@example.com"
    assert kms.calls == ["GenerateDataKey", "Decrypt"]


def test_a_ciphertext_moved_to_another_case_does_not_decrypt():
    cipher = FieldCipher(FakeKms(), "k")
    value = cipher.encrypt("secret", bound_to="CASE-A")
    with pytest.raises(DecryptionError):
        cipher.decrypt(value, bound_to="CASE-B")
    with pytest.raises(DecryptionError):
        cipher.decrypt("plain text", bound_to="CASE-A")


def test_data_keys_rotate_after_max_uses():
    kms = FakeKms()
    cipher = FieldCipher(kms, "k", max_uses=3)
    for _ in range(7):
        cipher.encrypt("x", bound_to="c")
    assert kms.calls.count("GenerateDataKey") == 3


def test_lookup_hashes_are_deterministic_normalised_and_keyed():
    kms = FakeKms()
    h = LookupHasher(kms, "hmac")
    assert h.hash("email", "Li.Wei@Example.com ") == h.hash("email", "li.wei@example.com")
    assert h.hash("phone", "+86 138-0013-8000") == h.hash("phone", "+8613800138000")
    assert h.hash("email", "a@b.c") != h.hash("member_id", "a@b.c")
    assert kms.calls == ["GenerateMac"]


@pytest.mark.parametrize("text, lang", [("饺子有异味，要求退款", "zh"), ("The parcel never arrived", "en"),
                                        ("订单 SO-1001 的 delivery 太慢了", "zh"), ("", "en")])
def test_language_detection(text, lang):
    assert detect_language(text) == lang


def test_phone_numbers_are_normalised_and_checked():
    base = {"description": "x", "customer": {"name": "A"}}
    ok = ComplaintSubmission.model_validate({**base, "customer": {"name": "A", "phone": "(021) 6234-5678"}})
    assert ok.customer.phone == "02162345678"
    for bad in ["12345", "+1 (555) CALL-NOW", "1" * 20]:
        with pytest.raises(ValidationError):
            ComplaintSubmission.model_validate({**base, "customer": {"name": "A", "phone": bad}})


def test_cognito_claims_map_to_the_most_senior_group_and_departments():
    from shared.auth import Unauthorized, principal_from_claims

    p = principal_from_claims({"sub": "u1", "cognito:username": "ada", "token_use": "id",
                               "cognito:groups": ["agent", "manager"], "custom:departments": "quality,logistics"})
    assert (p.role, p.departments, p.name) == ("manager", ["quality", "logistics"], "ada")
    with pytest.raises(Unauthorized):
        principal_from_claims({"sub": "u1", "token_use": "access", "cognito:groups": ["admin"]})
    with pytest.raises(Unauthorized):
        principal_from_claims({"sub": "u1", "cognito:groups": ["customers"]})


def test_a_phone_hashes_the_same_with_or_without_the_country_code_once_it_is_configured():
    h = LookupHasher(FakeKms(), "hmac", default_country_code="86")
    assert h.hash("phone", "138 0013 8000") == h.hash("phone", "+86 138-0013-8000") == h.hash("phone", "008613800138000")
    assert LookupHasher(FakeKms(), "hmac").hash("phone", "13800138000") != h.hash("phone", "+8613800138000")
