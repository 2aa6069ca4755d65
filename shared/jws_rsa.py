"""RS256 for PyJWT on pycryptodome, so staff-token checks need no ``cryptography`` (15 MB unzipped).

PyJWT's RSA algorithm and its JWK classes (``PyJWK``, ``PyJWKSet``, ``PyJWKClient``) are built on
``cryptography``; the functions ship pycryptodome instead (the ``crypto`` layer, docs/deploy.md). PyJWT
still does the token format and the claims (``exp``, ``iss``, ``aud``, leeway); this module adds:

* :class:`RS256`: RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 3.3), PyJWT's ``Algorithm`` interface,
  registered on a private ``PyJWS`` that knows RS256 only (``none``, HMAC and the rest are refused);
* :func:`decoder`: a ``PyJWT`` using that ``PyJWS``;
* :func:`keys_from_jwks`: a JWKS document to ``{kid: public key}`` (RSA signing keys only).

Cognito signs ID tokens with RS256 only; ES256 would need pycryptodome's elliptic-curve modules (about
2.5 MB more), so it is not accepted.
"""
from __future__ import annotations

import base64
import json
from functools import lru_cache
from typing import Any

import jwt
from jwt.algorithms import Algorithm

NAME = "RS256"


def _uint(value: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)), "big")


def _b64(number: int) -> str:
    return base64.urlsafe_b64encode(number.to_bytes((number.bit_length() + 7) // 8 or 1, "big")).decode().rstrip("=")


class RS256(Algorithm):
    """RSASSA-PKCS1-v1_5 using SHA-256 with pycryptodome keys (``Crypto.PublicKey.RSA.RsaKey``)."""

    def prepare_key(self, key: Any) -> Any:
        from Crypto.PublicKey import RSA  # nosec B413  # pycryptodome (maintained), not PyCrypto

        if isinstance(key, RSA.RsaKey):
            return key
        if isinstance(key, dict):
            return self.from_jwk(key)
        if isinstance(key, (str, bytes)):
            text = key.decode() if isinstance(key, bytes) else key
            if text.lstrip().startswith("{"):
                return self.from_jwk(text)
            try:
                return RSA.import_key(text)
            except (ValueError, IndexError, TypeError):
                raise jwt.InvalidKeyError("not an RSA key") from None
        raise TypeError("expected an RSA key, a PEM string or a JWK")

    def sign(self, msg: bytes, key: Any) -> bytes:
        from Crypto.Hash import SHA256  # nosec B413  # pycryptodome (maintained), not PyCrypto
        from Crypto.Signature import pkcs1_15  # nosec B413  # pycryptodome (maintained), not PyCrypto

        return pkcs1_15.new(key).sign(SHA256.new(msg))

    def verify(self, msg: bytes, key: Any, sig: bytes) -> bool:
        from Crypto.Hash import SHA256  # nosec B413  # pycryptodome (maintained), not PyCrypto
        from Crypto.Signature import pkcs1_15  # nosec B413  # pycryptodome (maintained), not PyCrypto

        try:
            pkcs1_15.new(key).verify(SHA256.new(msg), sig)
        except (ValueError, TypeError):
            return False
        return True

    @staticmethod
    def to_jwk(key_obj: Any, as_dict: bool = False) -> Any:
        jwk = {"kty": "RSA", "alg": NAME, "n": _b64(key_obj.n), "e": _b64(key_obj.e)}
        return jwk if as_dict else json.dumps(jwk)

    @staticmethod
    def from_jwk(jwk: str | dict[str, Any]) -> Any:
        from Crypto.PublicKey import RSA  # nosec B413  # pycryptodome (maintained), not PyCrypto

        data = json.loads(jwk) if isinstance(jwk, str) else jwk
        if data.get("kty") != "RSA" or "n" not in data or "e" not in data:
            raise jwt.InvalidKeyError("not an RSA public JWK")
        try:
            return RSA.construct((_uint(data["n"]), _uint(data["e"])))
        except (ValueError, TypeError):
            raise jwt.InvalidKeyError("invalid RSA JWK") from None


@lru_cache(maxsize=1)
def decoder() -> jwt.PyJWT:
    """A ``PyJWT`` whose signatures go through :class:`RS256` only."""
    jws = jwt.PyJWS(algorithms=[])  # none of PyJWT's defaults (with or without cryptography installed)
    jws.register_algorithm(NAME, RS256())
    out = jwt.PyJWT()
    out._jws = jws  # as jwt/api_jwt.py wires its module-level PyJWT to its module-level PyJWS
    return out


def keys_from_jwks(jwks: dict[str, Any]) -> dict[str, Any]:
    """The RSA signing keys of a JWKS document by ``kid`` (other key types and uses are skipped)."""
    out = {}
    for jwk in jwks.get("keys", []):
        if jwk.get("kty") != "RSA" or jwk.get("use", "sig") != "sig" or jwk.get("alg", NAME) != NAME:
            continue
        try:
            out[jwk.get("kid")] = RS256.from_jwk(jwk)
        except jwt.InvalidKeyError:
            continue
    return out
