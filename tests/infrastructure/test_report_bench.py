"""A month's report reads one roll-up item per dimension value and month, not one per complaint, nor per
day and shard (the figure `make bench` records at 10,000 vs 200,000 complaints). Here a smaller company
(3 handlers, products and batches) at 6,000 and 18,000 complaints a month."""
from __future__ import annotations


def test_a_report_reads_the_same_items_with_three_times_the_complaints():
    from infra.report_bench import run

    result = run((6_000, 18_000), runs=1, out=None, company={"handlers": 3, "products": 3, "batches": 3})
    small, large = result["sizes"]
    assert (small["received"], large["received"]) == (6_000, 18_000)
    assert small["cases_in_store"] == 6_000 and large["cases_in_store"] == 18_000
    for row in (small, large):
        # per month: the roll-up's pointer twice and its items in one Query; no Scan, no day read
        assert row["scans"] == 0 and row["calls_by_operation"] == {"GetItem": 4, "Query": 2}
        assert row["dimension_values"] == 32 and row["items_read"] == 2 * (32 + 2)
        assert row["without_rollups"]["items_read"] > 10 * row["items_read"]  # days x values x shards
        assert row["rollup"]["items_read"] == row["without_rollups"]["items_read"]  # the days, read once a night
    assert result["items_read_ratio"] == 1.0
