"""Staff authentication: a bearer JWT verified against a JWKS.

In AWS the JWKS is the Cognito user pool's (``JWKS_URL``); locally it is the stack's development
key (``JWKS_PATH``, written by ``complaints run``; ``complaints token`` signs tokens with it).
The role and departments come from the token's claims: ``role`` / ``departments`` from our own
tokens, or Cognito's ``cognito:groups`` and ``custom:departments``.
"""
from __future__ import annotations

import json
import threading
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel

Role = Literal["agent", "lead", "manager", "admin", "auditor"]
ROLES: tuple[str, ...] = ("agent", "lead", "manager", "admin", "auditor")
ROLE_PRECEDENCE: tuple[str, ...] = ("admin", "manager", "lead", "agent", "auditor")
ALGORITHMS = ["RS256"]  # Cognito's; verified with pycryptodome (shared/jws_rsa.py)
JWKS_LIFESPAN_SECONDS, JWKS_REFRESH_SECONDS = 3600, 60


class Unauthorized(Exception):
    """Missing, malformed, forged or expired credentials (always answered as 401)."""


class StaffPrincipal(BaseModel):
    subject: str
    name: str
    role: Role
    departments: list[str] = []


class JwksVerifier:
    def __init__(self, *, jwks: dict[str, Any] | None = None, jwks_url: str | None = None,
                 issuer: str | None = None, audience: str | None = None):
        import jwt

        from shared import jws_rsa

        self._jwt, self._decoder = jwt, jws_rsa.decoder()
        self._issuer, self._audience = issuer, audience
        self._remote = _RemoteKeys(jwks_url) if jwks_url else None
        self._keys = jws_rsa.keys_from_jwks(jwks) if jwks else {}

    def _signing_key(self, token: str) -> Any:
        jwt = self._jwt
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthorized("the token is not a JWT") from None
        if header.get("alg") not in ALGORITHMS:
            raise Unauthorized("the token's algorithm is not accepted")
        if self._remote is not None:
            key = self._remote.get(header.get("kid"))
        else:
            key = self._keys.get(header.get("kid"))
        if key is None:
            raise Unauthorized("the token was not signed by a known key")
        return key

    def verify(self, token: str) -> StaffPrincipal:
        jwt = self._jwt
        key = self._signing_key(token)
        try:
            claims = self._decoder.decode(
                token, key=key, algorithms=ALGORITHMS, issuer=self._issuer,
                audience=self._audience, options={"require": ["exp", "sub"], "verify_aud": bool(self._audience)},
                leeway=30,
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("the token has expired") from None
        except jwt.PyJWTError:
            raise Unauthorized("the token is invalid") from None
        return principal_from_claims(claims)


class _RemoteKeys:
    """The signing keys of a JWKS URL (Cognito's), cached for an hour; a ``kid`` not seen yet fetches
    again, at most once a minute (a key rotation is picked up, unknown kids cannot flood the URL)."""

    def __init__(self, url: str):
        self._url = url
        self._keys: dict[str, Any] = {}
        self._fetched_at: float | None = None
        self._lock = threading.Lock()

    def get(self, kid: str | None) -> Any:
        import time

        with self._lock:
            now = time.monotonic()
            age = None if self._fetched_at is None else now - self._fetched_at
            if age is None or age > JWKS_LIFESPAN_SECONDS or (kid not in self._keys and age > JWKS_REFRESH_SECONDS):
                self._keys, self._fetched_at = self._fetch(), now
            return self._keys.get(kid)

    def _fetch(self) -> dict[str, Any]:
        import urllib.request

        from shared import jws_rsa

        if not self._url.startswith("https://") and not self._url.startswith("http://"):
            raise Unauthorized("the token was not signed by a known key")
        try:
            with urllib.request.urlopen(self._url, timeout=5) as response:  # nosec B310  # http(s) only, above
                return jws_rsa.keys_from_jwks(json.loads(response.read()))
        except (OSError, ValueError):
            raise Unauthorized("the token was not signed by a known key") from None


def principal_from_claims(claims: dict[str, Any]) -> StaffPrincipal:
    if claims.get("token_use", "id") != "id":
        raise Unauthorized("an ID token is required")
    role = claims.get("role")
    if role is None:  # Cognito groups come in no promised order: take the most senior one
        groups = set(claims.get("cognito:groups", []))
        role = next((r for r in ROLE_PRECEDENCE if r in groups), None)
    if role not in ROLES:
        raise Unauthorized("the token carries no staff role")
    departments = claims.get("departments")
    if departments is None:
        departments = [d for d in str(claims.get("custom:departments", "")).split(",") if d]
    if isinstance(departments, str):
        departments = [departments]
    name = claims.get("name") or claims.get("cognito:username") or claims.get("email") or claims["sub"]
    return StaffPrincipal(subject=str(claims["sub"]), name=str(name), role=role, departments=list(departments))


_lock = threading.Lock()


@lru_cache(maxsize=1)
def verifier() -> JwksVerifier:
    from shared.config import settings

    with _lock:
        s = settings()
        if s.jwks_path:
            with open(s.jwks_path, encoding="utf-8") as fh:
                return JwksVerifier(jwks=json.load(fh), issuer=s.jwt_issuer, audience=s.jwt_audience)
        if s.jwks_url:
            return JwksVerifier(jwks_url=s.jwks_url, issuer=s.jwt_issuer, audience=s.jwt_audience)
    raise Unauthorized("staff sign-in is not configured (JWKS_URL or JWKS_PATH)")


def authenticate(authorization: str | None) -> StaffPrincipal:
    if not authorization:
        raise Unauthorized("an Authorization: Bearer token is required")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("the Authorization header must be 'Bearer <token>'")
    principal = verifier().verify(token.strip())
    from shared.audit import identify

    identify(principal.subject, principal.role)  # the audit trail's actor for this request
    return principal
