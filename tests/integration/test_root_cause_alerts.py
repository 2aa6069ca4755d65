"""Root-cause alerts end to end: five weeks of daily counters with a batch spike -> the hourly job
(``detect_root_causes``) raises one ``StaffAlertRaised`` for the quality manager and stores the
evidence; later runs raise nothing new (the same hour again, the next day while the spike goes on);
``GET /staff/reports/alerts`` shows it to managers, auditors and the quality lead, to nobody else;
and the notifier delivers it (inbox, email).

The 34 days before the spike are counter items put straight into the table in the counters' layout
(``STATS#<day>`` / ``<dimension>#<value>#<shard>``); the spike's cases are real: posted to the app at
the spike day's hours (the domain's clock held there) and classified with a repository write, so the
counters written with them count them, as in production.
"""
from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta, timezone

import boto3
import pytest

from tests.integration.test_routing import listen
from tests.support import a_complaint, post_json

SPIKE_DAY = date(2026, 11, 20)
T = datetime(2026, 11, 20, 10, 0, tzinfo=timezone.utc)  # the job's first run: the spike day's morning
MANAGER, LEAD = "staff-qa-boss", "staff-qa-lead"  # make_token(name="qa-boss") signs in as staff-qa-boss
BATCH, SKU = "B2411", "DUMP-1KG"
TEXTS = [
    "饺子打开后有异味，馅料已经变质了，批次 B2411。",
    "这批水饺煮出来发酸，孩子吃了肚子不舒服。",
    "The dumplings from batch B2411 smelled sour and the filling had gone off.",
    "水饺馅有一股馊味，包装上批号 B2411，请尽快处理。",
]
HISTORY_BATCH = [1, 0, 2, 1, 0, 1, 1]  # a week's pattern of the batch before the spike: about one a day


class Clock:
    def __init__(self, at: datetime):
        self.at = at

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def clock(aws):
    from shared.clock import set_clock

    c = Clock(T)
    set_clock(c)
    yield c
    set_clock(None)


@pytest.fixture
def alerts_on_bus(aws):
    take = listen(aws, "test-root-cause-alerts", {"source": ["complaints.sla"], "detail-type": ["StaffAlertRaised"]})
    return lambda: [e["detail"] for e in take()]


def add_counts(table: str, day: date, counts: dict[tuple[str, str], int]) -> None:
    """Counter items as the transitions write them (``ADD``, shard 0)."""
    db = boto3.client("dynamodb")
    for (dimension, value), n in counts.items():
        db.update_item(TableName=table, Key={"PK": {"S": f"STATS#{day.isoformat()}"},
                                             "SK": {"S": f"{dimension}#{value}#0"}},
                       UpdateExpression="ADD received :n", ExpressionAttributeValues={":n": {"N": str(n)}})


def history(table: str, days: int = 34) -> None:
    """The weeks before the spike: the batch about once a day, its product 15 a day, food safety 20,
    everything 60."""
    for back in range(1, days + 1):
        day = SPIKE_DAY - timedelta(days=back)
        add_counts(table, day, {("batch", BATCH): HISTORY_BATCH[back % 7], ("product", SKU): 15,
                                ("category", "food_safety"): 20, ("all", "-"): 60})


def background(table: str, day: date) -> None:
    """A day's usual flow besides the batch (the spike's cases add to it through the real counters)."""
    add_counts(table, day, {("product", SKU): 15, ("category", "food_safety"): 20, ("all", "-"): 60})


_customers = iter(range(1, 10_000))


def batch_cases(client, clock: Clock, day: date, count: int, department: str = "quality") -> list[str]:
    """``count`` complaints about the batch from different customers during ``day``, classified as the
    router would (category, priority, department): the counters count them under the batch."""
    from shared.lifecycle import Status
    from shared.store import complaint_repository

    repo, numbers, saved = complaint_repository(), [], clock.at
    for i in range(count):
        n = next(_customers)
        clock.at = datetime(day.year, day.month, day.day, 1, 0, tzinfo=timezone.utc) + timedelta(minutes=20 * i)
        body = a_complaint(title=None, description=TEXTS[i % len(TEXTS)], customer={
            "name": f"Customer {n}", "email": f"customer{n}@example.com", "preferred_language": "zh"},
            product={"name": "Pork dumplings 1kg", "sku": SKU, "batch": BATCH})
        res = post_json(client, "/complaints", body)
        assert res.status_code == 201, res.body
        number = json.loads(res.body)["complaint_id"]
        case, _ = repo.get(number)
        repo.save(case.model_copy(update={"status": Status.CLASSIFIED, "category": "food_safety", "priority": "P2",
                                          "department": department, "version": case.version + 1,
                                          "updated_at": clock.at}), [], expected_version=case.version,
                  before=case)
        numbers.append(number)
    clock.at = saved
    return numbers


