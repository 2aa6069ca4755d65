"""One summary of the benchmarks: ``var/bench/summary.json`` and a short table.

Every section of ``make bench`` writes its own JSON (``var/bench/*.json``, ``.bench/classifier.json``,
``.bench/results.json``). :func:`summarise` reads whichever are there and keeps, for each benchmark the
issue lists, the headline figures, the target where there is one and whether it was ``met``, with the
file they came from and its modification time (``modified``), so stale figures show. A missing file
gives ``{"missing": "<path> (run: <command>)"}``, one that cannot be read ``{"unreadable": ...}``.

``python -m infra.bench_summary`` rewrites the summary from the files present; ``make bench`` does it
at its end.
"""
from __future__ import annotations

import argparse
import json
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = ROOT / "var" / "bench"
OUT = BENCH_DIR / "summary.json"
RESULTS = ROOT / ".bench" / "results.json"
CLASSIFIER = ROOT / ".bench" / "classifier.json"
END_TO_END = "submitted_to_done"  # infra/loadtest.py STEPS: submission to the case's last step
LOADTEST_TARGET = "every complaint done exactly once, no dead letter"


# -- figures per benchmark (the producers' keys) ------------------------------------------------------
def _cold_start(d: dict[str, Any]) -> dict[str, Any]:
    from infra.package_bench import ALL_ROUTES  # information only: its met does not count it

    c = d["cold_start"]
    ratios = {fn: f["ratio"] for fn, f in c["functions"].items()}
    counted = {fn: r for fn, r in ratios.items() if fn != ALL_ROUTES}
    worst = max(counted, key=lambda fn: counted[fn])
    return {"import_boto3_median_ms": c["import_boto3_median_ms"], "ratio_by_function": ratios,
            "max_ratio": counted[worst], "max_ratio_function": worst, "target_ratio": c["target_ratio"],
            "met": c["met"]}


def _cold_start_app(d: dict[str, Any]) -> dict[str, Any]:
    c = d["cold_start"]
    return {"import_app_median_ms": round(c["import_app_median_seconds"] * 1000, 1),
            "import_boto3_median_ms": round(c["import_boto3_median_seconds"] * 1000, 1),
            "ratio": c["ratio"], "target_ratio": c["target_ratio"], "met": c["met"]}


def _pipeline(d: dict[str, Any]) -> dict[str, Any]:
    calls: dict[str, float] = {}
    cost: dict[str, float] = {}
    for s in d["steps"]:
        calls[s["function"]] = round(calls.get(s["function"], 0) + s["aws_calls_per_complaint"], 3)
        cost[s["function"]] = round(cost.get(s["function"], 0) + s["cost_per_1000_total_usd"], 5)
    return {"complaints": d["complaints"], "aws_calls_per_complaint": calls,
            "aws_calls_per_complaint_total": round(sum(calls.values()), 3), "cost_per_1000_usd_by_function": cost,
            "cost_per_1000_before_email_usd": d["cost_per_1000_before_email_usd"],
            "ses_cost_per_1000_usd": d["ses_cost_per_1000_usd"], "target_usd": d["target_usd"], "met": d["met"]}


def _aws_calls_intake(d: dict[str, Any]) -> dict[str, Any]:
    a = d["aws_calls"]
    return {"complaints": a["complaints"], "first_complaint_total": a["first_complaint_total"],
            "warm_calls_per_complaint": a["warm_calls_per_complaint"],
            "warm_max_calls_in_one_complaint": a["warm_max_calls_in_one_complaint"],
            "target_per_complaint": a["target_per_complaint"], "met": a["met"]}


def _package_size(d: dict[str, Any]) -> dict[str, Any]:
    s = d["size"]
    fns = s["functions"]
    return {"shared_zip_zipped_mb": s["shared_zip_zipped_mb"], "shared_zip_unzipped_mb": s["shared_zip_unzipped_mb"],
            "code_zipped_mb": s["code_zipped_mb"], "layers_mb": s["layers_mb"],
            "max_zipped_mb": max(f["zipped_mb"] for f in fns.values()),
            "max_unzipped_mb": max(f["unzipped_mb"] for f in fns.values()),
            "largest_function": max(fns, key=lambda fn: fns[fn]["zipped_mb"]),
            "functions_missed": sorted(fn for fn, f in fns.items() if not f["met"]),
            "target_zipped_mb": s["target_zipped_mb"], "target_unzipped_mb": s["target_unzipped_mb"], "met": s["met"]}


