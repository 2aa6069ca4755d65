"""The pipeline measured end to end: what one complaint costs at each step, for ``docs/scaling.md``.

In moto (in-process), with the resources of ``infra/resources.yaml``, N complaints are submitted
through Chalice's test client (the API function), then the queues the event bus filled are drained
step by step the way Lambda's event source mappings would, with each consumer's batch size from
``app.py``: router, assignment, notifier (and the router / notifier again for what a later step put
on them). For every step:

* AWS calls by operation (botocore ``before-call`` events, retries not counted twice);
* DynamoDB write and read request units, computed from the items themselves (moto's
  ``ConsumedCapacity`` ignores item sizes and indexes): a write costs ``ceil(KB)`` of the larger of
  the item before and after, a transactional one twice that; every global secondary index the item is
  (or was) in costs a write of its projection - two (delete + put) when the item's index key changed;
  a read costs ``ceil(size / 4 KB)`` halves for eventually consistent reads, a transactional read
  twice; a Query is charged for the items it returns (at least half a unit);
* EventBridge entries published, SQS messages delivered by the bus's rules, and the SQS requests the
  event source mapping makes (one ReceiveMessage and one DeleteMessageBatch per batch);
* wall time of each invocation of the handler (the Lambda duration proxy: moto answers in-process,
  where real AWS calls take a few milliseconds each over the network - see docs/scaling.md);
* bytes of log lines written (CloudWatch Logs ingestion).

The prices (us-east-1 list prices) turn these into a cost per 1,000 complaints: :data:`PRICES`.
``python -m infra.pipeline_bench [--complaints N]`` prints the table and writes
``var/bench/pipeline.json``; ``make bench`` runs it too.
"""
from __future__ import annotations

import argparse
import io
import json
import math
import os
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "var" / "bench" / "pipeline.json"
COMPLAINTS = 100
COST_TARGET = 0.03  # USD per 1,000 complaints before email (issue 9)

# us-east-1 list prices in USD, as published on the AWS pricing pages (see docs/scaling.md for the date).
PRICES: dict[str, float] = {
    "lambda_gb_second": 0.0000166667,     # x86, first 6 billion GB-s a month
    "lambda_request": 0.20 / 1e6,
    "api_gateway_rest_request": 3.50 / 1e6,  # REST API (Chalice), first 333 million a month
    "dynamodb_wru": 0.625 / 1e6,          # on-demand, standard table class (since 2024-11-01)
    "dynamodb_rru": 0.125 / 1e6,
    "sqs_request": 0.40 / 1e6,            # standard queue, per 64 KB chunk
    "eventbridge_event": 1.00 / 1e6,      # custom events, per 64 KB chunk
    "kms_request": 0.03 / 1e4,
    "s3_put": 0.005 / 1e3,
    "s3_get": 0.0004 / 1e3,
    "secretsmanager_call": 0.05 / 1e4,
    "cloudwatch_logs_gb": 0.50,           # ingestion, standard log class
    "xray_trace": 5.00 / 1e6,             # traces recorded
    "ses_email": 0.10 / 1e3,              # outbound email (reported apart: "SES is extra")
    "sns_publish": 0.50 / 1e6,
}
PRICES_CHECKED = "2026-12-04"

# Typical in-region latency of one call (p50, seconds) - an assumption, not a measurement: the bench's
# wall time includes moto answering in-process (a TransactWriteItems deep-copies moto's whole table),
# so the time inside AWS calls is measured and replaced by these. docs/scaling.md lists them.
CALL_LATENCY = {"dynamodb.TransactWriteItems": 0.015, "dynamodb": 0.006, "events": 0.015, "sesv2": 0.040,
                "kms": 0.008, "sqs": 0.010, "s3": 0.025, "secretsmanager": 0.015, "sns": 0.030}


def call_latency(operation: str) -> float:
    return CALL_LATENCY.get(operation) or CALL_LATENCY.get(operation.split(".", 1)[0], 0.010)