def set_quality_manager(manager: str | None = MANAGER, lead: str | None = LEAD) -> None:
    from shared.config_store import config_store

    store = config_store()
    current = store.current("routing", fresh=True)
    document = current.config.model_dump(mode="json", exclude_none=True)
    for department in document["departments"]:
        if department["department_id"] == "quality":
            department.update({k: v for k, v in (("manager", manager), ("lead", lead)) if v})
    store.save("routing", document, expected_version=current.version, actor="test")


def run_job(client, clock: Clock, at: datetime) -> dict:
    """The hourly schedule's event to ``detect_root_causes``, as EventBridge sends it at ``at``."""
    clock.at = at
    event = {"version": "0", "id": f"run-{at:%Y%m%d%H%M}", "detail-type": "Scheduled Event", "source": "aws.events",
             "account": "123456789012", "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"), "region": "us-east-1",
             "resources": ["arn:aws:events:us-east-1:123456789012:rule/detect_root_causes"], "detail": {}}
    return client.lambda_.invoke("detect_root_causes", event).payload


def alerts_seen(client, token: str, query: str = "") -> tuple[int, dict]:
    res = client.http.get(f"/staff/reports/alerts{query}", headers={"Authorization": f"Bearer {token}"})
    return res.status_code, json.loads(res.body)


# -- the spike --------------------------------------------------------------------------------------------
def test_a_batch_spike_raises_one_alert_with_its_evidence_and_nothing_more(client, clock, aws, alerts_on_bus,
                                                                         make_token):
    from shared.alert_store import SAMPLE_CHARS
    from shared.root_causes import alert_id
    from shared.stats_store import stats_store

    table = aws["TABLE_NAME"]
    set_quality_manager()
    history(table)
    background(table, SPIKE_DAY)
    spike_cases = batch_cases(client, clock, SPIKE_DAY, 12)
    counters = stats_store().read(SPIKE_DAY, SPIKE_DAY)
    assert counters[SPIKE_DAY.isoformat()][("batch", BATCH)]["received"] == 12  # counted with the cases

    report = run_job(client, clock, T)
    assert report["spikes"] == 1 and report["created"] == 1 and report["announced"] == 1
    assert report["suppressed"] == 1  # the batch's rising share is the same story: the spike's alert tells it
    [event] = alerts_on_bus()
    expected_id = alert_id("spike", "batch", BATCH, SPIKE_DAY.isoformat())
    assert event["alert_id"] == event["event_id"] == expected_id
    assert event["kind"] == "spike" and event["recipients"] == [MANAGER]
    assert event["complaint_id"] == spike_cases[0] and event["department"] == "quality"
    assert event["reason"].startswith(f"Spike in complaints for batch {BATCH}: 12 on 2026-11-20 against ")

    # the same hour again, and an hour later: the episode is known
    for later in (T, T + timedelta(hours=1)):
        again = run_job(client, clock, later)
        assert (again["created"], again["announced"], again["extended"]) == (0, 0, 0)
    assert alerts_on_bus() == []

    # the next day the batch is still far above its usual: the same episode, extended, not announced again
    day_two = SPIKE_DAY + timedelta(days=1)
    background(table, day_two)
    more = batch_cases(client, clock, day_two, 9)
    next_day = run_job(client, clock, T + timedelta(days=1))
    assert (next_day["created"], next_day["extended"], next_day["announced"]) == (0, 1, 0)
    assert alerts_on_bus() == []

    manager = make_token(role="manager", name="qa-boss", departments=["quality"])
    status, body = alerts_seen(client, manager)
    assert status == 200, body
    [alert] = body["alerts"]
    assert alert["alert_id"] == expected_id and alert["kind"] == "spike"
    assert (alert["dimension"], alert["value"]) == ("batch", BATCH)
    assert (alert["first_day"], alert["last_day"]) == ("2026-11-20", "2026-11-21")
    assert alert["announced_at"] and alert["complaint_id"] == spike_cases[0] and alert["departments"] == ["quality"]
    evidence = alert["evidence"]
    assert [(d["day"], d["count"]) for d in evidence["days"]] == [("2026-11-20", 12), ("2026-11-21", 9)]
    first = evidence["days"][0]
    assert first["median"] == 1 and first["mad"] == 0 and first["expected"] == pytest.approx(6 / 7, abs=0.001)
    assert first["p_value"] < 1e-9 and first["robust_z"] == 11  # MAD 0: the scale is its floor, 1
    assert len(evidence["history"]) == 28
    assert evidence["history"][-1] == {"day": "2026-11-19", "count": HISTORY_BATCH[1]}
    assert evidence["cases_found"] == 21
    assert [c["complaint_id"] for c in evidence["cases"]] == spike_cases[:10]  # the first ten, oldest first
    assert len(evidence["samples"]) == 3 and all(len(s["text"]) <= SAMPLE_CHARS for s in evidence["samples"])
    assert {s["complaint_id"] for s in evidence["samples"]} <= set(spike_cases + more)
    assert evidence["text_similarity"] > 0
    assert "recipients" not in alert  # who was told stays in the store

    # filters
    assert alerts_seen(client, manager, "?kind=concentration")[1]["alerts"] == []
    assert alerts_seen(client, manager, "?since=2026-11-21")[1]["alerts"] == []
    assert len(alerts_seen(client, manager, "?since=2026-11-01&until=2026-11-20&kind=spike")[1]["alerts"]) == 1


