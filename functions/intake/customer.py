"""The customer's side of a case, from the tracking page, with the tracking token (``X-Tracking-Token``):

* ``POST /complaints/{id}/messages`` ``{"text", "attachment_ids"}`` - write about the case (answer a
  question, add files); ``Idempotency-Key`` makes a retried post safe;
* ``POST /complaints/{id}/confirmation`` ``{"accept": true|false, "reason"}`` - accept the resolution
  (the case closes, the survey opens) or dispute it (it goes back to work, escalated);
* ``POST /complaints/{id}/feedback`` ``{"rating": 1-5, "aspects": {id: "good"|"bad"}, "comment"}`` -
  the satisfaction survey of a closed case, once.

A missing or wrong token answers exactly like an unknown number (404 ``not_found``); wrong tokens lock
the number for a while, and answers are rate limited (429 ``rate_limited``, ``docs/security.md``).
Every answer is the tracking view (:func:`functions.intake.views.customer_view`) of the case as it
now stands. The
transitions are :mod:`shared.customer_messages`, :mod:`shared.closure` and :mod:`shared.feedback`;
each write is conditional on the version read (a concurrent change: read again and retry).
"""
from __future__ import annotations

import hashlib
from typing import Annotated, Any, Callable, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from shared.http import ApiError, endpoint, header, json_response, parse_json_body
from shared.models import DESCRIPTION_MAX, AttachmentIds

IDEMPOTENCY_KEY_MAX = 255
SAVE_ATTEMPTS = 3
REASON_MAX = 2_000


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class MessageIn(_Body):
    text: Annotated[str, StringConstraints(min_length=1, max_length=DESCRIPTION_MAX)]
    attachment_ids: AttachmentIds = []


class ConfirmationIn(_Body):
    accept: bool = Field(strict=True)
    reason: Annotated[str, StringConstraints(max_length=REASON_MAX)] | None = None

    @model_validator(mode="after")
    def _reason_for_a_dispute(self) -> "ConfirmationIn":
        if not self.accept and not self.reason:
            raise ValueError("tell us why the resolution does not solve your problem (reason)")
        return self


class FeedbackIn(_Body):
    rating: int = Field(strict=True, ge=1, le=5)
    aspects: dict[Annotated[str, StringConstraints(max_length=40)], Literal["good", "bad"]] = Field(
        {}, max_length=20)
    comment: Annotated[str, StringConstraints(max_length=REASON_MAX)] | None = None


# -- the routes ------------------------------------------------------------------------------------------
@endpoint
def post_message(request: Any, complaint_id: str):
    from functions.intake.api import intake
    from functions.intake.service import AttachmentsInvalid
    from shared.customer_messages import customer_message

    number, case, _ = _tracked(request, complaint_id)
    key = _idempotency_key(request)
    body = MessageIn.model_validate(_body(request))
    claim = _Claim(number, key, body) if key else None
    if claim and claim.replayed():
        return _view(number, 201, {"Idempotent-Replayed": "true"})
    try:
        attachments = intake().checked_attachments(body.attachment_ids)  # the form's own checks
    except AttachmentsInvalid as exc:
        raise ApiError(422, "invalid_attachments", "some attachments cannot be used", exc.problems) from None

    def transition(case: Any, at: Any, configs: Any):
        return customer_message(case, text=body.text, attachments=attachments, at=at, configs=configs)

    def also(before: Any, after: Any, at: Any) -> list[dict[str, Any]]:
        repo = _repo()
        ops = repo.attachment_ops(number, body.attachment_ids)
        return ops + ([claim.op(repo, at)] if claim else [])

    try:
        _transact(number, case, transition, also, on_condition=lambda i: _message_condition(i, body, claim))
    except _Replayed:
        return _view(number, 201, {"Idempotent-Replayed": "true"})
    return _view(number, 201)


