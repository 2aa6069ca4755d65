"""Viewing a customer's decrypted contact data is itself recorded (shared/audit.py): one append-only
record per read of ``GET /staff/complaints/{id}``, naming who read it in which role and request,
never holding the contact data; a refused read records nothing; no record, no data (503)."""
from __future__ import annotations

import json

import pytest

from tests.support import a_complaint, post_json

CONTACT = ("Li Wei", "li.wei@example.com", "8613800138000", "13800138000")


@pytest.fixture
def case_number(aws, client):
    return post_json(client, "/complaints", a_complaint()).json_body["complaint_id"]


def read(client, token, number):
    return client.http.get(f"/staff/complaints/{number}", headers={"Authorization": f"Bearer {token}"})


def records(number):
    """The case's ``contact.viewed`` records (its changes have records of their own: tests/integration/
    test_audit_trail.py)."""
    from shared.audit import audit_log

    return [r for r in audit_log().for_case(number).records if r.action == "contact.viewed"]


def test_a_managers_read_leaves_one_record_without_the_contact_data(client, case_number, make_token):
    res = read(client, make_token(role="manager", name="Ada"), case_number)
    assert res.status_code == 200 and json.loads(res.body)["customer"]["email"] == "li.wei@example.com"

    (record,) = records(case_number)
    assert record.action == "contact.viewed"
    assert record.actor == "staff-ada" and record.role == "manager"
    assert record.complaint_id == case_number
    assert record.request_id  # matches the request in the access logs
    assert record.details == {"fields": ["name", "email", "phone"]}  # which fields, never their values
    stored = json.dumps(_raw_items(case_number), default=str)
    for value in CONTACT:
        assert value not in stored

    read(client, make_token(role="auditor", name="Olu"), case_number)
    newest, older = records(case_number)
    assert (newest.actor, newest.role) == ("staff-olu", "auditor") and older.record_id == record.record_id
    assert newest.request_id != record.request_id


def test_a_forbidden_read_or_a_list_leaves_no_record(client, case_number, make_token):
    from shared.lifecycle import Status
    from shared.store import complaint_repository

    repo = complaint_repository()
    case, _ = repo.get(case_number)
    repo.save(case.model_copy(update={"department": "quality", "status": Status.CLASSIFIED, "version": 2}), [],
              expected_version=1)
    outsider = make_token(role="agent", name="Lina", departments=["logistics"])
    assert read(client, outsider, case_number).status_code == 403
    assert client.http.get("/staff/complaints/CK7M4QX9TR", headers={
        "Authorization": f"Bearer {make_token(role='manager')}"}).status_code in (400, 404)
    staff_list = client.http.get("/staff/complaints", headers={"Authorization": f"Bearer {make_token()}"})
    assert staff_list.status_code == 200  # lists show no contact data: nothing to record
    assert records(case_number) == []


def test_no_audit_record_no_contact_data(client, case_number, make_token, monkeypatch):
    from shared import audit

    def broken(self, **kwargs):
        raise audit.AuditUnavailable("ProvisionedThroughputExceededException")

    monkeypatch.setattr(audit.AuditLog, "record", broken)
    res = read(client, make_token(role="manager"), case_number)
    assert res.status_code == 503
    body = json.loads(res.body)
    assert body["error"] == "audit_unavailable" and "li.wei" not in res.body.decode()


def test_records_are_never_overwritten_and_page_newest_first(aws, monkeypatch):
    from datetime import datetime, timezone

    from shared.audit import AuditUnavailable, InvalidAuditCursor, audit_log

    log = audit_log()
    at = datetime(2025, 3, 1, 8, 0, tzinfo=timezone.utc)
    made = [log.record(action="contact.viewed", actor=f"staff-{i}", role="agent", complaint_id="CK7M4QX9TR",
                       request_id=f"r-{i}", at=at) for i in range(3)]  # the same instant: three records
    assert len({r.record_id for r in made}) == 3
    first = log.for_case("CK7M4QX9TR", limit=2)
    second = log.for_case("CK7M4QX9TR", limit=2, cursor=first.cursor)
    assert len(first.records) == 2 and len(second.records) == 1
    assert {r.record_id for r in first.records + second.records} == {r.record_id for r in made}
    assert log.for_case(None).records == []

    monkeypatch.setattr("shared.audit.secrets.token_hex", lambda n: "0" * 16)  # the same key twice
    kept = log.record(action="contact.viewed", actor="staff-first", role="agent", complaint_id="CK7M4QX9TQ", at=at)
    with pytest.raises(AuditUnavailable):  # a record is never replaced: the second write fails instead
        log.record(action="contact.viewed", actor="staff-second", role="agent", complaint_id="CK7M4QX9TQ", at=at)
    assert [r.actor for r in log.for_case("CK7M4QX9TQ").records] == [kept.actor]
    with pytest.raises(InvalidAuditCursor):
        log.for_case("CK7M4QX9TR", cursor="bm90LWEta2V5")


def _raw_items(number):
    from shared.aws import client
    from shared.config import settings

    out = client("dynamodb").query(TableName=settings().table_name, KeyConditionExpression="PK = :pk",
                                   ExpressionAttributeValues={":pk": {"S": f"AUDIT#{number}"}})
    return out["Items"]
