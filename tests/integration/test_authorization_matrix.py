"""The whole authorization matrix: every staff endpoint × role × own/other department.

The expected answer of each cell is written out here, from the roles as the product defines them
(agents and leads work their own departments; managers every department, approvals theirs; admins
configuration and the directory, reading cases but working none; auditors read everything and
change nothing) - not read from ``shared/policy.py``, so a change to the policy that breaks the rules
fails here. "Allowed" means the request got past authorization: any answer but a 401 or a 403
``forbidden`` (bodies are chosen to stop right after it - a stale version, an invalid body - so no
cell changes what the next one sees).
"""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from tests.support import a_complaint, post_json

ROLES = ("agent", "lead", "manager", "admin", "auditor")
OWN, OTHER = "quality", "logistics"
HANDLER = "staff-qa-handler"  # a quality handler whose availability others may set
TASK = "task-matrix"  # an open investigation task of the quality department on the case
STALE = {"version": 999}

A, L, M, AD, AU = ROLES
EVERYONE = set(ROLES)
# endpoint name -> (roles allowed in their own department, roles allowed in any department)
EXPECTED: dict[str, tuple[set[str], set[str]]] = {
    "list cases of a department": ({A, L}, {M, AD, AU}),
    "read a case": ({A, L}, {M, AD, AU}),
    "correct its classification": ({A, L}, {M}),
    "work on it (note)": ({A, L}, {M}),
    "claim it": ({A, L}, set()),
    "assign it": ({L}, {M}),
    "transfer it": ({A, L}, {M}),
    "department queue": ({A, L}, {M, AD, AU}),
    "set a handler's availability": ({L}, {M, AD}),
    "triage queue": (set(), {A, L, M, AU}),  # triage cases belong to no department yet: any agent helps
    "quarantine list": (set(), {L, M, AD, AU}),
    "quarantined message": (set(), {L, M, AD, AU}),
    "re-drive quarantined mail": (set(), {L, M, AD}),
    "read routing config": (set(), EVERYONE),
    "change routing config": (set(), {AD}),
    "read SLA config": (set(), EVERYONE),
    "change SLA config": (set(), {AD}),
    "config history": (set(), EVERYONE),
    "department roster": (set(), EVERYONE),
    "read a handler": (set(), EVERYONE),
    "edit a handler": (set(), {AD}),
    "own inbox": (set(), EVERYONE),
    "mark inbox item read": (set(), EVERYONE),
    # the workflow (issue 6)
    "escalate it": ({A, L}, {M}),
    "propose a resolution": ({A, L}, {M}),
    "approve a plan": (set(), {M}),  # approvals belong to managers
    "plans awaiting approval": (set(), {M, AU}),
    "compensation ledger": (set(), {M, AU}),
    "department tasks": ({A, L}, {M, AD, AU}),
    "close a task": ({A, L}, {M}),  # own: the task's department
    "case suggestions": ({A, L}, {M, AD, AU}),
    "canned responses": (set(), EVERYONE),
    "own notification preferences": (set(), EVERYONE),
    "set own notification preferences": (set(), EVERYONE),
    # reports and root causes (issue 7): a lead sees the alerts of their departments' cases
    "root-cause alerts": ({L}, {M, AU}),
    "department report": ({L}, {M, AU}),  # a lead: their departments' figures only
    "report export": ({L}, {M, AU}),
    # the audit trail (issue 8)
    "audit trail": (set(), {AU}),
    # data-subject requests (issue 8): admins carry them out, auditors read them
    "privacy export": (set(), {AD}),
    "privacy erasure": (set(), {AD}),
    "privacy requests": (set(), {AD, AU}),
    "privacy request": (set(), {AD, AU}),
}


