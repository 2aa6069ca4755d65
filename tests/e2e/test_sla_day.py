"""A simulated day: a clock drives a day of complaints through the app's event pump in seconds, and
every SLA warning and escalation fires once, at the right time, to the right person.

* AWS is moto in-process (the ``aws`` fixture); the app is ``functions.app`` served by the real
  :class:`infra.event_pump.EventPump` - its SQS consumers drained with ``poll_once`` and its
  schedules fired with ``fire(source, when=...)``, exactly as the local stack runs them.
* ``shared.clock.set_clock`` makes the domain's time (intake, router, assignment, sweep, notifier) a
  simulated one: Monday 2026-11-23 08:00 Asia/Shanghai (00:00 UTC), advanced in 5-minute steps for
  24 hours. At each step, first what happens in between (complaints submitted over HTTP through
  Chalice's test client, a handler coming on duty, a case waiting on the customer for 2 h) at its
  own time, then every schedule due (``sweep_sla`` every 5 minutes, ``publish_pending_events``
  every minute: its missed minutes are coalesced into one run per step, which is harmless - it only
  re-publishes events whose publish failed), and after each of them the queues are drained.
* The routing configuration (departments with leads, managers and business calendars), handler
  profiles and duty are set through the staff API; a fake classifier makes categories
  deterministic, and the bundled priority rules make "food poisoning" P1 and food safety P2.
* Expected alerts are computed here, independently of ``shared.sla`` and ``shared.calendars``, from
  the policy (P1 first response 1 h, resolution 24 h; P2 4 h / 48 h; P3 8 business hours / 5
  business days in the department's calendar; warnings at 50 % and 80 %, the breach at 100 % to
  the lead and the assignee, level 2 at 150 % to the manager) and the 5-minute sweep: a point is
  announced at the first sweep at or after it, and of the warnings that one sweep finds reached
  only the highest is announced.

Every ``StaffAlertRaised`` the app publishes is captured on a test queue bound to the bus (with the
simulated time it was raised at); the notifier's inbox items are checked as well (``GET /staff/inbox``).

moto is slow at two things this day does a lot - Query on an index, and rolling back
TransactWriteItems - so the ``day`` fixture swaps in faster equivalents of those two internals
(``infra.moto_stack.faster_moto``): the run takes about a minute
instead of several. What DynamoDB answers is unchanged.
"""
from __future__ import annotations

from infra.moto_stack import faster_moto  # noqa: E402

import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from typing import Any, Callable
from zoneinfo import ZoneInfo

import boto3
import pytest

from tests.support import a_complaint, post_json

pytestmark = pytest.mark.e2e

T0 = datetime(2026, 11, 23, 0, 0, tzinfo=timezone.utc)  # Monday 08:00 in Shanghai
DAY_MINUTES = 24 * 60
STEP = 5  # minutes: the sweep's rate
SHANGHAI = ZoneInfo("Asia/Shanghai")
SENDER = "complaints@example.com"
CAPTURE = "test-sla-day-alerts"

# -- the organisation: the test's own data, from which both the routing config and the expected
#    business hours are made. No CN public holiday or make-up working day falls on 23-25 Nov 2026.
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEPARTMENTS: dict[str, dict[str, Any]] = {
    "quality": {"days": 5, "hours": [("09:00", "12:00"), ("13:00", "18:00")],
                "agents": ["qa-agent-1", "qa-agent-2"], "on_duty": ["qa-agent-1", "qa-agent-2"]},
    "customer_service": {"days": 7, "hours": [("08:00", "22:00")], "agents": ["cs-agent"], "on_duty": ["cs-agent"]},
    # nobody on duty at first: lg-agent comes on duty at 10:30 Shanghai time (minute 150)
    "logistics": {"days": 6, "hours": [("09:00", "18:00")], "agents": ["lg-agent"], "on_duty": []},
    # nobody ever: its cases are never assigned
    "finance": {"days": 5, "hours": [("09:00", "18:00")], "agents": [], "on_duty": []},
}
PREFIX = {"quality": "qa", "customer_service": "cs", "logistics": "lg", "finance": "fin"}
LOGISTICS_ON_DUTY_AT = 150


