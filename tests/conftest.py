"""Fixtures shared by unit and integration tests: moto in-process, the app's resources created from
``infra/resources.yaml``, and staff tokens signed by a test key."""
from __future__ import annotations

import json
import os
import time
from typing import Any, Callable

import pytest

BASE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
    "STAGE": "dev", "JWT_ISSUER": "complaints-test", "POWERTOOLS_LOG_LEVEL": "WARNING",
}


@pytest.fixture(scope="session")
def signing_key(tmp_path_factory) -> dict[str, Any]:
    """An RSA key pair and its JWKS file, made once per test session."""
    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    jwk.update({"kid": "test-key-1", "use": "sig", "alg": "RS256"})
    path = tmp_path_factory.mktemp("jwks") / "jwks.json"
    path.write_text(json.dumps({"keys": [jwk]}))
    return {"private": private, "kid": "test-key-1", "jwks_path": str(path)}


@pytest.fixture
def make_token(signing_key) -> Callable[..., str]:
    import jwt

    def make(role: str = "manager", departments: list[str] | None = None, name: str = "Test Handler",
             expires_in: int = 3600, issuer: str = "complaints-test", key: Any = None, kid: str | None = None) -> str:
        now = int(time.time())
        claims = {"sub": "staff-" + name.lower().replace(" ", "-"), "name": name, "role": role,
                  "departments": departments or ["customer-service"], "iss": issuer,
                  "iat": now, "exp": now + expires_in}
        return jwt.encode(claims, key or signing_key["private"], algorithm="RS256",
                          headers={"kid": kid or signing_key["kid"]})

    return make


@pytest.fixture
def aws(monkeypatch, signing_key) -> dict[str, str]:
    """moto in-process with the application's resources; yields the functions' environment."""
    from moto import mock_aws

    from infra.moto_stack import boto3_clients, create_resources, environment
    from shared import store

    for key in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    for key, value in BASE_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("JWKS_PATH", signing_key["jwks_path"])
    store.reset()
    with mock_aws():
        env = environment(create_resources(boto3_clients(), "dev", "us-east-1"))
        _without_stream_history(env["TABLE_NAME"])
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        _forget_cached_services()
        yield env
        _forget_cached_services()
    store.reset()


def _without_stream_history(table: str) -> None:
    """moto keeps every record of the table's stream (on for later steps) and deep-copies the whole
    table, records and all, at every TransactWriteItems to roll back with: the copy grows with each
    write and soon costs more than the test. No test reads the stream, so moto stops recording it."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].tables[table].stream_shard = None


def _forget_cached_services() -> None:
    """Every per-container cache holds clients of the previous test's moto: drop them all."""
    from infra.moto_stack import forget_cached_services

    forget_cached_services()


@pytest.fixture
def client(aws):
    from chalice.test import Client

    from functions.app import app

    with Client(app) as c:
        yield c


def pytest_configure(config):
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")


@pytest.fixture
def app_logs():
    """The application's structured log lines at INFO, captured in a StringIO (the Powertools
    handler keeps the stdout of the moment it was made, so capsys cannot see them)."""
    import io

    from shared.observability import logger

    log = logger()
    handler = log.registered_handler
    stream = io.StringIO()
    previous = handler.setStream(stream)
    log.setLevel("INFO")
    try:
        yield stream
    finally:
        log.setLevel("WARNING")
        handler.setStream(previous)
