"""The local stack's moto answers a Query from the partition or the index key (``infra.moto_index``):
on random writes - puts, updates moving an item between index keys, deletes, batch writes,
transactions committed and cancelled - every Query answers exactly what moto's walk over the whole
table answers."""
from __future__ import annotations

import random

import boto3
import pytest
from moto import mock_aws

from infra import moto_index
from infra.moto_stack import faster_moto

TABLE = "index-check"
PARTITIONS = [f"P{i}" for i in range(6)]
STATUSES = ["new", "open", "closed"]
QUEUES = ["q1", "q2"]


@pytest.fixture
def table(monkeypatch):
    with mock_aws():
        faster_moto(monkeypatch.setattr)
        db = boto3.client("dynamodb", region_name="us-east-1")
        strings = ["PK", "SK", "status", "at", "queue"]
        db.create_table(
            TableName=TABLE, BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in strings],
            KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
            GlobalSecondaryIndexes=[
                {"IndexName": "ByStatus", "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"},
                                                         {"AttributeName": "at", "KeyType": "RANGE"}],
                 "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["n"]}},
                {"IndexName": "ByQueue", "KeySchema": [{"AttributeName": "queue", "KeyType": "HASH"}],
                 "Projection": {"ProjectionType": "ALL"}},
            ])
        yield db


def _item(rng: random.Random) -> dict:
    item = {"PK": {"S": rng.choice(PARTITIONS)}, "SK": {"S": f"S{rng.randrange(8)}"}, "n": {"N": str(rng.randrange(99))}}
    if rng.random() < 0.8:
        item["status"] = {"S": rng.choice(STATUSES)}
        item["at"] = {"S": f"2026-12-0{rng.randrange(1, 9)}"}
    if rng.random() < 0.6:
        item["queue"] = {"S": rng.choice(QUEUES)}
    return item


def _write(db, rng: random.Random) -> None:
    item = _item(rng)
    key = {"PK": item["PK"], "SK": item["SK"]}
    kind = rng.choice(["put", "put", "update", "remove", "delete", "batch", "transact", "transact_cancelled"])
    if kind == "put":
        db.put_item(TableName=TABLE, Item=item)
    elif kind == "update":  # moves the item to another status/queue in place
        db.update_item(TableName=TABLE, Key=key, UpdateExpression="SET #s = :s, queue = :q, #a = :a",
                       ExpressionAttributeNames={"#s": "status", "#a": "at"},
                       ExpressionAttributeValues={":s": {"S": rng.choice(STATUSES)}, ":q": {"S": rng.choice(QUEUES)},
                                                  ":a": {"S": "2026-12-09"}})
    elif kind == "remove":  # leaves the indexes
        db.update_item(TableName=TABLE, Key=key, UpdateExpression="REMOVE #s, queue",
                       ExpressionAttributeNames={"#s": "status"})
    elif kind == "delete":
        db.delete_item(TableName=TABLE, Key=key)
    elif kind == "batch":
        db.batch_write_item(RequestItems={TABLE: [{"PutRequest": {"Item": _item(rng)}},
                                                  {"DeleteRequest": {"Key": key}}]})
    else:
        other = _item(rng)
        ops = [{"Put": {"TableName": TABLE, "Item": other}},
               {"Update": {"TableName": TABLE, "Key": {"PK": {"S": "P9"}, "SK": {"S": rng.choice("ab")}},
                           "UpdateExpression": "SET #s = :s, #a = :a",
                           "ExpressionAttributeNames": {"#s": "status", "#a": "at"},
                           "ExpressionAttributeValues": {":s": {"S": rng.choice(STATUSES)}, ":a": {"S": "2026-12-01"}}}}]
        if kind == "transact_cancelled":  # the put and the update are rolled back
            ops.append({"ConditionCheck": {"TableName": TABLE, "Key": {"PK": {"S": "nowhere"}, "SK": {"S": "x"}},
                                           "ConditionExpression": "attribute_exists(PK)"}})
        try:
            db.transact_write_items(TransactItems=ops)
        except db.exceptions.TransactionCanceledException:
            assert kind == "transact_cancelled"