def test_who_sees_the_alerts(client, clock, aws, make_token):
    table = aws["TABLE_NAME"]
    set_quality_manager()
    history(table)
    background(table, SPIKE_DAY)
    batch_cases(client, clock, SPIKE_DAY, 8)
    assert run_job(client, clock, T)["created"] == 1

    def seen(role: str, departments: list[str], query: str = "") -> tuple[int, dict]:
        token = make_token(role=role, name=f"{role}-{departments[0]}", departments=departments)
        return alerts_seen(client, token, query)

    for role in ("manager", "auditor"):
        status, body = seen(role, ["logistics"])
        assert status == 200 and len(body["alerts"]) == 1 and len(body["alerts"][0]["evidence"]["cases"]) == 8
    status, body = seen("lead", ["quality"])  # the cases are quality's
    assert status == 200 and len(body["alerts"]) == 1 and len(body["alerts"][0]["evidence"]["samples"]) == 3
    status, body = seen("lead", ["logistics"])  # nothing of theirs
    assert status == 200 and body["alerts"] == []
    assert seen("lead", ["logistics"], "?department=quality")[0] == 403
    assert seen("lead", ["quality"], "?department=quality")[0] == 200
    for role in ("agent", "admin"):
        status, body = seen(role, ["quality"])
        assert status == 403 and body["error"] == "forbidden"
    status, body = seen("manager", ["quality"], "?since=20261101&kind=nope&limit=0&colour=red")
    assert status == 400 and {d["field"] for d in body["details"]} == {"since", "kind", "limit", "colour"}
    assert seen("manager", ["quality"], "?cursor=not-a-cursor")[0] == 400
    assert client.http.get("/staff/reports/alerts").status_code == 401


def test_a_lead_sees_only_their_departments_cases_of_a_shared_alert(client, clock, aws, make_token):
    table = aws["TABLE_NAME"]
    set_quality_manager()
    history(table)
    background(table, SPIKE_DAY)
    quality = batch_cases(client, clock, SPIKE_DAY, 6)
    logistics = batch_cases(client, clock, SPIKE_DAY, 4, department="logistics")
    assert run_job(client, clock, T)["created"] == 1
    lead = make_token(role="lead", name="log-lead", departments=["logistics"])
    [alert] = alerts_seen(client, lead)[1]["alerts"]
    assert alert["departments"] == ["logistics"]
    assert {c["complaint_id"] for c in alert["evidence"]["cases"]} == set(logistics)
    assert all(s["complaint_id"] in logistics for s in alert["evidence"]["samples"])
    manager = make_token(role="manager", name="qa-boss", departments=["quality"])
    [whole] = alerts_seen(client, manager)[1]["alerts"]
    assert whole["departments"] == ["logistics", "quality"]
    assert {c["complaint_id"] for c in whole["evidence"]["cases"]} == set(quality + logistics)


