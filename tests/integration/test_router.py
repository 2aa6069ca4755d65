"""The router: ComplaintReceived events taken from the router queue (where the bus's rule put them)
and handed to ``route_complaint`` as Lambda would (``infra.event_pump.sqs_event``: distinct
messageIds, real attributes). A fake classifier stands in for the model where a test needs to
choose the label and confidence; ``test_bundled_default_model`` uses the real one.
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field

import boto3
import pytest

from infra.event_pump import sqs_event
from shared.identifiers import new_complaint_number
from tests.support import a_complaint, post_json

QUEUE = "complaints-dev-router"
LABELS = ["product_quality", "food_safety", "delivery_logistics", "service_attitude", "billing_price",
          "refund_after_sales", "privacy_security", "other"]


# -- a classifier whose answers the tests choose ---------------------------------------------------
@dataclass(frozen=True)
class FakeClassification:
    label: str
    confidence: float
    alternatives: list = field(default_factory=list)
    features: list = field(default_factory=list)
    model_version: str = "fake-2025.1"

    def explanation(self) -> str:
        return ", ".join(f"{name} {weight:+.1f}" for name, weight in self.features)


class FakeClassifier:
    version = "fake-2025.1"
    labels = LABELS

    def __init__(self):
        self.calls = 0

    def classify(self, text: str) -> FakeClassification:
        self.calls += 1
        if "说不清" in text or "unclear" in text:
            return FakeClassification("other", 0.31, [("product_quality", 0.22), ("service_attitude", 0.18)],
                                      [("说不清", 0.4)])
        if "变质" in text or "异味" in text or "smelled" in text:
            return FakeClassification("food_safety", 0.91, [("product_quality", 0.06), ("other", 0.01)],
                                      [("变质", 2.1), ("异味", 1.4)])
        if "快递" in text or "delivery" in text:
            return FakeClassification("delivery_logistics", 0.84, [("service_attitude", 0.1)], [("快递", 1.9)])
        return FakeClassification("product_quality", 0.77, [("other", 0.12)], [("包装", 1.2)])


@pytest.fixture
def fake_model(monkeypatch):
    from functions.router import handlers

    model = FakeClassifier()
    monkeypatch.setattr(handlers, "text_classifier", lambda: model)
    return model


@pytest.fixture
def router(aws, client, fake_model):
    from functions.router import handlers

    handlers.reset()
    yield client
    handlers.reset()


@pytest.fixture
def classified_events(aws):
    """A test queue with a rule taking every event the router puts on the bus."""
    sqs, events = boto3.client("sqs"), boto3.client("events")
    url = sqs.create_queue(QueueName="test-router-out")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="test-router-out", EventBusName=aws["EVENT_BUS_NAME"],
                    EventPattern=json.dumps({"source": ["complaints.router"]}))
    events.put_targets(Rule="test-router-out", EventBusName=aws["EVENT_BUS_NAME"], Targets=[{"Id": "q", "Arn": arn}])

    def take() -> list[dict]:
        out = []
        while True:
            batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if not batch:
                return out
            for m in batch:
                out.append(json.loads(m["Body"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])

    return take


# -- helpers -------------------------------------------------------------------------------------------
def submit(client, **overrides) -> str:
    res = post_json(client, "/complaints", a_complaint(**overrides))
    assert res.status_code == 201, res.body
    return json.loads(res.body)["complaint_id"]


def customer(name="Li Wei", **contact):
    return {"name": name, **contact}


def queued_event() -> dict:
    """The router queue's messages as the SQS event Lambda builds (deleted, as the mapping does)."""
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=QUEUE)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    messages = []
    while True:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"],
                                    MessageAttributeNames=["All"]).get("Messages", [])
        if not batch:
            break
        messages += batch
        for m in batch:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return sqs_event(messages, arn, "us-east-1")


def route(client, event=None) -> dict:
    return client.lambda_.invoke("route_complaint", event if event is not None else queued_event()).payload


def routed(client, *numbers_and_bodies) -> None:
    assert route(client) == {"batchItemFailures": []}