def _throughput(d: dict[str, Any]) -> dict[str, Any]:
    return {k: d[k] for k in ("complaints", "pipeline_seconds", "complaints_per_second", "raw_put_item_per_second",
                              "ratio_to_put_item_ceiling")}


def _classifier(d: dict[str, Any]) -> dict[str, Any]:
    from infra.model_bench import CLASSIFY_TARGET_MS, LOAD_TARGET_MS

    cv: dict[str, Any] = {}
    for name, r in d["cross_validation"].items():
        if "skipped" in r:
            cv[name] = {"skipped": r["skipped"]}
            continue
        o, b = r["ours"], r.get("best_baseline", {})
        cv[name] = {"accuracy": o["accuracy"], "macro_f1": o["macro_f1"], "baseline_accuracy": b.get("accuracy"),
                    "baseline_macro_f1": b.get("macro_f1"), "matches_or_beats_baseline": r.get("matches_or_beats_baseline")}
    m = d["default_model"]
    every = m["classify"].get("all", {})
    return {"cross_validation": cv, "classify_cpu_ms_median": every.get("cpu_ms_median"),
            "classify_cpu_ms_p99": every.get("cpu_ms_p99"), "classify_target_ms": CLASSIFY_TARGET_MS,
            "load_ms_median": m["load_ms_median"], "load_target_ms": LOAD_TARGET_MS,
            "met": all(c.get("matches_or_beats_baseline", True) is not False for c in cv.values())
            and m["load_met"] and m["classify_met"]}


def _report(d: dict[str, Any]) -> dict[str, Any]:
    rows = d["sizes"]
    return {"complaints": [r["complaints_per_month"] for r in rows], "items_read": [r["items_read"] for r in rows],
            "report_seconds": [r["report_seconds"] for r in rows],
            "dynamodb_calls": [r["dynamodb_calls_per_report"] for r in rows], "scans": [r["scans"] for r in rows],
            "complaints_ratio": d["complaints_ratio"], "items_read_ratio": d["items_read_ratio"],
            "time_ratio": d["time_ratio"]}


def _loadtest(d: dict[str, Any]) -> dict[str, Any]:
    v, t, lat = d["verification"], d["throughput"], d["latency_seconds"]
    return {"complaints": v["submitted"], "done": v["done"], "missing_complaints": v["missing"],  # "missing": no file
            **{k: v[k] for k in ("duplicates", "unfinished", "failed_submissions")},
            "dead_letters": sum(d["queues"]["dead_letters"].values()),
            "submitted_per_second": t["submitted_per_second"], "completed_per_second": t["completed_per_second"],
            "end_to_end_p50_seconds": lat.get(END_TO_END, {}).get("p50"),
            "end_to_end_p99_seconds": lat.get(END_TO_END, {}).get("p99"),
            "p50_p99_seconds_by_step": {s: [p["p50"], p["p99"]] for s, p in lat.items() if p.get("count")},
            "target": LOADTEST_TARGET, "met": d["passed"]}


def _faults(d: dict[str, Any]) -> dict[str, Any]:
    f = d.get("faults") or {}
    return {**_loadtest(d), "plan": f.get("plan"), "injected_total": f.get("injected_total", 0),
            "retries_total": f.get("retries_total", 0), "surfaced_total": f.get("surfaced_total", 0),
            "target": LOADTEST_TARGET + ", with faults injected"}


def _fuzz(d: dict[str, Any]) -> dict[str, Any]:
    p, intake = d["parse_and_decide"], d.get("email_intake_moto", {})
    complete, exceptions = bool(d.get("complete")), d.get("exceptions", p["exceptions"])
    return {"complete": complete, "inputs": d.get("inputs", p["inputs"]), "outcomes": d.get("outcomes", p["outcomes"]),
            "exceptions": exceptions, "parse_inputs_per_s": p["inputs_per_s"], "intake_inputs": intake.get("inputs"),
            "intake_inputs_per_s": intake.get("inputs_per_s"), "target_exceptions": 0,
            "met": complete and exceptions == 0}