# -- announcing ---------------------------------------------------------------------------------------------
def test_an_alert_nobody_could_be_told_of_is_announced_once_a_manager_is_configured(client, clock, aws,
                                                                                  alerts_on_bus):
    table = aws["TABLE_NAME"]
    history(table)
    background(table, SPIKE_DAY)
    batch_cases(client, clock, SPIKE_DAY, 7)
    first = run_job(client, clock, T)  # the bundled routing names no quality manager or lead
    assert (first["created"], first["announced"], first["not_announced"]) == (1, 0, 1)
    assert alerts_on_bus() == []
    set_quality_manager(manager=None, lead=LEAD)  # no manager: the lead hears of it
    second = run_job(client, clock, T + timedelta(hours=1))
    assert (second["created"], second["announced"]) == (0, 1)
    [event] = alerts_on_bus()
    assert event["recipients"] == [LEAD] and event["kind"] == "spike"
    assert run_job(client, clock, T + timedelta(hours=2))["announced"] == 0
    assert alerts_on_bus() == []


def test_the_notifier_delivers_a_spike_alert_to_the_managers_inbox_and_mailbox(client, clock, aws, make_token):
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    from functions.notifier import handlers
    from infra.local_outbox import verify_sender
    from shared.staff_directory import HandlerProfileIn, staff_directory
    from tests.integration.test_staff_alerts import notify, queued_event

    verify_sender(boto3.client, "complaints@example.com")
    staff_directory().put_profile(MANAGER, HandlerProfileIn(name="Zhao Qiang", email="zhao.qiang@example.com",
                                                            language="en", departments=["quality"]))
    handlers.staff_alerts.cache_clear()
    table = aws["TABLE_NAME"]
    set_quality_manager()
    history(table)
    background(table, SPIKE_DAY)
    batch_cases(client, clock, SPIKE_DAY, 9)
    assert run_job(client, clock, T)["announced"] == 1

    event = queued_event()
    spikes = [r for r in event["Records"] if json.loads(r["body"]).get("detail-type") == "StaffAlertRaised"]
    assert len(spikes) == 1
    assert notify(client, {**event, "Records": spikes}) == {"batchItemFailures": []}

    manager = make_token(role="manager", name="qa-boss", departments=["quality"])
    res = client.http.get("/staff/inbox", headers={"Authorization": f"Bearer {manager}"})
    [item] = json.loads(res.body)["items"]
    assert item["kind"] == "spike" and item["reason"].startswith(f"Spike in complaints for batch {BATCH}")
    [message] = [m for m in ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages
                 if "zhao.qiang@example.com" in m.raw_data]
    import email
    from email import policy

    parsed = email.message_from_string(message.raw_data, policy=policy.default)
    assert parsed["Subject"].endswith(f"Spike in complaints for batch {BATCH}")
    text = parsed.get_body(("plain",)).get_content()
    assert "Complaints rose well above their usual level" in text and "Reports, Alerts" in text
    assert "needs your attention" not in text


def test_a_failed_publish_fails_the_run_and_the_next_run_announces(client, clock, aws, alerts_on_bus, monkeypatch):
    from functions.reports.root_cause_job import RootCauseJobFailed
    from shared.events import EventPublisher, EventPublishFailed

    table = aws["TABLE_NAME"]
    set_quality_manager()
    history(table)
    background(table, SPIKE_DAY)
    batch_cases(client, clock, SPIKE_DAY, 7)
    real_publish = EventPublisher.publish

    def refuse(self, event):
        raise EventPublishFailed("InternalFailure")

    monkeypatch.setattr(EventPublisher, "publish", refuse)
    with pytest.raises(RootCauseJobFailed, match="1 episode"):
        run_job(client, clock, T)
    monkeypatch.setattr(EventPublisher, "publish", real_publish)
    assert alerts_on_bus() == []
    retried = run_job(client, clock, T + timedelta(hours=1))
    assert (retried["created"], retried["announced"], retried["errors"]) == (0, 1, 0)
    [event] = alerts_on_bus()
    assert event["kind"] == "spike"


