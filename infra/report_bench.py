"""Report cost: what a month's report reads, and how long it takes, with 10,000 and with 200,000
complaints in the store.

A report reads the daily counters (``StatsStore.read``: one Query per day, every dimension item of the
day) for the month and for the month before, then computes every figure (``build_report``). Its cost
must follow days x dimension values, not complaints: the ratio of items read (and of time) between the
two sizes must stay near 1.

What the store holds, per size (in moto, in-process, with the table of ``infra/resources.yaml``):

* the counter items that ``N`` complaints received in November 2026 and ``N`` in October leave behind
  (received by every dimension, resolved, closed, first-response and resolution histograms and sums,
  SLA per clock, satisfaction, compensation, the open-backlog snapshot), each complaint spread over its
  shard, with a fixed company (:data:`COMPANY`): 8 categories, 5 departments, 50 handlers, 5 channels,
  4 priorities, 60 products and 40 active batches - 173 dimension values, so at most
  days x 173 x 4 shards items a month, whatever the number of complaints. The figures are synthesised in bulk with the same measures
  ``shared.stats.increments`` writes (calling it per transition for 400,000 complaints would take
  minutes and change nothing the report reads), and written straight into moto's table;
* the ``N`` November cases themselves (their case items: number, received time, status, category,
  month index key) - a report never reads them, they are there so the store holds what it says.

Counted through moto (one report, the real Query path): the DynamoDB calls and the counter items they
return. moto answers a Query on the table's key by sorting and walking every item of the table, where
DynamoDB reads the one partition, so the bench hands moto's query the partition's items
(:func:`_partition_queries`: the same items the Query keeps); and moto then spends about 10 ms per item
serialising its answer, which would drown the report's own work.

Timed: ``ReportService.report`` (both reads + ``build_report``) against :class:`PartitionClient`, the same
raw items served from memory by partition in 1 MB pages (checked to give the very same report as moto),
best of 3 after a warm-up; and ``build_report`` alone. That is the function's CPU time; DynamoDB adds
its latency per Query (61 sequential Queries for a month and the month before, some tens of ms each),
the same at both sizes.

``python -m infra.report_bench`` prints the table and writes ``var/bench/report.json``; ``make bench``
includes it.
"""
from __future__ import annotations

import gc
import json
import os
import random
import time
from collections import Counter, defaultdict
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "var" / "bench" / "report.json"
SIZES = (10_000, 200_000)
RUNS = 3
CATEGORIES = ("product_quality", "food_safety", "delivery_logistics", "service_attitude", "billing_price",
              "refund_after_sales", "privacy_security", "other")
DEPARTMENTS = ("customer_service", "quality", "logistics", "finance", "privacy")
CHANNELS = ("web", "app", "hotline", "social", "email")
PRIORITIES = ("P1", "P2", "P3", "P4")
# handlers, products and active batches of the simulated company
COMPANY = {"handlers": 50, "products": 60, "batches": 40}


def _env() -> None:
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1", "STAGE": "bench",
                       "POWERTOOLS_LOG_LEVEL": "ERROR"}.items():
        os.environ[key] = value
    os.environ.pop("AWS_ENDPOINT_URL", None)


def _complaint_measures(rng: random.Random) -> Counter:
    """What one complaint's life adds on its days (all folded onto one day: the report sums the month)."""
    from shared.stats import bucket

    m: Counter = Counter(received=1)
    first = rng.lognormvariate(8.5, 1.0)  # about 80 minutes median
    m["first_response_count"] += 1
    m["first_response_sum_s"] += round(first)
    m["first_response_bus_sum_s"] += round(first * 0.7)
    m[f"first_response_h{bucket(first)}"] += 1
    m["sla_first_response_met" if first < 4 * 3600 else "sla_first_response_missed"] += 1
    m["sla_cn_consumer_reply_met"] += 1
    if rng.random() < 0.8:
        resolution = rng.lognormvariate(11.5, 0.8)  # about 1.1 days median
        m.update({"resolved": 1, "resolution_count": 1, "resolution_sum_s": round(resolution),
                  "resolution_bus_sum_s": round(resolution * 0.4), f"resolution_h{bucket(resolution)}": 1})
        m["sla_resolution_met" if resolution < 2 * 86400 else "sla_resolution_missed"] += 1
        if rng.random() < 0.9:
            m.update({"closed": 1, "surveys_sent": 1})
            if rng.random() < 0.3:
                rating = rng.choice((2, 3, 4, 4, 5, 5))
                m.update({"feedback_count": 1, "feedback_sum": rating, "feedback_4_5": int(rating >= 4)})
    if rng.random() < 0.05:
        m["escalations"] += 1
    if rng.random() < 0.02:
        m["reopened"] += 1
    if rng.random() < 0.1:
        m["comp_CNY_cents"] += rng.choice((2000, 5000, 12000))
    return m


