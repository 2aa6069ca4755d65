"""A staff member's own notification preferences (``shared/preferences.py``).

``GET /staff/me/preferences`` answers the caller's preferences (defaults until they save some):
``{"email", "sms", "phone", "quiet_hours": {"start", "end", "time_zone"} | null, "muted_kinds",
"version", "updated_at"}``. ``PUT /staff/me/preferences`` replaces them with the body (the same
fields but ``version``/``updated_at``; a field left out takes its default) and answers the result;
422 for values that are not valid (``{"quiet_hours": "not hours"}``, a phone without its country
code, SMS without a phone, an unknown or always-urgent kind to mute). Nobody reads or sets
another's: the token's subject is the key.
"""
from __future__ import annotations

from typing import Any

from functions.staff.api import staff
from shared.http import endpoint, json_response, parse_json_body
from shared.policy import require


@endpoint
def get_preferences(request: Any):
    principal = staff(request)
    require(principal, "preferences.set")
    from shared.http import query
    from shared.preferences import preference_store

    query(request)
    return json_response(preference_store().get(principal.subject).view())


@endpoint
def put_preferences(request: Any):
    principal = staff(request)
    require(principal, "preferences.set")
    from shared.clock import now
    from shared.config import settings
    from shared.observability import logger
    from shared.preferences import PreferencesIn, preference_store

    body = PreferencesIn.model_validate(parse_json_body(request, settings().max_request_bytes))
    saved = preference_store().put(principal.subject, body, at=now())
    logger().info("notification preferences saved", extra={
        "email": saved.email, "sms": saved.sms, "quiet_hours": saved.quiet_hours is not None,
        "muted_kinds": len(saved.muted_kinds), "version": saved.version})
    return json_response(saved.view())