@endpoint
def confirm(request: Any, complaint_id: str):
    from shared.closure import confirm as accept, dispute

    number, case, timeline = _tracked(request, complaint_id)
    body = ConfirmationIn.model_validate(_body(request))
    if _already_answered(case, timeline, body):
        return _view(number)

    def transition(case: Any, at: Any, configs: Any):
        if body.accept:
            return accept(case, at=at, configs=configs)
        return dispute(case, reason=body.reason or "", at=at, configs=configs)

    _transact(number, case, transition, repeat=lambda c, t: _already_answered(c, t, body))
    return _view(number)


@endpoint
def feedback(request: Any, complaint_id: str):
    from shared.feedback import answer, feedback_store, same_answer

    number, case, _ = _tracked(request, complaint_id)
    body = FeedbackIn.model_validate(_body(request))

    def repeated(case: Any, _timeline: Any) -> bool:
        return case.feedback is not None and same_answer(case.feedback, rating=body.rating, aspects=body.aspects,
                                                         comment=body.comment)

    if repeated(case, None):
        return _view(number)

    def transition(case: Any, at: Any, configs: Any):
        return answer(case, rating=body.rating, aspects=body.aspects, comment=body.comment, at=at,
                      workflow=configs.current("workflow").config)

    _transact(number, case, transition, lambda before, after, at: feedback_store().ops(after), repeat=repeated)
    return _view(number, 201)


# -- reading the case with its token ---------------------------------------------------------------------
def _tracked(request: Any, complaint_id: str) -> tuple[str, Any, list]:
    """The number, case and timeline, if the token is one of the case's (404 as for an unknown number);
    429 once the client's or the case's answers exceed their limits (``answer_ip``, ``answer_case``)."""
    from functions.intake.api import limited, tracked_case
    from shared.rate_limits import rate_limiter

    case, timeline = tracked_case(request, complaint_id, scope="answer_ip")
    with limited():
        rate_limiter(request).hit("answer_case", case.complaint_id)
    return case.complaint_id, case, timeline


def _view(number: str, status: int = 200, headers: dict[str, str] | None = None):
    from functions.intake.views import customer_view

    return json_response(customer_view(*_repo().get(number)), status, headers)


def _body(request: Any) -> dict[str, Any]:
    from shared.config import settings

    return parse_json_body(request, settings().max_request_bytes)


def _repo():
    from shared.store import complaint_repository

    return complaint_repository()


# -- writing a transition --------------------------------------------------------------------------------
class _Replayed(Exception):
    """A request with the same Idempotency-Key got there first."""


def _transact(number: str, case: Any, transition: Callable, also: Callable | None = None, *,
              repeat: Callable[[Any, list], bool] | None = None,
              on_condition: Callable[[list[int]], None] | None = None) -> None:
    """Apply ``transition`` to the case and save it conditional on the version read, with ``also``'s
    operations, the handler's load operations (:func:`shared.closure.load_ops`) and the events (then
    announced). A concurrent change is read again and retried; ``repeat`` (the same request done
    meanwhile) ends it quietly. A load counter that refuses its change (a handler removed from the
    directory, a count already at zero) does not stop the customer's answer: it is saved without it."""
    from shared.case_events import announce_now
    from shared.clock import now
    from shared.closure import ClosureRefused, load_ops
    from shared.config_store import config_store
    from shared.observability import logger
    from shared.repository import ConditionFailed, StaleVersion
    from shared.staff_directory import staff_directory

    repo = _repo()
    for attempt in range(SAVE_ATTEMPTS):
        if attempt:  # the case changed since it was read: take it as it now is
            case, timeline = repo.get(number)
            if repeat and repeat(case, timeline):
                return
        at = now()
        try:
            done = transition(case, at, config_store())
        except ClosureRefused as exc:
            raise ApiError(exc.status, exc.code, exc.message) from None
        ops = [*done.also, *(also(case, done.case, at) if also else [])]
        load = load_ops(case, done.case, staff_directory())
        try:
            try:
                repo.save(done.case, done.entries, expected_version=case.version, also=ops + load,
                          events=done.events)
            except ConditionFailed as exc:
                if not load or min(exc.indexes) < len(ops):
                    raise
                logger().warning("handler load not adjusted: the directory refused it",
                                 extra={"complaint_id": number, "assignee": done.case.assignee})
                repo.save(done.case, done.entries, expected_version=case.version, also=ops, events=done.events)
        except StaleVersion:
            continue
        except ConditionFailed as exc:
            if on_condition is not None:
                on_condition(exc.indexes)
            raise
        logger().info("customer answered", extra={"complaint_id": number, "status": done.case.status.value,
                                                  "events": [e.kind for e in done.events]})
        announce_now(done.events)
        return
    raise ApiError(409, "busy", "the complaint is being updated; please try again in a moment")