# -- clusters of similar texts -------------------------------------------------------------------------------
def similar_cases(client, clock: Clock, at: datetime, texts: list[str]) -> list[str]:
    """Complaints from different customers, no product named, posted from ``at`` on (20 minutes apart)."""
    numbers, saved = [], clock.at
    for i, text in enumerate(texts):
        n = next(_customers)
        clock.at = at + timedelta(minutes=20 * i)
        body = a_complaint(title=None, description=text, product=None, customer={
            "name": f"Customer {n}", "email": f"customer{n}@example.com", "preferred_language": "zh"})
        body.pop("product")
        res = post_json(client, "/complaints", body)
        assert res.status_code == 201, res.body
        numbers.append(json.loads(res.body)["complaint_id"])
    clock.at = saved
    return numbers


def test_many_customers_describing_one_new_problem_raise_one_alert_that_grows(client, clock, aws, alerts_on_bus,
                                                                              make_token):
    from infra.text_cluster_bench import PLANTED_ZH

    set_quality_manager()
    start = T - timedelta(hours=9)
    unrelated = similar_cases(client, clock, start - timedelta(days=3), [  # earlier, about other things
        "快递员态度很差，把包裹直接扔在门口，东西都摔坏了，打电话也不接",
        "会员积分莫名其妙被清零了，客服一直说在核实，已经等了两个星期",
        "订单显示已签收，可是我根本没有收到货，物流信息也查不到",
        "发票开错了抬头，申请重开三次都没有处理，财务报销一直卡着",
        "汤圆包装破损，里面的汤圆全部粘在一起，没法吃，要求换货",
        "价格页面写的是满减，结账时却没有优惠，感觉被欺骗了",
        "The frozen pizza arrived completely thawed and soggy, the cold chain box was warm when delivered today",
        "客服电话一直打不通，等了四十分钟也没有人工接听，问题到现在没解决"])
    first = similar_cases(client, clock, start, PLANTED_ZH)

    report = run_job(client, clock, T)
    assert report["text_cases"] == 14 and report["text_clusters"] == 1
    assert (report["created"], report["announced"]) == (1, 1)
    [event] = alerts_on_bus()
    assert event["kind"] == "similar_texts" and event["recipients"] == [MANAGER]
    assert event["complaint_id"] == first[0]
    assert re.match(r"Similar complaints from [56] customers: [56] cases say the same thing within 48 h, against "
                    r"0.5 expected from the 0 like them before", event["reason"])

    again = run_job(client, clock, T + timedelta(hours=1))  # the same cluster: known
    assert again["text_clusters"] == 1 and (again["created"], again["extended"], again["announced"]) == (0, 0, 0)
    assert alerts_on_bus() == []

    more = similar_cases(client, clock, T + timedelta(hours=2), PLANTED_ZH[:2])  # two more customers
    grown = run_job(client, clock, T + timedelta(hours=3))
    assert (grown["created"], grown["extended"], grown["announced"]) == (0, 1, 0)
    assert alerts_on_bus() == []

    manager = make_token(role="manager", name="qa-boss", departments=["quality"])
    status, body = alerts_seen(client, manager, "?kind=similar_texts")
    assert status == 200, body
    [alert] = body["alerts"]
    assert (alert["dimension"], alert["value"]) == ("text", first[0])
    members = alert["evidence"]["members"]
    assert set(more) <= set(members) <= set(first + more) and len(members) >= 7  # the paraphrases, most of them
    assert alert["evidence"]["customers"] == len(members) and not set(unrelated) & set(members)
    assert len(alert["evidence"]["samples"]) == 3
    assert alert["reason"].startswith(f"Similar complaints from {len(members)} customers")
    assert alerts_seen(client, manager, "?kind=spike")[1]["alerts"] == []


def test_the_job_logs_its_report_at_info_level(client, clock, aws):
    """Production logs at INFO: the run's summary line must be loggable (a report field named like a
    LogRecord attribute - ``created`` - once made every run raise after its work was done)."""
    from shared.observability import logger

    level = logger().log_level
    logger().setLevel("INFO")
    try:
        report = run_job(client, clock, datetime(2026, 11, 20, 9, tzinfo=timezone.utc))
    finally:
        logger().setLevel(level)
    assert report["errors"] == 0
