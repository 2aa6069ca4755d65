"""The audit trail (shared/audit.py, functions/audit_scope.py, ``GET /staff/audit``).

* Every state-changing API request (every POST/PUT/PATCH/DELETE route of the app, walked from
  ``app.routes`` so a new route without a step here fails) writes exactly one record when it succeeds:
  the view's action, the signed-in staff member (or ``customer``), the request id, the case, and for a
  case its non-personal fields before and after - never an email, a phone number or free text.
* A refused request (403, 409, 422) changes nothing and records nothing.
* The pipeline's case writes record ``system:<function>`` with what happened.
* Records cannot be replaced: a second write of the same key is refused.
* ``GET /staff/audit`` for auditors: by case, by actor, by day, paged; everyone else 403.
"""
from __future__ import annotations

import json
from datetime import timedelta

import boto3
import pytest

from tests.integration.test_workflow_actions import TRACKING, call, clock, new_case, people  # noqa: F401
from tests.support import a_complaint

MUTATING = {"POST", "PUT", "PATCH", "DELETE"}
PERSONAL = ("li.wei@example.com", "138 0013 8000", "13800138000", "Li Wei", "smelled sour", "nobody@example.org")


def audit_items(table: str) -> dict[str, dict]:
    """Every audit record in the table (test code may scan moto's table; the app never scans)."""
    db = boto3.client("dynamodb")
    found, kwargs = {}, {"TableName": table, "FilterExpression": "begins_with(PK, :a)",
                         "ExpressionAttributeValues": {":a": {"S": "AUDIT#"}}}
    while True:
        out = db.scan(**kwargs)
        for item in out.get("Items", []):
            found[item["PK"]["S"] + "|" + item["SK"]["S"]] = item
        if "LastEvaluatedKey" not in out:
            return found
        kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]


def plain(item: dict) -> dict:
    from shared.items import ItemCodec

    return ItemCodec().load(item)


def mutating_routes() -> set[tuple[str, str]]:
    from functions.app import app

    return {(method, path) for path, methods in app.routes.items() for method in methods if method in MUTATING}


def view_of(method: str, path: str) -> str:
    from functions.app import app

    return app.routes[path][method].view_name


class Auditor:
    """Sends one request and checks what it recorded."""

    def __init__(self, client, table: str):
        self.client, self.table, self.covered = client, table, set()

    def __call__(self, method: str, route: str, path: str, token: str | None = None, body=None, *,
                 actor: str = "customer", case: str | None = None, headers: dict | None = None,
                 expect: tuple[int, ...] = (200, 201, 202)) -> dict:
        before = audit_items(self.table)
        sent = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {}),
                **(headers or {})}
        res = getattr(self.client.http, method.lower())(path, headers=sent, body=json.dumps(body or {}).encode())
        assert res.status_code in expect, (route, res.status_code, res.body)
        new = [plain(v) for k, v in audit_items(self.table).items() if k not in before]
        assert len(new) == 1, (method, route, [r["action"] for r in new])
        [record] = new
        assert record["action"] == "api." + view_of(method, route)
        assert record["actor"] == actor and record["request_id"]
        if case is not None:
            assert record["complaint_id"] == case and record["PK"] == f"AUDIT#{case}"
        text = json.dumps(record, ensure_ascii=False, default=str)
        assert not any(p in text for p in PERSONAL), text
        self.covered.add((method, route))
        return json.loads(res.body) if res.body else {}


def quarantined_mail(client, aws, token: str) -> str:
    from tests.integration.test_email_intake import deliver

    deliver(client, aws, b"\x00\x01 this is not an email at all \xff\xfe")
    res = client.http.get("/staff/quarantine", headers={"Authorization": f"Bearer {token}"})
    [held] = json.loads(res.body)["messages"]
    return held["quarantine_id"]


