"""Spike detection on simulated daily series: detection delay and false alarms per 30 days.

Each series is a year (12 months of 30 days, after a 28-day warm-up that fills the first window) of
daily complaint counts about one product or batch: a Poisson background at a base rate (1, 3, 10
or 30 a day) with a weekly pattern (Monday +25 % ... weekend -20 %), from a seeded generator.

* **Control series** carry nothing but the background: every alert on them is a false alarm,
  counted per 30 days per series.
* **Spike series** carry one injected spike of known start, 3 days long, at 2x, 3x or 5x the base
  rate (plus the background), starting on a random day of the year: the **detection delay** is
  the days from its start to the first day of the first alert within it (0: found on its first
  day); a spike with no alert during its days is missed.

The detector is the production one (``shared.root_causes.detect_spikes``) with the production
defaults (``SpikeSettings()``), days tested one by one against the 28 days before each. The
figures are counts, not timings. A variant repeats the control series with over-dispersed counts
(gamma-Poisson, day-to-day CV 0.3, as real complaint flows tend to be) to show how the false alarm
rate moves when the background is noisier than Poisson.

``python -m infra.spike_bench`` prints the summary and writes ``var/bench/spikes.json``; ``make
bench`` runs it too.
"""
from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from shared.root_causes import SpikeSettings, detect_spikes

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "var" / "bench" / "spikes.json"
WEEKLY = (1.25, 1.15, 1.05, 1.0, 0.95, 0.8, 0.8)  # Monday .. Sunday, mean 1
BASE_RATES = (1.0, 3.0, 10.0, 30.0)
SIZES = (2.0, 3.0, 5.0)  # the rate during a spike, as a multiple of the base rate
SPIKE_DAYS = 3
MONTH = 30
START = date(2026, 1, 5)  # a Monday


def poisson(rng: random.Random, lam: float) -> int:
    """A Poisson draw: Knuth's product of uniforms for small means, a normal approximation beyond 60."""
    if lam <= 0:
        return 0
    if lam > 60:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def background(rng: random.Random, rate: float, days: int, dispersion_cv: float = 0.0) -> list[float]:
    """The expected count of each day: the base rate, the weekday's factor and (over-dispersed) a gamma
    factor of mean 1 and the given coefficient of variation."""
    means = []
    for i in range(days):
        mean = rate * WEEKLY[(START + timedelta(days=i)).weekday()]
        if dispersion_cv:
            shape = 1 / dispersion_cv ** 2
            mean *= rng.gammavariate(shape, 1 / shape)
        means.append(mean)
    return means


def first_alerts(counts: list[int], settings: SpikeSettings, days: list[str]) -> list[int]:
    """The positions of the days each alert (spike episode) began on."""
    episodes = detect_spikes({("batch", "bench"): counts}, days, settings)
    index = {d: i for i, d in enumerate(days)}
    return [index[e.first_day] for e in episodes]


def measure(*, months: int = 12, controls: int = 50, spikes_per_cell: int = 30, seed: int = 20261120,
            settings: SpikeSettings | None = None, rates: tuple[float, ...] = BASE_RATES,
            sizes: tuple[float, ...] = SIZES, dispersion_cv: float = 0.0) -> dict[str, Any]:
    settings = settings or SpikeSettings()
    rng = random.Random(seed)
    warmup = settings.window_days
    length = warmup + months * MONTH
    days = [(START + timedelta(days=i)).isoformat() for i in range(length)]
    evaluated_days = length - warmup

    false_alarms: dict[float, int] = {}
    for rate in rates:
        alarms = 0
        for _ in range(controls):
            counts = [poisson(rng, m) for m in background(rng, rate, length, dispersion_cv)]
            alarms += len(first_alerts(counts, settings, days))
        false_alarms[rate] = alarms

    cells = []
    delays_all: list[int] = []
    injected_all = detected_all = outside_all = 0
    for rate in rates:
        for size in sizes:
            delays: list[int] = []
            outside = 0
            for _ in range(spikes_per_cell):
                means = background(rng, rate, length, dispersion_cv)
                start = rng.randrange(warmup, length - SPIKE_DAYS)
                for d in range(start, start + SPIKE_DAYS):
                    means[d] += (size - 1) * rate * WEEKLY[(START + timedelta(days=d)).weekday()]
                counts = [poisson(rng, m) for m in means]
                alerts = first_alerts(counts, settings, days)
                within = [a for a in alerts if start <= a < start + SPIKE_DAYS]
                # an episode that began before the spike and runs into it is a false alarm that happens to
                # touch it: only alerts beginning on the spike's days count as detections
                outside += len(alerts) - len(within)
                if within:
                    delays.append(within[0] - start)
            injected_all += spikes_per_cell
            detected_all += len(delays)
            outside_all += outside
            delays_all += delays
            cells.append({"base_rate": rate, "size": size, "injected": spikes_per_cell, "detected": len(delays),
                          "detection_rate": round(len(delays) / spikes_per_cell, 3),
                          "delay_days_mean": round(statistics.fmean(delays), 3) if delays else None,
                          "delay_days_max": max(delays) if delays else None,
                          "same_day_share": round(sum(1 for d in delays if d == 0) / spikes_per_cell, 3),
                          "alerts_outside_spike": outside})

    per_series_months = evaluated_days / MONTH
    total_controls = controls * len(rates)
    return {
        "settings": settings.model_dump(mode="json"),
        "seed": seed, "months": months, "days_per_month": MONTH, "warmup_days": warmup,
        "weekly_pattern": list(WEEKLY), "spike_days": SPIKE_DAYS, "dispersion_cv": dispersion_cv,
        "control_series": total_controls, "spike_series": injected_all,
        "false_alarms": sum(false_alarms.values()),
        "false_alarms_per_30_days_per_series": round(sum(false_alarms.values())
                                                     / (total_controls * per_series_months), 5),
        "false_alarms_per_30_days_by_base_rate": {
            f"{rate:g}": round(n / (controls * per_series_months), 5) for rate, n in false_alarms.items()},
        "detection_rate": round(detected_all / injected_all, 3) if injected_all else None,
        "delay_days_mean": round(statistics.fmean(delays_all), 3) if delays_all else None,
        "delay_days_median": statistics.median(delays_all) if delays_all else None,
        "alerts_outside_spikes_per_30_days_per_series": round(outside_all / (injected_all * per_series_months), 5)
        if injected_all else None,
        "cells": cells,
    }


