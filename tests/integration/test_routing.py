"""Routing a classified case to a department and a handler, and the staff actions around it, through
the functions AWS calls: complaints posted to the Chalice app, ``ComplaintReceived`` taken from the
router queue and ``ComplaintClassified`` from the assignment queue (where the bus's rules put them),
each handed to its function as Lambda would (``infra.event_pump.sqs_event``: real attributes,
distinct messageIds). The fake classifier of ``test_router`` picks the labels:

    变质 / 异味 / smelled -> food_safety -> quality (strategy skills)
    快递 / delivery       -> delivery_logistics -> logistics (round robin)
    anything else        -> product_quality -> quality;  说不清 / unclear -> triage

The domain's clock is held still at ``T0`` (Wednesday 10:00 in Shanghai) and moved by the tests.
Staff tokens: ``make_token(name="alice")`` signs in as ``staff-alice``, the id of her profile.
"""
from __future__ import annotations

import itertools
import json
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

import boto3
import pytest

from infra.event_pump import sqs_event
from tests.integration.test_router import fake_model  # noqa: F401 - the fixture
from tests.support import a_complaint, post_json

T0 = datetime(2025, 3, 5, 2, 0, tzinfo=timezone.utc)
ROUTER_QUEUE, ASSIGNMENT_QUEUE = "complaints-dev-router", "complaints-dev-assignment"

FOOD = "饺子打开后有异味，馅料已经变质了。"
POISONING = "孩子吃了变质的饺子后食物中毒，去医院了。"  # the priority rules lift it to P1
DELIVERY = "快递送了五天才到，外箱压坏了。"
PRODUCT = "包装袋破了一个洞，封口不严。"
UNCLEAR = "说不清的问题，反正不满意。"


# -- time, people, configuration ------------------------------------------------------------------------
class Clock:
    """The domain's time (``shared.clock.set_clock``): still unless a test moves it."""

    def __init__(self, at: datetime):
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def set(self, **since_t0: float) -> datetime:
        self.at = T0 + timedelta(**since_t0)
        return self.at




@pytest.fixture
def clock(aws, fake_model):  # noqa: F811 - the fixture imported above
    from functions.router import handlers
    from shared.clock import set_clock

    handlers.reset()
    c = Clock(T0)
    set_clock(c)
    yield c
    set_clock(None)
    handlers.reset()


def hire(handler_id: str, *departments: str, skills=(), languages=(), max_open=None, on_duty=True):
    """A handler in the staff directory (as an admin's PUT /staff/handlers does), on duty or not."""
    from shared.staff_directory import HandlerProfileIn, staff_directory

    directory = staff_directory()
    directory.put_profile(handler_id, HandlerProfileIn(
        name=handler_id.removeprefix("staff-").title(), email=f"{handler_id}@example.com",
        departments=list(departments or ["quality"]), skills=list(skills), languages=list(languages),
        max_open=max_open))
    if on_duty:
        directory.set_on_duty(handler_id, True)


def load(handler_id: str) -> int:
    from shared.staff_directory import staff_directory

    return staff_directory().profile(handler_id).open_load


def loads(*handler_ids: str) -> dict[str, int]:
    return {h: load(h) for h in handler_ids}


def token(make_token, handler_id: str, role: str = "agent", departments=("quality",)) -> str:
    return make_token(role=role, name=handler_id.removeprefix("staff-"), departments=list(departments))


def call(client, method: str, path: str, tok: str | None = None, body: Any = None) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json", **({"Authorization": "Bearer " + tok} if tok else {})}
    if method == "GET":
        res = client.http.get(path, headers=headers)
    else:
        send = getattr(client.http, method.lower())
        res = send(path, headers=headers, body=json.dumps(body if body is not None else {}))
    return res.status_code, (json.loads(res.body) if res.body else None)


def change_config(client, admin: str, kind: str, edit: Callable[[dict], None]) -> dict:
    """Read the configuration, edit it, save it as the next version (admin)."""
    status, current = call(client, "GET", f"/staff/config/{kind}", admin)
    assert status == 200, current
    config = current["config"]
    edit(config)
    change = {"version": current["version"], "config": config}
    status, saved = call(client, "PUT", f"/staff/config/{kind}", admin, change)
    assert status == 200, saved
    return saved


def department(config: dict, department_id: str) -> dict:
    return next(d for d in config["departments"] if d["department_id"] == department_id)


