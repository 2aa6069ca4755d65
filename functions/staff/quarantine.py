"""Quarantined email for staff: why each message was held, the raw message to inspect, and a
re-drive that sends it through the email intake again (e.g. after a parser fix, or when a sender
who hit the hourly limit turns out to be genuine)."""
from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote_plus

from functions.staff.api import LIMIT_DEFAULT, LIMIT_MAX, staff
from shared.http import ApiError, endpoint, json_response
from shared.policy import require
from shared.repository import InvalidCursor

_FIELDS = ("quarantine_id", "state", "reason", "sender", "subject", "size", "defects", "received_at",
           "quarantined_at", "redriven_at", "redriven_by")


def _view(message: dict[str, Any]) -> dict[str, Any]:
    return {k: message.get(k) for k in _FIELDS}


@endpoint
def list_messages(request: Any):
    require(staff(request), "quarantine.read")
    from shared.store import mailbox

    from shared.http import query

    params = query(request, {"limit", "cursor"})
    limit = params.get("limit") or str(LIMIT_DEFAULT)
    if not limit.isdigit() or not 1 <= int(limit) <= LIMIT_MAX:
        raise ApiError(400, "invalid_query", "limit must be 1 to 100", [{"field": "limit", "problem": "out of range"}])
    try:
        messages, cursor = mailbox().quarantined(limit=int(limit), cursor=params.get("cursor"))
    except InvalidCursor as exc:
        raise ApiError(400, "invalid_query", str(exc), [{"field": "cursor", "problem": str(exc)}]) from None
    return json_response({"messages": [_view(m) for m in messages], "next_cursor": cursor})


@endpoint
def get_message(request: Any, quarantine_id: str):
    require(staff(request), "quarantine.read")
    from shared.aws import client
    from shared.http import query
    from shared.store import mailbox

    query(request)
    message = mailbox().quarantined_message(quarantine_id)
    if message is None:
        raise ApiError(404, "not_found", "no quarantined message with this id")
    raw_url = client("s3").generate_presigned_url(
        "get_object", Params={"Bucket": message["bucket"], "Key": message["key"],
                              "ResponseContentType": "message/rfc822"}, ExpiresIn=900)
    return json_response({**_view(message), "raw_message_url": raw_url})


@endpoint
def redrive(request: Any, quarantine_id: str):
    principal = staff(request)
    require(principal, "quarantine.redrive")
    from shared.aws import client
    from shared.config import settings
    from shared.http import no_body
    from shared.store import mailbox

    no_body(request)

    box = mailbox()
    message = box.quarantined_message(quarantine_id)
    if message is None:
        raise ApiError(404, "not_found", "no quarantined message with this id")
    if message["state"] != "quarantined":
        raise ApiError(409, "already_redriven", "this message was already re-driven")
    box.request_redrive(message, actor=principal.subject)
    client("sqs").send_message(
        QueueUrl=settings().required("email_intake_queue_url"),
        MessageBody=json.dumps({"Records": [{
            "eventSource": "aws:s3", "eventName": "ObjectCreated:Redrive", "eventTime": message["received_at"],
            "s3": {"bucket": {"name": message["bucket"]}, "object": {"key": quote_plus(message["key"])}},
        }]}),
    )
    return json_response({"quarantine_id": quarantine_id, "state": "redriven"}, 202)
