"""Every route that changes something refuses unknown and oversized input with a 4xx naming the problem,
never a 5xx, and stores nothing.

The routes come from the app's own route table (``app.routes``): a new POST/PUT/PATCH/DELETE route
without an entry in :data:`ROUTES` fails :func:`test_every_mutating_route_has_an_entry`, so nobody adds
one without saying how its input is bounded. Each entry gives a valid body, a field made too long (or
too large) and the request models behind the route; for every entry three requests are sent - the valid
body plus an unknown field (422 naming it), the oversized field (422 naming it), a body larger than the
route's cap (413) - and the table must hold the same items afterwards. The models themselves are
checked too: every string, list, map and number of their JSON schema has a bound, every object
forbids unknown fields.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import boto3
import pytest

from tests.support import a_complaint, post_json

MUTATING = {"POST", "PUT", "PATCH", "DELETE"}
UNKNOWN = "surprise_field"
HANDLER = "staff-hana"
TASK = "task-input-limits"


@dataclass(frozen=True)
class Entry:
    """How one mutating route's input is bounded."""

    body: dict[str, Any] | None  # a valid body (None: the route takes none)
    oversized: tuple[str, Any] | None  # (field, too long a value) - the error names the field
    models: tuple[Any, ...] = ()  # the request models (their JSON schema is checked)
    role: str | None = "manager"  # who sends it (None: the public API, with the case's tracking token)
    departments: tuple[str, ...] = ("quality",)
    unbounded: dict[str, str] = field(default_factory=dict)  # schema path -> why it may be unbounded


def _models() -> dict[str, Any]:
    from functions.intake.customer import ConfirmationIn, FeedbackIn, MessageIn
    from functions.staff.routing import Assignment, Availability, Claim, ConfigChange, Transfer
    from functions.staff.tasks import CloseTaskIn
    from functions.staff.triage import CorrectionIn
    from shared.models import AttachmentUploadRequest, ComplaintSubmission
    from shared.preferences import PreferencesIn
    from shared.staff_directory import HandlerProfileIn
    from shared.workflow import Command

    found = dict(locals())
    try:
        from shared.privacy import ErasureIn, ExportIn

        found.update(ErasureIn=ErasureIn, ExportIn=ExportIn)
    except ImportError:
        pass
    return found


M = _models()


def _routing() -> dict[str, Any]:
    from shared.config_store import bundled

    return bundled("routing").config.model_dump(mode="json", exclude_none=True)


ROUTING = _routing()
LONG = "x" * 20_001

ROUTES: dict[tuple[str, str], Entry] = {
    # -- the public API (customers) --------------------------------------------------------------------
    ("POST", "/complaints"): Entry(a_complaint(), ("description", LONG), (M["ComplaintSubmission"],), role=None),
    ("POST", "/complaints/attachments"): Entry(
        {"filename": "photo.png", "content_type": "image/png", "size": 100}, ("filename", "a" * 300 + ".png"),
        (M["AttachmentUploadRequest"],), role=None),
    ("POST", "/complaints/{complaint_id}/messages"): Entry({"text": "Here is the receipt."}, ("text", LONG),
                                                          (M["MessageIn"],), role=None),
    ("POST", "/complaints/{complaint_id}/confirmation"): Entry({"accept": False, "reason": "Still broken."},
                                                              ("reason", "r" * 2_001), (M["ConfirmationIn"],), role=None),
    ("POST", "/complaints/{complaint_id}/feedback"): Entry({"rating": 4, "comment": "Fine."}, ("comment", "c" * 2_001),
                                                          (M["FeedbackIn"],), role=None),
    # -- the staff API -------------------------------------------------------------------------------------
    ("POST", "/staff/quarantine/{quarantine_id}/redrive"): Entry(None, None),
    ("POST", "/staff/inbox/{item_id}/read"): Entry(None, None),
    ("POST", "/staff/complaints/{complaint_id}/classification"): Entry(
        {"category": "food_safety", "version": 2}, ("reason", "r" * 501), (M["CorrectionIn"],)),
    ("PUT", "/staff/config/{kind}"): Entry(
        {"version": 0, "config": ROUTING}, ("comment", "c" * 501), (M["ConfigChange"],), role="admin",
        unbounded={"config": "each kind's own model validates it (shared/config_store.py); the body cap bounds it"}),
    ("PUT", "/staff/handlers/{handler_id}"): Entry(
        {"name": "Hana", "departments": ["quality"]}, ("name", "n" * 101), (M["HandlerProfileIn"],), role="admin"),
    ("PUT", "/staff/handlers/{handler_id}/availability"): Entry({"on_duty": True}, ("on_duty", "x" * 10),
                                                                 (M["Availability"],)),
    ("POST", "/staff/complaints/{complaint_id}/actions"): Entry(
        {"action": "note", "version": 2, "text": "Called the customer."}, ("text", LONG), (M["Command"],),
        unbounded={"components[].amount": "a Decimal (its schema's string form): max_digits 12, at most 10,000,000"}),
    ("POST", "/staff/complaints/{complaint_id}/tasks/{task_id}"): Entry(
        {"state": "done", "outcome": "Batch fine.", "version": 2}, ("outcome", "o" * 2_001), (M["CloseTaskIn"],)),
    ("PUT", "/staff/me/preferences"): Entry({"email": True}, ("phone", "+86" + "1" * 40), (M["PreferencesIn"],)),
    ("POST", "/staff/complaints/{complaint_id}/claim"): Entry({"version": 2}, ("version", 2**60), (M["Claim"],),
                                                             role="agent"),
    ("POST", "/staff/complaints/{complaint_id}/assignment"): Entry(
        {"handler_id": HANDLER, "reason": "Knows the batch.", "version": 2}, ("reason", "r" * 1_001),
        (M["Assignment"],)),
    ("POST", "/staff/complaints/{complaint_id}/transfer"): Entry(
        {"department": "logistics", "reason": "A delivery problem.", "version": 2}, ("reason", "r" * 1_001),
        (M["Transfer"],)),
}
if "ExportIn" in M:  # data-subject requests (shared/privacy.py)
    ROUTES[("POST", "/staff/privacy/export")] = Entry({"email": "li.wei@example.com"}, ("member_id", "m" * 65),
                                                      (M["ExportIn"],), role="admin")
    ROUTES[("POST", "/staff/privacy/erasure")] = Entry(
        {"email": "li.wei@example.com", "reason": "The customer asked."}, ("reason", "r" * 1_001),
        (M["ErasureIn"],), role="admin")