# Lambda memory per function in prod (functions/.chalice/config.json): duration is billed per GB-s.
MEMORY_MB_DEFAULT = 1024
# X-Ray's default sampling rule: the first request each second and 5% of the rest. At the burst's
# arrival rate (60,000 an hour: 16.7 a second) that is (1 + 0.05 * 15.7) / 16.7 = 10.7% of requests.
XRAY_SAMPLED_SHARE = (1 + 0.05 * (60_000 / 3600 - 1)) / (60_000 / 3600)


# -- DynamoDB request units ---------------------------------------------------------------------------
def _value_size(v: dict[str, Any]) -> int:
    (kind, value), = v.items()
    if kind == "S":
        return len(value.encode())
    if kind == "N":
        digits = str(value).lstrip("-").replace(".", "").strip("0") or "0"
        return (len(digits) + 1) // 2 + 1
    if kind == "B":
        return len(value)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + _value_size(x) + 1 for k, x in value.items())
    if kind == "L":
        return 3 + sum(_value_size(x) + 1 for x in value)
    if kind == "SS":
        return sum(len(x.encode()) for x in value)
    if kind == "NS":
        return sum(_value_size({"N": x}) for x in value)
    if kind == "BS":
        return sum(len(x) for x in value)
    raise ValueError(kind)


def item_size(item: dict[str, Any] | None) -> int:
    """DynamoDB's item size: attribute names plus values (docs: "Item sizes and formats")."""
    return sum(len(name.encode()) + _value_size(value) for name, value in (item or {}).items())


@dataclass
class Index:
    name: str
    keys: tuple[str, ...]
    projected: tuple[str, ...] | None  # None: ALL


@dataclass
class Units:
    write: float = 0.0
    read: float = 0.0
    index_write: float = 0.0
    by_operation: Counter = field(default_factory=Counter)
    by_item: Counter = field(default_factory=Counter)  # write units by kind of item (key prefixes)
    item_bytes: Counter = field(default_factory=Counter)  # the largest item of each kind written
    by_index: Counter = field(default_factory=Counter)  # index write units by index name

    def add(self, other: "Units") -> None:
        self.write += other.write
        self.read += other.read
        self.index_write += other.index_write
        self.by_operation.update(other.by_operation)
        self.by_item.update(other.by_item)
        self.by_index.update(other.by_index)
        for k, v in other.item_bytes.items():
            self.item_bytes[k] = max(self.item_bytes[k], v)


def _item_kind(key: dict[str, Any]) -> str:
    """``CASE#…/TL#…`` -> ``CASE/TL``: the key's prefixes, without ids."""
    import re

    parts = []
    for name in ("PK", "SK"):
        value = next(iter(key.get(name, {"S": ""}).values()))
        parts.append(re.split(r"[#:]", str(value), maxsplit=1)[0] if value else "")
    return "/".join(p for p in parts if p)