def _queries(rng: random.Random) -> list[dict]:
    forward = rng.random() < 0.5
    limit = {"Limit": rng.randrange(1, 5)} if rng.random() < 0.3 else {}
    return [
        {"KeyConditionExpression": "PK = :p", "ExpressionAttributeValues": {":p": {"S": rng.choice(PARTITIONS + ["P9"])}},
         "ScanIndexForward": forward, **limit},
        {"KeyConditionExpression": "PK = :p AND SK <= :k",
         "ExpressionAttributeValues": {":p": {"S": rng.choice(PARTITIONS)}, ":k": {"S": f"S{rng.randrange(8)}"}},
         "ScanIndexForward": forward, **limit},
        {"KeyConditionExpression": "PK = :p AND begins_with(SK, :k)",
         "ExpressionAttributeValues": {":p": {"S": rng.choice(PARTITIONS)}, ":k": {"S": rng.choice(["S", "S1", "a"])}}},
        {"IndexName": "ByStatus", "KeyConditionExpression": "#s = :s AND #a BETWEEN :a AND :b",
         "ExpressionAttributeNames": {"#s": "status", "#a": "at"}, "ScanIndexForward": forward,
         "ExpressionAttributeValues": {":s": {"S": rng.choice(STATUSES)}, ":a": {"S": "2026-12-02"},
                                       ":b": {"S": "2026-12-06"}}, **limit},
        {"IndexName": "ByStatus", "KeyConditionExpression": "#s = :s", "ExpressionAttributeNames": {"#s": "status"},
         "ExpressionAttributeValues": {":s": {"S": rng.choice(STATUSES)}}, "ScanIndexForward": forward, **limit},
        {"IndexName": "ByStatus", "KeyConditionExpression": "#s = :s AND #a >= :a",
         "ExpressionAttributeNames": {"#s": "status", "#a": "at"},
         "ExpressionAttributeValues": {":s": {"S": rng.choice(STATUSES)}, ":a": {"S": "2026-12-04"}}},
        {"IndexName": "ByQueue", "KeyConditionExpression": "queue = :q",
         "ExpressionAttributeValues": {":q": {"S": rng.choice(QUEUES)}}, **limit},
    ]


def _answer(db, query: dict) -> tuple:
    out = db.query(TableName=TABLE, **query)
    return out["Items"], out["Count"], out.get("LastEvaluatedKey")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_query_answers_what_the_walk_over_the_whole_table_answers(table, seed, monkeypatch):
    rng = random.Random(seed)
    compared = 0
    for step in range(300):
        _write(table, rng)
        if step % 3 == 0:
            for query in _queries(rng):
                fast = _answer(table, query)
                monkeypatch.setattr(moto_index, "ENABLED", False)
                whole = _answer(table, query)
                monkeypatch.setattr(moto_index, "ENABLED", True)
                assert fast == whole, query
                compared += bool(fast[0])
    assert compared > 100  # the queries found items: the comparison was not of empty answers


def test_the_local_stream_keeps_its_latest_records_readable_and_forgets_older_ones(monkeypatch):
    """moto kept every stream record for ever (a 10,000-complaint load test ran it out of memory):
    the local stack keeps the latest ones, readable from the oldest kept on, numbers unchanged."""
    from infra import moto_stack

    monkeypatch.setattr(moto_stack, "STREAM_RECORDS_KEPT", 10)
    with mock_aws():
        faster_moto(monkeypatch.setattr)
        db = boto3.client("dynamodb", region_name="us-east-1")
        arn = db.create_table(
            TableName=TABLE, BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ("PK", "SK")],
            KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )["TableDescription"]["LatestStreamArn"]
        for n in range(25):
            db.put_item(TableName=TABLE, Item={"PK": {"S": "P"}, "SK": {"S": f"{n:02d}"}})
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.dynamodb.models import dynamodb_backends

        shard = dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].tables[TABLE].stream_shard
        records = shard.get(shard.starting_sequence_number, 100)  # what GetRecords from TRIM_HORIZON reads
        assert arn.startswith("arn:aws:dynamodb:")
    assert [r["dynamodb"]["Keys"]["SK"]["S"] for r in records] == [f"{n:02d}" for n in range(15, 25)]
    numbers = [int(r["dynamodb"]["SequenceNumber"]) for r in records]
    assert numbers == list(range(numbers[0], numbers[0] + 10))