def test_every_state_changing_request_writes_exactly_one_audit_record(client, clock, people, make_token, aws):
    from tests.integration.test_staff_alerts import fill_inbox

    table = aws["TABLE_NAME"]
    audited = Auditor(client, table)
    alice, lena, bob, mara = people["alice"], people["lena"], people["bob"], people["mara"]
    admin = make_token(role="admin", name="root", departments=["quality"])

    # configuration and the directory
    status, current = call(client, "GET", "/staff/config/routing", admin)
    audited("PUT", "/staff/config/{kind}", "/staff/config/routing", admin,
            {"version": current["version"], "config": current["config"]}, actor="staff-root")
    audited("PUT", "/staff/handlers/{handler_id}", "/staff/handlers/staff-carol", admin,
            {"name": "Carol", "departments": ["quality"]}, actor="staff-root")
    audited("PUT", "/staff/handlers/{handler_id}/availability", "/staff/handlers/staff-carol/availability", lena,
            {"on_duty": True}, actor="staff-lena")
    audited("PUT", "/staff/me/preferences", "/staff/me/preferences", alice, {"email": False},
            actor="staff-alice")
    [item_alert] = fill_inbox("staff-alice", 1)
    items = json.loads(client.http.get("/staff/inbox", headers={"Authorization": f"Bearer {alice}"}).body)["items"]
    audited("POST", "/staff/inbox/{item_id}/read", f"/staff/inbox/{items[0]['item_id']}/read", alice,
            actor="staff-alice")
    held = quarantined_mail(client, aws, mara)
    audited("POST", "/staff/quarantine/{quarantine_id}/redrive", f"/staff/quarantine/{held}/redrive", mara,
            actor="staff-mara")

    # data-subject requests (docs/privacy.md): the request is recorded, never the person's identifier
    audited("POST", "/staff/privacy/export", "/staff/privacy/export", admin, {"email": "nobody@example.org"},
            actor="staff-root")
    audited("POST", "/staff/privacy/erasure", "/staff/privacy/erasure", admin,
            {"email": "nobody@example.org", "reason": "asked by the customer"}, actor="staff-root")

    # the customer's side: a complaint with an attachment slot, then a message
    receipt = audited("POST", "/complaints", "/complaints", body=a_complaint())
    number = receipt["complaint_id"]
    audited("POST", "/complaints/attachments", "/complaints/attachments",
            body={"filename": "photo.png", "content_type": "image/png"})

    # triage: a handler classifies a case the model could not
    from shared.lifecycle import Status
    from shared.store import complaint_repository

    repo = complaint_repository()
    case, _ = repo.get(number)
    repo.save(case.model_copy(update={"status": Status.CLASSIFIED, "needs_triage": True, "category": "other",
                                      "priority": "P3", "version": case.version + 1, "updated_at": clock(),
                                      "classification": {"category": "other", "labels": ["other", "food_safety"]}}),
              [], expected_version=case.version)
    audited("POST", "/staff/complaints/{complaint_id}/classification", f"/staff/complaints/{number}/classification",
            alice, {"category": "food_safety", "version": case.version + 1}, actor="staff-alice", case=number)

    # a handler's work on an assigned case
    work = new_case(client, clock)
    version = lambda n: repo.get(n)[0].version  # noqa: E731
    audited("POST", "/staff/complaints/{complaint_id}/actions", f"/staff/complaints/{work}/actions", alice,
            {"action": "accept", "version": version(work)}, actor="staff-alice", case=work)
    task = audited("POST", "/staff/complaints/{complaint_id}/actions", f"/staff/complaints/{work}/actions", alice,
                   {"action": "open_task", "department": "quality", "title": "Test the batch",
                    "version": version(work)}, actor="staff-alice", case=work)["tasks"][0]
    audited("POST", "/staff/complaints/{complaint_id}/tasks/{task_id}",
            f"/staff/complaints/{work}/tasks/{task['task_id']}", alice,
            {"state": "done", "outcome": "fine", "version": version(work)}, actor="staff-alice", case=work)
    audited("POST", "/complaints/{complaint_id}/messages", f"/complaints/{work}/messages",
            body={"text": "Any news?"}, headers={"X-Tracking-Token": TRACKING[work]}, case=work)
    audited("POST", "/staff/complaints/{complaint_id}/actions", f"/staff/complaints/{work}/actions", alice,
            {"action": "propose_resolution", "explanation": "Sorry.", "components": [{"type": "apology"}],
             "version": version(work)}, actor="staff-alice", case=work)
    audited("POST", "/staff/complaints/{complaint_id}/actions", f"/staff/complaints/{work}/actions", alice,
            {"action": "resolve", "text": "Done.", "version": version(work)}, actor="staff-alice", case=work)
    audited("POST", "/complaints/{complaint_id}/confirmation", f"/complaints/{work}/confirmation",
            body={"accept": True}, headers={"X-Tracking-Token": TRACKING[work]}, case=work)
    audited("POST", "/complaints/{complaint_id}/feedback", f"/complaints/{work}/feedback",
            body={"rating": 5}, headers={"X-Tracking-Token": TRACKING[work]}, case=work)

    # assignment, transfer, claim
    moved = new_case(client, clock)
    audited("POST", "/staff/complaints/{complaint_id}/assignment", f"/staff/complaints/{moved}/assignment", lena,
            {"handler_id": "staff-carol", "reason": "balance", "version": version(moved)}, actor="staff-lena",
            case=moved)
    from shared.staff_directory import staff_directory

    staff_directory().set_on_duty("staff-bob", False)  # nobody free in logistics: the case waits in its queue
    audited("POST", "/staff/complaints/{complaint_id}/transfer", f"/staff/complaints/{moved}/transfer", lena,
            {"department": "logistics", "reason": "courier", "version": version(moved)}, actor="staff-lena",
            case=moved)
    assert repo.get(moved)[0].assignee is None
    audited("POST", "/staff/complaints/{complaint_id}/claim", f"/staff/complaints/{moved}/claim", bob,
            {"version": version(moved)}, actor="staff-bob", case=moved)

    missing = mutating_routes() - audited.covered
    assert not missing, f"state-changing routes without an audit step here: {sorted(missing)}"


