"""The API's OpenAPI document (``GET /openapi.json``, functions/openapi.py) and schemathesis against it.

* the document describes every route of ``app.routes``: staff routes need a bearer token, public ones
  none, every 4xx/5xx answer is the one error format;
* each GET route's documented query parameters are the ones its handler takes (each one sent is not
  refused as unknown; an undocumented one is a 400 ``invalid_query``);
* schemathesis generates at least :data:`MIN_REQUESTS` requests (valid ones, and invalid ones) across
  every operation, sent in-process through the Chalice test client with staff tokens of the roles the
  policy lets call each route, half of them about real cases; every answer must be no 5xx, a status the
  document lists, of a listed content type, and valid against the documented schema.
"""
from __future__ import annotations

import json
import os
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from tests.support import a_complaint, post_json

MIN_REQUESTS = 2_000
# examples per operation and mode (operations with few inputs use fewer); OPENAPI_FUZZ_SCALE=5 for a longer hunt
SCALE = float(os.environ.get("OPENAPI_FUZZ_SCALE") or 1)
POSITIVE, NEGATIVE = int(32 * SCALE), int(14 * SCALE)
ROLE_ORDER = ("manager", "admin", "auditor", "lead", "agent")
DEPARTMENT = "quality"
HANDLER = "staff-test-handler"
TASK = "task-openapi"
# GET routes that ignore query parameters instead of refusing unknown ones: pages and files
IGNORES_QUERY = {"/", "/track", "/console", "/console/{name}", "/static/{name}", "/health"}


def _doc(client) -> dict[str, Any]:
    answer = client.http.get("/openapi.json")
    assert answer.status_code == 200, answer.body
    return json.loads(answer.body)