def requests_for(number: str) -> dict[str, tuple[str, str, dict | None]]:
    return {
        "list cases of a department": ("GET", f"/staff/complaints?department={OWN}", None),
        "read a case": ("GET", f"/staff/complaints/{number}", None),
        "correct its classification": ("POST", f"/staff/complaints/{number}/classification",
                                       {"category": "food_safety", **STALE}),
        "work on it (note)": ("POST", f"/staff/complaints/{number}/actions",
                              {"action": "note", "text": "matrix", **STALE}),
        "claim it": ("POST", f"/staff/complaints/{number}/claim", STALE),
        "assign it": ("POST", f"/staff/complaints/{number}/assignment",
                      {"handler_id": HANDLER, "reason": "matrix", **STALE}),
        "transfer it": ("POST", f"/staff/complaints/{number}/transfer",
                        {"department": OTHER, "reason": "matrix", **STALE}),
        "department queue": ("GET", f"/staff/queue?department={OWN}", None),
        "set a handler's availability": ("PUT", f"/staff/handlers/{HANDLER}/availability", {"on_duty": "maybe"}),
        "triage queue": ("GET", "/staff/triage", None),
        "quarantine list": ("GET", "/staff/quarantine", None),
        "quarantined message": ("GET", "/staff/quarantine/q-unknown", None),
        "re-drive quarantined mail": ("POST", "/staff/quarantine/q-unknown/redrive", {}),
        "read routing config": ("GET", "/staff/config/routing", None),
        "change routing config": ("PUT", "/staff/config/routing", {"version": 0, "config": {}}),
        "read SLA config": ("GET", "/staff/config/sla", None),
        "change SLA config": ("PUT", "/staff/config/sla", {"version": 0, "config": {}}),
        "config history": ("GET", "/staff/config/routing/history", None),
        "department roster": ("GET", f"/staff/handlers?department={OWN}", None),
        "read a handler": ("GET", f"/staff/handlers/{HANDLER}", None),
        "edit a handler": ("PUT", f"/staff/handlers/{HANDLER}", {"name": ""}),
        "own inbox": ("GET", "/staff/inbox", None),
        "mark inbox item read": ("POST", "/staff/inbox/bm90LWFuLWl0ZW0/read", None),
        "escalate it": ("POST", f"/staff/complaints/{number}/actions",
                        {"action": "escalate", "reason": "matrix", **STALE}),
        "propose a resolution": ("POST", f"/staff/complaints/{number}/actions",
                                 {"action": "propose_resolution", "explanation": "matrix",
                                  "components": [{"type": "apology"}], **STALE}),
        "approve a plan": ("POST", f"/staff/complaints/{number}/actions",
                           {"action": "approve", "comment": "matrix", **STALE}),
        "plans awaiting approval": ("GET", "/staff/approvals", None),
        "compensation ledger": ("GET", "/staff/compensation", None),
        "department tasks": ("GET", f"/staff/tasks?department={OWN}", None),
        "close a task": ("POST", f"/staff/complaints/{number}/tasks/{TASK}",
                         {"state": "done", "outcome": "matrix", **STALE}),
        "case suggestions": ("GET", f"/staff/complaints/{number}/suggestions", None),
        "canned responses": ("GET", "/staff/responses", None),
        "own notification preferences": ("GET", "/staff/me/preferences", None),
        "set own notification preferences": ("PUT", "/staff/me/preferences", {"quiet_hours": "not hours"}),
        "root-cause alerts": ("GET", f"/staff/reports/alerts?department={OWN}", None),
        "department report": ("GET", f"/staff/reports?department={OWN}&period=not-a-period", None),
        "report export": ("GET", f"/staff/reports/export?department={OWN}&format=pdf", None),
        "audit trail": ("GET", "/staff/audit?since=not-a-day", None),
        "privacy export": ("POST", "/staff/privacy/export", {"email": "not an address"}),
        "privacy erasure": ("POST", "/staff/privacy/erasure", {"email": "not an address", "reason": "matrix"}),
        "privacy requests": ("GET", "/staff/privacy/requests?status=not-a-status", None),
        "privacy request": ("GET", "/staff/privacy/requests/prv_00000000000000000000", None),
    }


@pytest.fixture
def routed_case(aws, client):
    """A quality case assigned to the agent who will test it (so an agent's transfer is their own)."""
    from datetime import timedelta

    from shared.lifecycle import Status
    from shared.models import InvestigationTask
    from shared.staff_directory import HandlerProfileIn, staff_directory
    from shared.store import complaint_repository

    directory = staff_directory()
    directory.put_profile(HANDLER, HandlerProfileIn(name="QA Handler", departments=[OWN]))
    number = post_json(client, "/complaints", a_complaint()).json_body["complaint_id"]
    repo = complaint_repository()
    case, _ = repo.get(number)
    now = datetime.now(timezone.utc)
    routed = case.model_copy(update={"status": Status.ASSIGNED, "category": "product_quality", "priority": "P3",
                                     "classification": {"category": "product_quality", "labels": ["product_quality",
                                                                                                "food_safety"]},
                                     "department": OWN, "assignee": "staff-agent", "version": case.version + 1,
                                     "updated_at": now,
                                     "tasks": [InvestigationTask(task_id=TASK, department=OWN, title="matrix",
                                                                 due_at=now + timedelta(days=3),
                                                                 opened_by="staff-agent", opened_at=now)]})
    repo.save(routed, [], expected_version=case.version)
    return number


def cells():
    for endpoint in EXPECTED:
        for role in ROLES:
            for scope in ("own", "other"):
                yield endpoint, role, scope


def test_every_cell_of_the_matrix(client, routed_case, make_token):
    requests = requests_for(routed_case)
    wrong = []
    for endpoint, role, scope in cells():
        token = make_token(role=role, name=role, departments=[OWN if scope == "own" else OTHER])
        method, path, body = requests[endpoint]
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        answer = client.http.request(method, path, headers=headers,
                                     body=json.dumps(body).encode() if body is not None else b"")
        error = json.loads(answer.body or b"{}").get("error") if answer.body else None
        denied = answer.status_code == 401 or (answer.status_code == 403 and error == "forbidden")
        own_roles, anywhere = EXPECTED[endpoint]
        allowed = role in anywhere or (scope == "own" and role in own_roles)
        if allowed == denied:
            wrong.append(f"{endpoint} | {role} | {scope}: expected {'allow' if allowed else 'deny'}, "
                         f"got {answer.status_code} {error}")
    assert not wrong, "\n".join(wrong)


def test_the_matrix_covers_every_staff_route():
    from functions.app import app

    staff_routes = {(method, path) for path, methods in app.routes.items() if path.startswith("/staff")
                    for method in methods}
    covered = {(m, p.split("?")[0]) for m, p, _ in requests_for("{complaint_id}").values()}
    normalised = {(m, p.replace("{complaint_id}", "{complaint_id}")
                   .replace(f"/staff/handlers/{HANDLER}", "/staff/handlers/{handler_id}")
                   .replace("/staff/quarantine/q-unknown", "/staff/quarantine/{quarantine_id}")
                   .replace("/staff/inbox/bm90LWFuLWl0ZW0", "/staff/inbox/{item_id}")
                   .replace(f"/tasks/{TASK}", "/tasks/{task_id}")
                   .replace("/staff/privacy/requests/prv_00000000000000000000", "/staff/privacy/requests/{request_id}")
                   .replace("/staff/config/routing", "/staff/config/{kind}")
                   .replace("/staff/config/sla", "/staff/config/{kind}")) for m, p in covered}
    assert staff_routes <= normalised, sorted(staff_routes - normalised)