def staff_view(client, token, number) -> dict:
    res = client.http.get(f"/staff/complaints/{number}", headers={"Authorization": "Bearer " + token})
    assert res.status_code == 200, res.body
    return json.loads(res.body)


def table_items(aws, pk: str, prefix: str = "") -> list[dict]:
    from boto3.dynamodb.types import TypeDeserializer

    de = TypeDeserializer()
    values = {":pk": {"S": pk}, **({":p": {"S": prefix}} if prefix else {})}
    out = boto3.client("dynamodb").query(
        TableName=aws["TABLE_NAME"], ExpressionAttributeValues=values,
        KeyConditionExpression="PK = :pk" + (" AND begins_with(SK, :p)" if prefix else ""))
    return [{k: de.deserialize(v) for k, v in i.items()} for i in out["Items"]]


# -- classification -------------------------------------------------------------------------------------
def test_a_complaint_is_classified_explained_and_announced(router, aws, make_token, classified_events):
    number = submit(router)
    event = queued_event()
    [record] = event["Records"]
    assert json.loads(record["body"])["detail-type"] == "ComplaintReceived"
    assert route(router, event) == {"batchItemFailures": []}

    view = staff_view(router, make_token(), number)
    assert view["status"] == "classified" and view["category"] == "food_safety" and view["version"] == 2
    decision = view["classification"]
    assert decision["confidence"] == 0.91 and decision["explanation"] == "变质 +2.1, 异味 +1.4"
    assert decision["alternatives"][0] == ["product_quality", 0.06]
    assert decision["features"] == [["变质", 2.1], ["异味", 1.4]]
    assert decision["model_version"] == "fake-2025.1" and decision["labels"] == LABELS
    assert decision["needs_triage"] is False and view["needs_triage"] is False
    assert decision["event_id"] == f"{number}:received"
    # priority: food safety is P2; the smell is no health signal; explained with the rules version
    assert view["priority"] == "P2" == decision["priority"]["level"]
    assert decision["priority"]["rules_version"] == "2025.1"
    assert decision["priority"]["explanation"].startswith("P2: category.food_safety base P2")
    assert decision.get("repeat") is None and view["repeat_of"] is None and view["repeat_count"] == 0

    kinds = [(e["kind"], e["visibility"]) for e in view["timeline"]]
    assert kinds == [("received", "public"), ("status_changed", "public"), ("classified", "internal")]
    internal = view["timeline"][2]
    assert internal["details"]["explanation"] == "变质 +2.1, 异味 +1.4"
    assert "food_safety (91%)" in internal["text"] and "priority P2" in internal["text"]

    [announced] = classified_events()
    assert announced["source"] == "complaints.router" and announced["detail-type"] == "ComplaintClassified"
    assert announced["detail"] == {
        "event_id": f"{number}:classified", "complaint_id": number, "category": "food_safety", "confidence": 0.91,
        "priority": "P2", "needs_triage": False, "repeat_of": None, "cluster_id": None,
        "model_version": "fake-2025.1", "rules_version": "2025.1"}
    assert table_items(aws, f"CASE#{number}", "OUTBOX#") == []  # nothing owed


def test_customer_view_shows_no_internal_details(router):
    res = post_json(router, "/complaints", a_complaint())
    receipt = json.loads(res.body)
    routed(router)
    tracked = json.loads(router.http.get(f"/complaints/{receipt['complaint_id']}",
                                         headers={"X-Tracking-Token": receipt["tracking_token"]}).body)
    assert tracked["status"] == "classified" and tracked["category"] == "food_safety"
    assert [e["kind"] for e in tracked["timeline"]] == ["received", "status_changed"]
    body = json.dumps(tracked, ensure_ascii=False)
    for secret in ("confidence", "变质 +2.1", "priority", "fake-2025.1", "classification"):
        assert secret not in body


def test_redelivery_changes_nothing(router, aws, make_token, classified_events, fake_model):
    number = submit(router)
    event = queued_event()
    assert route(router, event) == {"batchItemFailures": []}
    first = staff_view(router, make_token(), number)
    again = json.loads(json.dumps(event))
    again["Records"][0]["messageId"] = "redelivered-1"
    again["Records"][0]["attributes"]["ApproximateReceiveCount"] = "2"
    assert route(router, again) == {"batchItemFailures": []}
    assert route(router, event) == {"batchItemFailures": []}
    assert staff_view(router, make_token(), number) == first
    assert len(classified_events()) == 1
    assert fake_model.calls == 1  # a finished case needs no model