def staff_id(name: str) -> str:
    return f"staff-{name}"  # what tests/conftest.py's make_token puts in ``sub`` for this name


def lead_of(department: str) -> str:
    return staff_id(f"{PREFIX[department]}-lead")


def manager_of(department: str) -> str:
    return staff_id(f"{PREFIX[department]}-manager")


# -- the day's complaints ------------------------------------------------------------------------------
# The fake classifier reads the category from these phrases; the bundled priority rules read the
# priority from the text: "food poisoning" is a P1 floor, food safety is P2, the other categories P3.
TEXTS = {
    ("quality", "P1"): "After eating the dumplings our family had food poisoning.",
    ("quality", "P2"): "The dumplings smelled sour when the bag was opened.",
    ("quality", "P3"): "The packaging of the dumplings was torn and half of them were broken.",
    ("customer_service", "P1"): "The hotline agent was rude when I reported food poisoning from the dumplings.",
    ("customer_service", "P3"): "The hotline agent was rude and hung up on me.",
    ("logistics", "P3"): "The parcel came late, four days after the promised date.",
    ("finance", "P1"): "I was charged twice, and the dumplings gave us food poisoning.",
    ("finance", "P3"): "I was charged twice for the same order.",
}


@dataclass
class Plan:
    key: str
    at: int  # minute of the day it is submitted
    department: str
    priority: str
    pause: tuple[int, int] | None = None  # waiting on the customer from .. to (minutes)


DAY = [
    Plan("q1", 2, "quality", "P1"), Plan("q2", 37, "quality", "P1"), Plan("q3", 45, "quality", "P1"),
    Plan("q4", 125, "quality", "P1"), Plan("q5", 301, "quality", "P1"), Plan("q6", 600, "quality", "P1"),
    Plan("q7", 1003, "quality", "P1"), Plan("q8", 1400, "quality", "P1"),
    Plan("q9", 0, "quality", "P2"), Plan("q10", 63, "quality", "P2", pause=(93, 213)),
    Plan("q11", 410, "quality", "P2"), Plan("q12", 777, "quality", "P2"), Plan("q13", 888, "quality", "P2"),
    Plan("q14", 1199, "quality", "P2"),
    Plan("q15", 0, "quality", "P3"), Plan("q16", 250, "quality", "P3"), Plan("q17", 530, "quality", "P3"),
    Plan("q18", 900, "quality", "P3"),
    Plan("c1", 15, "customer_service", "P3"), Plan("c2", 480, "customer_service", "P3"),
    Plan("c3", 830, "customer_service", "P3"), Plan("c4", 240, "customer_service", "P1"),
    Plan("c5", 1111, "customer_service", "P1"),
    Plan("l1", 5, "logistics", "P3"), Plan("l2", 40, "logistics", "P3"), Plan("l3", 400, "logistics", "P3"),
    Plan("l4", 1300, "logistics", "P3"),
    Plan("f1", 20, "finance", "P3"), Plan("f2", 200, "finance", "P1"),
    Plan("q19", 1300, "quality", "P2"),
]


# -- the expected alerts, from the policy (no shared.sla / shared.calendars here) --------------------------
WARNINGS, LEVELS = (0.5, 0.8), (1.0, 1.5)
# priority -> clock -> (amount, unit)
POLICY = {"P1": {"first_response": (1, "hours"), "resolution": (24, "hours")},
          "P2": {"first_response": (4, "hours"), "resolution": (48, "hours")},
          "P3": {"first_response": (8, "business_hours"), "resolution": (5, "business_days")}}


def at(minute: float) -> datetime:
    return T0 + timedelta(minutes=minute)


def minute_of(moment: datetime) -> float:
    return (moment - T0).total_seconds() / 60


