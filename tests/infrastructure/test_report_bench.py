"""A month's report reads days x dimension values counter items, not one per complaint (the figure
`make bench` records at 10,000 vs 200,000 complaints). Here a smaller company (3 handlers, products
and batches) at 6,000 and 18,000 complaints a month: both months' items are all there at either size."""
from __future__ import annotations


def test_a_report_reads_the_same_items_with_three_times_the_complaints():
    from infra.report_bench import run

    result = run((6_000, 18_000), runs=1, out=None, company={"handlers": 3, "products": 3, "batches": 3})
    small, large = result["sizes"]
    assert (small["received"], large["received"]) == (6_000, 18_000)
    assert small["cases_in_store"] == 6_000 and large["cases_in_store"] == 18_000
    for row in (small, large):
        assert row["scans"] == 0 and row["calls_by_operation"] == {"Query": 61}  # a Query per day, both months
        assert row["dimension_values"] == 32 and row["items_read"] <= 61 * 32 * 4  # days x values x shards
    assert 1.0 <= result["items_read_ratio"] <= 1.01