Build = Callable[[dict[str, Any]], dict[str, Any]]


def _sections(bench_dir: Path, results: Path, classifier: Path) -> list[tuple[str, Path, str, Build]]:
    """(section, file, the command that writes it, its figures)."""
    b = bench_dir
    return [
        ("cold_start", b / "package.json", "python -m infra.package_bench", _cold_start),
        ("cold_start_app", results, "python -m infra.bench", _cold_start_app),
        ("pipeline", b / "pipeline.json", "python -m infra.pipeline_bench", _pipeline),
        ("aws_calls_intake", results, "python -m infra.bench", _aws_calls_intake),
        ("package_size", b / "package.json", "python -m infra.package_bench", _package_size),
        ("throughput", b / "throughput.json", "python -m infra.throughput_bench", _throughput),
        ("classifier", classifier, "python -m infra.model_bench", _classifier),
        ("report", b / "report.json", "python -m infra.report_bench", _report),
        ("loadtest", b / "loadtest.json", "python -m infra.bench", _loadtest),
        ("faults", b / "faults.json", "python -m infra.bench --faults", _faults),
        ("fuzz", b / "fuzz.json", "python -m infra.fuzz_bench --inputs 100000", _fuzz),
    ]


# -- the summary --------------------------------------------------------------------------------------
def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _modified(path: Path) -> str | None:
    try:
        return datetime.fromtimestamp(path.stat().st_mtime).astimezone().isoformat(timespec="seconds")
    except OSError:
        return None


def summarise(bench_dir: Path = BENCH_DIR, extra: dict[str, Any] | None = None, *,
              results: Path | None = None, classifier: Path | None = None) -> dict[str, Any]:
    """Section -> headline figures, target, ``met``, ``file`` and ``modified``; never raises for a missing,
    corrupt or oddly shaped file. ``extra``: the whole run's dict when the caller holds it (``infra.bench``),
    used instead of reading ``results`` (default ``.bench/results.json``)."""
    results, classifier = results or RESULTS, classifier or CLASSIFIER
    loaded: dict[Path, Any] = {results: extra} if extra is not None else {}
    summary: dict[str, Any] = {}
    for name, path, command, build in _sections(Path(bench_dir), results, classifier):
        source = {"file": _shown(path), "modified": _modified(path)}
        if path not in loaded:
            if not path.is_file():
                summary[name] = {"missing": f"{_shown(path)} (run: {command})"}
                continue
            try:
                loaded[path] = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, ValueError) as exc:
                loaded[path] = exc
        data = loaded[path]
        if isinstance(data, Exception):
            summary[name] = {"unreadable": f"{_shown(path)}: {type(data).__name__}: {data}", **source}
            continue
        try:
            summary[name] = {**build(data), **source}
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            summary[name] = {"unreadable": f"{_shown(path)}: unexpected shape ({type(exc).__name__}: {exc})",
                             **source}
    return summary


