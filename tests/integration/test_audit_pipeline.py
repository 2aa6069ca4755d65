"""The pipeline's case writes are in the audit trail too: the router and the assignment record what they
changed as ``system:<function>``, in the same transaction as the change (shared/audit.py)."""
from __future__ import annotations

from tests.integration.test_audit_trail import audit_items, plain
from tests.integration.test_router import fake_model  # noqa: F401 - the fixture
from tests.integration.test_routing import assign, classify, clock, hire, submit  # noqa: F401


def test_the_router_and_the_assignment_record_what_they_did(client, clock, aws):  # noqa: F811
    hire("staff-alice", "quality")
    number = submit(client)
    classify(client)
    assign(client)
    records = [plain(v) for v in audit_items(aws["TABLE_NAME"]).values() if v["PK"]["S"] == f"AUDIT#{number}"]
    [intake] = [r for r in records if r["actor"] == "customer"]  # the domain clock stands still here: no order
    assert intake["action"] == "api.submit_complaint" and intake["after"]["status"] == "received"
    router = [r for r in records if r["actor"] == "system:route_complaint"]
    assert router and router[0]["action"].startswith("case.") and router[0]["before"]["status"] == "received"
    assert router[0]["after"]["category"]
    assigned = [r for r in records if r["actor"] == "system:assign_complaint"]
    assert assigned and assigned[-1]["after"].get("assignee") == "staff-alice"
    assert all(r["role"] == "system" for r in router + assigned)
