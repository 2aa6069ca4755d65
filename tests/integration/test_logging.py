"""Logs are structured JSON and never carry contact data or the complaint's text."""
from __future__ import annotations

import json

from tests.support import a_complaint, post_json


def test_intake_logs_identifiers_but_no_personal_data(client, make_token, app_logs):
    body = a_complaint(description="My card 6222 0212 3456 7890 was charged twice, call 13800138000")
    res = post_json(client, "/complaints", body, {"Idempotency-Key": "k-1"})
    number = json.loads(res.body)["complaint_id"]
    client.http.get(f"/staff/complaints/{number}", headers={"Authorization": "Bearer " + make_token()})
    post_json(client, "/complaints", {**body, "customer": {"name": "Zhang San", "email": "bad"}})
    out = app_logs.getvalue()
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert any(line.get("message") == "complaint received" and line.get("complaint_id") == number for line in lines)
    assert not any("staff_role" in line for line in lines if line.get("message") == "request invalid")
    for secret in ("li.wei@example.com", "13800138000", "Li Wei", "Zhang San", "6222", "charged twice",
                   "Pork dumplings", json.loads(res.body)["tracking_token"]):
        assert secret not in out, secret
