"""Staff tokens are verified with pycryptodome (shared/jws_rsa.py), not ``cryptography``: tokens signed
the usual way (PyJWT + cryptography, as Cognito signs RS256) pass, anything else is refused."""
from __future__ import annotations

import io
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from shared import auth, jws_rsa

def claims(**extra):
    """Fresh claims for each token: made at import, a 10-minute expiry ran out before a long suite reached the test."""
    return {"sub": "u-1", "role": "agent", "exp": int(time.time()) + 600, **extra}


def _key_pair(kid: str):
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    jwk.update({"kid": kid, "use": "sig", "alg": "RS256"})
    return private, jwk


@pytest.fixture(scope="module")
def pair():
    return _key_pair("k1")


def test_a_token_signed_with_cryptography_verifies(pair):
    private, jwk = pair
    token = jwt.encode(claims(), private, algorithm="RS256", headers={"kid": "k1"})
    principal = auth.JwksVerifier(jwks={"keys": [jwk]}).verify(token)
    assert (principal.subject, principal.role) == ("u-1", "agent")


def test_tampered_tokens_and_other_algorithms_are_refused(pair):
    private, jwk = pair
    verifier = auth.JwksVerifier(jwks={"keys": [jwk]})
    header, payload, signature = jwt.encode(claims(), private, algorithm="RS256", headers={"kid": "k1"}).split(".")
    forged_payload = jwt.utils.base64url_encode(json.dumps(claims(role="admin")).encode()).decode()
    with pytest.raises(auth.Unauthorized, match="invalid"):
        verifier.verify(".".join((header, forged_payload, signature)))
    # HS256 with the public key as the shared secret (algorithm confusion): refused by the header check
    # and, below it, by a decoder that knows RS256 only
    with pytest.raises(auth.Unauthorized, match="algorithm"):
        verifier.verify(jwt.encode(claims(), "s" * 32, algorithm="HS256", headers={"kid": "k1"}))
    with pytest.raises(jwt.InvalidAlgorithmError):
        jws_rsa.decoder().decode(jwt.encode(claims(), "s" * 32, algorithm="HS256"), key=jws_rsa.RS256.from_jwk(jwk),
                                 algorithms=["HS256"])


def test_jwks_keys_round_trip_and_skip_what_is_not_an_rsa_signing_key(pair):
    _, jwk = pair
    keys = jws_rsa.keys_from_jwks({"keys": [jwk, {"kty": "EC", "kid": "e", "crv": "P-256", "x": "AA", "y": "AA"},
                                            {**jwk, "kid": "enc", "use": "enc"}]})
    assert set(keys) == {"k1"}
    again = jws_rsa.RS256.to_jwk(keys["k1"], as_dict=True)
    assert (again["n"], again["e"]) == (jwk["n"], jwk["e"])


def test_remote_keys_are_fetched_once_and_again_for_a_new_kid(pair, monkeypatch):
    import urllib.request

    private, jwk = pair
    private2, jwk2 = _key_pair("k2")
    published = {"keys": [jwk]}
    fetches = []

    def urlopen(url, timeout):
        fetches.append(url)
        return io.BytesIO(json.dumps(published).encode())

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    verifier = auth.JwksVerifier(jwks_url="https://cognito.example/.well-known/jwks.json")
    for _ in range(2):
        verifier.verify(jwt.encode(claims(), private, algorithm="RS256", headers={"kid": "k1"}))
    assert len(fetches) == 1
    published["keys"].append(jwk2)  # the pool rotates its key
    monkeypatch.setattr(auth, "JWKS_REFRESH_SECONDS", 0)
    assert verifier.verify(jwt.encode(claims(), private2, algorithm="RS256", headers={"kid": "k2"})).subject == "u-1"
    assert len(fetches) == 2
    with pytest.raises(auth.Unauthorized, match="known key"):
        verifier.verify(jwt.encode(claims(), private2, algorithm="RS256", headers={"kid": "k3"}))