def test_a_failed_publish_is_finished_by_the_redelivery(router, aws, make_token, classified_events, monkeypatch):
    from shared.events import EventPublisher, EventPublishFailed

    number = submit(router)
    event = queued_event()
    real = EventPublisher.publish

    def down(self, e):
        if getattr(e, "detail_type", "") == "ComplaintClassified":
            raise EventPublishFailed("ThrottlingException")
        return real(self, e)

    monkeypatch.setattr(EventPublisher, "publish", down)
    message_id = event["Records"][0]["messageId"]
    assert route(router, event) == {"batchItemFailures": [{"itemIdentifier": message_id}]}
    assert staff_view(router, make_token(), number)["status"] == "classified"  # the decision is kept
    [owed] = table_items(aws, f"CASE#{number}", "OUTBOX#")
    assert json.loads(owed["payload"])["event"]["complaint_id"] == number
    assert classified_events() == []

    monkeypatch.setattr(EventPublisher, "publish", real)
    assert route(router, event) == {"batchItemFailures": []}  # the redelivery publishes what was owed
    assert [e["detail"]["complaint_id"] for e in classified_events()] == [number]
    assert table_items(aws, f"CASE#{number}", "OUTBOX#") == []
    assert route(router, event) == {"batchItemFailures": []}
    assert classified_events() == []


def test_a_concurrent_change_is_read_again(router, aws, make_token, monkeypatch):
    """Another writer saves the case between the router's read and its write: the router's
    conditional write fails, it reads again and classifies the newer version."""
    from datetime import datetime, timezone

    from shared.models import TimelineEntry, TimelineKind, Visibility
    from shared.repository import ComplaintRepository

    number = submit(router)
    real_save = ComplaintRepository.save
    raced = []

    def save(self, complaint, entries, *, expected_version, also=()):
        if not raced and complaint.complaint_id == number:
            raced.append(True)
            current, _ = self.get(number)
            note = TimelineEntry(at=datetime.now(timezone.utc), kind=TimelineKind.INTERNAL_NOTE,
                                 visibility=Visibility.INTERNAL, actor="staff:someone", text="called the customer")
            real_save(self, current.model_copy(update={"version": current.version + 1}), [note],
                      expected_version=current.version)
        return real_save(self, complaint, entries, expected_version=expected_version, also=also)

    monkeypatch.setattr(ComplaintRepository, "save", save)
    assert route(router) == {"batchItemFailures": []}
    view = staff_view(router, make_token(), number)
    assert raced and view["status"] == "classified" and view["version"] == 3
    assert [e["kind"] for e in view["timeline"]] == ["received", "internal_note", "status_changed", "classified"]


def test_other_events_are_done_and_malformed_ones_fail(router):
    def record(body, mid):
        return {"messageId": mid, "receiptHandle": "r", "body": body, "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:" + QUEUE, "awsRegion": "us-east-1"}

    other = json.dumps({"source": "complaints.intake", "detail-type": "CustomerReplied", "detail": {}})
    unknown_case = json.dumps({"source": "complaints.intake", "detail-type": "ComplaintReceived", "detail": {
        "event_id": "x", "complaint_id": new_complaint_number(), "received_at": "2025-01-01T00:00:00Z",
        "channel": "web", "language": "zh"}})
    event = {"Records": [record(other, "m-1"), record("not json", "m-2"), record(unknown_case, "m-3")]}
    failures = route(router, event)["batchItemFailures"]
    assert {f["itemIdentifier"] for f in failures} == {"m-2", "m-3"}