class CapacityMeter:
    """Request units of every DynamoDB call of the counted session, from the items before and after
    (read through a separate, uncounted client)."""

    def __init__(self, peek_client: Any, table: str):
        self._peek, self._table = peek_client, table
        desc = peek_client.describe_table(TableName=table)["Table"]
        self._key_names = [k["AttributeName"] for k in desc["KeySchema"]]
        self._indexes = [Index(g["IndexName"], tuple(k["AttributeName"] for k in g["KeySchema"]),
                               None if g["Projection"]["ProjectionType"] == "ALL"
                               else tuple(self._key_names) + tuple(k["AttributeName"] for k in g["KeySchema"])
                               + tuple(g["Projection"].get("NonKeyAttributes", [])))
                         for g in desc.get("GlobalSecondaryIndexes", [])]
        self.units = Units()

    def take(self) -> Units:
        taken, self.units = self.units, Units()
        return taken

    # botocore hooks
    def before(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        op = model.name
        if op in ("PutItem", "UpdateItem", "DeleteItem"):
            context["bench_writes"] = [(op, params.get("TableName"), self._key_of(params, op), 1)]
        elif op == "TransactWriteItems":
            writes = []
            for entry in params.get("TransactItems", []):
                (kind, body), = entry.items()
                writes.append((kind, body["TableName"], self._key_of(body, kind), 2))
            context["bench_writes"] = writes
        elif op == "BatchWriteItem":
            writes = []
            for table, requests in params.get("RequestItems", {}).items():
                for request in requests:
                    (kind, body), = request.items()
                    op_kind = "PutItem" if kind == "PutRequest" else "DeleteItem"
                    writes.append((op_kind, table, self._key_of(body, op_kind), 1))
            context["bench_writes"] = writes
        else:
            return
        context["bench_before"] = [self._get(t, k) for _, t, k, _ in context["bench_writes"]]

    def after(self, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        op = model.name
        units = Units()
        failed = "Error" in parsed
        if "bench_writes" in context:
            for (kind, table, key, factor), old in zip(context["bench_writes"], context["bench_before"]):
                new = old if failed else self._get(table, key)
                base = max(1, math.ceil(max(item_size(old), item_size(new)) / 1024))
                if kind in ("ConditionCheck",):
                    new = old
                units.write += factor * base
                index = 0
                if not failed and table == self._table:
                    # an index write costs the same inside a transaction: the 2x is the base table's alone
                    # (two-phase commit of the items; the indexes are updated after the commit)
                    per_index = self._index_writes(old, new)
                    index = sum(per_index.values())
                    units.index_write += index
                    units.by_index.update(per_index)
                kind_of_item = _item_kind(key)
                units.by_item[kind_of_item] += factor * base + index
                units.item_bytes[kind_of_item] = max(units.item_bytes[kind_of_item], item_size(new or old))
        elif op == "GetItem":
            units.read += self._read_units([parsed.get("Item")], parsed, context)
        elif op in ("Query", "Scan"):
            units.read += self._read_units(parsed.get("Items", []), parsed, context, minimum=True)
        elif op == "BatchGetItem":
            for items in parsed.get("Responses", {}).values():
                units.read += sum(self._read_units([i], parsed, context) for i in items)
        elif op == "TransactGetItems":
            units.read += sum(2 * max(1, math.ceil(item_size(r.get("Item")) / 4096))
                              for r in parsed.get("Responses", []))
        else:
            return
        units.by_operation[op] += units.write + units.read + units.index_write
        self.units.add(units)

    def remember_read_mode(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        context["bench_consistent"] = bool(params.get("ConsistentRead"))

    # helpers
    def _read_units(self, items: list[Any], parsed: dict[str, Any], context: dict[str, Any],
                    minimum: bool = True) -> float:
        size = sum(item_size(i) for i in items if i)
        blocks = max(1 if minimum else 0, math.ceil(size / 4096))
        return blocks * (1.0 if context.get("bench_consistent") else 0.5)

    def _key_of(self, body: dict[str, Any], kind: str) -> dict[str, Any]:
        if kind in ("PutItem", "Put", "PutRequest"):
            return {k: body["Item"][k] for k in self._key_names if k in body["Item"]}
        return dict(body["Key"])

    def _get(self, table: str, key: dict[str, Any]) -> dict[str, Any] | None:
        return self._peek.get_item(TableName=table, Key=key).get("Item")

    def _index_writes(self, old: dict[str, Any] | None, new: dict[str, Any] | None) -> Counter:
        """Write units per index for one item going from ``old`` to ``new``: nothing when the item is in
        neither version of the index, or when its key and projected attributes did not change; else
        ``ceil(projected KB)`` - twice (delete + put) when its index key changed."""
        total: Counter = Counter()
        for index in self._indexes:
            def keyed(item: dict[str, Any] | None) -> tuple | None:
                if not item or any(k not in item for k in index.keys):
                    return None
                return tuple(json.dumps(item[k], sort_keys=True) for k in index.keys)

            def projection(item: dict[str, Any] | None) -> dict[str, Any]:
                if not item:
                    return {}
                return item if index.projected is None else {k: v for k, v in item.items() if k in index.projected}

            k_old, k_new = keyed(old), keyed(new)
            size_old = max(1, math.ceil(item_size(projection(old)) / 1024))
            size_new = max(1, math.ceil(item_size(projection(new)) / 1024))
            if k_old is None and k_new is None:
                continue
            if k_old == k_new:
                if projection(old) != projection(new):
                    total[index.name] += max(size_old, size_new)
            else:
                total[index.name] += (size_old if k_old else 0) + (size_new if k_new else 0)
        return total


# -- the run ----
TEXTS = (  # realistic complaints the default model classifies with confidence (the cases then get routed)
    ("快递送了五天才到，外箱压坏了，里面的速冻水饺全部化了又冻上，粘成一团。打电话给客服也没人接。", "zh"),
    ("速冻水饺打开后有明显的酸臭味，孩子吃了两个就呕吐了，这是食品安全问题，请尽快调查这个批次。", "zh"),
    ("饺子打开有酸味，吃了以后肚子疼，怀疑变质了，要求退款并给个说法。", "zh"),
    ("同一个订单被扣款两次，申请退款两周了钱还没有退回来，价格也比门店贵，要求退差价。", "zh"),
    ("The parcel arrived five days late, the box was crushed and the frozen dumplings had thawed.", "en"),
)


def complaint_body(i: int) -> dict[str, Any]:
    text, language = TEXTS[i % len(TEXTS)]
    return {
        "title": None, "description": f"{text} (#{i})", "channel": "web",
        "customer": {"name": f"Customer {i}", "email": f"customer{i}@example.com", "preferred_language": language},
        "product": {"name": "Pork dumplings 1kg", "sku": f"DUMP-{i % 3}", "batch": f"B24{i % 7:02d}",
                    "order_id": f"SO-{10_000 + i}"},
    }


class Calls:
    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.events = 0
        self.aws_seconds = 0.0  # wall time spent inside AWS calls (moto), this bench's hooks included

    def started(self, context: dict[str, Any], **_: Any) -> None:
        context.setdefault("bench_started", time.perf_counter())

    def ended(self, context: dict[str, Any], **_: Any) -> None:
        started = context.pop("bench_started", None)
        if started is not None:
            self.aws_seconds += time.perf_counter() - started

    def __call__(self, model: Any = None, params: Any = None, **_: Any) -> None:
        self.calls[f"{model.service_model.service_name}.{model.name}"] += 1

    def count_entries(self, params: dict[str, Any], **_: Any) -> None:
        self.events += len(params.get("Entries", []))

    def take(self) -> tuple[Counter[str], int]:
        taken, events = self.calls, self.events
        self.calls, self.events = Counter(), 0
        return taken, events

    def take_seconds(self) -> float:
        taken, self.aws_seconds = self.aws_seconds, 0.0
        return taken


class CountingStream(io.TextIOBase):
    def __init__(self) -> None:
        self.bytes = 0

    def write(self, s: str) -> int:
        self.bytes += len(s.encode())
        return len(s)


@dataclass
class Step:
    name: str
    function: str
    batch_size: int = 1
    invocations: int = 0
    records: int = 0
    seconds: list[float] = field(default_factory=list)
    aws_seconds: float = 0.0
    calls: Counter = field(default_factory=Counter)
    events_published: int = 0
    sqs_requests: int = 0
    units: Units = field(default_factory=Units)
    log_bytes: int = 0


def run(n: int = COMPLAINTS) -> dict[str, Any]:
    from infra.bench import fake_aws_environment

    with fake_aws_environment(LOG_LEVEL="INFO", POWERTOOLS_LOG_LEVEL="INFO"):  # what prod logs (config.json)
        return _run(n)


def _run(n: int) -> dict[str, Any]:
    import boto3
    from chalice.app import SQSEventConfig
    from chalice.test import Client
    from moto import mock_aws
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    from infra.bench import submit_complaint
    from infra.event_pump import LambdaContext, failed_message_ids, sqs_event
    from infra.moto_stack import boto3_clients, create_resources, environment, forget_cached_services

    calls = Calls()
    with mock_aws():
        clients = boto3_clients()
        env = environment(create_resources(clients, "dev", "us-east-1"))
        os.environ.update(env)
        table = env["TABLE_NAME"]
        # moto copies the table and its whole stream history at every transaction: nothing reads it here
        dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].tables[table].stream_shard = None
        clients("sesv2").create_email_identity(EmailIdentity=env.get("SENDER_ADDRESS", "example.com").split("@")[-1])
        meter = CapacityMeter(clients("dynamodb"), table)
        sqs = clients("sqs")

        boto3.setup_default_session(region_name="us-east-1")
        events = boto3.DEFAULT_SESSION.events
        events.register_first("provide-client-params", calls.started)
        events.register("before-call", calls)
        events.register("provide-client-params.dynamodb", meter.remember_read_mode)
        events.register("provide-client-params.dynamodb", meter.before)
        events.register("after-call.dynamodb", meter.after)
        events.register("provide-client-params.events.PutEvents", calls.count_entries)
        events.register_last("after-call", calls.ended)
        forget_cached_services()

        from functions.app import app
        from functions.notifier import pacing

        # moto's quota is 1 email a second: the pacer's waits are simulated (a clock that moves when it
        # sleeps), not spent; docs/scaling.md counts the pacing's cost from the production rate instead
        paced = [0.0]
        pacing_sleep, pacing_clock = pacing.sleep, pacing.monotonic
        pacing.sleep = lambda seconds: paced.__setitem__(0, paced[0] + seconds)
        pacing.monotonic = lambda: time.monotonic() + paced[0]
        pacing.reset()

        steps: dict[str, Step] = {}
        api = steps["intake"] = Step("intake (POST /complaints)", "api_handler")
        log_sink = CountingStream()
        from shared.observability import logger

        handler_of_logs = logger().registered_handler  # Powertools' one StreamHandler (stdout)
        stdout = handler_of_logs.setStream(log_sink)
        real_stdout, sys.stdout = sys.stdout, log_sink  # metrics (EMF) are printed: log bytes too
        with Client(app) as client:
            for i in range(n):
                started = time.perf_counter()
                submit_complaint(client, complaint_body(i), i)
                api.seconds.append(time.perf_counter() - started)
        api.invocations = api.records = n
        api.calls, api.events_published = calls.take()
        api.aws_seconds = calls.take_seconds()
        api.units = meter.take()
        api.log_bytes, log_sink.bytes = log_sink.bytes, 0

        sources = {s.name: s for s in app.event_sources if isinstance(s, SQSEventConfig)}
        order = ["route_complaint", "assign_complaint", "notify_customer"]
        for _round in range(3):  # a later step may put work on an earlier step's queue
            moved = 0
            for name in order:
                source = sources[name]
                step = steps.setdefault(name, Step(name, name, batch_size=source.batch_size))
                url = sqs.get_queue_url(QueueName=source.queue)["QueueUrl"]
                arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
                while True:
                    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=min(10, source.batch_size),
                                                   MessageSystemAttributeNames=["All"],
                                                   MessageAttributeNames=["All"]).get("Messages", [])
                    if not messages:
                        break
                    handler = app.handler_map[name]
                    started = time.perf_counter()
                    result = handler(sqs_event(messages, arn, "us-east-1"), LambdaContext(f"complaints-dev-{name}"))
                    step.seconds.append(time.perf_counter() - started)
                    failed = failed_message_ids(result, [m["MessageId"] for m in messages])
                    if failed:
                        raise RuntimeError(f"{name}: {len(failed)} record(s) failed")
                    sqs.delete_message_batch(QueueUrl=url, Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])
                    step.invocations += 1
                    step.records += len(messages)
                    step.sqs_requests += 2  # the event source mapping's ReceiveMessage + DeleteMessageBatch
                    moved += len(messages)
                    taken, published = calls.take()
                    step.calls.update(taken)
                    step.events_published += published
                    step.aws_seconds += calls.take_seconds()
                    step.units.add(meter.take())
                    step.log_bytes += log_sink.bytes
                    log_sink.bytes = 0
            if not moved:
                break
        handler_of_logs.setStream(stdout)
        pacing.sleep, pacing.monotonic = pacing_sleep, pacing_clock
        pacing.reset()
        sys.stdout = real_stdout
        ses_sent = sum(step.calls.get("sesv2.SendEmail", 0) for step in steps.values())
        forget_cached_services()
        boto3.DEFAULT_SESSION = None
    return report(n, list(steps.values()), int(ses_sent))


