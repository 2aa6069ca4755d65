"""Settings parsed from the environment into a pydantic model, once per container.

Handlers call :func:`settings` lazily (never at import: Chalice imports ``app.py`` at package time).
"""
from __future__ import annotations

import os
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class ConfigurationError(RuntimeError):
    """The function's environment is incomplete or invalid (a deployment problem, not bad input)."""


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    stage: str = Field("dev", alias="STAGE")
    region: str = Field("us-east-1", alias="AWS_REGION")
    table_name: str = Field(alias="TABLE_NAME")
    attachments_bucket: str = Field(alias="ATTACHMENTS_BUCKET")
    event_bus_name: str = Field(alias="EVENT_BUS_NAME")
    pii_key_id: str = Field(alias="PII_KEY_ID", description="KMS key for envelope encryption of contact data")
    lookup_key_id: str = Field(alias="LOOKUP_KEY_ID", description="KMS HMAC key deriving customer look-up hashes")

    jwks_url: str | None = Field(None, alias="JWKS_URL", description="Cognito user pool JWKS in AWS")
    jwks_path: str | None = Field(None, alias="JWKS_PATH", description="local stack's development JWKS file")
    jwt_issuer: str | None = Field(None, alias="JWT_ISSUER")
    jwt_audience: str | None = Field(None, alias="JWT_AUDIENCE")

    attachment_max_bytes: int = Field(10 * 1024 * 1024, alias="ATTACHMENT_MAX_BYTES", gt=0)
    attachment_upload_expiry_seconds: int = Field(900, alias="ATTACHMENT_UPLOAD_EXPIRY_SECONDS", gt=0)
    idempotency_ttl_hours: int = Field(24, alias="IDEMPOTENCY_TTL_HOURS", gt=0)
    outbox_grace_seconds: int = Field(60, alias="OUTBOX_GRACE_SECONDS", ge=0)
    max_request_bytes: int = Field(256 * 1024, alias="MAX_REQUEST_BYTES", gt=0)


@lru_cache(maxsize=1)
def settings() -> Settings:
    env = dict(os.environ)
    env.setdefault("AWS_REGION", env.get("AWS_DEFAULT_REGION", "us-east-1"))
    try:
        return Settings.model_validate(env)
    except ValidationError as exc:
        missing = ", ".join(str(e["loc"][0]) for e in exc.errors())
        raise ConfigurationError(f"invalid or missing environment settings: {missing}") from None


def reset_settings() -> None:
    """Forget the cached settings (tests and the local stack change the environment)."""
    settings.cache_clear()
