"""Sweep cost: what one SLA sweep reads with 1,000 and with 100,000 open cases, 50 of them due.

The sweep must cost what is due, not what is open: it queries the sparse ``ByDue`` index for
``due_key <= now`` (one Query per shard) and reads only those cases. In moto (in-process), the
bench writes ``open_cases`` routed cases whose next check lies in the future plus ``due`` real cases
whose P1 first-response warning point has passed, runs one sweep, and counts the index items it
read, the cases it read and every DynamoDB call it made (a botocore hook on the client).

Time is not the figure: moto answers an index Query by walking the whole table, so its sweep takes
longer with more items where DynamoDB's would not.

The not-due cases are written straight into moto's table with the attributes the sweep's index
holds (the numbers and their next-check keys); writing 100,000 full cases through the API would take
minutes and change nothing the sweep reads. ``python -m infra.sweep_bench`` prints the table;
``make bench`` records it.
"""
from __future__ import annotations

import os
import time
from contextlib import contextmanager
from types import SimpleNamespace
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

SIZES = (1_000, 100_000)
DUE = 50


def _env() -> None:
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1", "STAGE": "bench",
                       "POWERTOOLS_LOG_LEVEL": "ERROR"}.items():
        os.environ[key] = value
    os.environ.pop("AWS_ENDPOINT_URL", None)


def _not_due(table: Any, count: int, now: datetime) -> None:
    """``count`` open cases due later (a day to a week out), straight into moto's table."""
    from shared.repository import due_shard, iso

    for i in range(count):
        cid = f"CBENCH{i:07d}"
        at = now + timedelta(days=1, seconds=i % 604_800)
        attrs = {"PK": {"S": f"CASE#{cid}"}, "SK": {"S": "CASE"}, "complaint_id": {"S": cid},
                 "status": {"S": "assigned"}, "due_shard": {"S": due_shard(cid)},
                 "due_key": {"S": f"{iso(at)}#{cid}"}}
        table.put_item(attrs)


@contextmanager
def _no_rollback_copies() -> Iterator[None]:
    """moto deep-copies the whole table before each TransactWriteItems, to roll back a cancelled one:
    with 100,000 items that copy, not the sweep, is the cost. Nothing is cancelled in this single
    sweep, so the bench skips the copy (DynamoDB has no such cost; the figures are reads and calls)."""
    import moto.dynamodb.models as models

    real = models.copy
    models.copy = SimpleNamespace(deepcopy=lambda value: value)  # type: ignore[assignment]
    try:
        yield
    finally:
        models.copy = real


def _due_cases(count: int, now: datetime) -> list[str]:
    """``count`` real P1 cases, routed and assigned 40 minutes ago: their 50 % warning is due."""
    from shared.assignment import assigner
    from shared.identifiers import new_complaint_number
    from shared.lifecycle import Status
    from shared.models import Channel, Complaint, Customer
    from shared.staff_directory import HandlerProfileIn, staff_directory
    from shared.store import complaint_repository

    directory = staff_directory()
    directory.put_profile("bench-agent", HandlerProfileIn(name="Bench Agent", departments=["quality"], max_open=1000))
    directory.set_on_duty("bench-agent", True)
    repo, service = complaint_repository(), assigner()
    received = now - timedelta(minutes=40)
    ids = []
    for _ in range(count):
        case = Complaint(complaint_id=new_complaint_number(received), channel=Channel.WEB, language="zh",
                         description="饺子变质，吃了拉肚子", received_at=received, updated_at=received,
                         tracking_token_hashes=["0" * 64], customer=Customer(name="Bench", email="b@example.com"),
                         status=Status.CLASSIFIED, category="food_safety", priority="P1")
        repo.create(case, [])
        service.route(case.complaint_id)
        ids.append(case.complaint_id)
    return ids


def measure(open_cases: int, due: int = DUE) -> dict[str, Any]:
    """One sweep over ``open_cases`` not-due cases plus ``due`` due ones (the environment is restored)."""
    saved = dict(os.environ)
    try:
        return _measure(open_cases, due)
    finally:
        os.environ.clear()
        os.environ.update(saved)
        from shared.config import reset_settings

        reset_settings()


def _measure(open_cases: int, due: int) -> dict[str, Any]:
    _env()
    from moto import mock_aws
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    from infra.moto_stack import boto3_clients, create_resources, environment
    from shared import store
    from shared.clock import set_clock

    now = datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc)  # Monday 10:00 in Shanghai
    with mock_aws():
        env = environment(create_resources(boto3_clients(), "bench", "us-east-1"))
        os.environ.update(env)
        store.reset()
        table = dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].tables[env["TABLE_NAME"]]
        table.stream_shard = None  # no stream history (see tests/conftest.py)
        set_clock(lambda: now)
        try:
            started = time.perf_counter()
            due_ids = _due_cases(due, now)
            _not_due(table, open_cases, now)
            written = time.perf_counter() - started

            from functions.router.sweep import sla_sweep
            from shared.aws import client

            calls: dict[str, int] = {}

            def count(event_name: str, **_: Any) -> None:
                operation = event_name.rsplit(".", 1)[-1]
                calls[operation] = calls.get(operation, 0) + 1

            dynamodb = client("dynamodb")
            dynamodb.meta.events.register("before-call.dynamodb.*", count)
            # FIX: every size starts with the routing/SLA configuration cache cold, as each 5-minute sweep
            # does in Lambda (CONFIG_CACHE_SECONDS is 30 s). The 100,000-case setup outlived the cache, so
            # that run alone re-read both configurations: 106 vs 104 calls, which looked like growth.
            from shared import config_store

            config_store.reset()
            sweep = sla_sweep(lambda: now)
            t0 = time.perf_counter()
            with _no_rollback_copies():
                report = sweep.run()
            seconds = time.perf_counter() - t0
            dynamodb.meta.events.unregister("before-call.dynamodb.*", count)
        finally:
            set_clock(None)
            store.reset()
    warned = report.actions.get("clock_points", 0)
    return {"open_cases": open_cases + due, "due": len(due_ids), "index_items_read": report.index_items_read,
            "cases_read": report.cases_read, "alerts": report.alerts, "cases_warned": warned,
            "dynamodb_calls": sum(calls.values()), "calls_by_operation": dict(sorted(calls.items())),
            "scans": calls.get("Scan", 0), "sweep_seconds": round(seconds, 3), "setup_seconds": round(written, 1)}


def run(sizes: tuple[int, ...] = SIZES, due: int = DUE) -> list[dict[str, Any]]:
    return [measure(n - due, due) for n in sizes]


def main() -> None:
    rows = run()
    print("open cases | due | index items read | cases read | alerts | DynamoDB calls | Scan | sweep s")
    for r in rows:
        print(f"{r['open_cases']:>10,} | {r['due']:>3} | {r['index_items_read']:>16} | {r['cases_read']:>10} | "
              f"{r['alerts']:>6} | {r['dynamodb_calls']:>14} | {r['scans']:>4} | {r['sweep_seconds']:>7}")


if __name__ == "__main__":
    main()
