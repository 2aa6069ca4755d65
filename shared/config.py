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
    # the staff console's sign-in (functions/console; docs/console.md)
    dev_sign_in: bool = Field(False, alias="DEV_SIGN_IN",
                              description="the console's dev token picker (GET /console/dev-token): the local "
                                          "stack turns it on; never on in AWS (the template never sets it)")
    cognito_domain: str | None = Field(None, alias="COGNITO_DOMAIN",
                                       description="the Cognito hosted UI's domain the console signs in through")
    cognito_client_id: str | None = Field(None, alias="COGNITO_CLIENT_ID",
                                          description="the console's app client id (default: JWT_AUDIENCE)")

    attachment_max_bytes: int = Field(10 * 1024 * 1024, alias="ATTACHMENT_MAX_BYTES", gt=0)
    attachment_upload_expiry_seconds: int = Field(900, alias="ATTACHMENT_UPLOAD_EXPIRY_SECONDS", gt=0)
    idempotency_ttl_hours: int = Field(24, alias="IDEMPOTENCY_TTL_HOURS", gt=0)
    outbox_grace_seconds: int = Field(60, alias="OUTBOX_GRACE_SECONDS", ge=0)
    max_request_bytes: int = Field(256 * 1024, alias="MAX_REQUEST_BYTES", gt=0)

    # email intake and notifications (optional for functions that do not use them)
    inbound_mail_bucket: str | None = Field(None, alias="INBOUND_MAIL_BUCKET")
    email_intake_queue_url: str | None = Field(None, alias="EMAIL_INTAKE_QUEUE_URL")
    sender_address: str = Field("complaints@example.com", alias="SENDER_ADDRESS",
                                description="verified SES identity our emails come from")
    sender_name: str = Field("Customer Care / 客户服务", alias="SENDER_NAME")
    ses_configuration_set: str | None = Field(None, alias="SES_CONFIGURATION_SET")
    public_base_url: str = Field("http://127.0.0.1:8000", alias="PUBLIC_BASE_URL",
                                 description="where customers open the tracking page")
    max_cases_per_sender_per_hour: int = Field(5, alias="MAX_CASES_PER_SENDER_PER_HOUR", gt=0)
    first_response_hours: int = Field(24, alias="FIRST_RESPONSE_HOURS", gt=0)
    default_language: str = Field("en", alias="DEFAULT_LANGUAGE", pattern="^(zh|en)$")
    max_email_bytes: int = Field(40 * 1024 * 1024, alias="MAX_EMAIL_BYTES", gt=0)
    sms_default_country_code: str | None = Field(None, alias="SMS_DEFAULT_COUNTRY_CODE", pattern=r"^[1-9][0-9]{0,2}$",
                                                 description="country calling code for phone numbers given "
                                                             "without one (e.g. 86); else such numbers get no SMS")

    # router: classification, priority, duplicates (functions/router; docs/router.md)
    model_uri: str | None = Field(None, alias="MODEL_URI",
                                  description="text classifier model: s3://bucket/key or a file; unset: the bundled one")
    priority_rules_uri: str | None = Field(None, alias="PRIORITY_RULES_URI",
                                           description="priority rules: s3://bucket/key or a file; unset: "
                                                       "shared/priority_rules.json")
    min_classification_confidence: float = Field(0.55, alias="MIN_CLASSIFICATION_CONFIDENCE", ge=0, le=1,
                                                 description="below it a case goes to manual triage")
    group_complaint_window_hours: int = Field(72, alias="GROUP_COMPLAINT_WINDOW_HOURS", gt=0)
    group_complaint_threshold: int = Field(3, alias="GROUP_COMPLAINT_THRESHOLD", ge=2,
                                           description="distinct customers (same batch or order, within the "
                                                       "window) that make a group complaint")
    repeat_window_days: int = Field(30, alias="REPEAT_WINDOW_DAYS", gt=0,
                                    description="a closed case this recent can still be repeated")

    # routing, SLA clocks and the sweep (shared/routing_rules.py, shared/sla.py; docs/routing-and-sla.md)
    config_cache_seconds: float = Field(30, alias="CONFIG_CACHE_SECONDS", ge=0,
                                        description="how long a function keeps routing/SLA config before re-reading")
    unclassified_alert_minutes: int = Field(15, alias="UNCLASSIFIED_ALERT_MINUTES", gt=0,
                                            description="a case still unclassified this long is re-driven")
    unassigned_alert_minutes: int = Field(15, alias="UNASSIGNED_ALERT_MINUTES", gt=0,
                                          description="a classified case without a department this long is re-routed")
    triage_alert_minutes: int = Field(240, alias="TRIAGE_ALERT_MINUTES", gt=0,
                                      description="a case waiting in triage this long is brought to a lead")
    queue_retry_minutes: int = Field(30, alias="QUEUE_RETRY_MINUTES", gt=0,
                                     description="how often a case waiting in a department queue is offered again")
    redrive_attempts: int = Field(3, alias="REDRIVE_ATTEMPTS", ge=1,
                                  description="re-drives of a stuck case before a person is told")
    staff_alert_reply_to: str | None = Field(None, alias="STAFF_ALERT_REPLY_TO",
                                             description="Reply-To of staff alert emails (default no-reply@<sender "
                                                         "domain>): never the complaints intake address")
    sweep_batch: int = Field(200, alias="SWEEP_BATCH", ge=1, le=1000,
                             description="cases one sweep handles per shard (the rest wait for the next)")

    # case notifications (functions/notifier; docs/notifications.md)
    secrets_cache_seconds: float = Field(300, alias="SECRETS_CACHE_SECONDS", ge=0,
                                         description="how long a function keeps a webhook signing secret")
    quiet_hours_max_receives: int = Field(4, alias="QUIET_HOURS_MAX_RECEIVES", ge=1,
                                          description="from this receive of a notifier message on, staff email/SMS "
                                                      "deferred by quiet hours goes out anyway (the queue "
                                                      "dead-letters after 5 receives)")

    # reports (functions/reports; docs/reports.md)
    reports_bucket: str | None = Field(None, alias="REPORTS_BUCKET",
                                       description="exports and report attachments too large to send inline")
    report_inline_bytes: int = Field(5 * 1024 * 1024, alias="REPORT_INLINE_BYTES", gt=0,
                                     description="an export (API answer, email attachments together) up to this "
                                                 "size is sent inline; a larger one goes to the reports bucket "
                                                 "behind a presigned link")
    report_link_expiry_seconds: int = Field(7 * 24 * 3600, alias="REPORT_LINK_EXPIRY_SECONDS", ge=60,
                                            le=7 * 24 * 3600, description="lifetime of a presigned export link")

    @property
    def mail_domain(self) -> str:
        """The domain of our Message-IDs (replies reference them)."""
        return self.sender_address.rpartition("@")[2] or "complaints.invalid"

    def required(self, name: str) -> str:
        value = getattr(self, name)
        if not value:
            raise ConfigurationError(f"{name.upper()} is not set for this function")
        return value


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
