"""Reading a report: the counters of the period and of the previous one (``StatsStore.read_period``: month roll-ups and days), then
:func:`shared.report_model.build_report`. Shared by the API, the scheduled emails, the CLI and the
benchmark. Also what the report shows besides the counters: the departments' names (routing config)."""
from __future__ import annotations

from typing import Any, Sequence

from shared.report_model import Period, Report, Scope, build_report


class ReportService:
    def __init__(self, stats: Any):
        self._stats = stats

    def report(self, period: Period, scope: Scope | None = None, dimensions: Sequence[str] | None = None) -> Report:
        """The report of ``period`` (and its comparison with the previous period) for ``scope``; its
        ``items_read`` counts the counter items both reads returned."""
        previous = period.previous()
        current = self._stats.read_period(period.first, period.last)
        before = self._stats.read_period(previous.first, previous.last)
        report = build_report(current, period, before, scope, dimensions, previous=previous)
        report.items_read = int(getattr(current, "items_read", 0)) + int(getattr(before, "items_read", 0))
        return report


def report_service() -> ReportService:
    from shared.stats_store import stats_store

    return ReportService(stats_store())


def department_names(language: str) -> dict[str, str]:
    """``{department_id: name}`` in ``language`` from the routing configuration in force."""
    from shared.config_store import config_store

    routing = config_store().current("routing").config
    return {d.department_id: (d.name.get(language) or d.name.get("en") or d.department_id) if d.name else d.department_id
            for d in routing.departments}

