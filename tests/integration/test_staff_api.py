"""The staff API: bearer JWTs verified against a JWKS, case lists served by indexes, full views."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from tests.support import a_complaint, post_json


def get(client, path, token=None, raw_auth=None):
    headers = {}
    if token:
        headers["Authorization"] = "Bearer " + token
    if raw_auth is not None:
        headers["Authorization"] = raw_auth
    return client.http.get(path, headers=headers)


def submit(client, **overrides):
    return json.loads(post_json(client, "/complaints", a_complaint(**overrides)).body)["complaint_id"]


def test_staff_endpoints_need_a_bearer_token(client):
    number = submit(client)
    for path in ("/staff/complaints", f"/staff/complaints/{number}"):
        for auth in (None, "", "Basic dXNlcjpwYXNz", "Bearer ", "Bearer not.a.jwt"):
            res = get(client, path, raw_auth=auth)
            assert res.status_code == 401, (path, auth)
            assert json.loads(res.body)["error"] == "unauthorized"


def test_forged_expired_and_foreign_tokens_are_401(client, make_token):
    from cryptography.hazmat.primitives.asymmetric import rsa

    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = make_token(key=other_key)
    expired = make_token(expires_in=-3600)
    wrong_issuer = make_token(issuer="someone-else")
    unknown_kid = make_token(kid="rotated-away")
    no_role = make_token(role="customer")
    for token in (forged, expired, wrong_issuer, unknown_kid, no_role):
        assert get(client, "/staff/complaints", token).status_code == 401
    import jwt
    none_alg = jwt.encode({"sub": "x", "role": "admin", "exp": 9999999999}, key=None, algorithm="none")
    assert get(client, "/staff/complaints", none_alg).status_code == 401
    tampered = make_token(role="agent").split(".")
    import base64
    payload = json.loads(base64.urlsafe_b64decode(tampered[1] + "=="))
    payload["role"] = "admin"
    tampered[1] = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")
    assert get(client, "/staff/complaints", ".".join(tampered)).status_code == 401


def test_list_newest_first_with_cursor_pagination(client, make_token):
    numbers = [submit(client, description=f"complaint {i}") for i in range(7)]
    token, seen, cursor = make_token(role="manager"), [], None
    while True:
        res = get(client, "/staff/complaints?limit=3" + (f"&cursor={cursor}" if cursor else ""), token)
        assert res.status_code == 200, res.body
        page = json.loads(res.body)
        assert len(page["complaints"]) <= 3
        seen += [c["complaint_id"] for c in page["complaints"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(numbers) and len(seen) == 7
    received = [c for c in seen]
    assert received[0] == numbers[-1]


def test_list_filters_by_status_channel_and_since(client, make_token):
    web = submit(client)
    app = submit(client, channel="app")
    token = make_token()
    by_channel = json.loads(get(client, "/staff/complaints?channel=app", token).body)["complaints"]
    assert [c["complaint_id"] for c in by_channel] == [app]
    both = json.loads(get(client, "/staff/complaints?status=received&channel=web", token).body)["complaints"]
    assert [c["complaint_id"] for c in both] == [web]
    assert json.loads(get(client, "/staff/complaints?status=closed", token).body)["complaints"] == []
    future = (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    assert json.loads(get(client, f"/staff/complaints?since={future}", token).body)["complaints"] == []
    today = datetime.now(timezone.utc).date().isoformat()
    assert len(json.loads(get(client, f"/staff/complaints?since={today}", token).body)["complaints"]) == 2


@pytest.mark.parametrize("query, field", [
    ("status=lost", "status"), ("channel=fax", "channel"), ("since=yesterday", "since"),
    ("limit=0", "limit"), ("limit=1000", "limit"), ("limit=abc", "limit"), ("cursor=garbage!!", "cursor"),
    ("sort=asc", "sort"),
])
def test_bad_query_parameters_are_400_naming_the_parameter(client, make_token, query, field):
    res = get(client, "/staff/complaints?" + query, make_token())
    assert res.status_code == 400
    assert field in [d["field"] for d in json.loads(res.body)["details"]]


def test_full_case_view_shows_decrypted_contact_product_and_timeline(client, make_token):
    number = submit(client)
    res = get(client, f"/staff/complaints/{number.lower()}", make_token())
    assert res.status_code == 200
    case = json.loads(res.body)
    assert case["customer"] == {"name": "Li Wei", "email": "li.wei@example.com", "phone": "+8613800138000",
                                "member_id": None, "preferred_language": "zh"}
    assert case["product"]["batch"] == "B2411" and case["language"] == "zh" and case["version"] == 1
    assert [e["kind"] for e in case["timeline"]] == ["received"]
    assert get(client, "/staff/complaints/CK7M4QX9T2", make_token()).status_code in (400, 404)