def working_intervals(department: str, start: datetime):
    """The department's working intervals (UTC) from ``start``'s local date on."""
    spec = DEPARTMENTS[department]
    day = start.astimezone(SHANGHAI).date()
    while True:
        if day.weekday() < spec["days"]:
            for a, b in spec["hours"]:
                yield (datetime.combine(day, time.fromisoformat(a), SHANGHAI).astimezone(timezone.utc),
                       datetime.combine(day, time.fromisoformat(b), SHANGHAI).astimezone(timezone.utc))
        day += timedelta(days=1)


def work_add(department: str, start: datetime, seconds: float) -> datetime:
    for a, b in working_intervals(department, start):
        if b <= start:
            continue
        a = max(a, start)
        if seconds <= (b - a).total_seconds():
            return a + timedelta(seconds=seconds)
        seconds -= (b - a).total_seconds()
    raise AssertionError("unreachable")


def work_between(department: str, start: datetime, end: datetime) -> float:
    total = 0.0
    for a, b in working_intervals(department, start):
        if a >= end:
            return total
        if b > start:
            total += (min(b, end) - max(a, start)).total_seconds()
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class Point:
    clock: str
    kind: str  # sla_warning | sla_breach | escalation
    share: float
    level: int | None
    at: datetime


def clock_points(plan: Plan, clock: str) -> list[Point]:
    """When the clock reaches each share of its target, with the pause taken out."""
    amount, unit = POLICY[plan.priority][clock]
    start, end = at(plan.at), at(DAY_MINUTES)
    if unit == "business_days":
        # the budget runs to the close of the 5th working day after the start's date: at least 5 full
        # working days (>= 8 h each here), so its first point (50 %) is >= 20 working hours away - after the day
        assert work_add(plan.department, start, 0.5 * amount * 8 * 3600) > end
        return []
    wall = unit == "hours"
    budget = amount * 3600

    def add(t: datetime, seconds: float) -> datetime:
        return t + timedelta(seconds=seconds) if wall else work_add(plan.department, t, seconds)

    def spent(a: datetime, b: datetime) -> float:
        return (b - a).total_seconds() if wall else work_between(plan.department, a, b)

    points = []
    shares = [(s, "sla_warning", None) for s in WARNINGS] + [
        (s, "sla_breach" if i == 1 else "escalation", i) for i, s in enumerate(LEVELS, start=1)]
    for share, kind, level in shares:
        target = share * budget
        if plan.pause is None:
            reached = add(start, target)
        else:
            paused, resumed = at(plan.pause[0]), at(plan.pause[1])
            before = spent(start, paused)
            reached = add(start, target) if target <= before else add(resumed, target - before)
        points.append(Point(clock, kind, share, level, reached))
    return points


@dataclass(frozen=True)
class Expected:
    complaint: str  # the plan's key
    kind: str
    clock: str | None
    share: float | None
    level: int | None
    minute: int  # the step at which it must be raised
    point: float | None  # the minute the clock reached the point
    recipients: tuple[str, ...]


def assignee_at(plan: Plan, minute: float, assignees: dict[str, str | None]) -> str | None:
    if plan.department == "logistics" and plan.at < LOGISTICS_ON_DUTY_AT and minute < LOGISTICS_ON_DUTY_AT:
        return None
    return assignees[plan.key]


def expected_alerts(assignees: dict[str, str | None]) -> list[Expected]:
    out = []
    for plan in DAY:
        lead, manager = lead_of(plan.department), manager_of(plan.department)
        if assignee_at(plan, plan.at, assignees) is None:  # waits in the department queue: the lead is told
            out.append(Expected(plan.key, "queue_waiting", None, None, None, plan.at, None, (lead,)))
        for clock in POLICY[plan.priority]:
            pending = clock_points(plan, clock)
            sweep = plan.at + (-plan.at) % STEP  # the first sweep at or after the submission
            while pending and sweep <= DAY_MINUTES:
                due = [p for p in pending if p.at <= at(sweep)]
                levels = [p for p in due if p.level is not None]
                warnings = [p for p in due if p.level is None]
                # every level reached is announced; warnings only while no level is, and only the highest
                announce = levels or warnings[-1:]
                for p in announce:
                    who = assignee_at(plan, sweep, assignees)
                    recipients = ((who or lead,) if p.kind == "sla_warning" else
                                  tuple(dict.fromkeys(r for r in (lead, who) if r)) if p.level == 1 else (manager,))
                    out.append(Expected(plan.key, p.kind, clock, p.share, p.level, sweep, minute_of(p.at),
                                        recipients))
                pending = [p for p in pending if p not in due and not (levels and p.level is None)]
                sweep += STEP
    return out