def test_an_overwritten_item_is_freed(monkeypatch):
    """moto listed every model instance it ever made: each item a write replaced stayed in memory."""
    import gc
    import weakref

    with mock_aws():
        faster_moto(monkeypatch.setattr)
        db = boto3.client("dynamodb", region_name="us-east-1")
        db.create_table(
            TableName=TABLE, BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ("PK", "SK")],
            KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}])
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.dynamodb.models import dynamodb_backends

        table = dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].tables[TABLE]
        db.put_item(TableName=TABLE, Item={"PK": {"S": "P"}, "SK": {"S": "S"}, "v": {"N": "1"}})
        [[first]] = [list(by_range.values()) for by_range in table.items.values()]
        first = weakref.ref(first)
        db.put_item(TableName=TABLE, Item={"PK": {"S": "P"}, "SK": {"S": "S"}, "v": {"N": "2"}})
        db.update_item(TableName=TABLE, Key={"PK": {"S": "P"}, "SK": {"S": "S"}}, UpdateExpression="SET v = :v",
                       ExpressionAttributeValues={":v": {"N": "3"}})
        gc.collect()
        assert first() is None
        assert db.get_item(TableName=TABLE, Key={"PK": {"S": "P"}, "SK": {"S": "S"}})["Item"]["v"] == {"N": "3"}


def _queue_of(sqs, name: str, messages: int) -> str:
    """A new queue holding ``messages`` messages (sent ten at a time); its URL."""
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    for i in range(0, messages, 10):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(n), "MessageBody": f"m{i + n}"} for n in range(10)])
    return url


def test_sending_to_and_receiving_from_a_long_queue_does_not_count_it_yet_counts_stay_right(monkeypatch):
    """moto's SendMessage counted the whole queue (three passes over every message) to read one
    attribute, and ReceiveMessage did so for every message it looked at: a backlog made every call
    slower. Counts and content-based de-duplication unchanged."""
    from moto.sqs.models import Message

    with mock_aws():
        faster_moto(monkeypatch.setattr)
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = _queue_of(sqs, "backlog", 300)
        checks = []
        visible = Message.visible
        monkeypatch.setattr(Message, "visible", property(lambda m: checks.append(1) or visible.fget(m)))
        sqs.send_message(QueueUrl=url, MessageBody="one more")
        assert checks == []
        assert len(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2, VisibilityTimeout=60)["Messages"]) == 2
        assert len(checks) <= 3 * 301  # a look at each message, not a count of the queue per message
        counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        assert (counts["ApproximateNumberOfMessages"], counts["ApproximateNumberOfMessagesNotVisible"]) == ("299", "2")
        fifo = sqs.create_queue(QueueName="dedupe.fifo", Attributes={"FifoQueue": "true",
                                                                     "ContentBasedDeduplication": "true"})["QueueUrl"]
        for _ in range(2):
            sqs.send_message(QueueUrl=fifo, MessageBody="same body", MessageGroupId="g")
        assert sqs.get_queue_attributes(QueueUrl=fifo, AttributeNames=["ApproximateNumberOfMessages"]
                                        )["Attributes"]["ApproximateNumberOfMessages"] == "1"


