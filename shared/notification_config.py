"""Notification settings (config kind ``notifications``): outbound webhooks per department (Slack-,
Feishu-, WeCom-style receivers or a generic JSON receiver), signed with HMAC-SHA256 and retried with
backoff (``functions/notifier/webhooks.py``; docs/notifications.md). The signing secret is not in the
configuration: ``secret_name`` names it in AWS Secrets Manager (deployed, the notifier reads only
``complaints/<stage>/*``). The bundled default (``shared/notifications_config.json``) has no webhooks."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from shared.events import STAFF_KINDS


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Webhook(_Config):
    webhook_id: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,39}$")]
    url: Annotated[str, StringConstraints(pattern=r"^https?://[^\s]+$", max_length=2_000)]
    format: Literal["generic", "slack", "feishu", "wecom"] = "generic"
    secret_name: Annotated[str, StringConstraints(min_length=1, max_length=512)]
    kinds: list[str] = []  # the staff-facing case event kinds it receives; [] = all of them
    language: Literal["zh", "en"] = "en"  # of the post's text

    @field_validator("kinds")
    @classmethod
    def _staff_kinds(cls, value: list[str]) -> list[str]:
        unknown = [k for k in value if k not in STAFF_KINDS]
        if unknown:
            raise ValueError(f"not staff event kinds: {', '.join(unknown)} (one of {', '.join(STAFF_KINDS)})")
        return list(dict.fromkeys(value))


class DepartmentNotifications(_Config):
    department: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,39}$")]
    webhooks: Annotated[list[Webhook], Field(max_length=10)] = []


class NotificationConfig(_Config):
    departments: list[DepartmentNotifications] = []
    webhook_attempts: int = Field(4, ge=1, le=10)  # tries per delivery before the event is retried by SQS
    webhook_backoff_seconds: float = Field(0.5, ge=0, le=30)  # first pause; doubled after each failure
    webhook_timeout_seconds: float = Field(5, gt=0, le=30)

    def webhooks_for(self, department: str | None) -> list[Webhook]:
        found = next((d for d in self.departments if d.department == department), None)
        return list(found.webhooks) if found else []