def set_leads(client, admin: str, **people: tuple[str, str]) -> None:
    """``quality=("staff-lead", "staff-manager")``: each department's lead and manager."""

    def edit(config):
        for dept, (lead, manager) in people.items():
            department(config, dept).update(lead=lead, manager=manager)

    change_config(client, admin, "routing", edit)


# -- the pipeline ---------------------------------------------------------------------------------------
_customers = itertools.count(1)


def submit(client, description: str = FOOD, language: str = "zh", **overrides) -> str:
    """A complaint from a new customer (so no two are repeats of each other), no product (no clusters)."""
    n = next(_customers)
    body = a_complaint(title=None, description=description, product=None, customer={
        "name": f"Customer {n}", "email": f"customer{n}@example.com", "preferred_language": language})
    body.update(overrides)
    res = post_json(client, "/complaints", body)
    assert res.status_code == 201, res.body
    return json.loads(res.body)["complaint_id"]


def drain(queue: str) -> dict:
    """The queue's messages as the SQS event Lambda builds (deleted, as the event source mapping does)."""
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    messages: list[dict] = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"],
                                       MessageAttributeNames=["All"]).get("Messages", []):
        messages += batch
        for m in batch:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return sqs_event(messages, arn, "us-east-1")


def classify(client) -> None:
    """ComplaintReceived -> route_complaint (classification, priority, ComplaintClassified)."""
    event = drain(ROUTER_QUEUE)
    if event["Records"]:
        assert client.lambda_.invoke("route_complaint", event).payload == {"batchItemFailures": []}


def assign(client, event: dict | None = None) -> dict:
    """ComplaintClassified -> assign_complaint (department, clocks, handler)."""
    event = event if event is not None else drain(ASSIGNMENT_QUEUE)
    if not event["Records"]:
        return {"batchItemFailures": []}
    payload = client.lambda_.invoke("assign_complaint", event).payload
    assert payload == {"batchItemFailures": []}
    return payload


def new_case(client, description: str = FOOD, **overrides) -> str:
    number = submit(client, description, **overrides)
    classify(client)
    assign(client)
    return number


def view(client, tok: str, number: str) -> dict:
    status, body = call(client, "GET", f"/staff/complaints/{number}", tok)
    assert status == 200, body
    return body


def entries(case_view: dict, kind: str) -> list[dict]:
    return [e for e in case_view["timeline"] if e["kind"] == kind]


def stored(number: str):
    from shared.store import complaint_repository

    return complaint_repository().get(number)[0]