def test_the_document_covers_every_route(client):
    from functions.app import app

    answer = client.http.get("/openapi.json")
    assert answer.headers["Content-Type"].startswith("application/json")
    assert "max-age" in answer.headers["Cache-Control"]
    doc = json.loads(answer.body)
    assert doc["openapi"].startswith("3.1")
    served = {(m.lower(), p) for p, methods in app.routes.items() for m in methods}
    documented = {(m, p) for p, ops in doc["paths"].items() for m in ops}
    assert served == documented
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if path.startswith("/staff"):
                assert op["security"] == [{"staffToken": []}], (method, path)
                assert op["x-roles"], f"{method} {path}: which roles may call it?"
                assert {"401", "403"} <= set(op["responses"]), (method, path)
            else:
                assert op["security"] == [], (method, path)
            for status, response in op["responses"].items():
                if status.startswith(("4", "5")) and (method, path) != ("get", "/health"):
                    assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
            if "requestBody" in op and op["requestBody"]["required"]:
                assert "422" in op["responses"] and "413" in op["responses"], (method, path)
    names = {p["name"] for p in doc["paths"]["/staff/complaints"]["get"]["parameters"]}
    assert {"status", "q", "limit", "cursor"} <= names
    body = doc["paths"]["/complaints"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/ComplaintSubmission"}
    assert "customer" in doc["components"]["schemas"]["ComplaintSubmission"]["properties"]
    assert "secret" not in answer.body.decode().lower()


def test_an_unknown_query_parameter_of_the_document_is_refused(client):
    assert client.http.get("/openapi.json?x=1").status_code == 400


def _tokens(make_token) -> dict[str, str]:
    return {role: make_token(role=role, departments=[DEPARTMENT], name=f"Test {role}") for role in ROLE_ORDER}


def _role(op: dict[str, Any], i: int = 0) -> str:
    roles = [r for r in ROLE_ORDER if r in op.get("x-roles", [])] or ["manager"]
    return roles[i % len(roles)]


def test_query_parameters_are_the_ones_the_handlers_take(client, make_token):
    doc = _doc(client)
    tokens = _tokens(make_token)
    sample = {"integer": "5", "boolean": "true"}
    checked = 0
    for path, ops in doc["paths"].items():
        op = ops.get("get")
        if op is None or path in IGNORES_QUERY or "{" in path:
            continue
        headers = {"Authorization": f"Bearer {tokens[_role(op)]}"} if path.startswith("/staff") else {}
        for param in [p for p in op.get("parameters", []) if p["in"] == "query"]:
            schema = param["schema"]
            value = (schema.get("enum") or [None])[0] or sample.get(schema.get("type"), "2026-11-02")
            answer = client.http.get(f"{path}?{param['name']}={value}", headers=headers)
            problems = json.loads(answer.body).get("details", []) if answer.status_code >= 400 else []
            assert {"field": param["name"], "problem": "unknown query parameter"} not in problems, (path, param)
            checked += 1
        answer = client.http.get(f"{path}?not_a_parameter=1", headers=headers)
        assert answer.status_code == 400, (path, answer.body)
        assert json.loads(answer.body)["error"] == "invalid_query", path
    assert checked >= 40


# -- schemathesis -----------------------------------------------------------------------------------------
@pytest.fixture
def world(client, aws, monkeypatch) -> dict[str, Any]:
    """Three submitted cases (one in quality's work with an open task) and a handler in the directory."""
    from shared.lifecycle import Status
    from shared.models import InvestigationTask
    from shared.staff_directory import HandlerProfileIn, staff_directory
    from shared.store import complaint_repository

    if os.environ.get("OPENAPI_FUZZ_RATE_LIMITS") == "on":  # the 429 answers too (loopback is not limited)
        monkeypatch.setenv("RATE_LIMIT_LOCAL", "on")
    else:
        monkeypatch.setenv("RATE_LIMITS", "off")  # the fuzzer is one client sending thousands of requests
    receipts = [json.loads(post_json(client, "/complaints", a_complaint(title=f"Case {i}")).body) for i in range(3)]
    repo = complaint_repository()
    case, _ = repo.get(receipts[0]["complaint_id"])
    now = datetime.now(timezone.utc)
    task = InvestigationTask(task_id=TASK, department=DEPARTMENT, title="Test the batch", due_at=now + timedelta(days=3),
                             opened_by="staff:staff-test", opened_at=now)
    repo.save(case.model_copy(update={"status": Status.IN_PROGRESS, "department": DEPARTMENT, "tasks": [task],
                                      "category": "food_safety", "priority": "P2", "version": case.version + 1, "updated_at": now}), [],
              expected_version=case.version)
    staff_directory().put_profile(HANDLER, HandlerProfileIn(name="Hana", departments=[DEPARTMENT]))
    return {"cases": [(r["complaint_id"], r["tracking_token"]) for r in receipts]}


class ChaliceSender:
    """Sends a schemathesis case through the Chalice test client and checks the answer."""

    def __init__(self, client, doc: dict[str, Any], tokens: dict[str, str], world: dict[str, Any]):
        from schemathesis import checks

        self.client, self.doc, self.tokens, self.world = client, doc, tokens, world
        self.checks = [checks.not_a_server_error, checks.status_code_conformance, checks.content_type_conformance,
                       checks.response_schema_conformance]
        self.calls: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()
        self.successes: Counter[str] = Counter()  # 2xx answers per operation
        self.failures: list[str] = []

    def _real(self, case: Any, n: int) -> None:
        """Every other case is about real things: a stored case (with its tracking token), a handler,
        a task, a configuration kind."""
        if n % 2:
            return
        number, token = self.world["cases"][(n // 2) % len(self.world["cases"])]
        params = case.path_parameters or {}
        if "complaint_id" in params:
            params["complaint_id"] = number
            if not case.path.startswith("/staff"):
                case.headers = {**(case.headers or {}), "X-Tracking-Token": token}
        if "task_id" in params:
            params["task_id"] = TASK
        if "handler_id" in params:
            params["handler_id"] = HANDLER
        if "kind" in params:
            params["kind"] = ("routing", "sla", "workflow", "responses", "notifications", "reports", "privacy")[n % 7]

    def send(self, case: Any, n: int, role: str | None = None) -> Any:
        import requests
        import schemathesis

        label = f"{case.method.upper()} {case.path}"
        op = self.doc["paths"][case.path][case.method.lower()]
        if role is None:
            self._real(case, n)
        if case.path.startswith("/staff"):
            token = self.tokens[role or _role(op, n)]
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}
        kwargs = case.as_transport_kwargs(base_url="http://testserver")
        prepared = requests.Request(method=kwargs["method"], url=kwargs["url"], headers=kwargs.get("headers"),
                                    params=kwargs.get("params"), data=kwargs.get("data"),
                                    json=kwargs.get("json")).prepare()
        path = prepared.url.removeprefix("http://testserver")
        body = prepared.body or b""
        body = body.encode() if isinstance(body, str) else body
        started = time.perf_counter()
        answer = self.client.http.request(prepared.method, path, headers=dict(prepared.headers), body=body)
        response = schemathesis.Response(
            status_code=answer.status_code, headers={k: [str(v)] for k, v in answer.headers.items()},
            content=answer.body, request=prepared, elapsed=time.perf_counter() - started, verify=True)
        self.calls[label] += 1
        self.statuses[answer.status_code] += 1
        if answer.status_code < 300:
            self.successes[label] += 1
        try:
            case.validate_response(response, checks=self.checks)
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - every failure collected, reported together
            first = str(exc).strip().splitlines()
            self.failures.append(f"{label} -> {answer.status_code}: {' | '.join(first[:6])[:600]} "
                                 f"[{prepared.method} {path[:200]} body={body[:200]!r}] answer={answer.body[:300]!r}")
        return answer


def _drive(operation: Any, mode: Any, examples: int, sender: ChaliceSender) -> None:
    from hypothesis import HealthCheck, Phase, given, settings

    counter = iter(range(10**9))

    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        sender.send(case, next(counter))

    try:
        run()
    except Exception as exc:  # noqa: BLE001 - e.g. no invalid input exists for an operation without inputs
        if "Unsatisfiable" not in type(exc).__name__ and "unsatisf" not in str(exc).lower():
            raise


def test_schemathesis_finds_no_5xx_and_no_answer_outside_the_schema(client, world, make_token):
    import schemathesis
    from schemathesis import GenerationMode

    doc = _doc(client)
    schema = schemathesis.openapi.from_dict(doc)
    sender = ChaliceSender(client, doc, _tokens(make_token), world)
    operations = [result.ok() for result in schema.get_all_operations()]
    started = time.monotonic()
    for operation in operations:
        _drive(operation, GenerationMode.POSITIVE, POSITIVE, sender)
        _drive(operation, GenerationMode.NEGATIVE, NEGATIVE, sender)
    elapsed = time.monotonic() - started
    total = sum(sender.calls.values())
    labels = {f"{m.upper()} {p}" for p, ops in doc["paths"].items() for m in ops}
    never = sorted(labels - set(sender.calls))
    print(f"\nschemathesis: {total} requests over {len(sender.calls)} operations in {elapsed:.0f}s; "
          f"statuses {dict(sorted(sender.statuses.items()))}; no 2xx: {sorted(labels - set(sender.successes))}")
    assert not sender.failures, f"{len(sender.failures)} failures:\n" + "\n".join(sender.failures[:25])
    assert not never, f"operations never called: {never}"
    assert total >= MIN_REQUESTS * min(SCALE, 1), f"only {total} requests; fewest: {sender.calls.most_common()[-5:]}"


def test_the_checks_catch_an_answer_outside_the_schema(client, world, make_token):
    """The harness itself: with a document that wrongly demands a key of /health's answer and leaves
    out /staff/approvals' 403, the answers are reported as failures."""
    import schemathesis
    from schemathesis import GenerationMode

    doc = _doc(client)
    health = doc["paths"]["/health"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    health["required"] = [*health["required"], "uptime"]
    del doc["paths"]["/staff/approvals"]["get"]["responses"]["403"]
    doc["paths"]["/staff/approvals"]["get"]["x-roles"] = ["agent"]  # a role the policy refuses
    schema = schemathesis.openapi.from_dict(doc)
    sender = ChaliceSender(client, doc, _tokens(make_token), world)
    for path in ("/health", "/staff/approvals"):
        _drive(schema[path]["GET"], GenerationMode.POSITIVE, 3, sender)
    failed = {f.split(" -> ")[0] for f in sender.failures}
    assert failed == {"GET /health", "GET /staff/approvals"}, sender.failures
    assert any("uptime" in f for f in sender.failures)


def test_known_good_requests_answer_as_documented(client, world, make_token):
    """The answers generated input rarely reaches (a case's workflow, a handler created, a file served)
    checked against the same document: each request below must succeed, and its answer conform."""
    import schemathesis

    doc = _doc(client)
    schema = schemathesis.openapi.from_dict(doc)
    sender = ChaliceSender(client, doc, _tokens(make_token), world)
    number = world["cases"][0][0]

    def call(method: str, path: str, role: str = "manager", **parts: Any) -> dict[str, Any]:
        case = schema[path][method].Case(media_type="application/json" if "body" in parts else None, **parts)
        answer = sender.send(case, 1, role=role)
        assert answer.status_code < 300, (method, path, answer.body)
        return json.loads(answer.body) if answer.headers.get("Content-Type", "").startswith("application/json") else {}

    def version() -> int:
        return call("GET", "/staff/complaints/{complaint_id}", path_parameters={"complaint_id": number})["version"]

    call("GET", "/static/{name}", path_parameters={"name": "styles.css"})
    call("GET", "/console/{name}", path_parameters={"name": "console.js"})
    call("POST", "/complaints/attachments", body={"filename": "photo.png", "content_type": "image/png", "size": 100})
    call("PUT", "/staff/handlers/{handler_id}", role="admin", path_parameters={"handler_id": "staff-new-one"},
         body={"name": "Noa", "departments": [DEPARTMENT]})
    call("PUT", "/staff/handlers/{handler_id}/availability", path_parameters={"handler_id": HANDLER},
         body={"on_duty": True})
    call("POST", "/staff/complaints/{complaint_id}/actions", path_parameters={"complaint_id": number},
         body={"action": "note", "version": version(), "text": "Called the customer."})
    call("POST", "/staff/complaints/{complaint_id}/tasks/{task_id}",
         path_parameters={"complaint_id": number, "task_id": TASK},
         body={"state": "done", "outcome": "The batch is fine.", "version": version()})
    call("POST", "/staff/complaints/{complaint_id}/assignment", path_parameters={"complaint_id": number},
         body={"handler_id": HANDLER, "reason": "Knows the batch.", "version": version()})
    call("POST", "/staff/complaints/{complaint_id}/transfer", path_parameters={"complaint_id": number},
         body={"department": "logistics", "reason": "A delivery problem.", "version": version()})
    exported = call("POST", "/staff/privacy/export", role="admin", body={"email": "li.wei@example.com"})
    call("GET", "/staff/privacy/requests/{request_id}", role="auditor",
         path_parameters={"request_id": exported["request_id"]})
    call("GET", "/staff/complaints/{complaint_id}", path_parameters={"complaint_id": number})
    call("GET", "/staff/queue", role="admin", query={"department": "logistics"})
    call("GET", "/staff/reports/export", query={"format": "csv"})
    call("GET", "/complaints/{complaint_id}", headers={"X-Tracking-Token": world["cases"][0][1]},
         path_parameters={"complaint_id": number})
    assert not sender.failures, "\n".join(sender.failures)
