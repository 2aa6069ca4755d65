"""The reports' scheduled handlers (wired in app.py), each a few lines over the logic modules."""
from __future__ import annotations

from typing import Any


def send_scheduled(event: Any) -> dict[str, Any]:
    """Hourly: refresh today's open-backlog snapshot (``open_eod``: the day's last run leaves the figure
    at the end of the day, within the hour), keep the month roll-ups (``StatsStore.roll_up_due``), then send every daily/weekly report whose local time has
    come, once per schedule, period and recipient (functions/reports/schedule.py)."""
    from functions.reports.schedule import scheduled_reports
    from shared.clock import now
    from shared.observability import logger
    from shared.stats_store import stats_store

    snapshot, rolled = 0, []
    try:
        stats = stats_store()
        snapshot = stats.snapshot_open(now().date())
        rolled = [f"{r.month}..{r.through}" for r in stats.roll_up_due(now().date())]
    except Exception:  # noqa: BLE001 - the emails still go (a report reads the days a roll-up lacks);
        logger().exception("open-backlog snapshot or month roll-up failed")  # the next hour tries again
    summary = scheduled_reports().run().as_dict()
    logger().info("scheduled reports run", extra={**summary, "snapshot_items": snapshot, "rolled_up": rolled})
    return {**summary, "snapshot_items": snapshot, "rolled_up": rolled}


def detect(event: Any) -> dict[str, Any]:
    """Hourly: spikes and concentrations of complaints (functions/reports/root_cause_job.py)."""
    from functions.reports import root_cause_job

    return root_cause_job.run(event)
