"""The scheduled report emails: which are due, to whom, and sending each exactly once.

Every hour (``send_scheduled_reports`` in app.py) :class:`ScheduledReports` reads the ``reports``
configuration and, for each enabled schedule whose local send time has come, the period it reports:

* ``daily``: from ``hour`` (local time in ``time_zone``) on, yesterday (the local date minus one);
* ``weekly``: from ``weekday`` at ``hour`` on, until the week ends, the previous ISO week.

A run that was missed (a failed invocation) is made up by the next one; the days are the counters'
UTC days, named by the local date. Each (schedule, period, recipient) is sent once: a delivery record

    PK = REPORTSEND#<schedule_id>   SK = <period label>#<recipient key>

is claimed with a conditional write (absent, failed, or a claim older than ``CLAIM_STALE_SECONDS``) before
the send and marked ``sent`` after it, so repeated and overlapping runs send nothing twice; a failed send
is retried by the next run. The recipient key is the staff id, or ``addr:<hash>`` for an address (no
address in keys or logs). Records expire (TTL) after ``RECORD_TTL_DAYS``.

Recipients: a staff id is looked up in the staff directory (email, language); a department lead (the
``lead`` of departments in the routing configuration, and no department's manager) gets only their
departments, whatever the schedule's scope. Plain addresses get the schedule's scope and language
(else the default language). Unknown ids and staff without an email are skipped and counted.
"""
from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable
from zoneinfo import ZoneInfo

from shared.aws import error_code
from shared.report_config import WEEKDAYS, ReportConfig, ReportSchedule
from shared.report_model import Period, Scope, day_period, week_period

CLAIM_STALE_SECONDS = 15 * 60
RECORD_TTL_DAYS = 400
_EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


@dataclass(frozen=True)
class DueReport:
    schedule: ReportSchedule
    period: Period


def due_reports(config: ReportConfig, now: datetime) -> list[DueReport]:
    """The (schedule, period) pairs whose local send time has come at ``now``."""
    due = []
    for schedule in config.schedules:
        if not schedule.enabled:
            continue
        local = now.astimezone(ZoneInfo(schedule.time_zone))
        if schedule.cadence == "daily":
            if local.hour >= schedule.hour:
                due.append(DueReport(schedule, day_period(local.date() - timedelta(days=1))))
        elif (local.weekday(), local.hour) >= (WEEKDAYS.index(schedule.weekday), schedule.hour):
            due.append(DueReport(schedule, week_period(local.date() - timedelta(days=7))))
    return due


@dataclass(frozen=True)
class Recipient:
    key: str  # the delivery record's: staff id, or addr:<hash>
    address: str
    name: str | None
    language: str
    scope: Scope


def address_key(address: str) -> str:
    return "addr:" + hashlib.sha256(address.strip().lower().encode()).hexdigest()[:24]


def led_departments(staff_id: str, routing: Any) -> list[str] | None:
    """The departments ``staff_id`` leads, when they manage none (a lead's report is scoped); else None."""
    departments = list(getattr(routing, "departments", []) or [])
    if any(getattr(d, "manager", None) == staff_id for d in departments):
        return None
    led = [d.department_id for d in departments if getattr(d, "lead", None) == staff_id]
    return led or None


def recipients_of(schedule: ReportSchedule, profiles: dict[str, Any], routing: Any,
                  default_language: str) -> tuple[list[Recipient], dict[str, int]]:
    """Who gets ``schedule``'s report, each with their address, language and scope; and what was skipped."""
    import re

    skipped = {"unknown": 0, "without_email": 0}
    found = []
    fixed = Scope(departments=[schedule.department]) if schedule.department else None
    for entry in schedule.recipients:
        profile = profiles.get(entry)
        if profile is not None:
            if not profile.email:
                skipped["without_email"] += 1
                continue
            led = led_departments(entry, routing)
            scope = fixed or (Scope(departments=led) if led else Scope())
            found.append(Recipient(entry, profile.email, profile.name, schedule.language or profile.language, scope))
        elif re.match(_EMAIL, entry):
            found.append(Recipient(address_key(entry), entry, None, schedule.language or default_language,
                                   fixed or Scope()))
        else:
            skipped["unknown"] += 1
    return found, skipped


# -- the delivery record ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Claim:
    key: dict[str, str]
    claim_id: str
    attempt: int


class AlreadyHandled(Exception):
    """Sent already, or another run is sending it now."""

    def __init__(self, state: str):
        super().__init__(state)
        self.state = state