def mutating_routes() -> set[tuple[str, str]]:
    from functions.app import app

    return {(method, path) for path, methods in app.routes.items() for method in methods if method in MUTATING}


# -- the world the requests act on -------------------------------------------------------------------------
@pytest.fixture
def world(client, aws) -> dict[str, str]:
    """A case at version 2 in quality's work with an open task, and a handler in the directory."""
    from shared.models import InvestigationTask
    from shared.lifecycle import Status
    from shared.staff_directory import HandlerProfileIn, staff_directory
    from shared.store import complaint_repository

    receipt = json.loads(post_json(client, "/complaints", a_complaint()).body)
    repo = complaint_repository()
    case, _ = repo.get(receipt["complaint_id"])
    now = datetime.now(timezone.utc)
    task = InvestigationTask(task_id=TASK, department="quality", title="Test the batch", due_at=now + timedelta(days=3),
                             opened_by="staff:staff-test", opened_at=now)
    repo.save(case.model_copy(update={"status": Status.IN_PROGRESS, "department": "quality", "tasks": [task],
                                      "version": case.version + 1, "updated_at": now}), [],
              expected_version=case.version)
    staff_directory().put_profile(HANDLER, HandlerProfileIn(name="Hana", departments=["quality"]))
    return {"complaint_id": receipt["complaint_id"], "tracking_token": receipt["tracking_token"], "task_id": TASK,
            "handler_id": HANDLER, "kind": "routing", "quarantine_id": "quarantine-1", "item_id": "item-1"}


def send(client, make_token, world, method: str, path: str, entry: Entry, raw: bytes):
    headers = {"Content-Type": "application/json"}
    if entry.role is None:
        headers["X-Tracking-Token"] = world["tracking_token"]
    else:
        headers["Authorization"] = "Bearer " + make_token(role=entry.role, departments=list(entry.departments))
    url = re.sub(r"\{(\w+)\}", lambda m: world[m[1]], path)
    return client.http.request(method, url, body=raw, headers=headers)


def table_items(aws) -> list[dict]:
    """Everything the table holds (test code only: no request path scans), rate counters aside."""
    db, items, kwargs = boto3.client("dynamodb"), [], {"TableName": aws["TABLE_NAME"]}
    while True:
        out = db.scan(**kwargs)
        items += [i for i in out["Items"] if not i["PK"]["S"].startswith("RATE#")]
        if "LastEvaluatedKey" not in out:
            return sorted(items, key=lambda i: (i["PK"]["S"], i["SK"]["S"]))
        kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]


def named(res, name: str) -> bool:
    """Whether the error answer names ``name`` (a discriminated union prefixes its tag: ``note.text``)."""
    body = json.loads(res.body)
    assert set(body) == {"error", "message", "details"}, body
    return any(d["field"] == name or d["field"].endswith("." + name) for d in body["details"])


# -- the tests ------------------------------------------------------------------------------------------------
def test_every_mutating_route_has_an_entry():
    routes = mutating_routes()
    assert routes - set(ROUTES) == set(), "add an entry (its valid body, an oversized field, its models) to ROUTES"
    assert set(ROUTES) - routes == set(), "an entry for a route the app no longer has"