def _everything(db) -> tuple:
    items = sorted(db.scan(TableName=TABLE)["Items"], key=lambda i: (i["PK"]["S"], i["SK"]["S"]))
    by_index = [_answer(db, {"IndexName": "ByStatus", "KeyConditionExpression": "#s = :s",
                             "ExpressionAttributeNames": {"#s": "status"}, "ExpressionAttributeValues": {":s": {"S": s}}})
                for s in STATUSES]
    by_queue = [_answer(db, {"IndexName": "ByQueue", "KeyConditionExpression": "queue = :q",
                             "ExpressionAttributeValues": {":q": {"S": q}}}) for q in QUEUES]
    return items, by_index, by_queue


def test_a_cancelled_transaction_leaves_the_table_and_its_indexes_as_they_were(table):
    """The local stack rolls a failed transaction back in place, item by item (not moto's copy of the
    whole table): a new item's put, an update moving an item to another index key and a delete, all
    applied before the failing check, are undone - in the table, in GetItem and in every index."""
    def put(pk, sk, status, queue):
        table.put_item(TableName=TABLE, Item={"PK": {"S": pk}, "SK": {"S": sk}, "n": {"N": "1"},
                                              "status": {"S": status}, "at": {"S": "2026-12-01"}, "queue": {"S": queue}})
    put("P1", "kept", "open", "q1")
    put("P1", "moved", "open", "q1")
    put("P2", "deleted", "new", "q2")
    before = _everything(table)
    _answer(table, {"IndexName": "ByQueue", "KeyConditionExpression": "queue = :q",
                    "ExpressionAttributeValues": {":q": {"S": "q1"}}})  # the index map exists before the writes

    with pytest.raises(table.exceptions.TransactionCanceledException):
        table.transact_write_items(TransactItems=[
            {"Put": {"TableName": TABLE, "Item": {"PK": {"S": "P3"}, "SK": {"S": "new"}, "status": {"S": "open"},
                                                  "at": {"S": "2026-12-02"}, "queue": {"S": "q1"}}}},
            {"Update": {"TableName": TABLE, "Key": {"PK": {"S": "P1"}, "SK": {"S": "moved"}},
                        "UpdateExpression": "SET #s = :s, queue = :q, n = n + :one",
                        "ExpressionAttributeNames": {"#s": "status"},
                        "ExpressionAttributeValues": {":s": {"S": "closed"}, ":q": {"S": "q2"}, ":one": {"N": "1"}}}},
            {"Delete": {"TableName": TABLE, "Key": {"PK": {"S": "P2"}, "SK": {"S": "deleted"}}}},
            {"ConditionCheck": {"TableName": TABLE, "Key": {"PK": {"S": "P1"}, "SK": {"S": "kept"}},
                                "ConditionExpression": "#s = :closed", "ExpressionAttributeNames": {"#s": "status"},
                                "ExpressionAttributeValues": {":closed": {"S": "closed"}}}},
        ])

    assert _everything(table) == before
    assert "Item" not in table.get_item(TableName=TABLE, Key={"PK": {"S": "P3"}, "SK": {"S": "new"}})
    moved = table.get_item(TableName=TABLE, Key={"PK": {"S": "P1"}, "SK": {"S": "moved"}})["Item"]
    assert (moved["status"]["S"], moved["queue"]["S"], moved["n"]["N"]) == ("open", "q1", "1")
    # and a later transaction on the same items still commits as usual
    table.transact_write_items(TransactItems=[
        {"Delete": {"TableName": TABLE, "Key": {"PK": {"S": "P2"}, "SK": {"S": "deleted"}}}}])
    assert [i["SK"]["S"] for i in _everything(table)[0]] == ["kept", "moved"]