class ReportDeliveries:
    def __init__(self, dynamodb: Any, table: str):
        from shared.items import ItemCodec

        codec = ItemCodec()
        self._db, self._table, self._dump, self._load = dynamodb, table, codec.dump, codec.load

    @staticmethod
    def key(schedule_id: str, period_label: str, recipient_key: str) -> dict[str, str]:
        return {"PK": f"REPORTSEND#{schedule_id}", "SK": f"{period_label}#{recipient_key}"}

    def claim(self, schedule_id: str, period_label: str, recipient_key: str, now: datetime) -> Claim:
        """Take the send of this report to this recipient, or raise :class:`AlreadyHandled`."""
        key = self.key(schedule_id, period_label, recipient_key)
        claim_id = uuid.uuid4().hex
        stale = (now - timedelta(seconds=CLAIM_STALE_SECONDS)).isoformat()
        try:
            out = self._db.update_item(
                TableName=self._table, Key=self._dump(key),
                UpdateExpression="SET #s = :sending, claim_id = :c, claimed_at = :now, expires_at = :ttl "
                                 "ADD attempts :one",
                ConditionExpression="attribute_not_exists(PK) OR #s = :failed OR (#s = :sending AND claimed_at < :stale)",
                ExpressionAttributeNames={"#s": "state"},
                ExpressionAttributeValues=self._dump({
                    ":sending": "sending", ":failed": "failed", ":c": claim_id, ":now": now.isoformat(),
                    ":stale": stale, ":one": 1, ":ttl": int((now + timedelta(days=RECORD_TTL_DAYS)).timestamp())}),
                ReturnValues="ALL_NEW", ReturnValuesOnConditionCheckFailure="ALL_OLD")
        except Exception as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            old = getattr(exc, "response", {}).get("Item")
            raise AlreadyHandled(self._load(old).get("state", "sent") if old else "sent") from None
        return Claim(key, claim_id, int(self._load(out["Attributes"]).get("attempts", 1)))

    def sent(self, claim: Claim, *, now: datetime, message_id: str) -> None:
        self._finish(claim, "SET #s = :sent, sent_at = :now, message_id = :m REMOVE error_code",
                     {":sent": "sent", ":now": now.isoformat(), ":m": message_id})

    def failed(self, claim: Claim, *, code: str) -> None:
        self._finish(claim, "SET #s = :failed, error_code = :e", {":failed": "failed", ":e": code})

    def _finish(self, claim: Claim, expression: str, values: dict[str, Any]) -> None:
        try:
            self._db.update_item(TableName=self._table, Key=self._dump(claim.key), UpdateExpression=expression,
                                 ConditionExpression="claim_id = :mine", ExpressionAttributeNames={"#s": "state"},
                                 ExpressionAttributeValues=self._dump({**values, ":mine": claim.claim_id}))
        except Exception as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise  # else another run took the claim over after it went stale: its record stands

    def state(self, schedule_id: str, period_label: str, recipient_key: str) -> dict[str, Any] | None:
        out = self._db.get_item(TableName=self._table, ConsistentRead=True,
                                Key=self._dump(self.key(schedule_id, period_label, recipient_key)))
        return self._load(out["Item"]) if "Item" in out else None


# -- the run ---------------------------------------------------------------------------------------------
@dataclass
class RunSummary:
    due: int = 0
    sent: int = 0
    already: int = 0
    failed: int = 0
    skipped: dict[str, int] = field(default_factory=lambda: {"unknown": 0, "without_email": 0})

    def as_dict(self) -> dict[str, Any]:
        return {"due": self.due, "sent": self.sent, "already": self.already, "failed": self.failed,
                "skipped": dict(self.skipped)}


class ScheduledReports:
    """One hourly run: every due report to every recipient, once (see the module docstring)."""

    def __init__(self, *, config: Callable[[], ReportConfig], routing: Callable[[], Any], directory: Any,
                 deliveries: ReportDeliveries, sender: Callable[..., str], clock: Callable[[], datetime]):
        self._config, self._routing, self._directory = config, routing, directory
        self._deliveries, self._send, self._now = deliveries, sender, clock

    def run(self) -> RunSummary:
        from shared.config import settings
        from shared.observability import logger

        now = self._now()
        summary = RunSummary()
        config, routing = self._config(), self._routing()
        for due in due_reports(config, now):
            schedule = due.schedule
            profiles = self._directory.profiles(schedule.recipients)  # an id of the directory, else an address
            recipients, skipped = recipients_of(schedule, profiles, routing, settings().default_language)
            for reason, count in skipped.items():
                summary.skipped[reason] += count
            if any(skipped.values()):
                logger().warning("report recipients skipped", extra={"schedule_id": schedule.schedule_id, **skipped})
            for recipient in recipients:
                summary.due += 1
                extra = {"schedule_id": schedule.schedule_id, "period": due.period.label}
                try:
                    claim = self._deliveries.claim(schedule.schedule_id, due.period.label, recipient.key, now)
                except AlreadyHandled:
                    summary.already += 1
                    continue
                try:
                    message_id = self._send(due, recipient, now)
                except Exception as exc:  # noqa: BLE001 - recorded; the next run retries this recipient
                    code = getattr(exc, "code", None) or error_code(exc) or type(exc).__name__
                    self._deliveries.failed(claim, code=code)
                    summary.failed += 1
                    logger().exception("report email failed; the next run retries it",
                                       extra={**extra, "error": code, "attempt": claim.attempt})
                    continue
                self._deliveries.sent(claim, now=now, message_id=message_id)
                summary.sent += 1
                logger().info("report email sent", extra={**extra, "language": recipient.language,
                                                          "scoped": recipient.scope.departments is not None})
        return summary



def scheduled_reports(clock: Callable[[], datetime] | None = None) -> ScheduledReports:
    """The run wired to the store, SES, the reports bucket and the configuration in force."""
    from functions.reports.mailer import ReportEmails, report_mailer
    from functions.reports.service import department_names, report_service
    from shared.aws import client
    from shared.clock import now
    from shared.config import settings
    from shared.config_store import config_store
    from shared.staff_directory import staff_directory

    s = settings()
    store = None
    if s.reports_bucket:
        from functions.reports.storage import export_store

        store = export_store()
    emails = ReportEmails(report_service(), report_mailer(), s, exports_store=store, names=department_names)
    configs = config_store()
    return ScheduledReports(config=lambda: configs.current("reports").config,
                            routing=lambda: configs.current("routing").config, directory=staff_directory(),
                            deliveries=ReportDeliveries(client("dynamodb"), s.table_name), sender=emails.send,
                            clock=clock or now)
