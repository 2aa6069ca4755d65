"""`complaints loadtest` against a local stack of its own: 500 complaints over HTTP and SMTP, then the
store proves each exists once, classified, routed and acknowledged once (docs/local-stack.md, "Load test").

The stack is started for this module (``local_stack_factory``), so 500 extra cases neither slow nor
confuse the other e2e tests' look-ups, and the verification sees only this run's customers.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
COMPLAINTS = 500


def loadtest(stack, out, *args: str, timeout: float = 1500) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["COMPLAINTS_VAR_DIR"] = str(stack.var_dir)  # the stack's state file: API, SMTP, endpoint, outbox
    return subprocess.run([sys.executable, "-m", "infra.cli", "loadtest", "--out", str(out), "--no-progress", *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def test_500_complaints_over_http_and_smtp_are_each_processed_exactly_once(local_stack_factory, tmp_path):
    stack = local_stack_factory(SCHEDULE_SPEEDUP="60")  # the outbox re-publish runs every second
    out = tmp_path / "loadtest.json"
    run = loadtest(stack, out, "--complaints", str(COMPLAINTS), "--concurrency", "8", "--mix", "web,email",
                   "--drain-timeout", "900")
    assert run.returncode == 0, f"loadtest failed:\n{run.stdout}\n{run.stderr[-3000:]}"
    report = json.loads(out.read_text(encoding="utf-8"))
    v = report["verification"]
    assert report["passed"] and v["passed"]
    assert report["by_kind"] == {"web": 250, "email": 250}
    assert (v["submitted"], v["accepted"], v["found"], v["done"], v["acknowledged"]) == (500,) * 5
    assert (v["missing"], v["duplicates"], v["unfinished"], v["failed_submissions"]) == (0, 0, 0, 0)
    assert v["routed_to_department"] + v["in_triage"] >= 500
    assert v["outbox_checked"], "the acknowledgement emails were not counted in the stack's outbox"
    assert len(list((stack.var_dir / "outbox").glob("*-ack.eml"))) == 500
    assert not any(report["queues"]["dead_letters"].values())
    assert report["latency_seconds"]["submitted_to_done"]["count"] == 500
    assert "PASSED" in run.stdout and "p99" in run.stdout


def test_a_target_that_is_not_this_machine_is_refused(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["COMPLAINTS_VAR_DIR"] = str(tmp_path)
    run = subprocess.run([sys.executable, "-m", "infra.cli", "loadtest", "--complaints", "1",
                          "--api", "http://10.20.30.40:8000", "--endpoint", "http://127.0.0.1:4566"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    assert "loopback only" in run.stderr
    assert not (tmp_path / "bench").exists()
