"""The load test's own logic: the channel mix, the loopback rule, and the verdict on a case's records
(what `complaints loadtest` calls missing, duplicate, unfinished or done)."""
from __future__ import annotations

import pytest

from infra import loadtest
from infra.loadtest import LoadTarget, LoopbackOnly, Submission, check_case

RECEIVED = "2026-12-04T10:00:00.000000Z"


def test_the_mix_is_spread_evenly_and_every_customer_is_new():
    planned = loadtest.plan(12, loadtest.parse_mix("web=3,email=1"), "run1")
    kinds = [kind for _, kind, _ in planned]
    assert (kinds.count("web"), kinds.count("email")) == (9, 3)
    assert kinds[:4].count("email") == 1  # interleaved, not all mail at the end
    assert len({email for _, _, email in planned}) == 12
    with pytest.raises(ValueError):
        loadtest.parse_mix("web,fax")


@pytest.mark.parametrize("api,endpoint", [("http://10.0.0.5:8000", "http://127.0.0.1:4566"),
                                          ("http://127.0.0.1:8000", "http://192.168.1.20:4566")])
def test_targets_off_this_machine_are_refused(api, endpoint):
    target = LoadTarget(api_url=api, smtp_host="127.0.0.1", smtp_port=2525, aws_endpoint=endpoint)
    with pytest.raises(LoopbackOnly, match="loopback only"):
        target.check_loopback()
    LoadTarget(api_url="http://localhost:8000", smtp_host="::1", smtp_port=2525,
               aws_endpoint="http://127.0.0.1:4566").check_loopback()


class Records:
    """What the store holds for one customer (the customer index and the case's partition)."""

    def __init__(self, ids, items):
        self.ids, self.items = ids, items

    def cases_of_customer(self, email):
        return self.ids

    def case_items(self, complaint_id):
        return self.items


def partition(*, category="delivery", department="logistics", triage=False, acks=1, routed=1, sent=1):
    case = {"SK": "CASE", "received_at": RECEIVED, "category": category, "needs_triage": triage}
    if department:
        case["department"] = department
    items = [case, {"SK": f"TL#{RECEIVED}#000001.000", "kind": "received", "at": RECEIVED},
             {"SK": "TL#2026-12-04T10:00:01Z#000002.001", "kind": "classified", "at": "2026-12-04T10:00:01Z"}]
    items += [{"SK": f"TL#2026-12-04T10:00:02Z#00000{3 + i}.000", "kind": "routed", "at": "2026-12-04T10:00:02Z"}
              for i in range(routed)]
    items += [{"SK": f"TL#2026-12-04T10:00:0{3 + i}Z#ack", "kind": "acknowledged", "at": "2026-12-04T10:00:03Z"}
              for i in range(acks)]
    items += [{"SK": f"NOTIFY#C1:received#email{i}", "purpose": "ack", "state": "sent"} for i in range(sent)]
    return items


def sub(complaint_id=None):
    return Submission(n=1, kind="web" if complaint_id else "email", email="a@example.com", language="en",
                      submitted_at=1796378399.5, complaint_id=complaint_id)


def test_a_case_done_once_passes_with_its_step_times():
    check = check_case(Records(["C1"], partition()), sub("C1"), {"C1": 1})
    assert check.problem is None
    assert check.times["acknowledged"] - check.times["received"] == pytest.approx(3.0)


def test_a_case_in_triage_counts_as_routed():
    assert check_case(Records(["C1"], partition(department=None, triage=True, routed=0)), sub(), None).problem is None


@pytest.mark.parametrize("ids,items,outbox,problem,final", [
    ([], [], None, "missing", False),
    (["C1", "C2"], partition(), None, "duplicate", True),
    (["C9"], partition(), None, "wrong case", True),
    (["C1"], partition(acks=2), None, "acknowledged more than once", True),
    (["C1"], partition(sent=2), None, "acknowledged more than once", True),
    (["C1"], partition(), {"C1": 2}, "2 acknowledgement emails", True),
    (["C1"], partition(routed=2), None, "more than once", True),
    (["C1"], partition(category=None), None, "not classified", False),
    (["C1"], partition(department=None, routed=0), None, "not routed", False),
    (["C1"], partition(acks=0, sent=0), None, "not acknowledged", False),
    (["C1"], partition(), {}, "no acknowledgement email", False),
])
def test_missing_duplicate_and_unfinished_cases_are_found(ids, items, outbox, problem, final):
    check = check_case(Records(ids, items), sub("C1"), outbox)
    assert check.problem and problem in check.problem
    assert check.final is final  # final: waiting longer cannot fix it


def test_percentiles_by_nearest_rank():
    p = loadtest.percentiles([float(i) for i in range(1, 101)])
    assert (p["p50"], p["p90"], p["p99"], p["max"], p["count"]) == (50.0, 90.0, 99.0, 100.0, 100)
    assert loadtest.percentiles([]) == {"count": 0}


def test_an_email_sent_between_the_outbox_listing_and_the_store_read_is_not_reported_missing(tmp_path, monkeypatch):
    """The last pass lists the outbox, then reads the store: an acknowledgement sent in between is in
    the store (its file was written before the log said "sent") but not in that listing. The 2,000-
    complaint fault run reported one such case; the outbox is listed again for them."""
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    target = LoadTarget(api_url="http://127.0.0.1:8000", smtp_host="127.0.0.1", smtp_port=2525,
                        aws_endpoint="http://127.0.0.1:4566", outbox=outbox)

    class SendsWhileRead(Records):
        def case_items(self, complaint_id):  # the notifier sends and records while we read
            (outbox / f"20261204T100003Z-{complaint_id}-ack.eml").write_bytes(b"Subject: ack\r\n\r\n")
            return super().case_items(complaint_id)

    monkeypatch.setattr(loadtest, "CaseRecords", lambda t: SendsWhileRead(["C1"], partition()))
    verdict = loadtest.verify(target, [sub("C1")], deadline=None)
    assert verdict.passed and verdict.done == 1 and verdict.problems == []