# -- the fake classifier ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Classification:
    label: str
    confidence: float = 0.9
    alternatives: tuple = ()
    features: tuple = ()
    model_version: str = "fake-day-1"

    def explanation(self) -> str:
        return "fake"


class DayClassifier:
    version = "fake-day-1"
    labels = ["product_quality", "food_safety", "delivery_logistics", "service_attitude", "billing_price",
              "refund_after_sales", "privacy_security", "other"]

    def classify(self, text: str) -> Classification:
        for phrase, label in (("charged twice", "billing_price"), ("rude", "service_attitude"),
                              ("parcel", "delivery_logistics"), ("food poisoning", "food_safety"),
                              ("smelled sour", "food_safety")):
            if phrase in text:
                return Classification(label)
        return Classification("product_quality")


# -- the simulated world ------------------------------------------------------------------------------------
class Day:
    """The pump, the simulated clock, and what was raised when."""

    def __init__(self, client: Any, aws: dict[str, str], make_token: Callable[..., str]):
        from functions.app import app
        from infra.event_pump import EventPump

        self.client, self.aws, self.make_token = client, aws, make_token
        self.minute = 0.0
        self.sqs = boto3.client("sqs")
        self.pump = EventPump(app, self.sqs, stage="dev", region="us-east-1", wait_seconds=0)
        self.next_fire = {s.name: T0 for s in self.pump.schedules()}
        self.sweeps: list[dict[str, Any]] = []
        self.raised: list[tuple[float, dict[str, Any]]] = []  # (minute captured, StaffAlertRaised detail)
        self.capture_url = self._capture_queue()

    def now(self) -> datetime:
        return at(self.minute)

    def _capture_queue(self) -> str:
        events = boto3.client("events")
        url = self.sqs.create_queue(QueueName=CAPTURE)["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name=CAPTURE, EventBusName=self.aws["EVENT_BUS_NAME"],
                        EventPattern=json.dumps({"source": ["complaints.sla"], "detail-type": ["StaffAlertRaised"]}))
        events.put_targets(Rule=CAPTURE, EventBusName=self.aws["EVENT_BUS_NAME"], Targets=[{"Id": "q", "Arn": arn}])
        return url

    def drain(self) -> None:
        """Run the consumers until every queue is empty, then take what was raised."""
        while sum(self.pump.poll_once(source, wait_seconds=0) for source in self.pump.sqs_sources()):
            pass
        while True:
            batch = self.sqs.receive_message(QueueUrl=self.capture_url, MaxNumberOfMessages=10).get("Messages", [])
            if not batch:
                break
            for m in batch:
                self.raised.append((self.minute, json.loads(m["Body"])["detail"]))
            self.sqs.delete_message_batch(QueueUrl=self.capture_url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)])

    def fire_schedules(self) -> None:
        from infra.event_pump import _expression, next_fire

        now = self.now()
        for source in self.pump.schedules():
            if self.next_fire[source.name] > now:
                continue
            result = self.pump.fire(source, when=now)
            assert result is not None, f"scheduled {source.name} raised at minute {self.minute}"
            if source.name == "sweep_sla":
                assert result["errors"] == 0, result
                self.sweeps.append(result)
            while self.next_fire[source.name] <= now:
                self.next_fire[source.name] = next_fire(_expression(source), self.next_fire[source.name])
            self.drain()

    # what staff and customers do
    def token(self, name: str, role: str = "agent", departments: list[str] | None = None) -> str:
        return self.make_token(role=role, name=name, departments=departments or ["quality"])

    def submit(self, plan: Plan, n: int) -> str:
        body = a_complaint(
            title=f"Complaint {plan.key}", description=TEXTS[(plan.department, plan.priority)],
            customer={"name": f"Customer {plan.key}", "email": f"customer-{plan.key}@example.com",
                      "phone": f"+86 138 0000 {1000 + n}", "preferred_language": "en"},
            product={"name": "Pork dumplings 1kg", "sku": "DUMP-1KG", "batch": f"B{7000 + n}",
                     "order_id": f"SO-{9000 + n}"})
        res = post_json(self.client, "/complaints", body)
        assert res.status_code == 201, res.body
        return json.loads(res.body)["complaint_id"]

    def wait_on_customer(self, number: str, waiting: bool) -> None:
        """The handler asks the customer a question (clocks pause) / the customer answers (they resume)."""
        from shared.clock_changes import pause_clocks, resume_clocks
        from shared.config_store import config_store
        from shared.lifecycle import Status, check_transition
        from shared.models import TimelineEntry, TimelineKind
        from shared.store import complaint_repository

        repo, now = complaint_repository(), self.now()
        case = repo.get_many([number])[number]
        if waiting:
            check_transition(case.status, Status.IN_PROGRESS)
            check_transition(Status.IN_PROGRESS, Status.WAITING_ON_CUSTOMER)
            changes, entries = pause_clocks(case, now, config_store(), actor="staff")
            status = Status.WAITING_ON_CUSTOMER
        else:
            check_transition(case.status, Status.IN_PROGRESS)
            changes, entries = resume_clocks(case, now, config_store())
            status = Status.IN_PROGRESS
        assert changes, "no clock paused/resumed"
        entries.append(TimelineEntry(at=now, kind=TimelineKind.STATUS_CHANGED, status=status))
        repo.save(case.model_copy(update={**changes, "status": status, "version": case.version + 1,
                                          "updated_at": now}), entries, expected_version=case.version)