OPERATING_POINTS = (3.0, 3.5, 4.0, 5.0)  # robust-z thresholds compared (the default is SpikeSettings')


def operating_points(*, months: int, controls: int, spikes_per_cell: int, seed: int) -> list[dict[str, Any]]:
    """False alarms and detection at other robust-z thresholds (the Poisson p-value kept), on both
    backgrounds: what a change of ``mad_threshold`` would trade."""
    rows = []
    for threshold in OPERATING_POINTS:
        settings = SpikeSettings(mad_threshold=threshold)
        row: dict[str, Any] = {"mad_threshold": threshold}
        for name, cv in (("poisson", 0.0), ("overdispersed", 0.3)):
            r = measure(months=months, controls=controls, spikes_per_cell=spikes_per_cell, seed=seed, settings=settings,
                        dispersion_cv=cv)
            row[name] = {k: r[k] for k in ("false_alarms_per_30_days_per_series", "detection_rate", "delay_days_mean")}
        rows.append(row)
    return rows


def run(*, months: int = 12, controls: int = 50, spikes_per_cell: int = 30, seed: int = 20261120,
        with_operating_points: bool = True) -> dict[str, Any]:
    started = time.perf_counter()
    poisson_background = measure(months=months, controls=controls, spikes_per_cell=spikes_per_cell, seed=seed)
    overdispersed = measure(months=months, controls=controls, spikes_per_cell=spikes_per_cell, seed=seed + 1,
                            dispersion_cv=0.3)
    results = {"poisson": poisson_background, "overdispersed": overdispersed}
    if with_operating_points:
        results["operating_points"] = operating_points(months=months, controls=max(1, controls // 2),
                                                       spikes_per_cell=max(1, spikes_per_cell // 2), seed=seed + 2)
    results["seconds"] = round(time.perf_counter() - started, 1)
    return results


def summary(results: dict[str, Any]) -> list[str]:
    lines = []
    for name, label in (("poisson", "Poisson background"), ("overdispersed", "over-dispersed (CV 0.3)")):
        r = results[name]
        by_rate = ", ".join(f"{k}/day {v:.4f}" for k, v in r["false_alarms_per_30_days_by_base_rate"].items())
        lines.append(f"spikes:     {label}: {r['control_series']} control series x {r['months']} months: "
                     f"{r['false_alarms_per_30_days_per_series']:.4f} false alarms per 30 days per series "
                     f"(by base rate: {by_rate})")
        lines.append(f"            {r['spike_series']} injected 3-day spikes: detected {r['detection_rate']:.1%}, "
                     f"delay mean {r['delay_days_mean']} days, median {r['delay_days_median']}")
        for c in r["cells"]:
            lines.append(f"            base {c['base_rate']:g}/day x{c['size']:g}: "
                         f"detected {c['detected']}/{c['injected']}, "
                         f"delay mean {c['delay_days_mean']} (max {c['delay_days_max']}), "
                         f"same day {c['same_day_share']:.0%}")
    for row in results.get("operating_points", []):
        lines.append(f"            robust z > {row['mad_threshold']:g}: " + "; ".join(
            f"{name} {row[name]['false_alarms_per_30_days_per_series']:.4f} false alarms/30 days, detected "
            f"{row[name]['detection_rate']:.1%}" for name in ("poisson", "overdispersed")))
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.spike_bench", description=__doc__.split("\n")[0])
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--controls", type=int, default=50, help="control series per base rate")
    parser.add_argument("--spikes", type=int, default=30, help="spike series per base rate and size")
    parser.add_argument("--seed", type=int, default=20261120)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    results = run(months=args.months, controls=args.controls, spikes_per_cell=args.spikes, seed=args.seed)
    for line in summary(results):
        print(line)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"written to {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