# -- the arithmetic ---------------------------------------------------------------------------------
def _memory_gb(function: str) -> float:
    config = json.loads((ROOT / "functions" / ".chalice" / "config.json").read_text(encoding="utf-8"))
    prod = config["stages"]["prod"]
    mb = (prod.get("lambda_functions", {}).get(function, {}).get("lambda_memory_size")
          or prod.get("lambda_memory_size") or config.get("lambda_memory_size") or MEMORY_MB_DEFAULT)
    return mb / 1024


def report(n: int, steps: list[Step], emails: int) -> dict[str, Any]:
    p = PRICES
    rows = []
    totals: Counter[str] = Counter()
    for step in steps:
        per = 1000 / n  # scale to 1,000 complaints
        measured = sum(step.seconds)
        code_seconds = max(0.0, measured - step.aws_seconds)  # our code, without moto's time
        modeled_calls = sum(call_latency(op) * c for op, c in step.calls.items())
        seconds = code_seconds + modeled_calls  # the Lambda duration: our code + real calls' latency
        # SQS: what the bus delivered to this step's queue (one SendMessage each) + the mapping's requests
        sqs_requests = step.records + step.sqs_requests + step.calls.get("sqs.SendMessage", 0)
        kms = sum(c for op, c in step.calls.items() if op.startswith("kms."))
        s3_put = sum(c for op, c in step.calls.items() if op in ("s3.PutObject", "s3.CopyObject"))
        s3_get = sum(c for op, c in step.calls.items() if op in ("s3.GetObject", "s3.HeadObject", "s3.ListObjectsV2"))
        secrets = sum(c for op, c in step.calls.items() if op.startswith("secretsmanager."))
        sns = sum(c for op, c in step.calls.items() if op.startswith("sns."))
        cost = {
            "lambda_duration": seconds * _memory_gb(step.function) * p["lambda_gb_second"] * per,
            "lambda_requests": step.invocations * p["lambda_request"] * per,
            "api_gateway": (step.invocations * p["api_gateway_rest_request"] * per) if step.function == "api_handler" else 0.0,
            "dynamodb_writes": (step.units.write + step.units.index_write) * p["dynamodb_wru"] * per,
            "dynamodb_reads": step.units.read * p["dynamodb_rru"] * per,
            "sqs": (0 if step.function == "api_handler" else sqs_requests) * p["sqs_request"] * per,
            "eventbridge": step.events_published * p["eventbridge_event"] * per,
            "kms": kms * p["kms_request"] * per,
            "s3": (s3_put * p["s3_put"] + s3_get * p["s3_get"]) * per,
            "secrets_manager": secrets * p["secretsmanager_call"] * per,
            "sns": sns * p["sns_publish"] * per,
            "cloudwatch_logs": step.log_bytes / 1e9 * p["cloudwatch_logs_gb"] * per,
            "xray": step.invocations * XRAY_SAMPLED_SHARE * p["xray_trace"] * per,
        }
        totals.update(cost)
        rows.append({
            "step": step.name, "function": step.function, "batch_size": step.batch_size,
            "invocations": step.invocations, "records": step.records,
            "measured_wall_ms_per_invocation": round(1000 * measured / max(step.invocations, 1), 2),
            "measured_code_ms_per_invocation": round(1000 * code_seconds / max(step.invocations, 1), 2),
            "modeled_call_ms_per_invocation": round(1000 * modeled_calls / max(step.invocations, 1), 2),
            "handler_ms_per_invocation": round(1000 * seconds / max(step.invocations, 1), 2),
            "handler_ms_per_complaint": round(1000 * seconds / n, 2),
            "memory_gb_prod": _memory_gb(step.function),
            "aws_calls_per_complaint": round(sum(step.calls.values()) / n, 3),
            "aws_calls_by_operation": dict(sorted(step.calls.items())),
            "events_published_per_complaint": round(step.events_published / n, 3),
            "dynamodb_wru_per_complaint": round(step.units.write / n, 3),
            "dynamodb_index_wru_per_complaint": round(step.units.index_write / n, 3),
            "dynamodb_rru_per_complaint": round(step.units.read / n, 3),
            "dynamodb_units_by_operation_per_complaint": {k: round(v / n, 3) for k, v in sorted(step.units.by_operation.items())},
            "dynamodb_wru_by_item_per_complaint": {k: round(v / n, 2) for k, v in step.units.by_item.most_common()},
            "dynamodb_index_wru_by_index_per_complaint": {k: round(v / n, 2)
                                                          for k, v in step.units.by_index.most_common()},
            "largest_item_bytes_by_kind": dict(step.units.item_bytes.most_common()),
            "log_bytes_per_complaint": round(step.log_bytes / n),
            "cost_per_1000_usd": {k: round(v, 6) for k, v in cost.items()},
            "cost_per_1000_total_usd": round(sum(cost.values()), 5),
        })
    total = sum(totals.values())
    return {
        "complaints": n,
        "prices_usd": p, "prices_checked": PRICES_CHECKED, "region": "us-east-1",
        "xray_sampled_share": round(XRAY_SAMPLED_SHARE, 4),
        "steps": rows,
        "call_latency_assumed_seconds": CALL_LATENCY,
        "cost_per_1000_by_item_usd": {k: round(v, 5) for k, v in sorted(totals.items(), key=lambda kv: -kv[1])},
        "cost_per_1000_before_email_usd": round(total, 5),
        "target_usd": COST_TARGET, "met": total <= COST_TARGET,
        "emails_per_complaint": round(emails / n, 3),
        "ses_cost_per_1000_usd": round(emails / n * 1000 * p["ses_email"], 4),
    }


