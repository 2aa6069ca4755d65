"""HTTP handlers of the intake: parse the request, call the domain, shape the answer."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

from shared.attachments import AttachmentRejected, attachment_store, check_upload
from functions.intake.service import AttachmentsInvalid, IdempotencyConflict, Intake
from functions.intake.views import customer_view
from shared.config import settings
from shared.http import ApiError, endpoint, header, json_response, parse_json_body
from shared.identifiers import InvalidComplaintNumber, new_attachment_id, normalize_complaint_number, \
    tracking_token_matches
from shared.models import AttachmentUploadRequest, ComplaintSubmission
from shared.repository import AttachmentUpload, iso
from shared.store import complaint_repository, event_publisher, field_cipher

IDEMPOTENCY_KEY_MAX = 255


@lru_cache(maxsize=1)
def intake() -> Intake:
    return Intake(complaint_repository(), event_publisher(), attachment_store(), field_cipher(), settings())


@endpoint
def submit_complaint(request: Any):
    key = header(request, "Idempotency-Key")
    if key is not None and not (0 < len(key.strip()) <= IDEMPOTENCY_KEY_MAX):
        raise ApiError(400, "invalid_idempotency_key", f"Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_MAX} characters",
                       [{"field": "Idempotency-Key", "problem": "empty or too long"}])
    submission = ComplaintSubmission.model_validate(parse_json_body(request, settings().max_request_bytes))
    try:
        receipt = intake().submit(submission, idempotency_key=key.strip() if key else None)
    except IdempotencyConflict:
        raise ApiError(409, "idempotency_key_reused",
                       "this Idempotency-Key was already used for a different complaint") from None
    except AttachmentsInvalid as exc:
        raise ApiError(422, "invalid_attachments", "some attachments cannot be used", exc.problems) from None
    headers = {"Location": f"/complaints/{receipt.complaint_id}"}
    if receipt.replayed:
        headers["Idempotent-Replayed"] = "true"
    return json_response(receipt.as_json(), 201, headers)


@endpoint
def request_attachment_upload(request: Any):
    s = settings()
    ask = AttachmentUploadRequest.model_validate(parse_json_body(request, 16 * 1024))
    try:
        filename, content_type = check_upload(ask.filename, ask.content_type, ask.size, s.attachment_max_bytes)
    except AttachmentRejected as exc:
        status, code = (413, "attachment_too_large") if exc.field == "size" else (422, "attachment_not_allowed")
        raise ApiError(status, code, exc.problem, [{"field": exc.field, "problem": exc.problem}]) from None
    attachment_id = new_attachment_id()
    key = f"attachments/{attachment_id}"
    expires = datetime.now(timezone.utc) + timedelta(seconds=s.attachment_upload_expiry_seconds)
    complaint_repository().record_attachment_upload(AttachmentUpload(
        attachment_id=attachment_id, filename=filename, content_type=content_type, key=key,
        max_bytes=s.attachment_max_bytes, expires_at=int(expires.timestamp()) + 86_400,
    ))
    upload = attachment_store().presign_upload(key, content_type, s.attachment_max_bytes,
                                               s.attachment_upload_expiry_seconds)
    return json_response({
        "attachment_id": attachment_id, "filename": filename, "content_type": content_type,
        "max_bytes": s.attachment_max_bytes, "expires_at": iso(expires),
        "upload": {"method": "POST", "url": upload["url"], "fields": upload["fields"], "file_field": "file"},
    }, 201)


@endpoint
def track_complaint(request: Any, complaint_id: str):
    return json_response(customer_view(*tracked_case(request, complaint_id)))


def tracked_case(request: Any, complaint_id: str) -> tuple[Any, list]:
    """The case and its timeline, if the request's ``X-Tracking-Token`` is one of the case's; else 404
    exactly as for an unknown number (400 for a number that cannot be one)."""
    try:
        number = normalize_complaint_number(complaint_id)
    except InvalidComplaintNumber as exc:
        raise ApiError(400, "invalid_complaint_number", str(exc),
                       [{"field": "complaint_id", "problem": str(exc)}]) from None
    found = complaint_repository().get(number)
    token = header(request, "X-Tracking-Token")
    # compared even when the case does not exist, so both answers take the same time
    matches = [tracking_token_matches(token, h) for h in (found[0].tracking_token_hashes if found else [None])]
    if found is None or not any(matches):
        raise ApiError(404, "not_found", "no complaint with this number and tracking token")
    return found
