"""The sweep's cost follows the cases due, not the cases open (the figure `make bench` records)."""
from __future__ import annotations


def test_a_sweep_reads_the_same_with_ten_times_the_open_cases():
    from infra.sweep_bench import measure

    small, large = measure(200, 8), measure(2_000, 8)
    for row in (small, large):
        assert row["due"] == 8 and row["alerts"] == 8 and row["scans"] == 0
    assert small["index_items_read"] == large["index_items_read"] == 8
    assert small["cases_read"] == large["cases_read"] == 8
    assert small["dynamodb_calls"] == large["dynamodb_calls"]
