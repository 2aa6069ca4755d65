"""Pipeline throughput in-process, against the ceiling of the store it runs on (issue 10's benchmarks).

In moto (in-process, with the local stack's speed-ups: :func:`infra.moto_stack.faster_moto`), N
complaints go through the whole pipeline: ``POST /complaints`` through Chalice's test client, then the
queues are drained by :class:`infra.event_pump.EventPump` the way Lambda's event source mappings
would (router, assignment, notifier, until nothing moves). Complaints per second end to end is
compared with moto's own raw ``PutItem`` rate measured in the same run, on the same table, with items
the size of the pipeline's case items: that rate is what the store could take if the pipeline did
nothing but write one item per complaint, so the ratio says how much of the ceiling the pipeline's
work (about 25 AWS calls and the domain code per complaint) leaves.

``python -m infra.throughput_bench [--complaints N]`` prints the figures and writes
``var/bench/throughput.json``; ``make bench`` runs it too. Timings depend on the machine: not a test.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import sys
import statistics
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "var" / "bench" / "throughput.json"
COMPLAINTS = 300
STEPS = ("route_complaint", "assign_complaint", "notify_customer")


def run(n: int = COMPLAINTS) -> dict[str, Any]:
    from infra.bench import fake_aws_environment

    with fake_aws_environment(SES_SEND_QUOTA="-1/1000"):  # a production-like sending rate: moto's is 1/s
        return _run(n)


def _run(n: int) -> dict[str, Any]:
    import boto3
    from moto import mock_aws

    from infra.moto_stack import boto3_clients, create_resources, environment, faster_moto, forget_cached_services
    from shared.observability import logger

    faster_moto()
    with mock_aws():
        clients = boto3_clients()
        env = environment(create_resources(clients, "dev", "us-east-1"))
        os.environ.update(env)
        table = env["TABLE_NAME"]
        clients("sesv2").create_email_identity(EmailIdentity=env.get("SENDER_ADDRESS", "example.com").split("@")[-1])
        boto3.setup_default_session(region_name="us-east-1")
        forget_cached_services()
        from functions.app import app

        # metrics (EMF) and logs are printed; a run's thousands of lines would bury the figures
        quiet = io.StringIO()
        handler_of_logs = logger().registered_handler
        handler_of_logs.setStream(quiet)
        real_stdout, sys.stdout = sys.stdout, quiet
        try:
            result = _through_the_pipeline(app, clients, table, n)
        finally:
            sys.stdout = real_stdout
            handler_of_logs.setStream(real_stdout)
            forget_cached_services()
            boto3.DEFAULT_SESSION = None
    return result


def _through_the_pipeline(app: Any, clients: Any, table: str, n: int) -> dict[str, Any]:
    from chalice.app import SQSEventConfig
    from chalice.test import Client

    from infra.bench import submit_complaint
    from infra.event_pump import EventPump
    from infra.pipeline_bench import complaint_body

    pump = EventPump(app, clients("sqs"), wait_seconds=0)
    sources = {s.name: s for s in app.event_sources if isinstance(s, SQSEventConfig)}
    step_seconds = dict.fromkeys(STEPS, 0.0)
    ids: list[str] = []
    started = time.perf_counter()
    with Client(app) as client:
        for i in range(n):
            ids.append(submit_complaint(client, complaint_body(i), i)["complaint_id"])
    intake_seconds = time.perf_counter() - started
    while True:  # a later step may put work on an earlier step's queue
        moved = 0
        for name in STEPS:
            t0 = time.perf_counter()
            while taken := pump.poll_once(sources[name], wait_seconds=0):
                moved += taken
            step_seconds[name] += time.perf_counter() - t0
        if not moved:
            break
    pipeline_seconds = time.perf_counter() - started
    done = _acknowledged(clients("dynamodb"), table, ids)
    if done != n:
        raise RuntimeError(f"only {done} of {n} complaints were acknowledged: the pipeline lost work")

    # the ceiling: moto's raw PutItem rate on the same table, items as large as a case item
    ddb = clients("dynamodb")
    case = ddb.get_item(TableName=table, Key={"PK": {"S": f"CASE#{ids[0]}"}, "SK": {"S": "CASE"}})["Item"]
    item_bytes = len(json.dumps(case, ensure_ascii=False).encode())
    samples = []
    for i in range(n):
        item = {**case, "PK": {"S": f"BENCH#{i}"}, "SK": {"S": "CASE"}}
        t0 = time.perf_counter()
        ddb.put_item(TableName=table, Item=item)
        samples.append(time.perf_counter() - t0)
    put_item_seconds = sum(samples)

    per_second = n / pipeline_seconds
    ceiling = n / put_item_seconds
    return {
        "complaints": n,
        "intake_seconds": round(intake_seconds, 2),
        "step_seconds": {k: round(v, 2) for k, v in step_seconds.items()},
        "pipeline_seconds": round(pipeline_seconds, 2),
        "complaints_per_second": round(per_second, 1),
        "raw_put_item_per_second": round(ceiling, 1),
        "raw_put_item_median_ms": round(statistics.median(samples) * 1000, 3),
        "case_item_bytes": item_bytes,
        "ratio_to_put_item_ceiling": round(per_second / ceiling, 4),
        "note": "in-process moto (faster_moto); single thread; every complaint acknowledged (checked)",
    }


def _acknowledged(ddb: Any, table: str, ids: list[str]) -> int:
    """How many of the complaints carry exactly one ``acknowledged`` timeline entry (the notifier adds it
    once the acknowledgement went out); a second one would be a duplicate notification."""
    count = 0
    for complaint_id in ids:
        items = ddb.query(TableName=table, KeyConditionExpression="PK = :pk AND begins_with(SK, :tl)",
                          ExpressionAttributeValues={":pk": {"S": f"CASE#{complaint_id}"}, ":tl": {"S": "TL#"}})["Items"]
        acks = sum(i.get("kind", {}).get("S") == "acknowledged" for i in items)
        if acks > 1:
            raise RuntimeError(f"complaint {complaint_id} was acknowledged {acks} times")
        count += acks
    return count


def summary_lines(r: dict[str, Any]) -> list[str]:
    return [f"throughput: {r['complaints']} complaints through intake, router, assignment, notifier in-process in "
            f"{r['pipeline_seconds']:.1f} s = {r['complaints_per_second']:.1f}/s; moto's raw PutItem "
            f"({r['case_item_bytes']} B items) {r['raw_put_item_per_second']:.0f}/s; ratio "
            f"{r['ratio_to_put_item_ceiling']:.3f} of that ceiling"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.throughput_bench", description=__doc__.split("\n")[0])
    parser.add_argument("--complaints", type=int, default=COMPLAINTS)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    result = run(args.complaints)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    for line in summary_lines(result):
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
