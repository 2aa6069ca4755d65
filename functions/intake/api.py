"""HTTP handlers of the intake: parse the request, call the domain, shape the answer."""
from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any, Iterator

from shared.attachments import AttachmentRejected, attachment_store, check_upload
from functions.intake.service import AttachmentsInvalid, IdempotencyConflict, Intake
from shared.config import settings
from shared.http import ApiError, endpoint, header, json_response, parse_json_body, query
from shared.identifiers import InvalidComplaintNumber, new_attachment_id, normalize_complaint_number, \
    tracking_token_matches
from shared.models import AttachmentUploadRequest, ComplaintSubmission
from shared.observability import logger
from shared.rate_limits import RateLimited, rate_limiter
from shared.repository import AttachmentUpload, iso
from shared.store import complaint_repository, event_publisher, field_cipher

IDEMPOTENCY_KEY_MAX = 255


@lru_cache(maxsize=1)
def intake() -> Intake:
    return Intake(complaint_repository(), event_publisher(), attachment_store(), field_cipher(), settings())


@endpoint
def submit_complaint(request: Any):
    """Limits per client IP (every attempt counts), then the body, the honeypot, the challenge and the
    limit per customer; a retry of a stored complaint (same Idempotency-Key and body) skips the last
    three, so a lost answer can always be fetched again."""
    limits = rate_limiter(request)
    with limited():
        limits.hit("submit_ip")
    key = header(request, "Idempotency-Key")
    if key is not None and not (0 < len(key.strip()) <= IDEMPOTENCY_KEY_MAX):
        raise ApiError(400, "invalid_idempotency_key", f"Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_MAX} characters",
                       [{"field": "Idempotency-Key", "problem": "empty or too long"}])
    key = key.strip() if key else None
    submission = ComplaintSubmission.model_validate(parse_json_body(request, settings().max_request_bytes))
    if submission.website:
        logger().info("submission refused", extra={"guard": "honeypot", "channel": submission.channel.value})
        raise ApiError(400, "rejected", "this submission cannot be accepted")
    verifier = _verifier(submission)
    if (limits.active or verifier) and not (key and intake().is_replay(key, submission)):
        if verifier:
            _challenge(verifier, submission, limits.ip)
        with limited():
            for contact in customer_keys(submission):
                limits.hit("submit_customer", contact)
    try:
        receipt = intake().submit(submission, idempotency_key=key)
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
    with limited():
        rate_limiter(request).hit("upload_ip")
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
    from functions.intake.views import customer_view  # the tracking page's view (and the closure rules it reads)

    query(request)
    return json_response(customer_view(*tracked_case(request, complaint_id, scope="track_ip")))


def tracked_case(request: Any, complaint_id: str, *, scope: str = "answer_ip") -> tuple[Any, list]:
    """The case and its timeline, if the request's ``X-Tracking-Token`` is one of the case's; else 404
    exactly as for an unknown number (400 for a number that cannot be one).

    Guessing tokens is pointless: the request counts against ``scope``'s limit per client IP, a locked
    number answers 429 whatever the token, and a wrong token is counted against the number - the
    failure that reaches the limit locks it (shared/rate_limits.py). Unknown numbers are counted and
    locked alike, so a lock tells nothing about a number's existence."""
    limits = rate_limiter(request)
    with limited():
        limits.hit(scope)
    try:
        number = normalize_complaint_number(complaint_id)
    except InvalidComplaintNumber as exc:
        raise ApiError(400, "invalid_complaint_number", str(exc),
                       [{"field": "complaint_id", "problem": str(exc)}]) from None
    with limited():
        last_lock = limits.locked(number)
    found = complaint_repository().get(number)
    token = header(request, "X-Tracking-Token")
    # compared even when the case does not exist, so both answers take the same time
    matches = [tracking_token_matches(token, h) for h in (found[0].tracking_token_hashes if found else [None])]
    if found is None or not any(matches):
        with limited():
            limits.token_failed(number, last_lock)
        raise ApiError(404, "not_found", "no complaint with this number and tracking token")
    return found


# -- abuse guards (docs/security.md, "Abuse") -------------------------------------------------------------
@contextmanager
def limited() -> Iterator[None]:
    """A limit reached as the API's answer: 429 ``rate_limited`` with ``Retry-After``."""
    try:
        yield
    except RateLimited as exc:
        raise ApiError(429, "rate_limited", f"too many requests; try again in {exc.retry_after} seconds",
                       headers={"Retry-After": str(exc.retry_after)}) from None


def customer_keys(submission: ComplaintSubmission) -> list[str]:
    """The submission's contacts, each a key of the per-customer limit (hashed by the store)."""
    from shared.contact import normalize_contact

    customer = submission.customer
    return [f"{kind}:{normalize_contact(kind, value)}" for kind, value in
            (("email", customer.email), ("phone", customer.phone)) if value]


def _verifier(submission: ComplaintSubmission) -> Any:
    """The challenge this submission must pass (None: no provider, or not for its channel)."""
    from shared.challenge import challenge_verifier, challenged

    verifier = challenge_verifier()
    return verifier if verifier.name != "none" and challenged(submission.channel.value) else None


def _challenge(verifier: Any, submission: ComplaintSubmission, ip: str | None) -> None:
    result = verifier.verify(submission.challenge_token, ip)
    if result.passed:
        return
    logger().info("submission refused", extra={"guard": "challenge", "reason": result.reason})
    if result.reason == "unavailable":
        raise ApiError(503, "challenge_unavailable", "the check that you are not a robot cannot be done right "
                                                     "now; please try again in a minute")
    raise ApiError(400, "challenge_failed", "the check that you are not a robot did not pass; please try again",
                   [{"field": "challenge_token", "problem": "missing, expired or refused"}])
