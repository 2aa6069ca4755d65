"""The reports' configuration (config kind ``reports``, versioned like routing and SLA):

* ``schedules``: who gets which report by email, and when. Each schedule has a cadence (``daily``:
  yesterday's report; ``weekly``: last ISO week's, on ``weekday``), the local ``hour`` and
  ``time_zone`` from which it is due, a ``language`` (None: each staff member's own, the default
  language for plain addresses), ``recipients`` (staff ids of the staff directory, or email
  addresses) and a ``scope``: ``all`` (the company; a department lead still gets only their
  departments) or ``department:<id>`` (that department for everyone on the list);
* ``spikes``: the root-cause detection settings and who hears of an alert (the quality manager by
  default) - defined in ``shared/root_causes.py``, owned by the analytics side;
* ``company_name``: the ``Company`` column of the CFPB export.

The bundled default (``shared/reports_config.json``) names the local stack's demo staff
(``infra/demo_staff.py``): a daily report to the manager and a weekly one to each department lead,
08:00 Beijing time. Admins change it with ``PUT /staff/config/reports``.
"""
from __future__ import annotations

from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from shared.root_causes import SpikeSettings

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SCOPE_PATTERN = r"^(all|department:[a-z][a-z0-9_-]{0,39})$"
Recipient = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=254,
                                             pattern=r"^[^\s,;<>]+$")]


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ReportSchedule(_Config):
    schedule_id: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,39}$")]
    cadence: Literal["daily", "weekly"]
    weekday: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = "mon"  # weekly only
    hour: int = Field(8, ge=0, le=23)  # local time from which the report is due
    time_zone: str = "Asia/Shanghai"
    language: Literal["zh", "en"] | None = None  # None: each staff member's own language
    recipients: Annotated[list[Recipient], Field(min_length=1, max_length=50)]
    scope: Annotated[str, StringConstraints(pattern=SCOPE_PATTERN)] = "all"
    attachments: list[Literal["csv", "xlsx"]] = ["csv", "xlsx"]
    enabled: bool = True

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone (e.g. Asia/Shanghai)") from None
        return value

    @field_validator("recipients", "attachments")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))

    @property
    def department(self) -> str | None:
        """The department of a ``department:<id>`` scope, None for ``all``."""
        return self.scope.split(":", 1)[1] if self.scope.startswith("department:") else None


class ReportConfig(_Config):
    description: str | None = None
    schedules: list[ReportSchedule] = []
    spikes: SpikeSettings = SpikeSettings()
    company_name: Annotated[str, StringConstraints(min_length=1, max_length=200)] = "Example Foods Co."

    @field_validator("schedules")
    @classmethod
    def _unique_ids(cls, schedules: list[ReportSchedule]) -> list[ReportSchedule]:
        ids = [s.schedule_id for s in schedules]
        doubled = sorted({i for i in ids if ids.count(i) > 1})
        if doubled:
            raise ValueError(f"schedule ids must be unique: {', '.join(doubled)}")
        return schedules
