"""A resolved case the customer does not answer closes by itself when its confirmation window
(``WorkflowConfig.confirmation_days``, 7 by default) is over: the SLA sweep (the scheduled function's
handler, ``functions/router/sweep.py``) finds it by its next check on the ``ByDue`` index and closes
it as "resolved without confirmation", with one ``closed`` event (the survey goes out) - not a
moment before, once however often it runs, and a case resolved again after a dispute gets a new
window. The domain's clock is held at chosen instants (``shared.clock.set_clock``).
"""
from __future__ import annotations

from datetime import timedelta

from tests.integration.test_assignment_concurrency import atomic_transactions  # noqa: F401 - fixture
from tests.integration.test_customer_side import (  # noqa: F401 - fixtures
    case, case_events, clock, customer, resolve, stored, track)
from tests.integration.test_routing import T0, change_config


def sweep(client, clock, **since_t0) -> dict:
    """One scheduled sweep at ``T0 + since_t0``, through the function's handler as Lambda calls it."""
    clock.set(**since_t0)
    event = client.events.generate_cw_event(source="aws.events", detail_type="Scheduled Event", detail={},
                                            resources=["arn:aws:events:us-east-1:123456789012:rule/sweep"])
    report = client.lambda_.invoke("sweep_sla", event).payload
    assert report["errors"] == 0, report
    return report


def test_a_silent_customer_s_case_closes_after_seven_days_once(client, case, clock, case_events):
    from shared.store import complaint_repository

    number = case["number"]
    clock.set(hours=3)
    resolve(number)
    assert stored(number).confirmation_due_at == T0 + timedelta(days=7, hours=3)
    case_events()

    early = sweep(client, clock, days=7, hours=2, minutes=59)
    assert early["actions"].get("auto_closed") is None and stored(number).status.value == "resolved"

    first = sweep(client, clock, days=7, hours=3)
    assert first["actions"]["auto_closed"] == 1
    closed = stored(number)
    assert closed.status.value == "closed" and closed.closure == "resolved_without_confirmation"
    assert closed.closed_at == T0 + timedelta(days=7, hours=3) and closed.next_check_at is None
    assert track(client, case)["status"] == "closed"
    [event] = case_events()
    assert event["kind"] == "closed" and event["actor"] == "system"
    assert event["data"] == {"closure": "resolved_without_confirmation", "survey": True}
    assert complaint_repository().pending_case_events(older_than=T0 + timedelta(days=30)) == []  # published

    second = sweep(client, clock, days=7, hours=4)
    assert second["actions"].get("auto_closed") is None and second["cases_read"] == 0
    assert stored(number).version == closed.version and case_events() == []

    # the customer may still answer the survey, but no longer confirm
    assert customer(client, case, "confirmation", {"accept": True})[1]["error"] == "nothing_to_confirm"
    assert customer(client, case, "feedback", {"rating": 2})[0] == 201
    assert stored(number).feedback.rating == 2


def test_racing_sweeps_close_the_case_once(client, case, clock, case_events, monkeypatch, atomic_transactions):
    from tests.integration.test_sla_sweep import racing_sweeps

    resolve(case["number"])
    case_events()
    reports = racing_sweeps(clock, monkeypatch, days=8)
    assert sorted(r.actions.get("auto_closed", 0) for r in reports) == [0, 1]
    assert [e["kind"] for e in case_events()] == ["closed"]
    assert stored(case["number"]).closure == "resolved_without_confirmation"


def test_a_case_resolved_again_after_a_dispute_gets_a_new_window(client, case, clock, case_events):
    number = case["number"]
    resolve(number)
    clock.set(days=2)
    assert customer(client, case, "confirmation", {"accept": False, "reason": "Still broken."})[0] == 200
    assert stored(number).confirmation_due_at is None
    clock.set(days=3)
    resolve(number, "Replacement delivered.")
    assert stored(number).confirmation_due_at == T0 + timedelta(days=10)
    case_events()

    sweep(client, clock, days=7, minutes=1)  # the first window would have ended here
    assert stored(number).status.value == "resolved" and case_events() == []
    report = sweep(client, clock, days=10)
    assert report["actions"]["auto_closed"] == 1 and stored(number).status.value == "closed"
    assert [e["kind"] for e in case_events()] == ["closed"]


def test_a_confirmed_case_is_not_closed_again_and_the_window_follows_the_config(client, case, clock, make_token,
                                                                                case_events):
    change_config(client, make_token(role="admin", name="root"), "workflow",
                  lambda config: config.update(confirmation_days=2))
    number = case["number"]
    resolve(number)
    assert stored(number).confirmation_due_at == T0 + timedelta(days=2)
    clock.set(days=1)
    assert customer(client, case, "confirmation", {"accept": True})[0] == 200
    case_events()
    report = sweep(client, clock, days=3)
    assert report["actions"].get("auto_closed") is None and report["cases_read"] == 0
    assert stored(number).closure == "confirmed" and case_events() == []
