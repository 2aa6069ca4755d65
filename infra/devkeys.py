"""The local stack's development signing key for staff tokens.

In AWS, staff sign in through Cognito and the API checks their tokens against the user pool's
JWKS. Locally there is no identity provider, so ``complaints run`` keeps an RSA key of its own
under ``var/dev-keys/`` and publishes its public half as ``jwks.json`` (``JWKS_PATH``); the very
same verifier (``shared.auth``) then accepts tokens from ``complaints token``. The key is made
once and reused, so tokens stay valid across restarts of the stack.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

ISSUER = "complaints-local"
PRIVATE_KEY_FILE = "signing-key.pem"
JWKS_FILE = "jwks.json"


def var_dir() -> Path:
    """Where the local stack keeps its files: ``COMPLAINTS_VAR_DIR``, else ``var/`` in the checkout
    (so ``complaints token`` finds the key ``complaints run`` made, whatever the working directory)."""
    if os.environ.get("COMPLAINTS_VAR_DIR"):
        return Path(os.environ["COMPLAINTS_VAR_DIR"]).resolve()
    checkout = Path(__file__).resolve().parents[1]
    return (checkout if (checkout / "pyproject.toml").exists() else Path.cwd()) / "var"


def keys_dir() -> Path:
    return var_dir() / "dev-keys"


@dataclass(frozen=True)
class DevKey:
    private_pem: bytes
    kid: str
    jwks_path: Path


def ensure_dev_key(directory: Path | None = None) -> DevKey:
    """Load the development key, generating it (and its JWKS) on first use."""
    directory = directory or keys_dir()
    pem_path, jwks_path = directory / PRIVATE_KEY_FILE, directory / JWKS_FILE
    if not pem_path.exists() or not jwks_path.exists():
        _generate(directory, pem_path, jwks_path)
    kid = json.loads(jwks_path.read_text(encoding="utf-8"))["keys"][0]["kid"]
    return DevKey(private_pem=pem_path.read_bytes(), kid=kid, jwks_path=jwks_path)


def _generate(directory: Path, pem_path: Path, jwks_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwt.algorithms import RSAAlgorithm

    directory.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    jwk = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    jwk.update(kid=hashlib.sha256(pem).hexdigest()[:16], use="sig", alg="RS256")
    # Written to temporary names and renamed, so a concurrent reader never sees half a pair; the
    # private key is readable by its owner only.
    pem_tmp, jwks_tmp = pem_path.with_suffix(f".{os.getpid()}.tmp"), jwks_path.with_suffix(f".{os.getpid()}.tmp")
    with os.fdopen(os.open(pem_tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as fh:
        fh.write(pem)
    jwks_tmp.write_text(json.dumps({"keys": [jwk]}, indent=2), encoding="utf-8")
    os.replace(pem_tmp, pem_path)
    os.replace(jwks_tmp, jwks_path)


def subject_for(name: str) -> str:
    """A stable staff subject from a display name ("Li Wei" -> "dev-li-wei")."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return f"dev-{slug or hashlib.sha256(name.encode()).hexdigest()[:8]}"


def issue_token(*, role: str, departments: Iterable[str], name: str, ttl_minutes: int = 480,
                key: DevKey | None = None, now: float | None = None) -> str:
    """A staff JWT with the claims ``shared.auth`` reads, signed RS256 with the development key."""
    import jwt

    key = key or ensure_dev_key()
    issued = int(now if now is not None else time.time())
    claims = {
        "iss": ISSUER, "sub": subject_for(name), "name": name, "role": role,
        "departments": list(departments), "iat": issued, "exp": issued + ttl_minutes * 60,
    }
    return jwt.encode(claims, key.private_pem, algorithm="RS256", headers={"kid": key.kid})
