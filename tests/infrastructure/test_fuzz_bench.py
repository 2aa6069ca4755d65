"""``python -m infra.fuzz_bench``: the long fuzzing run writes its figures (here a tiny budget)."""
from __future__ import annotations

import json

from infra import fuzz_bench


def test_the_fuzz_bench_writes_inputs_outcomes_exceptions_and_rate(tmp_path):
    out = tmp_path / "fuzz.json"
    assert fuzz_bench.main(["--inputs", "40", "--intake-inputs", "0", "--out", str(out)]) == 0
    written = json.loads(out.read_text())
    assert written["complete"] is True and written["inputs"] == 40 and written["exceptions"] == 0
    assert sum(written["outcomes"].values()) == 40
    assert set(written["outcomes"]) == {"case", "thread", "ignore", "quarantine"}
    assert written["parse_and_decide"]["inputs_per_s"] > 0


def test_a_failing_input_is_counted_and_saved(tmp_path, monkeypatch):
    monkeypatch.setattr(fuzz_bench, "FAILURES", tmp_path / "failures")

    def check(raw):
        raise fuzz_bench.FuzzFailure("parse_error: KeyError")

    tally = fuzz_bench.Tally()
    tally.run_one(check, b"From: a@example.com\r\n\r\nx")
    assert tally.exceptions == 1 and tally.outcomes == {}
    [saved] = fuzz_bench._save_failures(tally.failures)
    assert saved.endswith(".eml")
    assert (tmp_path / "failures" / saved.rsplit("/", 1)[1]).read_bytes() == b"From: a@example.com\r\n\r\nx"
