"""Tracking tokens given out after intake (the acknowledgement's links) live in their own small item
(``CASE#<id>/TOKENS``, docs/data-model.md pattern 24): they open the case like the form's token, every
later write of the case keeps them, and an erasure closes them too."""
from __future__ import annotations

from shared.identifiers import hash_tracking_token, new_tracking_token
from tests.integration.test_privacy import EMAIL, clock, close, privacy, staff, worked_case  # noqa: F401 - fixtures


def give_out_token(number: str) -> str:
    """What the notifier does before it sends a link (functions/notifier/service.py ``_render``)."""
    from shared.store import complaint_repository

    token = new_tracking_token()
    complaint_repository().add_tracking_token(number, hash_tracking_token(token))
    return token


def track(client, number: str, token: str):
    return client.http.get(f"/complaints/{number}", headers={"X-Tracking-Token": token})


def test_a_later_token_opens_the_case_through_its_changes_until_an_erasure(client, aws, staff, clock):
    case = worked_case(client, aws, staff, clock)
    number = case["number"]
    later = give_out_token(number)
    assert track(client, number, later).status_code == 200
    assert track(client, number, case["token"]).status_code == 200  # the form's token still works
    assert track(client, number, new_tracking_token()).status_code == 404

    close(client, staff, clock, case)  # several case writes after the token was added
    assert track(client, number, later).status_code == 200

    status, done = privacy(client, staff["admin"], "erasure", {"email": EMAIL, "reason": "customer's request"})
    assert status == 201 and done["summary"]["erased"] == 1, done
    assert track(client, number, later).status_code == 404
    assert track(client, number, case["token"]).status_code == 404
