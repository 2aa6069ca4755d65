"""The reports' scheduled handlers (wired in app.py), each a few lines over the logic modules."""
from __future__ import annotations

from typing import Any


def send_scheduled(event: Any) -> dict[str, Any]:
    """Hourly: refresh today's open-backlog snapshot (``open_eod``: the day's last run leaves the figure
    at the end of the day, within the hour), then send every daily/weekly report whose local time has
    come, once per schedule, period and recipient (functions/reports/schedule.py)."""
    from functions.reports.schedule import scheduled_reports
    from shared.clock import now
    from shared.observability import logger
    from shared.stats_store import stats_store

    snapshot = 0
    try:
        snapshot = stats_store().snapshot_open(now().date())
    except Exception:  # noqa: BLE001 - the emails still go; the next hour's run takes the snapshot again
        logger().exception("open-backlog snapshot failed")
    summary = scheduled_reports().run().as_dict()
    logger().info("scheduled reports run", extra={**summary, "snapshot_items": snapshot})
    return {**summary, "snapshot_items": snapshot}


def detect(event: Any) -> dict[str, Any]:
    """Hourly: spikes and concentrations of complaints (functions/reports/root_cause_job.py)."""
    from functions.reports import root_cause_job

    return root_cause_job.run(event)