def test_a_depth_reading_counts_the_queue_once_and_says_what_moto_says(monkeypatch):
    """A depth reading (three counts) made moto build the queue's attribute set nine times - 27 passes
    over every message; the local stack makes one, and answers as moto does for visible, in-flight
    and delayed messages."""
    from moto.sqs.models import Queue

    motos_attributes = Queue.attributes  # moto's own property, before the local stack's
    with mock_aws():
        faster_moto(monkeypatch.setattr)
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = _queue_of(sqs, "depth", 50)
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(n), "MessageBody": "later", "DelaySeconds": 300}
                                                      for n in range(4)])
        sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=7, VisibilityTimeout=300)

        from moto.sqs.models import sqs_backends
        queue = sqs_backends["123456789012"]["us-east-1"].queues["depth"]

        class CountedPasses(list):
            passes = 0

            def __iter__(self):
                CountedPasses.passes += 1
                return super().__iter__()

        queue._messages = CountedPasses(queue._messages)
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                 "ApproximateNumberOfMessagesDelayed"]
        depth = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
        assert CountedPasses.passes == 1
        assert depth == {"ApproximateNumberOfMessages": "43", "ApproximateNumberOfMessagesNotVisible": "7",
                         "ApproximateNumberOfMessagesDelayed": "4"}
        assert queue.attributes == motos_attributes.fget(queue)
        assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]["QueueArn"].endswith(":depth")


def test_eventbridge_parses_its_event_paths_once_and_still_delivers_every_event(monkeypatch):
    """moto shaped every event through eight JSONPath expressions, parsed anew each time; the local
    stack parses each once. The events reach the queue whole."""
    import json

    from jsonpath_ng import ext

    with mock_aws():
        faster_moto(monkeypatch.setattr)
        sqs = boto3.client("sqs", region_name="us-east-1")
        events = boto3.client("events", region_name="us-east-1")
        url = sqs.create_queue(QueueName="events")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name="cases", EventPattern=json.dumps({"source": ["complaints"]}))
        events.put_targets(Rule="cases", Targets=[{"Id": "q", "Arn": arn}])
        ext.parse.cache_clear()
        for n in range(5):
            events.put_events(Entries=[{"Source": "complaints", "DetailType": "CaseOpened",
                                        "Detail": json.dumps({"case": f"C-{n}", "title": "冷冻饺子"})}])
        assert ext.parse.cache_info().misses == 8  # the eight paths, parsed at the first event only
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
        bodies = sorted((json.loads(m["Body"]) for m in got), key=lambda b: b["detail"]["case"])
        assert [(b["detail-type"], b["detail"]["case"], b["detail"]["title"]) for b in bodies] == [
            ("CaseOpened", f"C-{n}", "冷冻饺子") for n in range(5)]


def test_a_range_query_on_a_long_index_key_looks_at_the_matching_items_only(table, monkeypatch):
    """The sweep asks a shard of thousands of clocks for the few that are due: moto worked out the
    size of every candidate before testing its range key. Now only the matching ones are sized - and
    the page and its LastEvaluatedKey are moto's, also when exactly Limit items match."""
    from moto.dynamodb.models.dynamo_type import Item

    for n in range(300):
        table.put_item(TableName=TABLE, Item={"PK": {"S": f"C{n:03}"}, "SK": {"S": "case"}, "status": {"S": "open"},
                                              "at": {"S": "2026-12-01" if n % 100 == 0 else "2027-01-01"}})
    sized = []
    size = Item.size
    monkeypatch.setattr(Item, "size", lambda self: sized.append(1) or size(self))
    due = {"IndexName": "ByStatus", "KeyConditionExpression": "#s = :s AND #a <= :now",
           "ExpressionAttributeNames": {"#s": "status", "#a": "at"},
           "ExpressionAttributeValues": {":s": {"S": "open"}, ":now": {"S": "2026-12-05"}}}
    items, count, last = _answer(table, {**due, "Limit": 200})
    assert ([i["PK"]["S"] for i in items], count, last) == (["C000", "C100", "C200"], 3, None)
    assert len(sized) <= 2 * 3
    for limit in (2, 3):  # fewer than match, exactly as many: the same page as moto's walk
        fast = _answer(table, {**due, "Limit": limit})
        monkeypatch.setattr(moto_index, "ENABLED", False)
        assert _answer(table, {**due, "Limit": limit}) == fast
        monkeypatch.setattr(moto_index, "ENABLED", True)
    assert fast[2] is not None  # exactly Limit matched and more candidates follow: moto's LastEvaluatedKey