@pytest.fixture
def day(aws, client, make_token, monkeypatch):
    # a day's alerts far exceed moto's fixed sandbox SES quota (200 a day, 1 a second): pace to a real one,
    # as the local stack does (functions/notifier/pacing.py)
    monkeypatch.setenv("SES_SEND_QUOTA", "-1/50")
    from functions.notifier import pacing

    pacing.reset()
    from functions.notifier import handlers as notifier_handlers
    from functions.router import handlers as router_handlers
    from infra.local_outbox import verify_sender
    from shared.clock import set_clock

    verify_sender(boto3.client, SENDER)
    faster_moto(monkeypatch.setattr)
    classifier = DayClassifier()
    monkeypatch.setattr(router_handlers, "text_classifier", lambda: classifier)
    router_handlers.reset()
    notifier_handlers.staff_alerts.cache_clear()
    world = Day(client, aws, make_token)
    set_clock(world.now)
    try:
        yield world
    finally:
        set_clock(None)
        router_handlers.reset()
        notifier_handlers.staff_alerts.cache_clear()


def organise(day: Day) -> None:
    """The routing configuration, the staff directory and who is on duty, through the staff API."""
    admin = {"Authorization": "Bearer " + day.token("admin", role="admin")}
    departments = []
    for dept, spec in DEPARTMENTS.items():
        hours = [f"{a}-{b}" for a, b in spec["hours"]]
        departments.append({
            "department_id": dept, "name": {"en": dept.replace("_", " ").title()}, "strategy": "least_load",
            "max_open_per_handler": 30, "lead": lead_of(dept), "manager": manager_of(dept),
            "calendar": {"time_zone": "Asia/Shanghai", "working_hours": {d: hours for d in WEEKDAYS[:spec["days"]]},
                         **({"holidays_country": "CN"} if spec["days"] < 7 else {})}})
    routing = {"default_department": "customer_service", "departments": departments, "rules": [
        {"rule_id": "food", "categories": ["food_safety", "product_quality"], "department": "quality"},
        {"rule_id": "delivery", "categories": ["delivery_logistics"], "department": "logistics"},
        {"rule_id": "money", "categories": ["billing_price", "refund_after_sales"], "department": "finance"},
        {"rule_id": "service", "categories": ["service_attitude"], "department": "customer_service"}]}
    res = day.client.http.put("/staff/config/routing", headers={**admin, "Content-Type": "application/json"},
                              body=json.dumps({"version": 0, "config": routing, "comment": "simulated day"}))
    assert res.status_code == 200, res.body
    for dept, spec in DEPARTMENTS.items():
        people = [f"{PREFIX[dept]}-lead", f"{PREFIX[dept]}-manager", *spec["agents"]]
        for name in people:
            res = day.client.http.put(f"/staff/handlers/{staff_id(name)}", headers={
                **admin, "Content-Type": "application/json"}, body=json.dumps({
                    "name": name.replace("-", " ").title(), "email": f"{name}@example.com", "departments": [dept]}))
            assert res.status_code == 200, res.body
        for name in spec["on_duty"]:
            on_duty(day, name)