def listen(aws, name: str, pattern: dict) -> Callable[[], list[dict]]:
    """A test queue with a rule on the application's bus; returns a function taking its events."""
    sqs, events = boto3.client("sqs"), boto3.client("events")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name=name, EventBusName=aws["EVENT_BUS_NAME"], EventPattern=json.dumps(pattern))
    events.put_targets(Rule=name, EventBusName=aws["EVENT_BUS_NAME"], Targets=[{"Id": "q", "Arn": arn}])

    def take() -> list[dict]:
        out = []
        while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            for m in batch:
                out.append(json.loads(m["Body"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return out

    return take


@pytest.fixture
def staff_alerts(aws) -> Callable[[], list[dict]]:
    """The StaffAlertRaised events put on the bus (their ``detail``)."""
    take = listen(aws, "test-staff-alerts", {"source": ["complaints.sla"], "detail-type": ["StaffAlertRaised"]})
    return lambda: [e["detail"] for e in take()]


@pytest.fixture
def admin(make_token) -> str:
    return make_token(role="admin", name="root", departments=["quality"])


# -- strategies -----------------------------------------------------------------------------------------
def test_skills_strategy_prefers_language_and_skill_among_handlers_on_duty_below_their_cap(client, clock, make_token):
    hire("staff-aaron", skills=["food_safety"], languages=["zh"], on_duty=False)  # first by id, but off duty
    hire("staff-abby", skills=["food_safety"], languages=["zh"], max_open=1)  # takes one case
    hire("staff-alice", skills=["food_safety"], languages=["zh"])
    hire("staff-bob", skills=["food_safety"], languages=["en"])
    hire("staff-carol")  # a generalist: any language, no skill
    tok = make_token()

    first = new_case(client, FOOD)  # food safety in Chinese: abby and alice qualify, abby first by id
    second = new_case(client, FOOD)  # abby is at her cap: alice
    third = new_case(client, PRODUCT)  # nobody has the skill: least load among the Chinese speakers
    fourth = new_case(client, "The dumplings smelled sour.", language="en")  # bob speaks English and has the skill

    owners = [view(client, tok, n)["assignee"] for n in (first, second, third, fourth)]
    assert owners == ["staff-abby", "staff-alice", "staff-carol", "staff-bob"]
    assert loads("staff-aaron", "staff-abby", "staff-alice", "staff-bob", "staff-carol") == {
        "staff-aaron": 0, "staff-abby": 1, "staff-alice": 1, "staff-bob": 1, "staff-carol": 1}

    case = view(client, tok, first)
    assert case["status"] == "assigned" and case["department"] == "quality" and case["queued_at"] is None
    assert [e["kind"] for e in case["timeline"]] == [
        "received", "status_changed", "classified", "routed", "clocks_started", "assigned", "status_changed"]
    assert case["routing"]["rule"] == "food-safety" and case["routing"]["strategy"] == "skills"
    assert case["routing"]["config_version"] == 0
    [assigned] = entries(case, "assigned")
    assert assigned["actor"] == "system" and assigned["details"]["handler"] == "staff-abby"
    assert "skill food_safety and language zh" in assigned["text"]
    assert [c["name"] for c in case["clocks"]] == ["first_response", "resolution", "cn_consumer.reply"]
    assert case["clocks"][0]["due_at"] == "2025-03-05T06:00:00.000Z"  # P2: 4 hours
    assert "nobody with skill product_quality" in entries(view(client, tok, third), "assigned")[0]["text"]


def test_least_load_gives_the_fewest_open_cases_then_the_longest_waiting(client, clock, make_token, admin):
    change_config(client, admin, "routing", lambda c: department(c, "quality").update(strategy="least_load"))
    hire("staff-xia", on_duty=False)
    hire("staff-yan")
    hire("staff-zoe", on_duty=False)
    from shared.staff_directory import staff_directory

    owners = []
    for minute, (on_duty, text) in enumerate([(None, FOOD), (None, PRODUCT), ("staff-zoe", FOOD),
                                              ("staff-xia", FOOD), (None, PRODUCT), (None, FOOD)]):
        clock.set(minutes=minute)
        if on_duty:
            staff_directory().set_on_duty(on_duty, True)
        owners.append(view(client, make_token(), new_case(client, text))["assignee"])
    # yan alone takes two; zoe (0 open) then xia (0 open); xia and zoe at 1: zoe waited longer; then xia
    assert owners == ["staff-yan", "staff-yan", "staff-zoe", "staff-xia", "staff-zoe", "staff-xia"]
    assert loads("staff-xia", "staff-yan", "staff-zoe") == {"staff-xia": 2, "staff-yan": 2, "staff-zoe": 2}


def test_round_robin_takes_turns_in_id_order_and_wraps(client, clock, make_token):
    hire("staff-kai", "logistics", on_duty=False)  # first by id, off duty: never in turn
    for h in ("staff-lina", "staff-ming", "staff-nora"):
        hire(h, "logistics")
    hire("staff-abe", "quality")  # another department: never in logistics' turn
    tok = make_token()
    cases = [view(client, tok, new_case(client, DELIVERY)) for _ in range(4)]
    assert [c["assignee"] for c in cases] == ["staff-lina", "staff-ming", "staff-nora", "staff-lina"]
    assert {(c["department"], c["routing"]["rule"], c["routing"]["strategy"]) for c in cases} == {
        ("logistics", "delivery", "round_robin")}
    assert loads("staff-kai", "staff-lina", "staff-ming", "staff-nora", "staff-abe") == {
        "staff-kai": 0, "staff-lina": 2, "staff-ming": 1, "staff-nora": 1, "staff-abe": 0}
    status, roster = call(client, "GET", "/staff/handlers?department=logistics", tok)
    assert [(h["handler_id"], h["open_load"]) for h in roster["handlers"]] == [
        ("staff-kai", 0), ("staff-lina", 2), ("staff-ming", 1), ("staff-nora", 1)]


# -- repeated deliveries, repeats, triage ---------------------------------------------------------------
def test_redelivered_classified_event_leaves_one_owner_and_exact_load(client, clock, make_token):
    hire("staff-alice")
    hire("staff-bob")
    number = submit(client)
    classify(client)
    event = drain(ASSIGNMENT_QUEUE)
    [record] = event["Records"]
    assert json.loads(record["body"])["detail-type"] == "ComplaintClassified"
    assign(client, event)
    first = view(client, make_token(), number)
    assign(client, event)  # the same delivery again
    other = json.loads(json.dumps(event))
    other["Records"][0]["messageId"] = "another-delivery"
    other["Records"][0]["attributes"]["ApproximateReceiveCount"] = "2"
    assign(client, other)
    again = view(client, make_token(), number)
    assert again == first and len(entries(again, "assigned")) == 1
    owner = first["assignee"]
    other = ({"staff-alice", "staff-bob"} - {owner}).pop()  # free, yet given nothing by the repeats
    assert loads(owner, other) == {owner: 1, other: 0}


def test_repeats_and_triage_cases_are_not_routed(client, clock, make_token):
    hire("staff-alice")
    hire("staff-lina", "logistics")
    customer = {"name": "Li Wei", "email": "li.wei@example.com", "preferred_language": "zh"}
    first = submit(client, DELIVERY * 2, customer=customer)
    classify(client)
    clock.set(minutes=10)  # a repeat comes later than its original
    repeat = submit(client, DELIVERY * 2 + "这是第二次反映了。", customer=customer)
    unsure = submit(client, UNCLEAR)
    classify(client)
    assign(client)
    tok = make_token()
    assert view(client, tok, first)["assignee"] == "staff-lina"
    for number in (repeat, unsure):
        case = view(client, tok, number)
        assert case["status"] == "classified" and case["department"] is None and case["assignee"] is None
        assert entries(case, "routed") == [] and case["clocks"] == []
    assert view(client, tok, repeat)["repeat_of"] == first and view(client, tok, unsure)["needs_triage"] is True
    assert loads("staff-alice", "staff-lina") == {"staff-alice": 0, "staff-lina": 1}


# -- nobody on duty: the department queue -----------------------------------------------------------------
def test_nobody_on_duty_queues_tells_the_lead_once_and_coming_on_duty_takes_the_queue(
        client, clock, make_token, admin, staff_alerts):
    set_leads(client, admin, quality=("staff-qa-lead", "staff-qa-boss"))
    hire("staff-alice", on_duty=False)
    ordinary = new_case(client, FOOD)  # P2: first response in 4 hours
    clock.set(minutes=5)
    urgent = new_case(client, POISONING)  # P1: first response in 1 hour - the most urgent, though later
    alice = token(make_token, "staff-alice")

    case = view(client, alice, urgent)
    assert case["priority"] == "P1" and case["status"] == "classified" and case["assignee"] is None
    assert case["department"] == "quality" and case["queued_at"] == "2025-03-05T02:05:00.000Z"
    [queued] = entries(case, "queued")
    assert queued["details"] == {"department": "quality", "reason": "nobody on duty", "told": ["staff-qa-lead"]}
    status, waiting = call(client, "GET", "/staff/queue?department=quality", alice)
    assert status == 200 and [c["complaint_id"] for c in waiting["complaints"]] == [urgent, ordinary]
    assert waiting["complaints"][0]["due_at"] == "2025-03-05T03:05:00.000Z"

    alerts = staff_alerts()
    assert sorted((a["kind"], a["complaint_id"], tuple(a["recipients"])) for a in alerts) == sorted(
        [("queue_waiting", n, ("staff-qa-lead",)) for n in (ordinary, urgent)])
    assert {a["alert_id"] for a in alerts} == {f"{ordinary}:queued:2025-03-05T02:00:00.000Z",
                                               f"{urgent}:queued:2025-03-05T02:05:00.000Z"}

    clock.set(minutes=7)
    status, answer = call(client, "PUT", "/staff/handlers/staff-alice/availability", alice, {"on_duty": True})
    assert status == 200 and answer["on_duty"] is True
    assert answer["assigned"] == [urgent, ordinary]  # most urgent first
    assert load("staff-alice") == 2
    case = view(client, alice, urgent)
    assert case["assignee"] == "staff-alice" and case["status"] == "assigned" and case["queued_at"] is None
    status, mine = call(client, "GET", "/staff/queue?assignee=me", alice)
    assert [c["complaint_id"] for c in mine["complaints"]] == [urgent, ordinary]
    assert call(client, "GET", "/staff/queue?department=quality", alice)[1]["complaints"] == []
    assert staff_alerts() == []  # no more alerts: the queue is empty


# -- configuration --------------------------------------------------------------------------------------
def test_routing_configuration_is_versioned_read_by_staff_and_changed_by_admins(client, clock, make_token, admin):
    agent = make_token()
    status, current = call(client, "GET", "/staff/config/routing", agent)
    assert status == 200 and current["version"] == 0 and current["updated_by"] == "bundled default"
    assert current["config"]["default_department"] == "customer_service"
    config = current["config"]
    assert call(client, "GET", "/staff/config/routing")[0] == 401

    status, body = call(client, "PUT", "/staff/config/routing", agent, {"version": 0, "config": config})
    assert status == 403 and body["error"] == "forbidden"
    assert call(client, "PUT", "/staff/config/routing", make_token(role="manager"),
                {"version": 0, "config": config})[0] == 403

    bad = json.loads(json.dumps(config))
    department(bad, "quality")["strategy"] = "whoever_is_nearest"
    status, body = call(client, "PUT", "/staff/config/routing", admin, {"version": 0, "config": bad})
    assert status == 422 and body["error"] == "validation_failed"
    assert any(d["field"] == "config.departments.1.strategy" for d in body["details"]), body["details"]
    bad = {**config, "default_department": "nowhere"}
    status, body = call(client, "PUT", "/staff/config/routing", admin, {"version": 0, "config": bad})
    assert status == 422 and "nowhere" in json.dumps(body["details"])

    # food safety goes to finance from now on: the next case follows the new rule, no redeploy
    hire("staff-fay", "finance")
    hire("staff-alice")
    before = new_case(client, FOOD)
    rules = [{**r, "department": "finance"} if r["rule_id"] == "food-safety" else r for r in config["rules"]]
    status, saved = call(client, "PUT", "/staff/config/routing", admin,
                         {"version": 0, "config": {**config, "rules": rules}, "comment": "finance takes food safety"})
    assert status == 200 and saved["version"] == 1 and saved["updated_by"] == "staff:staff-root"
    after = new_case(client, FOOD)
    case = view(client, agent, after)
    assert case["department"] == "finance" and case["assignee"] == "staff-fay"
    assert case["routing"]["config_version"] == 1 and case["routing"]["rule"] == "food-safety"
    assert view(client, agent, before)["department"] == "quality"

    status, body = call(client, "PUT", "/staff/config/routing", admin, {"version": 0, "config": config})
    assert status == 409 and body["error"] == "stale_version"
    assert call(client, "PUT", "/staff/config/routing", admin, {"version": 1, "config": config})[1]["version"] == 2
    status, history = call(client, "GET", "/staff/config/routing/history", agent)
    assert status == 200 and [v["version"] for v in history["versions"]] == [2, 1]
    assert history["versions"][1]["comment"] == "finance takes food safety"
    status, old = call(client, "GET", "/staff/config/routing?version=1", agent)
    assert status == 200 and old["version"] == 1 and old["config"]["rules"][0]["department"] == "finance"
    assert call(client, "GET", "/staff/config/routing?version=0", agent)[1]["updated_by"] == "bundled default"
    assert call(client, "GET", "/staff/config/routing?version=9", agent)[0] == 404
    assert call(client, "GET", "/staff/config/routing", agent)[1]["version"] == 2

    for method in ("GET", "PUT"):
        status, body = call(client, method, "/staff/config/holidays", admin, {"version": 0, "config": {}})
        assert status == 404 and body["error"] == "not_found", method


def test_sla_configuration_is_versioned_and_the_next_case_gets_its_targets(client, clock, make_token, admin):
    agent = make_token()
    status, current = call(client, "GET", "/staff/config/sla", agent)
    assert status == 200 and current["version"] == 0 and current["config"]["warning_shares"] == [0.5, 0.8]
    config = current["config"]
    assert call(client, "PUT", "/staff/config/sla", agent, {"version": 0, "config": config})[0] == 403
    status, body = call(client, "PUT", "/staff/config/sla", admin,
                        {"version": 0, "config": {**config, "warning_shares": [0.8, 0.5]}})
    assert status == 422 and [d["field"] for d in body["details"]] == ["config.warning_shares"]

    policies = [{**p, "first_response": {"amount": 2, "unit": "hours"}} if p["policy_id"] == "p2" else p
                for p in config["policies"]]
    status, saved = call(client, "PUT", "/staff/config/sla", admin,
                         {"version": 0, "config": {**config, "policies": policies}})
    assert status == 200 and saved["version"] == 1
    assert call(client, "PUT", "/staff/config/sla", admin, {"version": 0, "config": config})[0] == 409
    hire("staff-alice")
    case = view(client, agent, new_case(client, FOOD))
    assert case["routing"]["sla_version"] == 1
    assert case["clocks"][0]["name"] == "first_response" and case["clocks"][0]["due_at"] == "2025-03-05T04:00:00.000Z"
    assert [v["version"] for v in call(client, "GET", "/staff/config/sla/history", agent)[1]["versions"]] == [1]


# -- the staff directory ---------------------------------------------------------------------------------
def test_handlers_are_edited_by_admins_with_versions(client, clock, make_token, admin):
    profile = {"name": "Alice", "email": "alice@example.com", "departments": ["quality"], "languages": ["zh"],
               "skills": ["food_safety"]}
    lead = token(make_token, "staff-qa-lead", role="lead")
    status, body = call(client, "PUT", "/staff/handlers/staff-alice", lead, profile)
    assert status == 403
    status, body = call(client, "PUT", "/staff/handlers/staff-alice", admin, {**profile, "departments": ["kitchen"]})
    assert status == 422 and body["details"] == [{"field": "departments", "problem": "unknown department: kitchen"}]
    status, created = call(client, "PUT", "/staff/handlers/staff-alice", admin, profile)
    assert status == 200 and created["version"] == 1 and created["on_duty"] is False and created["open_load"] == 0
    status, body = call(client, "PUT", "/staff/handlers/staff-alice", admin, {**profile, "max_open": 5})
    assert status == 409 and body["error"] == "stale_version"  # an update names the version it read
    status, updated = call(client, "PUT", "/staff/handlers/staff-alice", admin,
                           {**profile, "departments": ["quality", "logistics"], "version": 1})
    assert status == 200 and updated["version"] == 2
    assert call(client, "PUT", "/staff/handlers/staff-alice", admin, {**profile, "version": 1})[0] == 409
    call(client, "PUT", "/staff/handlers/staff-bob", admin, {**profile, "name": "Bob"})

    status, roster = call(client, "GET", "/staff/handlers?department=logistics", lead)
    assert status == 200 and [h["handler_id"] for h in roster["handlers"]] == ["staff-alice"]
    status, roster = call(client, "GET", "/staff/handlers?department=quality", lead)
    assert [h["handler_id"] for h in roster["handlers"]] == ["staff-alice", "staff-bob"]
    assert roster["handlers"][0]["skills"] == ["food_safety"]
    assert call(client, "GET", "/staff/handlers/staff-bob", lead)[1]["name"] == "Bob"
    assert call(client, "GET", "/staff/handlers/staff-nobody", lead)[0] == 404


# -- claim, assign, transfer ----------------------------------------------------------------------------
def test_claim_a_waiting_case(client, clock, make_token):
    for h in ("staff-alice", "staff-bob"):
        hire(h, on_duty=False)
    hire("staff-lina", "logistics", on_duty=False)
    first, second = new_case(client, FOOD), new_case(client, PRODUCT)
    alice, bob = token(make_token, "staff-alice"), token(make_token, "staff-bob")

    clock.set(minutes=3)
    status, body = call(client, "POST", f"/staff/complaints/{first}/claim", alice)
    assert status == 200 and body["assignee"] == "staff-alice" and body["status"] == "assigned"
    case = view(client, alice, first)
    [claimed] = entries(case, "assigned")
    assert claimed["actor"] == "staff:staff-alice" and claimed["at"] == "2025-03-05T02:03:00.000Z"
    assert claimed["details"]["reason"] == "claimed"
    status, body = call(client, "POST", f"/staff/complaints/{first}/claim", bob)
    assert status == 409 and body["error"] == "already_assigned"
    assert call(client, "POST", f"/staff/complaints/{first}/claim", alice)[0] == 200  # hers already: no change
    lina = token(make_token, "staff-lina", departments=["logistics"])
    status, body = call(client, "POST", f"/staff/complaints/{second}/claim", lina)
    assert status == 403 and body["error"] == "forbidden" and "quality" in body["message"]  # not her department
    status, body = call(client, "POST", f"/staff/complaints/{second}/claim", token(make_token, "staff-stranger"))
    assert status == 403 and body["error"] == "not_a_handler"
    assert call(client, "POST", f"/staff/complaints/{second}/claim", make_token(role="manager"))[0] == 403
    assert loads("staff-alice", "staff-bob", "staff-lina") == {"staff-alice": 1, "staff-bob": 0, "staff-lina": 0}
    assert view(client, alice, second)["assignee"] is None


def test_a_lead_assigns_with_a_reason_within_the_cap(client, clock, make_token):
    hire("staff-alice")
    hire("staff-bob", max_open=1, on_duty=False)  # a lead may give work to someone off duty
    first, second = new_case(client, FOOD), new_case(client, FOOD)
    lead = token(make_token, "staff-qa-lead", role="lead")
    assert loads("staff-alice", "staff-bob") == {"staff-alice": 2, "staff-bob": 0}

    version = view(client, lead, first)["version"]
    body = {"handler_id": "staff-bob", "reason": "Bob knows this supplier", "version": version}
    assert call(client, "POST", f"/staff/complaints/{first}/assignment", token(make_token, "staff-alice"), body)[0] == 403
    assert call(client, "POST", f"/staff/complaints/{first}/assignment", lead, {**body, "version": version - 1})[1][
        "error"] == "stale_version"
    status, answer = call(client, "POST", f"/staff/complaints/{first}/assignment", lead, body)
    assert status == 200 and answer["assignee"] == "staff-bob" and answer["version"] == version + 1
    [_, given] = entries(view(client, lead, first), "assigned")
    assert given["actor"] == "staff:staff-qa-lead" and given["text"] == "to staff-bob: Bob knows this supplier"
    assert given["details"]["previous_handler"] == "staff-alice" and given["details"]["reason"] == "Bob knows this supplier"
    assert loads("staff-alice", "staff-bob") == {"staff-alice": 1, "staff-bob": 1}

    body = {"handler_id": "staff-bob", "reason": "urgent", "version": view(client, lead, second)["version"]}
    status, answer = call(client, "POST", f"/staff/complaints/{second}/assignment", lead, body)
    assert status == 409 and answer["error"] == "at_capacity"
    assert loads("staff-alice", "staff-bob") == {"staff-alice": 1, "staff-bob": 1}
    status, answer = call(client, "POST", f"/staff/complaints/{second}/assignment", lead, {**body, "override_cap": True})
    assert status == 200 and answer["assignee"] == "staff-bob"
    assert loads("staff-alice", "staff-bob") == {"staff-alice": 0, "staff-bob": 2}
    other_lead = token(make_token, "staff-lo-lead", role="lead", departments=["logistics"])
    assert call(client, "POST", f"/staff/complaints/{second}/assignment", other_lead,
                {**body, "version": answer["version"]})[0] == 403


def test_transfer_keeps_the_clocks_and_moves_the_load(client, clock, make_token):
    hire("staff-alice")
    hire("staff-bob")
    for h in ("staff-lina", "staff-ming"):
        hire(h, "logistics")
    number = new_case(client, FOOD)
    alice = token(make_token, "staff-alice")
    before = view(client, alice, number)
    assert before["assignee"] == "staff-alice"

    clock.set(minutes=20)
    body = {"department": "logistics", "reason": "it is a delivery problem", "version": before["version"]}
    status, answer = call(client, "POST", f"/staff/complaints/{number}/transfer", token(make_token, "staff-bob"), body)
    assert status == 403  # an agent moves only their own cases
    status, answer = call(client, "POST", f"/staff/complaints/{number}/transfer", alice, body)
    assert status == 200 and answer["department"] == "logistics" and answer["assignee"] == "staff-lina"
    assert loads("staff-alice", "staff-lina") == {"staff-alice": 0, "staff-lina": 1}
    after = view(client, make_token(role="manager"), number)  # alice no longer sees a logistics case
    assert [(c["name"], c["started_at"], c["due_at"]) for c in after["clocks"]] == [
        (c["name"], c["started_at"], c["due_at"]) for c in before["clocks"]]  # P2 wall-clock targets: unchanged
    assert {c.name: c.calendar for c in stored(number).clocks} == {
        "first_response": "department:logistics", "resolution": "department:logistics",
        "cn_consumer.reply": "regime:cn_consumer"}
    [moved] = entries(after, "transferred")
    assert moved["actor"] == "staff:staff-alice" and moved["text"] == "it is a delivery problem"
    assert moved["details"] == {"from_department": "quality", "to_department": "logistics", "from_handler": "staff-alice"}
    assert entries(after, "assigned")[-1]["details"]["handler"] == "staff-lina"

    lead = token(make_token, "staff-lo-lead", role="lead", departments=["logistics"])
    status, answer = call(client, "POST", f"/staff/complaints/{number}/transfer", lead,
                          {"handler_id": "staff-ming", "reason": "Ming handles this carrier", "version": after["version"]})
    assert status == 200 and answer["assignee"] == "staff-ming" and answer["department"] == "logistics"
    assert loads("staff-lina", "staff-ming") == {"staff-lina": 0, "staff-ming": 1}
    named = entries(view(client, lead, number), "transferred")[-1]
    assert named["details"]["previous_handler"] == "staff-lina" and named["details"]["handler"] == "staff-ming"

    # to a department where nobody is on duty: it waits in that department's queue
    status, answer = call(client, "POST", f"/staff/complaints/{number}/transfer", lead,
                          {"department": "finance", "reason": "a refund", "version": answer["version"]})
    assert status == 200 and answer["department"] == "finance" and answer["assignee"] is None
    assert answer["status"] == "classified" and answer["queued_at"] is not None
    assert load("staff-ming") == 0
    assert call(client, "GET", "/staff/queue?department=finance", lead)[0] == 403  # not the lead's department
    queue = call(client, "GET", "/staff/queue?department=finance", make_token(role="manager"))[1]["complaints"]
    assert [c["complaint_id"] for c in queue] == [number]


# -- triage correction, customer reply -------------------------------------------------------------------
def test_a_triage_correction_is_announced_and_routed(client, clock, make_token, aws):
    hire("staff-alice")
    announced = listen(aws, "test-classified", {"source": ["complaints.router"]})
    number = new_case(client, UNCLEAR)
    agent = token(make_token, "staff-alice")
    case = view(client, agent, number)
    assert case["needs_triage"] is True and case["department"] is None
    assert [e["detail"]["needs_triage"] for e in announced()] == [True]

    status, body = call(client, "POST", f"/staff/complaints/{number}/classification", agent,
                        {"category": "product_quality", "reason": "torn packaging", "version": case["version"]})
    assert status == 200, body
    [event] = announced()
    assert event["detail-type"] == "ComplaintClassified" and event["detail"]["complaint_id"] == number
    assert event["detail"]["category"] == "product_quality" and event["detail"]["needs_triage"] is False
    assign(client)  # the same event, from the assignment queue
    case = view(client, agent, number)
    assert case["department"] == "quality" and case["assignee"] == "staff-alice"
    assert case["routing"]["rule"] == "product-quality"
    assert load("staff-alice") == 1


def test_the_customers_email_reply_resumes_the_paused_clocks(client, clock, make_token, aws):
    from shared.clock_changes import pause_clocks
    from shared.config_store import config_store
    from shared.lifecycle import Status
    from shared.store import complaint_repository
    from tests.integration.test_email_intake import deliver, mail

    hire("staff-alice")
    deliver(client, aws, mail())  # "冷冻水饺有异味": food safety, P2
    classify(client)
    assign(client)
    alice = token(make_token, "staff-alice")
    [case] = call(client, "GET", "/staff/queue?assignee=me", alice)[1]["complaints"]
    number = case["complaint_id"]
    assert [c["due_at"] for c in case["clocks"][:2]] == ["2025-03-05T06:00:00.000Z", "2025-03-07T02:00:00.000Z"]

    # the handler asks the customer a question an hour later: the internal clocks pause
    repo = complaint_repository()
    current = stored(number)
    waiting_since = clock.set(hours=1)
    changes, paused = pause_clocks(current, waiting_since, config_store(), actor="staff:staff-alice")
    waiting = current.model_copy(update={**changes, "status": Status.WAITING_ON_CUSTOMER, "version": current.version + 1})
    repo.save(waiting, paused, expected_version=current.version)
    assert [c["state"] for c in view(client, alice, number)["clocks"]] == ["paused", "paused", "running"]

    clock.set(hours=3)  # two hours later the customer answers by email
    deliver(client, aws, mail(subject=f"Re: [{number}] 我们已收到您的投诉", body="批次是 B2411，购买于 3 月 1 日。"))
    case = view(client, alice, number)
    assert case["status"] == "in_progress"
    [resumed] = entries(case, "clock_resumed")
    assert resumed["actor"] == "customer" and resumed["details"]["paused_seconds"] == 7200
    assert "after 2 h" in resumed["text"]
    assert {c["name"]: c["due_at"] for c in resumed["details"]["clocks"]} == {
        "first_response": "2025-03-05T08:00:00.000Z", "resolution": "2025-03-07T04:00:00.000Z"}
    clocks = {c["name"]: c for c in case["clocks"]}
    assert clocks["first_response"]["state"] == "running" and clocks["first_response"]["paused_seconds"] == 7200
    assert clocks["first_response"]["due_at"] == "2025-03-05T08:00:00.000Z"  # moved by the two hours paused
    assert clocks["cn_consumer.reply"]["paused_seconds"] == 0  # a regulator's clock never pauses
    assert [(e["kind"], e["at"]) for e in case["timeline"] if e["at"] == "2025-03-05T05:00:00.000Z"] == [
        ("status_changed", "2025-03-05T05:00:00.000Z"), ("clock_resumed", "2025-03-05T05:00:00.000Z")]
    assert [e["text"] for e in entries(case, "customer_message")] == ["批次是 B2411，购买于 3 月 1 日。"]