def summary_lines(r: dict[str, Any]) -> list[str]:
    lines = [f"pipeline:   {r['complaints']} complaints through intake -> router -> assignment -> notifier (moto)"]
    for s in r["steps"]:
        lines.append(
            f"            {s['function']:<17} {s['invocations']:>4} inv, {s['handler_ms_per_invocation']:>7.1f} ms/inv, "
            f"{s['aws_calls_per_complaint']:>5.2f} calls, WRU {s['dynamodb_wru_per_complaint']:.1f}"
            f"+{s['dynamodb_index_wru_per_complaint']:.1f} idx, RRU {s['dynamodb_rru_per_complaint']:.1f}, "
            f"logs {s['log_bytes_per_complaint']} B: ${s['cost_per_1000_total_usd']:.4f}/1000")
    top = ", ".join(f"{k} ${v:.4f}" for k, v in list(r["cost_per_1000_by_item_usd"].items())[:5])
    lines.append(f"            ${r['cost_per_1000_before_email_usd']:.4f} per 1,000 complaints before email "
                 f"(target <= ${r['target_usd']}) {'OK' if r['met'] else 'MISSED'}; top: {top}")
    lines.append(f"            + SES {r['emails_per_complaint']:.2f} email/complaint: ${r['ses_cost_per_1000_usd']:.3f}/1000")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.pipeline_bench", description=__doc__.split("\n")[0])
    parser.add_argument("--complaints", type=int, default=COMPLAINTS)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    result = run(args.complaints)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=lambda o: float(o) if isinstance(o, Decimal) else str(o))
                        + "\n", encoding="utf-8")
    for line in summary_lines(result):
        sys.stdout.write(line + "\n")
    return 0 if result["met"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