def on_duty(day: Day, name: str) -> list[str]:
    res = day.client.http.put(f"/staff/handlers/{staff_id(name)}/availability", body=json.dumps({"on_duty": True}),
                              headers={"Authorization": "Bearer " + day.token(name),
                                       "Content-Type": "application/json"})
    assert res.status_code == 200, res.body
    return json.loads(res.body)["assigned"]


def inbox(day: Day, staff: str) -> list[dict[str, Any]]:
    headers = {"Authorization": "Bearer " + day.token(staff.removeprefix("staff-"))}
    items, cursor = [], None
    while True:
        res = day.client.http.get("/staff/inbox?limit=100" + (f"&cursor={cursor}" if cursor else ""), headers=headers)
        assert res.status_code == 200, res.body
        page = json.loads(res.body)
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return items


def queue_counts(day: Day) -> dict[str, tuple[int, int]]:
    out = {}
    for url in day.sqs.list_queues(QueueNamePrefix="complaints-dev")["QueueUrls"]:
        attrs = day.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        out[url.rsplit("/", 1)[-1]] = (int(attrs["ApproximateNumberOfMessages"]),
                                       int(attrs["ApproximateNumberOfMessagesNotVisible"]))
    return out


# -- the day --------------------------------------------------------------------------------------------------
def test_a_simulated_day_raises_every_warning_and_escalation_once_on_time_to_the_right_people(day):
    from shared.store import complaint_repository

    organise(day)
    # what happens between the sweeps, at its own minute: submissions, the pause and its end, duty
    actions: list[tuple[float, int, Callable[[], None]]] = []
    numbers: dict[str, str] = {}
    for n, plan in enumerate(DAY):
        submit = lambda plan=plan, n=n: numbers.__setitem__(plan.key, day.submit(plan, n))  # noqa: E731
        actions.append((plan.at, len(actions), submit))
        if plan.pause:
            actions.append((plan.pause[0], len(actions), lambda k=plan.key: day.wait_on_customer(numbers[k], True)))
            actions.append((plan.pause[1], len(actions), lambda k=plan.key: day.wait_on_customer(numbers[k], False)))
    assigned_on_duty: list[str] = []
    actions.append((LOGISTICS_ON_DUTY_AT, len(actions), lambda: assigned_on_duty.extend(on_duty(day, "lg-agent"))))
    actions.sort(key=lambda a: (a[0], a[1]))

    for step in range(0, DAY_MINUTES + 1, STEP):
        while actions and actions[0][0] <= step:
            minute, _, act = actions.pop(0)
            day.minute = minute
            act()
            day.drain()
        day.minute = step
        day.fire_schedules()

    # the cases went where the organisation sends them
    repo = complaint_repository()
    cases = repo.get_many(numbers.values())
    by_key = {key: cases[number] for key, number in numbers.items()}
    assignees: dict[str, str | None] = {}
    for plan in DAY:
        case = by_key[plan.key]
        assert (case.department, case.priority, case.repeat_of) == (plan.department, plan.priority, None), plan
        expected_handlers = {staff_id(a) for a in DEPARTMENTS[plan.department]["agents"]}
        assert (case.assignee in expected_handlers) if expected_handlers else case.assignee is None, plan
        assignees[plan.key] = case.assignee
    assert sorted(assigned_on_duty) == sorted(numbers[k] for k in ("l1", "l2"))
    assert by_key["q10"].status == "in_progress" and by_key["q10"].clocks[0].pauses == 1

    # every expected alert raised exactly once, at the sweep right after its point, to the right people
    expected = expected_alerts(assignees)
    key_of = {number: key for key, number in numbers.items()}

    def key(complaint: str, kind: str, clock: str | None, share: float | None, level: int | None):
        return (complaint, kind, clock, share if kind == "sla_warning" else None, level)

    # the SLA's alerts; the hourly root-cause job may also see the day's burst of one product as a spike
    # (its alerts are checked in tests/integration/test_root_cause_alerts.py)
    sla_raised = [(m, d) for m, d in day.raised if d["kind"] not in ("spike", "concentration", "similar_texts")]
    raised = Counter(key(key_of[d["complaint_id"]], d["kind"], d.get("clock"), d.get("share"), d.get("level"))
                     for _, d in sla_raised)
    repeated = {k: n for k, n in raised.items() if n > 1}
    assert not repeated, f"raised more than once: {repeated}"
    wanted = {key(e.complaint, e.kind, e.clock, e.share, e.level): e for e in expected}
    assert len(wanted) == len(expected)
    missing = sorted(set(wanted) - set(raised), key=lambda k: wanted[k].minute)
    unexpected = sorted(set(raised) - set(wanted))
    assert not missing and not unexpected, f"missing: {missing}\nunexpected: {unexpected}"

    for minute, detail in sla_raised:
        e = wanted[key(key_of[detail["complaint_id"]], detail["kind"], detail.get("clock"), detail.get("share"),
                       detail.get("level"))]
        what = f"{e.complaint} {e.kind} {e.clock} {e.share or e.level}"
        assert minute == e.minute, f"{what}: raised at minute {minute}, expected {e.minute} (point {e.point})"
        assert detail["raised_at"] == at(minute).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        if e.point is not None:
            assert 0 <= minute - e.point < STEP, what  # within one sweep interval after the point
        assert tuple(detail["recipients"]) == e.recipients, what
        assert detail["department"] == DAY[[p.key for p in DAY].index(e.complaint)].department

    # the sample covers what it should
    kinds = Counter((e.kind, e.clock) for e in expected)
    assert kinds[("sla_breach", "first_response")] >= 10 and kinds[("escalation", "first_response")] >= 8
    assert kinds[("sla_warning", "resolution")] >= 8 and kinds[("queue_waiting", None)] == 4
    assert any(e.complaint == "q10" for e in expected)  # the pause moved q10's points by 2 h
    assert {e.minute for e in expected if e.complaint == "q10" and e.clock == "first_response"} == {305, 375, 425, 545}

    # each recipient's inbox holds exactly their alerts (the notifier delivered each once)
    per_recipient: dict[str, set[str]] = defaultdict(set)
    for _, detail in sla_raised:
        for r in detail["recipients"]:
            per_recipient[r].add(detail["alert_id"])
    everyone = {staff_id(n) for d, s in DEPARTMENTS.items()
                for n in (f"{PREFIX[d]}-lead", f"{PREFIX[d]}-manager", *s["agents"])}
    assert set(per_recipient) <= everyone
    for person in sorted(everyone):
        # SLA alerts only: the workflow's items (new assignments) come from CaseEvents
        items = [i for i in inbox(day, person)
                 if i.get("source") != "workflow" and i.get("kind") not in ("spike", "concentration", "similar_texts")]
        assert sorted(i["alert_id"] for i in items) == sorted(per_recipient.get(person, set())), person

    # nothing left behind: no message in flight or dead-lettered; every sweep ran, without errors
    assert all(v == (0, 0) for v in queue_counts(day).values()), queue_counts(day)
    assert len(day.sweeps) == DAY_MINUTES // STEP + 1
