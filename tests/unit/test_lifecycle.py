import pytest

from shared.lifecycle import OPEN_STATES, TRANSITIONS, InvalidTransition, Status, can_transition, check_transition


def test_the_main_path_is_allowed():
    path = ["received", "classified", "assigned", "in_progress", "waiting_on_customer", "in_progress",
            "resolution_proposed", "resolved", "closed"]
    for a, b in zip(path, path[1:]):
        check_transition(Status(a), Status(b))


def test_reopen_goes_back_to_in_progress_from_resolved_and_closed():
    assert can_transition(Status.CLOSED, Status.IN_PROGRESS)
    assert can_transition(Status.RESOLVED, Status.IN_PROGRESS)


@pytest.mark.parametrize("a, b", [("received", "resolved"), ("closed", "received"), ("rejected", "in_progress"),
                                  ("withdrawn", "received"), ("waiting_on_customer", "closed"),
                                  ("assigned", "closed")])
def test_shortcuts_and_moves_out_of_endings_are_refused(a, b):
    with pytest.raises(InvalidTransition, match=f"from {a} to {b}"):
        check_transition(Status(a), Status(b))


def test_every_state_has_a_row_and_endings_have_no_way_out():
    assert set(TRANSITIONS) == set(Status)
    assert not TRANSITIONS[Status.REJECTED] and not TRANSITIONS[Status.WITHDRAWN]
    assert Status.CLOSED not in OPEN_STATES and Status.IN_PROGRESS in OPEN_STATES
    for state in OPEN_STATES:
        assert Status.WITHDRAWN in TRANSITIONS[state], state
