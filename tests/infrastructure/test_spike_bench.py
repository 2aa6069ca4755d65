"""The spike bench (``infra/spike_bench.py``) on a small run: its figures are counts from seeded
series, so a run reproduces itself, big spikes are found on their first days and clean series raise
(almost) nothing."""
from __future__ import annotations

import json


def test_a_small_run_finds_big_spikes_at_once_and_few_false_alarms(tmp_path):
    from infra.spike_bench import main, measure

    small = measure(months=3, controls=10, spikes_per_cell=8, rates=(10.0,), sizes=(5.0,))
    assert small == measure(months=3, controls=10, spikes_per_cell=8, rates=(10.0,), sizes=(5.0,))  # seeded
    assert small["control_series"] == 10 and small["spike_series"] == 8
    [cell] = small["cells"]
    assert cell["detected"] == cell["injected"] == 8  # 5x the rate of 10 a day cannot hide
    assert small["delay_days_mean"] <= 0.5 and small["delay_days_median"] == 0
    assert small["false_alarms_per_30_days_per_series"] <= 0.1

    faint = measure(months=3, controls=2, spikes_per_cell=8, rates=(1.0,), sizes=(2.0,))
    assert faint["cells"][0]["detected"] <= 2  # one extra complaint a day stays below min_count

    out = tmp_path / "spikes.json"
    assert main(["--months", "2", "--controls", "2", "--spikes", "2", "--out", str(out)]) == 0
    written = json.loads(out.read_text())
    assert {"poisson", "overdispersed", "operating_points"} <= written.keys()
    assert written["poisson"]["settings"]["window_days"] == 28