def test_a_refused_request_records_nothing(client, clock, people, aws):
    number = new_case(client, clock)
    before = audit_items(aws["TABLE_NAME"])
    for token, body, status in ((people["bob"], {"action": "note", "text": "x", "version": 3}, 403),
                                (people["alice"], {"action": "note", "text": "x", "version": 1}, 409),
                                (people["alice"], {"action": "fly", "version": 3}, 422)):
        assert call(client, "POST", f"/staff/complaints/{number}/actions", token, body)[0] == status
    assert audit_items(aws["TABLE_NAME"]) == before


def test_a_record_is_never_replaced(aws):
    from botocore.exceptions import ClientError

    from shared.audit import AuditRecord, item_of, put_op
    from shared.items import ItemCodec

    record = AuditRecord(record_id="0123456789abcdef", action="contact.viewed", actor="staff-x", role="agent",
                         complaint_id="C2K7XXXXXX", at="2026-12-01T10:00:00.000Z")
    db = boto3.client("dynamodb")
    op = put_op(aws["TABLE_NAME"], ItemCodec().dump, record)
    db.transact_write_items(TransactItems=[op])
    forged = {**op["Put"], "Item": {**op["Put"]["Item"], "actor": {"S": "someone-else"}}}
    with pytest.raises(ClientError):
        db.put_item(**forged)
    stored = db.get_item(TableName=aws["TABLE_NAME"], Key={"PK": op["Put"]["Item"]["PK"], "SK": op["Put"]["Item"]["SK"]})
    assert stored["Item"]["actor"]["S"] == "staff-x" and item_of(record)["audit_actor"] == "staff-x"


def test_auditors_read_the_trail_by_case_actor_and_day(client, clock, people, make_token, aws):
    number = new_case(client, clock)
    alice = people["alice"]
    for text in ("one", "two", "three"):
        clock.tick()
        from shared.store import complaint_repository

        v = complaint_repository().get(number)[0].version
        assert call(client, "POST", f"/staff/complaints/{number}/actions", alice,
                    {"action": "note", "text": text, "version": v})[0] == 200
    auditor = people["auditor"]
    day = clock().date().isoformat()

    status, body = call(client, "GET", f"/staff/audit?case={number}&since={day}", auditor)
    assert status == 200, body
    actions = [r["action"] for r in body["records"]]
    assert actions[:3] == ["api.act_on_complaint"] * 3  # newest first
    assert {r["actor"] for r in body["records"][:3]} == {"staff-alice"}
    assert {r["details"]["workflow_action"] for r in body["records"][:3]} == {"note"}
    assert body["records"][0]["before"]["version"] + 1 == body["records"][0]["after"]["version"]
    assert all(r["complaint_id"] == number for r in body["records"])

    status, mine = call(client, "GET", f"/staff/audit?actor=staff-alice&since={day}&limit=2", auditor)
    assert status == 200 and len(mine["records"]) == 2 and mine["next_cursor"]
    status, more = call(client, "GET", f"/staff/audit?actor=staff-alice&since={day}&limit=2&cursor={mine['next_cursor']}",
                        auditor)
    assert status == 200 and more["records"] and {r["actor"] for r in more["records"]} == {"staff-alice"}
    seen = [r["record_id"] for r in mine["records"] + more["records"]]
    assert len(seen) == len(set(seen))

    status, everyone = call(client, "GET", f"/staff/audit?since={day}&until={day}&limit=100", auditor)
    assert status == 200 and {"customer", "staff-alice"} <= {r["actor"] for r in everyone["records"]}
    yesterday = (clock() - timedelta(days=1)).date().isoformat()
    assert call(client, "GET", f"/staff/audit?since={yesterday}&until={yesterday}", auditor)[1]["records"] == []

    for role in ("agent", "lead", "manager", "admin"):
        token = make_token(role=role, name=f"{role}-x", departments=["quality"])
        assert call(client, "GET", "/staff/audit", token)[0] == 403
    status, bad = call(client, "GET", "/staff/audit?since=yesterday&case=x&colour=red&limit=0", auditor)
    assert status == 400 and {d["field"] for d in bad["details"]} == {"since", "case", "colour", "limit"}
    assert call(client, "GET", "/staff/audit?cursor=bm9wZQ", auditor)[0] == 400


def test_an_export_is_recorded_before_the_file_leaves(client, people, aws):
    before = audit_items(aws["TABLE_NAME"])
    res = client.http.get("/staff/reports/export?period=2026-11&format=csv",
                          headers={"Authorization": f"Bearer {people['mara']}"})
    assert res.status_code == 200, res.body
    [record] = [plain(v) for k, v in audit_items(aws["TABLE_NAME"]).items() if k not in before]
    assert record["action"] == "report.exported" and record["actor"] == "staff-mara"
    assert record["details"]["format"] == "csv" and record["details"]["period"] == "2026-11"