def counter_items(complaints: int, month: date, seed: int,
                  company: dict[str, int] | None = None) -> tuple[dict[tuple[str, str], Counter], list[tuple]]:
    """The counter items of ``complaints`` complaints received in ``month`` (``{(day, SK): measures}``), and
    the complaints themselves (number, received time, category)."""
    from shared.stats import shard_of

    size = company or COMPANY
    handlers = [f"handler-{i:02d}" for i in range(size["handlers"])]
    products = [f"SKU-{i:03d}" for i in range(size["products"])]
    batches = [f"B24{i:02d}" for i in range(size["batches"])]
    rng = random.Random(seed)
    days = (date(month.year + month.month // 12, month.month % 12 + 1, 1) - month).days
    items: dict[tuple[str, str], Counter] = defaultdict(Counter)
    cases = []
    for i in range(complaints):
        number = f"CB{month:%y%m}{i:06d}"
        day = month + timedelta(days=rng.randrange(days))
        received = datetime(day.year, day.month, day.day, tzinfo=timezone.utc) + timedelta(seconds=rng.randrange(86400))
        category = rng.choice(CATEGORIES)
        values = {"all": "-", "category": category, "department": DEPARTMENTS[CATEGORIES.index(category) % 5],
                  "handler": rng.choice(handlers), "channel": rng.choice(CHANNELS), "priority": rng.choice(PRIORITIES),
                  "product": rng.choice(products), "batch": rng.choice(batches)}
        measures = _complaint_measures(rng)
        shard, key = shard_of(number), day.isoformat()
        for dimension, value in values.items():
            items[(key, f"{dimension}#{value}#{shard}")].update(measures)
        cases.append((number, received, category))
    last = month + timedelta(days=days - 1)  # the month's last day: the open backlog's snapshot
    for dimension, value in (("all", "-"), *(("department", d) for d in DEPARTMENTS)):
        items[(last.isoformat(), f"{dimension}#{value}#0")]["open_eod"] += complaints // 20
    return items, cases


def _write(table: Any, items: dict[tuple[str, str], Counter], cases: list[tuple]) -> None:
    for (day, sk), measures in items.items():
        attrs = {"PK": {"S": f"STATS#{day}"}, "SK": {"S": sk}}
        attrs.update({name: {"N": str(n)} for name, n in measures.items() if n})
        table.put_item(attrs)
    for number, received, category in cases:
        at = received.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        table.put_item({"PK": {"S": f"CASE#{number}"}, "SK": {"S": "CASE"}, "complaint_id": {"S": number},
                        "status": {"S": "closed"}, "category": {"S": category}, "received_at": {"S": at},
                        "received_month": {"S": "MONTH#" + at[:7]}, "received_key": {"S": f"{at}#{number}"}})


@contextmanager
def _partition_queries(table: Any) -> Iterator[None]:
    """moto's ``Table.query`` on the table's own key takes its candidates from ``all_items()`` (every item
    of the table, sorted); for the bench they come from the queried partition alone, as in DynamoDB."""
    real = table.query

    def query(hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
        if index_name is None and hash_key is not None:
            table.all_items = lambda: list(table.items.get(hash_key, {}).values())
        try:
            return real(hash_key, *args, **kwargs)
        finally:
            table.__dict__.pop("all_items", None)

    table.query = query
    try:
        yield
    finally:
        table.__dict__.pop("query", None)


def measure(complaints: int, runs: int = RUNS, company: dict[str, int] | None = None) -> dict[str, Any]:
    """One size: the store filled, then the report timed (the environment is restored)."""
    saved = dict(os.environ)
    try:
        return _measure(complaints, runs, company or COMPANY)
    finally:
        os.environ.clear()
        os.environ.update(saved)
        from shared.config import reset_settings

        reset_settings()


class PartitionClient:
    """A DynamoDB client over items held in memory by partition (the raw DynamoDB JSON moto stored):
    ``query`` for ``PK = :pk`` answered as DynamoDB does (the partition's items in key order, pages of
    at most 1 MB), and the ``get_item`` / ``put_item`` / ``batch_write_item`` a month roll-up needs. The
    report's time is measured against it (see the module docstring)."""

    PAGE_BYTES = 1024 * 1024

    def __init__(self, partitions: dict[str, list[dict[str, Any]]]):
        self._partitions: dict[str, dict[str, dict[str, Any]]] = {
            pk: {i["SK"]["S"]: i for i in items} for pk, items in partitions.items()}
        self._sorted: dict[str, tuple[list[dict[str, Any]], list[int]]] = {}
        self.served = Counter()  # items, attributes and bytes answered

    def reset(self) -> None:
        self.served = Counter()

    def partitions(self, prefix: str) -> dict[str, list[dict[str, Any]]]:
        return {pk: list(items.values()) for pk, items in self._partitions.items() if pk.startswith(prefix)}

    def _items(self, pk: str) -> tuple[list[dict[str, Any]], list[int]]:
        if pk not in self._sorted:
            items = sorted(self._partitions.get(pk, {}).values(), key=lambda i: i["SK"]["S"])
            self._sorted[pk] = (items, [len(json.dumps(i)) for i in items])
        return self._sorted[pk]

    def _put(self, item: dict[str, Any]) -> None:
        pk = item["PK"]["S"]
        self._partitions.setdefault(pk, {})[item["SK"]["S"]] = item
        self._sorted.pop(pk, None)

    def _delete(self, key: dict[str, Any]) -> None:
        pk = key["PK"]["S"]
        self._partitions.get(pk, {}).pop(key["SK"]["S"], None)
        self._sorted.pop(pk, None)

    def query(self, **kwargs: Any) -> dict[str, Any]:
        pk = kwargs["ExpressionAttributeValues"][":pk"]["S"]
        items, sizes = self._items(pk)
        start = 0
        if kwargs.get("ExclusiveStartKey"):
            last = kwargs["ExclusiveStartKey"]["SK"]["S"]
            start = next((i for i, item in enumerate(items) if item["SK"]["S"] > last), len(items))
        end, size = start, 0
        while end < len(items) and size + sizes[end] <= self.PAGE_BYTES:
            size += sizes[end]
            end += 1
        out: dict[str, Any] = {"Items": items[start:end], "Count": end - start, "ScannedCount": end - start}
        self.served.update(items=end - start, bytes=size, attributes=sum(len(i) for i in items[start:end]))
        if end < len(items):
            out["LastEvaluatedKey"] = {"PK": items[end - 1]["PK"], "SK": items[end - 1]["SK"]}
        return out

    def get_item(self, **kwargs: Any) -> dict[str, Any]:
        key = kwargs["Key"]
        item = self._partitions.get(key["PK"]["S"], {}).get(key["SK"]["S"])
        if item is None:
            return {}
        self.served.update(items=1, bytes=len(json.dumps(item)), attributes=len(item))
        return {"Item": item}

    def put_item(self, **kwargs: Any) -> dict[str, Any]:
        self._put(kwargs["Item"])
        return {}

    def batch_write_item(self, **kwargs: Any) -> dict[str, Any]:
        for requests in kwargs["RequestItems"].values():
            for request in requests:
                if "PutRequest" in request:
                    self._put(request["PutRequest"]["Item"])
                else:
                    self._delete(request["DeleteRequest"]["Key"])
        return {"UnprocessedItems": {}}


def _raw_partitions(table: Any, prefix: str = "STATS#") -> dict[str, list[dict[str, Any]]]:
    """The raw items of the partitions whose key starts with ``prefix`` (the counters: all a report reads)."""
    partitions: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for hash_key, items in table.items.items():
        if str(hash_key.value).startswith(prefix):
            for item in items.values():
                partitions[hash_key.value].append(item.to_json()["Attributes"])
    return partitions


def _measure(complaints: int, runs: int, company: dict[str, int]) -> dict[str, Any]:
    _env()
    from moto import mock_aws
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    from functions.reports.service import ReportService
    from infra.moto_stack import boto3_clients, create_resources, environment
    from shared import store
    from shared.report_model import build_report, month_period
    from shared.stats_store import StatsStore

    period = month_period(2026, 11)
    with mock_aws():
        env = environment(create_resources(boto3_clients(), "bench", "us-east-1"))
        os.environ.update(env)
        store.reset()
        table = dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].tables[env["TABLE_NAME"]]
        table.stream_shard = None
        started = time.perf_counter()
        nov_items, nov_cases = counter_items(complaints, date(2026, 11, 1), 11, company)
        october, _ = counter_items(complaints, date(2026, 10, 1), 10, company)
        _write(table, nov_items, nov_cases)
        _write(table, october, [])
        setup = time.perf_counter() - started

        # the month roll-ups the hourly job keeps, summed from the same days in memory (moto would take
        # minutes to serve the days) and written into moto's table beside them
        memory = PartitionClient(_raw_partitions(table))
        t0 = time.perf_counter()
        rollup_items_read = 0
        for month in ("2026-10", "2026-11"):
            rollup_items_read += StatsStore(memory, env["TABLE_NAME"]).roll_up(month).items_read
        rollup_seconds = time.perf_counter() - t0
        for items in memory.partitions("STATS#ROLLUP#").values():
            for item in items:
                table.put_item(dict(item))
        days_partitions = memory.partitions("STATS#")

        # 1. through moto: the real Query path, its calls and the items it returns
        from shared.aws import client
        from shared.stats_store import stats_store

        calls: Counter = Counter()

        def count(event_name: str, **_: Any) -> None:
            calls[event_name.rsplit(".", 1)[-1]] += 1

        dynamodb = client("dynamodb")
        dynamodb.meta.events.register("before-call.dynamodb.*", count)
        with _partition_queries(table):
            t0 = time.perf_counter()
            through_moto = ReportService(stats_store()).report(period)
            moto_seconds = time.perf_counter() - t0
        dynamodb.meta.events.unregister("before-call.dynamodb.*", count)
        store.reset()
    in_store = {"cases_in_store": len(nov_cases), "counter_items_in_store": len(nov_items) + len(october),
                "dimension_values": len({sk.rsplit("#", 1)[0] for (_, sk) in nov_items})}
    # what the setup left in memory (the cases, moto's table) would slow the garbage collector in the
    # timed part, growing with the complaints: a Lambda holds none of it
    del table, nov_items, nov_cases, october, memory
    gc.collect()

    # 2. the report's own time: the same items served from memory
    memory = PartitionClient(days_partitions)
    stats = StatsStore(memory, "bench")
    service = ReportService(stats)
    report = service.report(period)  # warm-up
    if report.as_json() != through_moto.as_json():
        raise RuntimeError("the in-memory answer differs from moto's: the timing would not be of the same report")
    memory.reset()
    service.report(period)
    served = dict(memory.served)
    times = _timed(lambda: service.report(period), runs)

    # 3. the same report from the days alone (no roll-up): what the roll-ups save
    previous_period = period.previous()

    def from_days() -> Any:
        return build_report(stats.read(period.first, period.last), period,
                            stats.read(previous_period.first, previous_period.last), previous=previous_period)

    memory.reset()
    days_report = from_days()
    days_served = dict(memory.served)
    if {k: v for k, v in days_report.as_json().items() if k != "items_read"} != \
            {k: v for k, v in report.as_json().items() if k != "items_read"}:
        raise RuntimeError("the report from the days differs from the report from the roll-ups")
    days_times = _timed(from_days, runs)
    return {"complaints_per_month": complaints, **in_store,
            "items_read": through_moto.items_read, "attributes_read": served["attributes"],
            "kib_read": round(served["bytes"] / 1024), "dynamodb_calls_per_report": sum(calls.values()),
            "calls_by_operation": dict(calls), "scans": calls.get("Scan", 0),
            "report_seconds": round(min(times), 4), "report_seconds_runs": [round(t, 4) for t in times],
            "moto_report_seconds": round(moto_seconds, 2),
            "without_rollups": {"items_read": days_served["items"], "attributes_read": days_served["attributes"],
                                "kib_read": round(days_served["bytes"] / 1024),
                                "report_seconds": round(min(days_times), 4)},
            "rollup": {"months": 2, "items_read": rollup_items_read, "seconds": round(rollup_seconds, 2)},
            "received": report.totals["received"].value, "setup_seconds": round(setup, 1)}


def _timed(work: Any, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        work()
        times.append(time.perf_counter() - t0)
    return times


def run(sizes: tuple[int, ...] = SIZES, runs: int = RUNS, out: Path | None = RESULTS,
        company: dict[str, int] | None = None) -> dict[str, Any]:
    rows = [measure(n, runs, company) for n in sizes]
    small, large = rows[0], rows[-1]
    result = {"sizes": rows,
              "items_read_ratio": round(large["items_read"] / max(small["items_read"], 1), 3),
              "attributes_read_ratio": round(large["attributes_read"] / max(small["attributes_read"], 1), 3),
              "time_ratio": round(large["report_seconds"] / max(small["report_seconds"], 1e-9), 3),
              "complaints_ratio": round(large["complaints_per_month"] / small["complaints_per_month"], 1)}
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return result


def summary_lines(result: dict[str, Any]) -> list[str]:
    lines = [f"report:     {r['complaints_per_month']:,} complaints/month: {r['items_read']:,} items read "
             f"({r['dimension_values']} dimension values; {r['attributes_read']:,} attributes, {r['kib_read']:,} KiB), "
             f"{r['dynamodb_calls_per_report']} DynamoDB calls, {r['scans']} Scan, "
             f"{r['report_seconds'] * 1000:.1f} ms; from the days without roll-ups: "
             f"{r['without_rollups']['items_read']:,} items, {r['without_rollups']['report_seconds'] * 1000:.0f} ms; "
             f"the nightly roll-up of 2 months: {r['rollup']['items_read']:,} items, {r['rollup']['seconds']} s"
             for r in result["sizes"]]
    lines.append(f"            x{result['complaints_ratio']:g} complaints: items read x{result['items_read_ratio']}, "
                 f"attributes read x{result['attributes_read_ratio']}, time x{result['time_ratio']}")
    return lines


def main() -> None:
    result = run()
    print("\n".join(summary_lines(result)))
    print(f"written to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