def _already_answered(case: Any, timeline: list, body: ConfirmationIn) -> bool:
    """The same answer was taken already (a double submit, a retry after a lost answer)."""
    from shared.lifecycle import Status

    if body.accept:
        return case.status == Status.CLOSED and case.closure == "confirmed"
    if case.status in (Status.RESOLVED, Status.RESOLUTION_PROPOSED, Status.CLOSED):
        return False
    last = next((e for e in sorted(timeline, key=lambda e: e.at, reverse=True)
                 if e.kind.value in ("disputed", "confirmed") or (e.kind.value == "status_changed" and e.status
                                                                  and e.status.value == "resolved")), None)
    return last is not None and last.kind.value == "disputed" and last.text == (body.reason or "").strip()


# -- Idempotency-Key for messages ------------------------------------------------------------------------
def _idempotency_key(request: Any) -> str | None:
    key = header(request, "Idempotency-Key")
    if key is not None and not (0 < len(key.strip()) <= IDEMPOTENCY_KEY_MAX):
        raise ApiError(400, "invalid_idempotency_key", f"Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_MAX} characters",
                       [{"field": "Idempotency-Key", "problem": "empty or too long"}])
    return key.strip() if key else None


class _Claim:
    """The key's record (the submission's layout: ``PK = IDEMPOTENCY#<hash>``), scoped to the case."""

    def __init__(self, number: str, key: str, body: MessageIn):
        self.number = number
        self.key_hash = hashlib.sha256(f"complaints:message:{number}:{key}".encode()).hexdigest()
        self.request_hash = hashlib.sha256(body.model_dump_json().encode()).hexdigest()

    def replayed(self) -> bool:
        """True when this key was used for this very message (nothing to write); 422 when for another."""
        import time

        record = _repo().idempotency_record(self.key_hash)
        if record is None or int(record.get("expires_at", 0)) < time.time():
            return False
        if record.get("request_hash") != self.request_hash:
            raise ApiError(422, "idempotency_key_reused",
                           "this Idempotency-Key was already used for a different message")
        return True

    def op(self, repo: Any, at: Any) -> dict[str, Any]:
        from shared.config import settings
        from shared.repository import expiry, iso

        return repo.idempotency_op(self.key_hash, {
            "request_hash": self.request_hash, "complaint_id": self.number, "received_at": iso(at),
            "expires_at": expiry(settings().idempotency_ttl_hours)})


def _message_condition(indexes: list[int], body: MessageIn, claim: _Claim | None) -> None:
    """A condition of the message's extra operations failed: an attachment was taken meanwhile, or
    the same key's request got there first."""
    attachments = len(body.attachment_ids)
    if claim and attachments in indexes:
        if claim.replayed():
            raise _Replayed()
    bad = [body.attachment_ids[i] for i in indexes if i < attachments]
    if bad:
        raise ApiError(422, "invalid_attachments", "some attachments cannot be used", [
            {"field": "attachment_ids", "problem": f"{a} is unknown, expired or already used"} for a in bad])