def _lines(name: str, e: dict[str, Any]) -> list[str]:
    if name == "cold_start":
        return [f"x{e['max_ratio']:.2f} of import boto3 ({e['import_boto3_median_ms']} ms) at most, "
                f"{e['max_ratio_function']}; target <= {e['target_ratio']}"]
    if name == "cold_start_app":
        return [f"import app x{e['ratio']:.2f} of import boto3 ({e['import_app_median_ms']} / "
                f"{e['import_boto3_median_ms']} ms); target <= {e['target_ratio']}"]
    if name == "pipeline":
        calls = ", ".join(f"{fn} {n:g}" for fn, n in e["aws_calls_per_complaint"].items())
        return [f"${e['cost_per_1000_before_email_usd']:.4f} per 1,000 complaints before email "
                f"(+ SES ${e['ses_cost_per_1000_usd']:.3f}); target <= ${e['target_usd']}",
                f"AWS calls per complaint: {calls} = {e['aws_calls_per_complaint_total']:g}"]
    if name == "aws_calls_intake":
        return [f"{e['warm_calls_per_complaint']:g} AWS calls per complaint warm (first {e['first_complaint_total']}); "
                f"target <= {e['target_per_complaint']:g}"]
    if name == "package_size":
        return [f"largest {e['max_zipped_mb']} MB zipped ({e['largest_function']}), {e['max_unzipped_mb']} MB unzipped; "
                f"targets <= {e['target_zipped_mb']:g} / {e['target_unzipped_mb']:g} MB"]
    if name == "throughput":
        return [f"{e['complaints_per_second']}/s in-process vs moto raw PutItem {e['raw_put_item_per_second']}/s: "
                f"ratio {e['ratio_to_put_item_ceiling']}"]
    if name == "classifier":
        head = (f"classify CPU {e['classify_cpu_ms_median']} ms median, p99 {e['classify_cpu_ms_p99']} ms "
                f"(target < {e['classify_target_ms']:g}); load {e['load_ms_median']} ms "
                f"(target < {e['load_target_ms']:g})")
        return [head] + [f"{n}: " + (f"skipped ({c['skipped']})" if "skipped" in c else
                                     f"accuracy {c['accuracy']} vs {c['baseline_accuracy']}, macro-F1 {c['macro_f1']} "
                                     f"vs {c['baseline_macro_f1']} (best baseline)")
                         for n, c in e["cross_validation"].items()]
    if name == "report":
        sizes = " vs ".join(f"{c:,}" for c in e["complaints"])
        return [f"{sizes} complaints: items read {' vs '.join(map(str, e['items_read']))} (x{e['items_read_ratio']}), "
                f"time {' vs '.join(f'{t * 1000:.1f}' for t in e['report_seconds'])} ms (x{e['time_ratio']})"]
    if name in ("loadtest", "faults"):
        lines = [f"{e['done']}/{e['complaints']} done exactly once ({e['missing_complaints']} missing, "
                 f"{e['duplicates']} duplicate, {e['unfinished']} unfinished, DLQ {e['dead_letters']}); "
                 f"completed {e['completed_per_second']}/s, "
                 f"end to end p50 {e['end_to_end_p50_seconds']} s, p99 {e['end_to_end_p99_seconds']} s"]
        if name == "faults":
            lines.append(f"{e['plan']}: injected {e['injected_total']}, retried {e['retries_total']}, "
                         f"reached the app {e['surfaced_total']}")
        return lines
    if name == "fuzz":
        return [f"{e['inputs']:,} inputs{'' if e['complete'] else ' (partial run)'}, {e['exceptions']} exceptions "
                f"(target 0); parse+decide {e['parse_inputs_per_s']}/s, intake (moto) {e['intake_inputs_per_s']}/s"]
    return [json.dumps({k: v for k, v in e.items() if k not in ("file", "modified")})]


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """A compact table: a line or two per section, OK / MISSED where there is a target, and the source."""
    out = []
    for name, e in summary.items():
        if "missing" in e or "unreadable" in e:
            out.append(f"{name:<17} {'missing' if 'missing' in e else 'UNREADABLE'}: {e.get('missing') or e['unreadable']}")
            continue
        try:
            lines = _lines(name, e)
        except (KeyError, TypeError, ValueError):
            lines = [json.dumps({k: v for k, v in e.items() if k not in ("file", "modified")}, default=str)]
        verdict = "" if "met" not in e else " OK" if e["met"] else " MISSED"
        out.append(f"{name:<17} {lines[0]}{verdict}  [{e['file']}, {e['modified']}]")
        out += [f"{'':<17} {line}" for line in lines[1:]]
    return out


def write(summary: dict[str, Any], out: Path = OUT) -> Path:
    """The summary as JSON at ``out``; returns ``out``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.bench_summary", description=__doc__.split("\n")[0])
    parser.add_argument("--bench-dir", type=Path, default=BENCH_DIR)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    summary = summarise(args.bench_dir)
    for line in summary_lines(summary):
        print(line)
    print(f"summary written to {_shown(write(summary, args.out))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
