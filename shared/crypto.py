"""Field-level encryption of personal data and keyed look-up hashes.

* :class:`FieldCipher` encrypts with KMS envelope encryption: a data key from ``GenerateDataKey``
  encrypts fields locally with AES-256-GCM (pycryptodome; a value is ``v1.<key>.<nonce>.<ciphertext
  and 16-byte tag>``); the KMS-encrypted copy of the data key travels with each value. Data keys are
  cached (5 minutes, 10,000 uses) like the AWS Encryption SDK's caching CMM, so a warm function makes
  no KMS call per complaint. The complaint number is bound as associated data,
  so a ciphertext copied onto another case does not decrypt.
* :class:`LookupHasher` gives a deterministic keyed hash (HMAC-SHA-256) of a normalised email, phone
  or member id, used as a key to find a customer's cases without storing the value in clear. Its
  secret is derived once per container from a KMS HMAC key (``GenerateMac``), so it never leaves KMS
  in a readable form at rest.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
import threading
import time
from collections import OrderedDict
from typing import Any

FORMAT = "v1"
_ENCRYPTION_CONTEXT = {"purpose": "complaint-contact-data"}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class DecryptionError(ValueError):
    pass


_TAG_BYTES = 16  # AES-GCM's full tag, appended to the ciphertext (the layout of cryptography's AESGCM)


def _gcm(key: bytes, nonce: bytes, bound_to: str) -> Any:
    """AES-256-GCM with ``bound_to`` as associated data. pycryptodome (the ``crypto`` layer: a few
    hundred kB where ``cryptography`` is 15 MB, docs/deploy.md), imported on first use."""
    from Crypto.Cipher import AES  # nosec B413  # pycryptodome (maintained), not PyCrypto

    cipher = AES.new(key, AES.MODE_GCM, nonce=nonce, mac_len=_TAG_BYTES)
    cipher.update(bound_to.encode())
    return cipher


class FieldCipher:
    def __init__(self, kms: Any, key_id: str, *, max_age_seconds: float = 300, max_uses: int = 10_000):
        self._kms, self._key_id = kms, key_id
        self._max_age, self._max_uses = max_age_seconds, max_uses
        self._lock = threading.Lock()
        self._current: tuple[bytes, bytes, float, int] | None = None  # plaintext, encrypted, born, uses
        self._decrypted: OrderedDict[bytes, bytes] = OrderedDict()

    def _data_key(self) -> tuple[bytes, bytes]:
        with self._lock:
            now = time.monotonic()
            cur = self._current
            if cur is None or now - cur[2] > self._max_age or cur[3] >= self._max_uses:
                out = self._kms.generate_data_key(
                    KeyId=self._key_id, KeySpec="AES_256", EncryptionContext=_ENCRYPTION_CONTEXT
                )
                cur = (out["Plaintext"], out["CiphertextBlob"], now, 0)
            self._current = (cur[0], cur[1], cur[2], cur[3] + 1)
            return cur[0], cur[1]

    def _plain_key(self, encrypted: bytes) -> bytes:
        with self._lock:
            if self._current and self._current[1] == encrypted:
                return self._current[0]
            if encrypted in self._decrypted:
                self._decrypted.move_to_end(encrypted)
                return self._decrypted[encrypted]
        try:
            plain = self._kms.decrypt(CiphertextBlob=encrypted, EncryptionContext=_ENCRYPTION_CONTEXT)["Plaintext"]
        except Exception as exc:  # noqa: BLE001 - surfaced as one domain error
            raise DecryptionError("the data key could not be decrypted") from exc
        with self._lock:
            self._decrypted[encrypted] = plain
            while len(self._decrypted) > 256:
                self._decrypted.popitem(last=False)
        return plain

    def encrypt(self, plaintext: str, *, bound_to: str) -> str:
        key, encrypted_key = self._data_key()
        nonce = os.urandom(12)
        ciphertext, tag = _gcm(key, nonce, bound_to).encrypt_and_digest(plaintext.encode())
        return ".".join((FORMAT, _b64(encrypted_key), _b64(nonce), _b64(ciphertext + tag)))

    def decrypt(self, value: str, *, bound_to: str) -> str:
        try:
            fmt, encrypted_key, nonce, sealed = value.split(".")
        except ValueError:
            raise DecryptionError("not an encrypted field") from None
        if fmt != FORMAT:
            raise DecryptionError(f"unknown encryption format {fmt!r}")
        key = self._plain_key(_unb64(encrypted_key))
        sealed_bytes = _unb64(sealed)
        if len(sealed_bytes) < _TAG_BYTES:
            raise DecryptionError("ciphertext does not belong to this record")
        try:
            plain = _gcm(key, _unb64(nonce), bound_to).decrypt_and_verify(sealed_bytes[:-_TAG_BYTES],
                                                                          sealed_bytes[-_TAG_BYTES:])
        except ValueError:  # pycryptodome's "MAC check failed"
            raise DecryptionError("ciphertext does not belong to this record") from None
        return plain.decode()


class LookupHasher:
    def __init__(self, kms: Any, key_id: str, default_country_code: str | None = None):
        self._kms, self._key_id, self._country = kms, key_id, default_country_code
        self._secret: bytes | None = None
        self._lock = threading.Lock()

    def _key(self) -> bytes:
        with self._lock:
            if self._secret is None:
                self._secret = self._kms.generate_mac(
                    KeyId=self._key_id, MacAlgorithm="HMAC_SHA_256", Message=b"complaints/customer-lookup/v1"
                )["Mac"]
            return self._secret

    def hash(self, kind: str, value: str) -> str:
        from shared.contact import normalize_contact

        normalized = normalize_contact(kind, value, self._country)
        return hmac.new(self._key(), f"{kind}:{normalized}".encode(), hashlib.sha256).hexdigest()