# -- triage and corrections -------------------------------------------------------------------------
def test_low_confidence_goes_to_triage_then_a_correction_becomes_training_data(router, aws, make_token, tmp_path):
    from functions.router import corrections

    clear = submit(router)
    unsure = submit(router, title="说不清的问题", description="东西收到了，但是说不清哪里不对，反正不满意。",
                    customer=customer("Zhao Min", email="zhao@example.com"), product=None)
    routed(router)
    agent = make_token(role="agent", name="Wang Fang")

    view = staff_view(router, agent, unsure)
    assert view["status"] == "classified" and view["needs_triage"] is True and view["category"] == "other"
    assert view["classification"]["triage_reason"] == "confidence 0.31 below 0.55"
    res = router.http.get("/staff/triage", headers={"Authorization": "Bearer " + agent})
    assert res.status_code == 200
    [queued] = json.loads(res.body)["cases"]
    assert queued["complaint_id"] == unsure and queued["category"] == "other" and queued["confidence"] == 0.31
    assert queued["alternatives"][0] == ["product_quality", 0.22] and queued["title"] == "说不清的问题"
    # routed cases are their departments' own: a manager sees every one
    assert staff_view(router, make_token(role="manager"), clear)["needs_triage"] is False

    def correct(number, body, token=agent):
        return router.http.post(f"/staff/complaints/{number}/classification", body=json.dumps(body),
                                headers={"Content-Type": "application/json", "Authorization": "Bearer " + token})

    assert correct(unsure, {"category": "product_quality", "version": 1}).status_code == 409  # stale
    assert json.loads(correct(unsure, {"category": "nonsense", "version": 2}).body)["details"][0]["field"] == "category"
    assert correct(unsure, {"category": "product_quality", "version": 2, "extra": 1}).status_code == 422
    assert correct(unsure, {"category": "product_quality", "version": "2"}).status_code == 422
    assert correct(unsure, {"category": "product_quality", "version": 2}, make_token(role="auditor")).status_code == 403
    assert router.http.post(f"/staff/complaints/{unsure}/classification", body="{}",
                            headers={"Content-Type": "application/json"}).status_code == 401
    assert correct(new_complaint_number(), {"category": "other", "version": 1}).status_code == 404
    assert correct("nonsense", {"category": "other", "version": 1}).status_code == 400

    res = correct(unsure, {"category": "product_quality", "priority": "P2", "reason": "外观问题", "version": 2})
    assert res.status_code == 200, res.body
    answer = json.loads(res.body)
    assert answer["category"] == "product_quality" and answer["priority"] == "P2" and answer["version"] == 3
    assert answer["needs_triage"] is False
    assert answer["classification"]["corrected"]["from"] == {"category": "other", "priority": "P4"}
    assert json.loads(router.http.get("/staff/triage", headers={"Authorization": "Bearer " + agent}).body)["cases"] == []
    view = staff_view(router, make_token(role="manager"), unsure)  # out of triage, not yet routed
    last = view["timeline"][-1]
    assert last["kind"] == "classification_corrected" and last["visibility"] == "internal"
    assert last["actor"] == "staff:staff-wang-fang" and last["text"] == "外观问题"
    assert last["details"]["from"]["category"] == "other" and last["details"]["to"]["category"] == "product_quality"
    assert correct(unsure, {"category": "product_quality", "version": 2}).status_code == 409  # the old version

    # a handler confirms a confident decision: a training label too
    assert correct(clear, {"category": "food_safety", "version": 2}).status_code == 200

    out = tmp_path / "corrections.csv"
    summary = corrections.export(out)
    assert summary.rows == 2 and summary.changed_labels == 1
    with out.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [list(r) for r in rows[:1]] == [["id", "text", "label"]]
    by_id = {r["id"]: r for r in rows}
    assert by_id[unsure]["label"] == "product_quality"
    assert by_id[unsure]["text"] == "说不清的问题\n东西收到了，但是说不清哪里不对，反正不满意。"
    assert by_id[clear]["label"] == "food_safety" and "dumplings" in by_id[clear]["text"]
    from datetime import datetime, timedelta, timezone
    assert corrections.export(tmp_path / "none.csv", since=datetime.now(timezone.utc).date() + timedelta(days=1)).rows == 0

    # the command line: `complaints model export-corrections`
    from infra.cli import main
    cli_out = tmp_path / "cli" / "training.csv"
    today = datetime.now(timezone.utc).date().isoformat()
    assert main(["model", "export-corrections", "--since", today, "--out", str(cli_out)]) == 0
    assert cli_out.read_text(encoding="utf-8") == out.read_text(encoding="utf-8")
    assert main(["model", "export-corrections", "--since", "yesterday", "--out", str(cli_out)]) == 2