@pytest.mark.parametrize("method, path", sorted(ROUTES), ids=[f"{m} {p}" for m, p in sorted(ROUTES)])
def test_unknown_or_oversized_input_is_refused_by_name_and_changes_nothing(client, make_token, aws, world,
                                                                           method, path):
    from shared.config import settings

    entry = ROUTES[(method, path)]
    before = table_items(aws)

    unknown = send(client, make_token, world, method, path, entry,
                   json.dumps({**(entry.body or {}), UNKNOWN: "anything"}).encode())
    assert unknown.status_code == 422 and named(unknown, UNKNOWN), unknown.body
    assert {"field": UNKNOWN, "problem": "unknown field"} in [
        {**d, "field": d["field"].rpartition(".")[2]} for d in json.loads(unknown.body)["details"]]

    if entry.oversized is not None:
        name, value = entry.oversized
        oversized = send(client, make_token, world, method, path, entry,
                         json.dumps({**(entry.body or {}), name: value}).encode())
        assert oversized.status_code == 422 and named(oversized, name), oversized.body

    too_large = send(client, make_token, world, method, path, entry,
                     json.dumps({**(entry.body or {}), "pad": "p" * settings().max_request_bytes}).encode())
    assert too_large.status_code == 413 and json.loads(too_large.body)["error"] == "payload_too_large", too_large.body

    assert table_items(aws) == before, "a refused request changed the store"


def test_the_valid_bodies_are_accepted(client, make_token, aws, world):
    """The entries' bodies are real: without the bad part they get past validation (no 400/413/422)."""
    for (method, path), entry in sorted(ROUTES.items()):
        if entry.body is None:
            continue
        res = send(client, make_token, world, method, path, entry, json.dumps(entry.body).encode())
        assert res.status_code not in (400, 413, 422) and res.status_code < 500, (method, path, res.status_code, res.body)


# -- the models' schemas ----------------------------------------------------------------------------------------
_UNBOUNDED_REPEAT = re.compile(r"(?<!\\)[*+]|\{\d+,\}")


def _bounded_pattern(pattern: str) -> bool:
    """An anchored regular expression without unbounded repetition (``*``, ``+``, ``{n,}``)."""
    without_classes = re.sub(r"\[(?:\\.|[^\]])*\]", "C", pattern)
    return pattern.startswith("^") and pattern.endswith("$") and not _UNBOUNDED_REPEAT.search(without_classes)


def unbounded(schema: dict, defs: dict, path: str = "", allowed: dict[str, str] | None = None) -> list[str]:
    """The paths in a JSON schema where a value has no upper bound."""
    allowed = allowed or {}
    if path in allowed:
        return []
    if "$ref" in schema:
        return unbounded(defs[schema["$ref"].rsplit("/", 1)[-1]], defs, path, allowed)
    problems: list[str] = []
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key, []):
            problems += unbounded(sub, defs, path, allowed)
    if "enum" in schema or "const" in schema:
        return problems
    kind = schema.get("type")
    if kind == "string":
        if not ("maxLength" in schema or _bounded_pattern(schema.get("pattern", ""))
                or schema.get("format") in ("date", "date-time", "email")):
            problems.append(f"{path}: a string without maxLength")
    elif kind in ("integer", "number"):
        if "maximum" not in schema and "exclusiveMaximum" not in schema:
            problems.append(f"{path}: a number without maximum")
    elif kind == "array":
        if "maxItems" not in schema:
            problems.append(f"{path}: a list without maxItems")
        problems += unbounded(schema.get("items", {}), defs, path + "[]", allowed)
    elif kind == "object":
        for name, sub in schema.get("properties", {}).items():
            problems += unbounded(sub, defs, f"{path}.{name}".lstrip("."), allowed)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            if "maxProperties" not in schema:
                problems.append(f"{path}: a map without maxProperties")
            problems += unbounded(schema.get("propertyNames", {"type": "string"}), defs, path + "{key}", allowed)
            problems += unbounded(extra, defs, path + "{}", allowed)
        elif extra is not False and schema.get("properties"):
            problems.append(f"{path}: an object that takes unknown fields")
        elif extra is None and not schema.get("properties"):
            problems.append(f"{path}: an object of any shape")
    return problems


MODELS = list({id(m): (m, tuple(sorted(entry.unbounded.items())))
               for entry in ROUTES.values() for m in entry.models}.values())


@pytest.mark.parametrize("model, allowed", MODELS,
                         ids=[next(k for k, v in M.items() if v is m) for m, _ in MODELS])
def test_every_request_model_bounds_every_value_and_forbids_unknown_fields(model, allowed):
    from pydantic import BaseModel, TypeAdapter

    schema = model.model_json_schema() if isinstance(model, type) and issubclass(model, BaseModel) \
        else TypeAdapter(model).json_schema()
    assert unbounded(schema, schema.get("$defs", {}), allowed=dict(allowed)) == []
