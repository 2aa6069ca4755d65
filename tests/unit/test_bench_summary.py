"""The benchmarks' summary (infra/bench_summary.py): headline figures and verdicts read from the files the
benches write (shapes as their producers write them), the source and its time, and a missing or corrupt
file named instead of an exception."""
from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

import pytest

from infra import bench_summary
from infra.package_bench import ALL_ROUTES, API_INTAKE

MTIME = datetime(2026, 12, 4, 12, 0, 0).timestamp()


def _dump(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")
    os.utime(path, (MTIME, MTIME))


def _cold(median_ms: float, ratio: float, met: bool) -> dict:
    return {"imports": ["functions.x"], "median_ms": median_ms, "ratio": ratio, "met": met}


def _verification(n: int, done: int, missing: int = 0) -> dict:
    return {"passed": done == n, "submitted": n, "accepted": n, "found": n - missing, "done": done, "missing": missing,
            "duplicates": 0, "unfinished": n - done - missing, "failed_submissions": 0, "routed_to_department": done,
            "in_triage": 0, "acknowledged": done, "outbox_checked": True, "problems": []}


def _latency(p50: float, p99: float) -> dict:
    return {"count": 10, "p50": p50, "p90": p99, "p99": p99, "max": p99}


def _loadtest_report(n: int, done: int, passed: bool) -> dict:
    return {"run_id": "abc", "options": {"complaints": n, "concurrency": 8, "mix": {"web": 1.0, "email": 1.0}},
            "by_kind": {"web": n // 2, "email": n - n // 2}, "texts": "generated",
            "verification": _verification(n, done),
            "throughput": {"submit_seconds": 50.0, "drain_seconds": 20.0, "drained": True,
                           "submitted_per_second": 200.0, "completed_per_second": 142.86, "complete_seconds": 70.0},
            "latency_seconds": {"submitted_to_received": _latency(0.2, 1.5), "received_to_classified": {"count": 0},
                                "submitted_to_done": _latency(3.25, 12.5)},
            "queues": {"max_depth": {"ROUTER": 40}, "max_wait_seconds": {"router": 2.0},
                       "dead_letters": {"ROUTER": 0, "NOTIFIER": 0}},
            "passed": passed}


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    bench, dot = tmp_path / "var" / "bench", tmp_path / ".bench"
    _dump(bench / "package.json", {
        "size": {"code_zipped_mb": 1.6, "code_unzipped_mb": 3.8, "shared_zip_zipped_mb": 6.32,
                 "shared_zip_unzipped_mb": 17.5, "layers_mb": {"mail": {"zipped": 1.11, "unzipped": 4.45}},
                 "functions": {"TakeInEmail": {"layers": ["mail"], "zipped_mb": 7.78, "unzipped_mb": 23.19, "met": True},
                               "SweepSla": {"layers": [], "zipped_mb": 6.32, "unzipped_mb": 17.5, "met": True}},
                 "target_zipped_mb": 8.0, "target_unzipped_mb": 40.0, "met": True},
        "cold_start": {"runs": 7, "import_boto3_median_ms": 168.1, "target_ratio": 1.3, "met": True,
                       "functions": {ALL_ROUTES: _cold(234.7, 1.396, False), "sweep_sla": _cold(178.7, 1.063, True),
                                     API_INTAKE: _cold(181.2, 1.078, True)}}})
    step = {"aws_calls_by_operation": {}, "invocations": 100}
    _dump(bench / "pipeline.json", {
        "complaints": 100, "cost_per_1000_before_email_usd": 0.09553, "target_usd": 0.03, "met": False,
        "emails_per_complaint": 1.0, "ses_cost_per_1000_usd": 0.1,
        "steps": [{**step, "step": "intake (POST /complaints)", "function": "api_handler",
                   "aws_calls_per_complaint": 3.02, "cost_per_1000_total_usd": 0.03318},
                  {**step, "step": "route_complaint", "function": "route_complaint",
                   "aws_calls_per_complaint": 9.36, "cost_per_1000_total_usd": 0.03718}]})
    _dump(bench / "throughput.json", {"complaints": 300, "intake_seconds": 10.0, "pipeline_seconds": 30.0,
                                      "complaints_per_second": 10.0, "raw_put_item_per_second": 2000.0,
                                      "raw_put_item_median_ms": 0.4, "case_item_bytes": 2500,
                                      "ratio_to_put_item_ceiling": 0.005, "note": "..."})
    size = {"cases_in_store": 1, "counter_items_in_store": 1, "dimension_values": 173, "attributes_read": 1,
            "kib_read": 1, "calls_by_operation": {"GetItem": 4, "Query": 2}, "dynamodb_calls_per_report": 6, "scans": 0}
    _dump(bench / "report.json", {
        "sizes": [{**size, "complaints_per_month": 10_000, "items_read": 350, "report_seconds": 0.0385},
                  {**size, "complaints_per_month": 200_000, "items_read": 350, "report_seconds": 0.0495}],
        "items_read_ratio": 1.0, "attributes_read_ratio": 1.18, "time_ratio": 1.286, "complaints_ratio": 20.0})
    _dump(bench / "loadtest.json", _loadtest_report(10_000, 10_000, True))
    faults = _loadtest_report(2_000, 1_999, False)
    faults["faults"] = {"plan": "all=0.2 seed=7", "attempts": {"dynamodb": 900}, "injected": {"dynamodb": {"5xx": 180}},
                        "injected_total": 180, "retries": {"dynamodb": 170}, "retries_total": 170,
                        "surfaced": {"dynamodb": {"5xx": 10}}, "surfaced_total": 10}
    _dump(bench / "faults.json", faults)
    tally = {"inputs": 1000, "outcomes": {"case": 1, "thread": 1, "ignore": 1, "quarantine": 997}, "exceptions": 0,
             "seconds": 10.0, "inputs_per_s": 100.0, "mean_input_bytes": 3000, "slowest_input_ms": 5.0, "reasons": {}}
    _dump(bench / "fuzz.json", {"complete": True, "command": "...", "inputs": 1050, "outcomes": tally["outcomes"],
                                "exceptions": 0, "parse_and_decide": tally,
                                "email_intake_moto": {**tally, "inputs": 50, "inputs_per_s": 7.7},
                                "seeds": 2, "failures_saved": []})
    ours = {"accuracy": 0.91, "macro_f1": 0.85, "classify_cpu_ms_median": 0.2, "classify_cpu_ms_p99": 0.9}
    _dump(dot / "classifier.json", {
        "cross_validation": {
            "cfpb_products_en": {"ours": ours, "baselines": {}, "matches_or_beats_baseline": True,
                                 "best_baseline": {"accuracy": 0.9, "accuracy_by": "w", "macro_f1": 0.84,
                                                   "macro_f1_by": "w"}},
            "gov_messages_zh": {"skipped": "gov_messages_zh/dev.csv not found"}},
        "default_model": {"load_ms_median": 40.0, "load_met": True, "classify_met": True,
                          "classify": {"all": {"texts": 100, "cpu_ms_median": 0.25, "cpu_ms_p99": 1.4}}}})
    _dump(dot / "results.json", {
        "cold_start": {"import_app_median_seconds": 0.2, "import_boto3_median_seconds": 0.16, "ratio": 1.25,
                       "target_ratio": 1.3, "met": True},
        "aws_calls": {"complaints": 50, "first_complaint_total": 7, "warm_calls_per_complaint": 3.0,
                      "warm_max_calls_in_one_complaint": 3, "target_per_complaint": 3.0, "met": True}})
    return {"bench": bench, "results": dot / "results.json", "classifier": dot / "classifier.json"}


def _summary(files: dict[str, Path], **kw: object) -> dict:
    return bench_summary.summarise(files["bench"], results=files["results"], classifier=files["classifier"], **kw)


def test_every_section_has_its_headline_figures_and_verdict(files):
    s = _summary(files)
    assert list(s) == ["cold_start", "cold_start_app", "pipeline", "aws_calls_intake", "package_size", "throughput",
                       "classifier", "report", "loadtest", "faults", "fuzz"]
    cold = s["cold_start"]
    assert (cold["max_ratio"], cold["max_ratio_function"], cold["met"]) == (1.078, API_INTAKE, True)  # not ALL_ROUTES
    assert cold["ratio_by_function"]["sweep_sla"] == 1.063 and cold["target_ratio"] == 1.3
    assert cold["file"] == str(files["bench"] / "package.json")
    assert datetime.fromisoformat(cold["modified"]).timestamp() == MTIME
    assert (s["cold_start_app"]["ratio"], s["cold_start_app"]["import_app_median_ms"]) == (1.25, 200.0)
    p = s["pipeline"]
    assert p["aws_calls_per_complaint"] == {"api_handler": 3.02, "route_complaint": 9.36}
    assert p["aws_calls_per_complaint_total"] == 12.38
    assert (p["cost_per_1000_before_email_usd"], p["target_usd"], p["met"]) == (0.09553, 0.03, False)
    assert s["aws_calls_intake"]["warm_calls_per_complaint"] == 3.0 and s["aws_calls_intake"]["met"] is True
    size = s["package_size"]
    assert (size["max_zipped_mb"], size["max_unzipped_mb"], size["largest_function"], size["met"]) == \
        (7.78, 23.19, "TakeInEmail", True)
    assert s["throughput"]["ratio_to_put_item_ceiling"] == 0.005 and "met" not in s["throughput"]
    c = s["classifier"]
    assert c["cross_validation"]["cfpb_products_en"] == {"accuracy": 0.91, "macro_f1": 0.85, "baseline_accuracy": 0.9,
                                                         "baseline_macro_f1": 0.84, "matches_or_beats_baseline": True}
    assert c["cross_validation"]["gov_messages_zh"] == {"skipped": "gov_messages_zh/dev.csv not found"}
    assert (c["classify_cpu_ms_median"], c["classify_cpu_ms_p99"], c["classify_target_ms"], c["met"]) == \
        (0.25, 1.4, 1.0, True)
    r = s["report"]
    assert (r["complaints"], r["items_read"], r["report_seconds"], r["time_ratio"]) == \
        ([10_000, 200_000], [350, 350], [0.0385, 0.0495], 1.286)
    lt = s["loadtest"]
    assert (lt["done"], lt["complaints"], lt["completed_per_second"], lt["met"]) == (10_000, 10_000, 142.86, True)
    assert (lt["missing_complaints"], lt["dead_letters"]) == (0, 0)
    assert (lt["end_to_end_p50_seconds"], lt["end_to_end_p99_seconds"]) == (3.25, 12.5)
    assert lt["p50_p99_seconds_by_step"] == {"submitted_to_received": [0.2, 1.5], "submitted_to_done": [3.25, 12.5]}
    f = s["faults"]
    assert (f["done"], f["unfinished"], f["injected_total"], f["surfaced_total"], f["met"]) == (1_999, 1, 180, 10, False)
    assert (s["fuzz"]["inputs"], s["fuzz"]["exceptions"], s["fuzz"]["intake_inputs"], s["fuzz"]["met"]) == \
        (1050, 0, 50, True)


def test_the_lines_give_the_verdicts_and_write_round_trips(files, tmp_path):
    s = _summary(files)
    lines = bench_summary.summary_lines(s)
    by_section = {line.split()[0]: line for line in lines if not line.startswith(" ")}
    assert by_section["pipeline"].split("  [")[0].endswith("MISSED")
    assert by_section["cold_start"].split("  [")[0].endswith("OK")
    assert "p50 3.25 s, p99 12.5 s" in by_section["loadtest"]
    assert any("injected 180" in line for line in lines)
    out = bench_summary.write(s, tmp_path / "out" / "summary.json")
    assert json.loads(out.read_text(encoding="utf-8")) == s


def test_a_missing_file_is_named_with_the_command_that_writes_it(files):
    (files["bench"] / "throughput.json").unlink()
    files["results"].unlink()
    s = _summary(files)
    assert s["throughput"] == {"missing": f"{files['bench'] / 'throughput.json'} (run: python -m infra.throughput_bench)"}
    assert s["cold_start_app"] == s["aws_calls_intake"] == {"missing": f"{files['results']} (run: python -m infra.bench)"}
    assert s["pipeline"]["met"] is False  # the others are still there
    assert any(line.startswith("throughput") and "missing" in line for line in bench_summary.summary_lines(s))


def test_a_corrupt_or_misshapen_file_is_reported_unreadable(files):
    (files["bench"] / "report.json").write_text('{"sizes": [', encoding="utf-8")
    _dump(files["bench"] / "fuzz.json", {"complete": True, "inputs": 3})  # no parse_and_decide
    s = _summary(files)
    assert s["report"]["unreadable"].startswith(f"{files['bench'] / 'report.json'}: JSONDecodeError")
    assert "unexpected shape" in s["fuzz"]["unreadable"] and "parse_and_decide" in s["fuzz"]["unreadable"]
    assert s["fuzz"]["file"] == str(files["bench"] / "fuzz.json")
    assert "met" not in s["report"]
    assert any(line.startswith("report") and "UNREADABLE" in line for line in bench_summary.summary_lines(s))


def test_the_run_in_hand_replaces_the_results_file(files):
    files["results"].unlink()
    run = {"cold_start": {"import_app_median_seconds": 0.3, "import_boto3_median_seconds": 0.15, "ratio": 2.0,
                          "target_ratio": 1.3, "met": False},
           "aws_calls": {"complaints": 5, "first_complaint_total": 9, "warm_calls_per_complaint": 4.0,
                         "warm_max_calls_in_one_complaint": 5, "target_per_complaint": 3.0, "met": False}}
    s = _summary(files, extra=run)
    assert (s["cold_start_app"]["ratio"], s["cold_start_app"]["met"]) == (2.0, False)
    assert (s["aws_calls_intake"]["warm_calls_per_complaint"], s["aws_calls_intake"]["met"]) == (4.0, False)


def test_main_rewrites_the_summary_from_the_files_present(files, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(bench_summary, "RESULTS", files["results"])
    monkeypatch.setattr(bench_summary, "CLASSIFIER", tmp_path / "nowhere.json")
    out = tmp_path / "summary.json"
    assert bench_summary.main(["--bench-dir", str(files["bench"]), "--out", str(out)]) == 0
    written = json.loads(out.read_text(encoding="utf-8"))
    assert written["classifier"] == {"missing": f"{tmp_path / 'nowhere.json'} (run: python -m infra.model_bench)"}
    assert written["loadtest"]["met"] is True
    assert f"summary written to {out}" in capsys.readouterr().out