def test_triage_list_pages_and_refuses_bad_queries(router, make_token):
    numbers = [submit(router, description=f"说不清第{i}个问题，反正不满意", product=None,
                      customer=customer(f"C{i}", email=f"c{i}@example.com")) for i in range(3)]
    routed(router)
    token, seen, cursor = make_token(), [], None
    while True:
        res = router.http.get("/staff/triage?limit=2" + (f"&cursor={cursor}" if cursor else ""),
                              headers={"Authorization": "Bearer " + token})
        body = json.loads(res.body)
        seen += [c["complaint_id"] for c in body["cases"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert seen == numbers  # oldest first
    for query in ("limit=0", "limit=abc", "cursor=bogus", "status=x"):
        res = router.http.get("/staff/triage?" + query, headers={"Authorization": "Bearer " + token})
        assert res.status_code == 400, query
    assert router.http.get("/staff/triage").status_code == 401


# -- repeats --------------------------------------------------------------------------------------------
DELIVERY = "快递送了五天才到，外箱压坏了，里面的速冻水饺全部化了又冻上，粘成一团。打电话给客服也没人接。"


def test_a_repeat_is_linked_to_its_original_and_raises_priority(router, aws, make_token, classified_events):
    first = submit(router, title=None, description=DELIVERY, product={"name": "水饺", "order_id": "SO-2001"},
                   customer=customer(email="li.wei@example.com", phone="+86 138 0013 8000"))
    routed(router)
    token = make_token()
    original = staff_view(router, token, first)
    assert original["category"] == "delivery_logistics" and original["priority"] == "P3"

    # the same complaint again, edited, by phone through the hotline (no email given this time)
    again = submit(router, title=None, channel="hotline",
                   description="客户来电：" + DELIVERY.replace("五天", "5天") + "这已经是第二次反映了。",
                   product=None, customer=customer(phone="+86 138-0013-8000"))
    # another complaint from the same customer, on something else: not a repeat
    other = submit(router, title=None, description="上次买的汤圆价格比门店贵了十块钱，要求退差价。", product=None,
                   customer=customer(email="LI.WEI@example.com"))
    routed(router)

    repeat = staff_view(router, token, again)
    assert repeat["status"] == "classified" and repeat["repeat_of"] == first
    assert repeat["needs_triage"] is False
    info = repeat["classification"]["repeat"]
    assert info["repeat_of"] == first and info["matched_by"] == ["customer"] and info["similarity"]["score"] >= 0.45
    assert repeat["priority"] == "P2"  # P3 + repeat (+ hotline), raises capped at P2
    assert "repeat.count" in [m["rule"] for m in repeat["classification"]["priority"]["matched"]]
    assert staff_view(router, token, other)["repeat_of"] is None

    original = staff_view(router, token, first)
    assert original["repeat_count"] == 1 and original["priority"] == "P2" and original["version"] == 3
    [entry] = [e for e in original["timeline"] if e["kind"] == "repeat_received"]
    assert entry["visibility"] == "internal" and entry["details"]["repeat"] == again
    assert entry["details"]["channel"] == "hotline" and entry["details"]["repeat_count"] == 1
    assert entry["details"]["priority_from"] == "P3" and entry["details"]["priority_to"] == "P2"

    announced = {e["detail"]["complaint_id"]: e["detail"] for e in classified_events()}
    assert announced[again]["repeat_of"] == first and announced[other]["repeat_of"] is None

    # a third submission, by someone else on the same order (another email): linked to the first case
    third = submit(router, title=None, description=DELIVERY + "请尽快处理！", channel="app",
                   product={"name": "水饺", "order_id": "so 2001"}, customer=customer("Li Na", email="li.na@example.com"))
    routed(router)
    linked = staff_view(router, token, third)
    assert linked["repeat_of"] == first and linked["classification"]["repeat"]["matched_by"] == ["order"]
    assert staff_view(router, token, first)["repeat_count"] == 2


def test_a_repeat_of_a_repeat_points_to_the_first_case(router, make_token):
    first = submit(router, title=None, description=DELIVERY, product=None, customer=customer(email="a@example.com"))
    routed(router)
    second = submit(router, title=None, description=DELIVERY + "第二次。", product=None, customer=customer(email="a@example.com"))
    routed(router)
    third = submit(router, title=None, description=DELIVERY + "第二次。第三次了！", product=None,
                   customer=customer(email="a@example.com"))
    routed(router)
    token = make_token()
    assert staff_view(router, token, second)["repeat_of"] == first
    assert staff_view(router, token, third)["repeat_of"] == first
    assert staff_view(router, token, first)["repeat_count"] == 2


def test_a_repeat_routed_before_its_original(router, make_token):
    """Both cases are in one batch, the repeat first: it links to the still unrouted original, whose
    own routing then keeps the raised priority and the repeat count."""
    first = submit(router, title=None, description=DELIVERY, product=None, customer=customer(email="b@example.com"))
    second = submit(router, title=None, description=DELIVERY + "又来投诉了。", product=None,
                    customer=customer(email="b@example.com"))
    event = queued_event()
    event["Records"].sort(key=lambda r: json.loads(r["body"])["detail"]["complaint_id"] != second)
    assert json.loads(event["Records"][0]["body"])["detail"]["complaint_id"] == second
    assert route(router, event) == {"batchItemFailures": []}
    token = make_token()
    repeat, original = staff_view(router, token, second), staff_view(router, token, first)
    assert repeat["repeat_of"] == first and repeat["priority"] == "P2"
    assert original["status"] == "classified" and original["repeat_count"] == 1 and original["priority"] == "P2"
    assert original["classification"]["priority"]["matched"][-1]["rule"] == "case.earlier_level"
    assert [e["kind"] for e in original["timeline"]] == ["received", "repeat_received", "status_changed", "classified"]


# -- clusters and group complaints ------------------------------------------------------------------------
def test_three_customers_on_one_batch_make_a_group_complaint(router, aws, make_token, classified_events):
    product = {"name": "猪肉水饺 1kg", "sku": "DUMP-1KG", "batch": "B2411"}
    texts = ["水饺包装袋漏气，袋子里全是冰碴。", "The bag was torn open when it arrived and the dumplings were broken.",
             "包装盒上的生产日期印得看不清楚。"]
    numbers = []
    for i, text in enumerate(texts):
        numbers.append(submit(router, title=None, description=text, product=product,
                              customer=customer(f"Customer {i}", email=f"buyer{i}@example.com")))
        routed(router)
    token = make_token()
    views = [staff_view(router, token, n) for n in numbers]
    third = views[2]
    assert third["cluster_id"] == "BATCH#DUMP1KG#B2411"
    cluster = third["classification"]["cluster"]
    assert cluster["customers"] == 3 and cluster["group_complaint"] is True and cluster["window_hours"] == 72
    assert third["priority"] == "P2"
    assert "impact.group_complaint" in [m["rule"] for m in third["classification"]["priority"]["matched"]]
    # the earlier cases joined the cluster and were lifted to the group's level
    assert [v["cluster_id"] for v in views] == ["BATCH#DUMP1KG#B2411"] * 3
    assert [v["priority"] for v in views] == ["P2", "P2", "P2"]
    assert views[1]["classification"]["cluster"]["group_complaint"] is False  # two customers: linked only
    linked = [e for e in views[0]["timeline"] if e["kind"] == "cluster_linked"]
    assert linked[-1]["details"]["group_complaint"] is True and linked[-1]["details"]["by"] == numbers[2]
    members = table_items(aws, "BATCH#DUMP1KG#B2411")
    assert sorted(m["complaint_id"] for m in members) == sorted(numbers)
    assert {e["detail"]["complaint_id"]: e["detail"]["cluster_id"] for e in classified_events()}[numbers[2]] \
        == "BATCH#DUMP1KG#B2411"


def test_one_customer_complaining_twice_is_no_group(router, make_token):
    product = {"name": "猪肉水饺 1kg", "sku": "DUMP-1KG", "batch": "B2412"}
    for text in ("水饺包装袋漏气。", "另外一袋的生产日期也看不清楚，整箱都有问题。", "第三袋水饺全部粘连在一起。"):
        submit(router, title=None, description=text, product=product, customer=customer(email="same@example.com"))
        routed(router)
    number = submit(router, title=None, description="外箱被压扁了。", product=product,
                    customer=customer("Other", email="other@example.com"))
    routed(router)
    view = staff_view(router, make_token(), number)
    assert view["classification"]["cluster"]["customers"] == 2 and view["cluster_id"] == "BATCH#DUMP1KG#B2412"
    assert view["classification"]["cluster"]["group_complaint"] is False and view["priority"] == "P3"


# -- bad input: the model and the rules -----------------------------------------------------------------------
def test_an_unloadable_rules_file_fails_the_records_and_leaves_the_case(router, aws, make_token, monkeypatch, tmp_path):
    from tests.conftest import _forget_cached_services

    bad = tmp_path / "rules.json"
    bad.write_text('{"version": "x", "levels": ["P1"]}', encoding="utf-8")
    monkeypatch.setenv("PRIORITY_RULES_URI", str(bad))
    _forget_cached_services()
    number = submit(router)
    event = queued_event()
    assert route(router, event) == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    view = staff_view(router, make_token(), number)
    assert view["status"] == "received" and view["version"] == 1 and view["classification"] is None
    assert table_items(aws, f"CASE#{number}", "OUTBOX#") == []


def _real_classifier_available() -> bool:
    try:
        from functions.router import classifier  # noqa: F401
    except ImportError:
        return False
    return True


def _bundled_model_available() -> bool:
    if not _real_classifier_available():
        return False
    from functions.router.classifier import default_model_path

    return default_model_path().is_file()


needs_model = pytest.mark.skipif(not _real_classifier_available(), reason="functions/router/classifier.py not there yet")
needs_bundled_model = pytest.mark.skipif(not _bundled_model_available(), reason="no bundled model file yet")


@needs_model
@pytest.mark.parametrize("content", [b"", b"not a model at all", b"\x00\x01\x02" * 100])
def test_a_corrupt_model_fails_the_records_and_leaves_the_case(aws, client, make_token, monkeypatch, tmp_path, content):
    from functions.router import handlers
    from tests.conftest import _forget_cached_services

    bad = tmp_path / "model.bin"
    bad.write_bytes(content)
    monkeypatch.setenv("MODEL_URI", str(bad))
    _forget_cached_services()
    handlers.reset()
    number = submit(client)
    other = submit(client, customer=customer("Other", email="other@example.com"))
    event = queued_event()
    result = route(client, event)
    assert sorted(f["itemIdentifier"] for f in result["batchItemFailures"]) == sorted(
        r["messageId"] for r in event["Records"])
    for n in (number, other):
        view = staff_view(client, make_token(), n)
        assert view["status"] == "received" and view["version"] == 1 and view["category"] is None
    monkeypatch.setenv("MODEL_URI", str(tmp_path / "missing.bin"))
    _forget_cached_services()
    handlers.reset()
    assert len(route(client, event)["batchItemFailures"]) == 2
    handlers.reset()


@needs_model
def test_a_corrupt_model_is_named_in_a_clear_error(tmp_path):
    from functions.router.classifier import ModelLoadError, load_model

    bad = tmp_path / "model.bin"
    bad.write_bytes(b"garbage")
    with pytest.raises(ModelLoadError) as err:
        load_model(str(bad))
    assert str(bad) in str(err.value) or "model" in str(err.value).lower()


@needs_bundled_model
def test_bundled_default_model(aws, client, make_token, classified_events):
    """No fake: the bundled model classifies a food-safety complaint and its version is recorded."""
    from functions.router import handlers
    from functions.router.classifier import load_model

    handlers.reset()
    model = load_model(None)
    number = submit(client, title="饺子变质", description="刚买的速冻饺子打开就有一股酸臭味，馅已经变质发黑了，孩子吃了一个就吐了。")
    assert route(client) == {"batchItemFailures": []}
    view = staff_view(client, make_token(), number)
    decision = view["classification"]
    assert view["status"] == "classified" and decision["model_version"] == model.version
    assert decision["category"] in model.labels and 0 <= decision["confidence"] <= 1
    assert decision["features"] and decision["explanation"]
    assert view["priority"] == "P1"  # a child vomited: health signal
    [announced] = classified_events()
    assert announced["detail"]["model_version"] == model.version
    handlers.reset()


@needs_model
def test_a_model_loaded_from_s3_is_used_and_its_version_recorded(aws, client, make_token, monkeypatch):
    """A small model trained here with the training code, uploaded to the models bucket and named by
    MODEL_URI: the router loads it from S3 and records its version on the decision."""
    pytest.importorskip("sklearn")
    from functions.router import handlers
    from functions.router.classifier import forget_cached_models
    from infra.training import model_bytes, train
    from tests.conftest import _forget_cached_services

    texts = ["饺子变质发酸", "馅料有异味变质了", "肉馅发臭变质", "牛奶变质结块", "快递送了五天", "快递员把箱子扔在门口",
             "物流太慢了，快递三天没动", "快递丢件了", "the food smelled rotten and spoiled", "the delivery was late",
             "courier lost my parcel", "spoiled meat smelled bad"]
    labels = ["food_safety"] * 4 + ["delivery_logistics"] * 4 + ["food_safety", "delivery_logistics",
                                                                  "delivery_logistics", "food_safety"]
    document = train(texts, labels, name="s3-test")
    s3 = boto3.client("s3")
    s3.put_object(Bucket=aws["MODELS_BUCKET"], Key="classifier/test.json.gz", Body=model_bytes(document))
    monkeypatch.setenv("MODEL_URI", f"s3://{aws['MODELS_BUCKET']}/classifier/test.json.gz")
    _forget_cached_services()
    handlers.reset()
    forget_cached_models()
    try:
        number = submit(client, title=None, description="快递送了一个星期，箱子都压坏了", product=None)
        assert route(client) == {"batchItemFailures": []}
        decision = staff_view(client, make_token(), number)["classification"]
        assert decision["category"] == "delivery_logistics"
        assert decision["model_version"] == handlers.text_classifier().version
        assert set(decision["labels"]) >= {"delivery_logistics", "food_safety"}
        assert decision["features"] and "快递" in decision["explanation"]
    finally:
        handlers.reset()
        forget_cached_models()


def test_failing_records_reach_the_dead_letter_queue(router, monkeypatch, tmp_path):
    """Through the event pump, as the local stack runs it: a record that keeps failing is received
    five times, then SQS moves it to the router's DLQ."""
    from chalice.app import SQSEventConfig

    from functions.app import app
    from infra.event_pump import EventPump
    from tests.conftest import _forget_cached_services

    monkeypatch.setenv("PRIORITY_RULES_URI", str(tmp_path / "missing.json"))
    _forget_cached_services()
    submit(router)
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=QUEUE)["QueueUrl"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "0"})
    pump = EventPump(app, sqs, stage="dev", wait_seconds=0)
    source = next(s for s in pump.sqs_sources() if isinstance(s, SQSEventConfig) and s.queue == QUEUE)
    for _ in range(6):
        pump.poll_once(source, wait_seconds=0)
    dlq = sqs.get_queue_url(QueueName=QUEUE + "-dlq")["QueueUrl"]
    moved = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10).get("Messages", [])
    assert len(moved) == 1 and json.loads(moved[0]["Body"])["detail-type"] == "ComplaintReceived"


def test_router_logs_carry_no_personal_data_or_text(router, monkeypatch, app_logs):
    number = submit(router)
    routed(router)
    submit(router, description="说不清的问题，反正不满意", customer=customer("Zhang San", phone="+8613900139000"))
    routed(router)
    out = app_logs.getvalue()
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    [line] = [x for x in lines if x.get("message") == "complaint classified" and x.get("complaint_id") == number]
    assert line["category"] == "food_safety" and line["priority"] == "P2" and line["model_version"] == "fake-2025.1"
    for secret in ("li.wei@example.com", "13800138000", "13900139000", "Li Wei", "Zhang San", "dumplings", "饺子",
                   "说不清", "变质"):
        assert secret not in out, secret
