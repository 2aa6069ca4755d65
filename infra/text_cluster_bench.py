"""Clusters of similar texts (``shared.text_clusters``): false alarms and detection on real complaints.

For each data set of ``../shared/datasets`` that is there, ``WINDOWS`` simulated weeks: ``CASES`` real
complaint texts (each from its own customer) spread evenly over the baseline and the window (120 h +
48 h, the defaults of ``SpikeSettings``), run through :func:`shared.text_clusters.find_clusters` with
the default settings. Real complaints hold steady topics, so every cluster found there is a false alarm;
per 30 days = alarms per window x 15 (30 days of 48-hour windows; the hourly job re-examines overlapping
windows, but announces a cluster once). Then the same weeks with a planted new problem: 5 to 6
customers writing about it in their own words within the window (:data:`PLANTED_ZH` / :data:`PLANTED_EN`,
paraphrases written for this bench): detected when one cluster holds them.

``python -m infra.text_cluster_bench`` prints the summary and writes ``var/bench/text_clusters.json``;
``make bench`` includes it.
"""
from __future__ import annotations

import csv
import json
import random
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "var" / "bench" / "text_clusters.json"
DATASETS = ROOT.parent / "shared" / "datasets"
SETS = (("food_delivery_reviews_zh", "reviews.csv", "zh"), ("shopping_negative_zh", "dev.csv", "zh"),
        ("gov_messages_zh", "dev.csv", "zh"), ("cfpb_products_en", "dev.csv", "en"),
        ("support_tickets_en", "dev.csv", "en"))
WINDOWS, CASES = 10, 2000
NOW = datetime(2026, 11, 20, 12, tzinfo=timezone.utc)

PLANTED_ZH = [
    "三鲜水饺煮好以后有一股酸臭味，馅料发黑，孩子吃了两个就吐了，请给个说法",
    "买的三鲜水饺有酸臭味，馅料颜色发黑，家里孩子吃了以后呕吐，希望尽快处理",
    "三鲜水饺一煮就闻到酸臭味，打开馅料是黑的，孩子吃了吐了，要求退款",
    "今天煮的三鲜水饺馅料发黑还有酸臭味，孩子吃完就吐了，太让人担心了",
    "三鲜水饺味道不对，一股酸臭味，馅料发黑，孩子吃了以后一直吐",
    "你们的三鲜水饺有酸臭味而且馅料发黑，我家孩子吃了就呕吐，请处理",
]
PLANTED_EN = [
    "The frozen pizza arrived completely thawed and soggy, the cold chain box was warm when delivered today",
    "My frozen pizza order was delivered thawed and soggy, the cold chain box felt warm on arrival",
    "Delivered today: frozen pizza thawed and soggy inside a warm cold chain box, not safe to refreeze",
    "The cold chain box was warm and the frozen pizza inside had thawed and gone soggy when delivered",
    "Frozen pizza delivered thawed and soggy, the cold chain box was warm, please refund this order",
]


def _texts(name: str, file: str) -> list[str] | None:
    path = DATASETS / name / file
    if not path.exists():
        return None
    with path.open(encoding="utf-8") as f:
        return [row["text"] for row in csv.DictReader(f)]


def week(texts: list[str], seed: int, planted: list[str] = (), window_hours: int = 48,
         baseline_hours: int = 120, count: int = CASES) -> tuple[list[Any], list[Any], float]:
    """One simulated week: (cases, clusters found, seconds)."""
    from shared.text_clusters import TextCase, find_clusters

    rng = random.Random(seed)
    picked = rng.sample(texts, min(count, len(texts)))
    cases = []
    for i, text in enumerate(picked):
        at = NOW - timedelta(hours=rng.uniform(0, window_hours + baseline_hours))
        cases.append(TextCase(f"C{i:05d}", at.strftime("%Y-%m-%dT%H:%M:%SZ"), text, frozenset({f"u{i}"})))
    for k, text in enumerate(planted):
        at = NOW - timedelta(hours=rng.uniform(0, window_hours))
        cases.append(TextCase(f"P{k:03d}", at.strftime("%Y-%m-%dT%H:%M:%SZ"), text, frozenset({f"p{k}"})))
    started = time.perf_counter()
    found = find_clusters(cases, recent_from=(NOW - timedelta(hours=window_hours)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                          baseline_hours=baseline_hours, window_hours=window_hours)
    return cases, found, time.perf_counter() - started


def run(windows: int = WINDOWS) -> dict[str, Any]:
    rows = []
    for name, file, language in SETS:
        texts = _texts(name, file)
        if texts is None:
            rows.append({"dataset": name, "skipped": f"{DATASETS / name / file} is not there"})
            continue
        alarms, seconds, detected, planted_sizes = 0, [], 0, []
        planted = PLANTED_ZH if language == "zh" else PLANTED_EN
        for seed in range(windows):
            _, found, took = week(texts, seed)
            alarms += len(found)
            seconds.append(took)
            _, found, _ = week(texts, 1000 + seed, planted[: 5 + seed % 2])
            hit = [c for c in found if sum(1 for m in c.members if m.complaint_id.startswith("P")) >= 5]
            detected += bool(hit)
            planted_sizes.append(5 + seed % 2)
        rows.append({"dataset": name, "cases_per_week": min(CASES, len(texts)), "weeks": windows,
                     "false_alarms": alarms, "false_alarms_per_30_days": round(alarms / windows * 15, 2),
                     "planted_detected": detected, "planted": windows,
                     "seconds_per_run_mean": round(sum(seconds) / len(seconds), 2),
                     "seconds_per_run_max": round(max(seconds), 2)})
    measured = [r for r in rows if "skipped" not in r]
    total = {"false_alarms": sum(r["false_alarms"] for r in measured),
             "weeks": sum(r["weeks"] for r in measured),
             "planted_detected": sum(r["planted_detected"] for r in measured),
             "planted": sum(r["planted"] for r in measured)}
    return {"datasets": rows, "total": total}


def summary(result: dict[str, Any]) -> list[str]:
    lines = []
    for r in result["datasets"]:
        if "skipped" in r:
            lines.append(f"text clusters: {r['dataset']}: skipped ({r['skipped']})")
            continue
        lines.append(f"text clusters: {r['dataset']}: {r['false_alarms']} false alarms in {r['weeks']} weeks of "
                     f"{r['cases_per_week']:,} real complaints ({r['false_alarms_per_30_days']} per 30 days), "
                     f"planted new problem found {r['planted_detected']}/{r['planted']}, "
                     f"{r['seconds_per_run_mean']} s per run (max {r['seconds_per_run_max']} s)")
    t = result["total"]
    lines.append(f"text clusters: all: {t['false_alarms']} false alarms in {t['weeks']} weeks, planted found "
                 f"{t['planted_detected']}/{t['planted']}")
    return lines


def main() -> None:
    result = run()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print("\n".join(summary(result)))


if __name__ == "__main__":
    main()
