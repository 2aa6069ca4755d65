"""The hourly root-cause job (``detect_root_causes`` in ``app.py`` -> ``handlers.detect`` -> :func:`run`).

Each run:

1. reads the daily counters (``StatsStore.read``: one Query per day, every dimension item of the day)
   for the days it examines (``lookback_days`` up to today, UTC) and the baselines before them;
2. finds spike episodes per (dimension, value) and concentration episodes per product/batch
   (``shared.root_causes``, pure);
3. for each episode: a known one (the series' latest episode overlaps or touches it) is extended
   with its new days, never announced again; a new one gets its evidence (the cases behind it, found
   through the batch/cluster index or the ``ByMonth`` index: bounded, no Scan), is stored once
   (``shared.alert_store``) and announced: ``StaffAlertRaised`` (kind ``spike`` or ``concentration``,
   the stable ``alert_id``) to the quality manager(s), which the notifier delivers to their inbox and
   by email once per recipient. A concentration on a series that spiked in the same days is left to
   the spike's alert;
4. finds clusters of similar texts across customers among the cases of the last hours
   (``shared.text_clusters``; the cases from the ``ByMonth`` index, newest first, bounded): a new
   cluster gets its alert (kind ``similar_texts``, evidence: its cases, customers, samples), a known
   one growing (a case in common with an alert of the last two windows) is extended, never announced
   again.

Idempotent: a repeated or overlapping run finds the episodes known and raises nothing new; an alert
whose announcement failed (publish error, nobody to tell yet) is announced by the next run.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any, Callable

from shared.alert_store import (MAX_MATCHED, MAX_MEMBERS, AlertStore, EpisodeCases, RootCauseAlert, evidence_of,
                                sample_text)
from shared.events import EventPublisher, StaffAlertRaised
from shared.observability import logger
from shared.repository import iso
from shared.root_causes import (SpikeSettings, Episode, alert_id, day_range, detect_concentrations, detect_spikes,
                                reason, same_episode, series_from_counters, totals_from_counters)


@dataclass
class JobReport:
    enabled: bool = True
    first_day: str | None = None
    last_day: str | None = None
    series: int = 0
    spikes: int = 0  # episodes found among the days examined
    concentrations: int = 0
    suppressed: int = 0  # concentrations already covered by a spike alert
    created: int = 0
    extended: int = 0
    announced: int = 0
    not_announced: int = 0  # no case found to name, or nobody to tell: tried again next run
    text_cases: int = 0  # cases read for the text clusters
    text_clusters: int = 0  # clusters of similar texts from enough customers
    case_pages_read: int = 0
    errors: int = 0


class RootCauseJobFailed(Exception):
    """Some episodes could not be stored or announced (the others were): the run fails, so it shows in
    the function's errors; the next run picks up what is missing."""


class RootCauseJob:
    def __init__(self, stats: Any, alerts: AlertStore, cases: EpisodeCases, publisher: EventPublisher,
                 configs: Any, clock: Callable[[], datetime]):
        self._stats, self._alerts, self._cases, self._publisher = stats, alerts, cases, publisher
        self._configs, self._now = configs, clock

    def settings(self) -> SpikeSettings:
        return self._configs.current("reports").config.spikes

    def recipients(self, s: SpikeSettings) -> list[str]:
        """The configured recipients; else the quality department's manager, else its lead."""
        if s.recipients:
            return list(s.recipients)
        department = self._configs.current("routing").config.department(s.quality_department)
        person = department and (department.manager or department.lead)
        return [person] if person else []

    def run(self) -> JobReport:
        s, now = self.settings(), self._now()
        report = JobReport(enabled=s.enabled)
        if not s.enabled:
            return report
        today = now.date()
        before = max(s.window_days, s.recent_days + s.baseline_days - 1)
        first = today - timedelta(days=s.lookback_days - 1 + before)
        days = day_range(first, today)
        report.first_day, report.last_day = days[0], days[-1]
        counters = self._stats.read(first, today)
        series = series_from_counters(counters, days, set(s.dimensions) | set(s.concentration_dimensions))
        report.series = len(series)
        examined = len(days) - s.lookback_days
        spikes = detect_spikes({k: v for k, v in series.items() if k[0] in s.dimensions}, days, s,
                               evaluate_from=examined)
        concentrations = detect_concentrations(series, totals_from_counters(counters, days), days, s,
                                               evaluate_from=examined)
        report.spikes, report.concentrations = len(spikes), len(concentrations)
        recipients = self.recipients(s)
        for episode in [*spikes, *concentrations]:  # spikes first: a concentration they explain is left out
            try:
                if episode.kind == "concentration" and self._covered_by_spike(episode, s):
                    report.suppressed += 1
                    continue
                self._episode(episode, series[(episode.dimension, episode.value)], days, s, recipients, now, report)
            except Exception:  # noqa: BLE001 - the other episodes still get their turn; raised below
                report.errors += 1
                logger().exception("root-cause episode failed; the next run tries again",
                                   extra={"kind": episode.kind, "dimension": episode.dimension,
                                          "first_day": episode.first_day})
        if s.text_clusters:
            try:
                self._text_clusters(s, recipients, now, report)
            except Exception:  # noqa: BLE001 - raised below with the others
                report.errors += 1
                logger().exception("text clusters failed; the next run tries again")
        report.case_pages_read = self._cases.pages_read
        logger().info("root causes examined", extra={"root_causes": asdict(report)})  # "created" is a LogRecord field
        if report.errors:
            raise RootCauseJobFailed(f"{report.errors} episode(s) failed: {asdict(report)}")
        return report

    # -- one episode ------------------------------------------------------------------------------
    def _episode(self, episode: Episode, counts: list[int], days: list[str], s: SpikeSettings,
                 recipients: list[str], now: datetime, report: JobReport) -> None:
        mark = self._alerts.latest(episode.kind, episode.dimension, episode.value)
        if mark and same_episode(episode.first_day, episode.last_day, mark.first_day, mark.last_day):
            known = self._alerts.get(mark.first_day, mark.alert_id)
            if known is None:  # the mark without its alert cannot be: both are written in one transaction
                return
            stored = {d["day"]: d.get("count") for d in known.evidence.days}
            changed = any(stored.get(d.day) != d.count for d in episode.days)
            caseless = known.announced_at is None and not known.evidence.cases  # look for its cases again
            if episode.last_day >= known.last_day and (changed or caseless):
                extended = self._extend(known, episode, now)
                if extended is not None:
                    known = extended
                    report.extended += 1
            if known.announced_at is None:
                self._announce(known, recipients, now, report)
            return
        start = days.index(episode.first_day)
        window = slice(max(0, start - s.window_days), start)
        history = [{"day": d, "count": c} for d, c in zip(days[window], counts[window])]
        cases = self._cases.find(episode.dimension, episode.value, episode.first_day, episode.last_day)
        at = iso(now)
        alert = RootCauseAlert(
            alert_id=alert_id(episode.kind, episode.dimension, episode.value, episode.first_day), kind=episode.kind,
            dimension=episode.dimension, value=episode.value, first_day=episode.first_day, last_day=episode.last_day,
            reason=reason(episode), raised_at=at, updated_at=at, departments=_departments(episode, cases),
            evidence=evidence_of([d.as_dict() for d in episode.days], cases, history))
        if self._alerts.create(alert):
            report.created += 1
            logger().info("root-cause alert raised", extra=_keys(alert))
        else:  # another run stored it a moment ago
            alert = self._alerts.get(alert.first_day, alert.alert_id) or alert
            if alert.announced_at is not None:
                return
        self._announce(alert, recipients, now, report)

    def _extend(self, known: RootCauseAlert, episode: Episode, now: datetime) -> RootCauseAlert | None:
        """The known episode with the days seen since (days already stored keep their figures unless
        seen again), its reason from the new peak, and its cases found again while fewer than the cap."""
        days = {d["day"]: d for d in known.evidence.days}
        days.update({d.day: d.as_dict() for d in episode.days})
        ordered = [days[k] for k in sorted(days)]
        last_day = max(known.last_day, episode.last_day)
        evidence = known.evidence
        if evidence.cases_found < MAX_MATCHED:
            cases = self._cases.find(known.dimension, known.value, known.first_day, last_day)
            evidence = evidence_of(ordered, cases, known.evidence.history)
            departments = sorted(set(known.departments) | set(_departments(episode, cases)))
        else:
            evidence = evidence.model_copy(update={"days": ordered})
            departments = known.departments
        extended = known.model_copy(update={"last_day": last_day, "evidence": evidence, "departments": departments,
                                            "reason": reason(episode, since=known.first_day), "updated_at": iso(now)})
        if not self._alerts.extend(extended):
            return None  # another run saved later days meanwhile
        logger().info("root-cause episode goes on", extra=_keys(extended))
        return extended

    # -- clusters of similar texts --------------------------------------------------------------------
    def _text_clusters(self, s: SpikeSettings, recipients: list[str], now: datetime, report: JobReport) -> None:
        """The clusters of similar texts among the cases of the last ``text_window_hours``; a cluster that
        shares a case with a known one (an alert of the last two windows) is that cluster growing: its
        alert is extended with the new cases, never announced again; any other gets its alert."""
        from shared.text_clusters import TextCase, find_clusters

        recent_from = now - timedelta(hours=s.text_window_hours)
        since = recent_from - timedelta(hours=s.text_baseline_hours)
        rows = self._cases.recent(iso(since), iso(now), s.text_max_cases)
        cases = [TextCase(complaint_id=r["complaint_id"], received_at=str(r.get("received_at") or ""),
                          text=sample_text(r.get("title"), r.get("description"), 3000),
                          customer=frozenset((r.get("contact_hashes") or {}).values()),
                          department=r.get("department"), category=r.get("category"), cluster_id=r.get("cluster_id"),
                          products=_products(r.get("product")))
                 for r in rows if not r.get("repeat_of")]
        report.text_cases = len(cases)
        if len(rows) >= s.text_max_cases and rows:  # a busy week: the baseline is what was read of it
            oldest = min(str(r.get("received_at") or iso(now)) for r in rows)
            baseline_hours = max(0.0, (recent_from - _parse(oldest)).total_seconds() / 3600)
        else:
            baseline_hours = float(s.text_baseline_hours)
        clusters = find_clusters(cases, recent_from=iso(recent_from), baseline_hours=baseline_hours,
                                 window_hours=s.text_window_hours, zh=s.text_similarity_zh,
                                 en=s.text_similarity_en, min_customers=s.text_min_customers,
                                 min_terms=s.text_min_terms, p_value=s.text_p_value)
        report.text_clusters = len(clusters)
        if not clusters:
            return
        earlier = (now - timedelta(hours=2 * s.text_window_hours)).date()
        known = self._alerts.list(since=earlier, until=now.date(), kind="similar_texts", limit=100).alerts
        for cluster in clusters:
            ids = set(cluster.ids)
            same = next((a for a in known if ids & set(a.evidence.members)), None)
            if same is None and cluster.explained_by(self._covered(cluster, s, now)):
                report.suppressed += 1  # the spike or concentration alert on their batch says it already
                continue
            if same is None:
                self._new_text_cluster(cluster, s, recipients, now, report)
                continue
            grown = [i for i in cluster.ids if i not in set(same.evidence.members)]
            if grown and len(same.evidence.members) < MAX_MEMBERS:
                extended = self._text_alert(cluster, s, now, base=same)
                if self._alerts.extend(extended):
                    report.extended += 1
                    same = extended
                    logger().info("text cluster grows", extra=_keys(extended))
            if same.announced_at is None:
                self._announce(same, recipients, now, report)

    def _covered(self, cluster: Any, s: SpikeSettings, now: datetime) -> set[tuple[str, str]]:
        """The products and batches of the cluster's cases with a spike or concentration alert whose
        episode reaches into the cluster's window."""
        since = (now - timedelta(hours=s.text_window_hours)).date().isoformat()
        covered = set()
        for dimension, value in sorted(set().union(*(c.products for c in cluster.members)))[:20]:
            for kind in ("spike", "concentration"):
                mark = self._alerts.latest(kind, dimension, value)
                if mark is not None and mark.last_day >= since:
                    covered.add((dimension, value))
        return covered

    def _text_alert(self, cluster: Any, s: SpikeSettings, now: datetime,
                    base: RootCauseAlert | None = None) -> RootCauseAlert:
        members = list(dict.fromkeys([*(base.evidence.members if base else []), *cluster.ids]))[:MAX_MEMBERS]
        cases = [{"complaint_id": c.complaint_id, "received_at": c.received_at, "department": c.department,
                  "category": c.category, "cluster_id": c.cluster_id, "title": None, "description": c.text}
                 for c in cluster.members]
        evidence = evidence_of(cluster.per_day(), cases).model_copy(
            update={"members": members, "customers": max(cluster.customers, base.evidence.customers or 0)
                    if base else cluster.customers})
        customers = evidence.customers
        text = (f"Similar complaints from {customers} customers: {len(members)} cases say the same thing "
                f"within {s.text_window_hours} h, against {cluster.expected:g} expected from the "
                f"{cluster.baseline} like them before (p = {cluster.p_value:.1e}; mean similarity "
                f"{cluster.similarity:.2f})")
        at = iso(now)
        departments = sorted({c.department for c in cluster.members if c.department}
                             | set(base.departments if base else []))
        if base is not None:
            return base.model_copy(update={"last_day": max(base.last_day, cluster.last_day), "evidence": evidence,
                                           "reason": text, "updated_at": at, "departments": departments})
        return RootCauseAlert(
            alert_id=alert_id("similar_texts", "text", cluster.key, cluster.first_day), kind="similar_texts",
            dimension="text", value=cluster.key, first_day=cluster.first_day, last_day=cluster.last_day,
            reason=text, raised_at=at, updated_at=at, departments=departments, evidence=evidence,
            complaint_id=cluster.key)

    def _new_text_cluster(self, cluster: Any, s: SpikeSettings, recipients: list[str], now: datetime,
                          report: JobReport) -> None:
        alert = self._text_alert(cluster, s, now)
        if self._alerts.create(alert):
            report.created += 1
            logger().info("text cluster alert raised", extra=_keys(alert))
        else:  # another run stored it a moment ago
            alert = self._alerts.get(alert.first_day, alert.alert_id) or alert
            if alert.announced_at is not None:
                return
        self._announce(alert, recipients, now, report)

    def _covered_by_spike(self, episode: Episode, s: SpikeSettings) -> bool:
        """Did the same series spike within the concentration's recent days (its alert says it already)?"""
        mark = self._alerts.latest("spike", episode.dimension, episode.value)
        if mark is None:
            return False
        since = (date.fromisoformat(episode.first_day) - timedelta(days=s.recent_days - 1)).isoformat()
        return mark.last_day >= since and mark.first_day <= episode.last_day

    def _announce(self, alert: RootCauseAlert, recipients: list[str], now: datetime, report: JobReport) -> None:
        """``StaffAlertRaised`` to the recipients, naming the episode's first case (the notifier's
        inbox item, email and delivery log are keyed by a case); then ``announced_at`` is recorded."""
        complaint_id = alert.complaint_id or (alert.evidence.cases[0].complaint_id if alert.evidence.cases else None)
        if not recipients or not complaint_id:
            report.not_announced += 1
            logger().warning("root-cause alert not announced yet; the next run tries again",
                             extra={**_keys(alert), "why": "no recipients" if not recipients else "no case found"})
            return
        departments = Counter(c.department for c in alert.evidence.cases if c.department)
        self._publisher.publish(StaffAlertRaised(
            event_id=alert.alert_id, alert_id=alert.alert_id, kind=alert.kind, complaint_id=complaint_id,
            recipients=recipients, department=departments.most_common(1)[0][0] if departments else None,
            reason=alert.reason, raised_at=alert.raised_at))
        self._alerts.mark_announced(alert.model_copy(update={"recipients": recipients, "complaint_id": complaint_id}),
                                    iso(now))
        report.announced += 1
        logger().info("root-cause alert announced", extra={**_keys(alert), "recipients": len(recipients)})


def _parse(at: str) -> datetime:
    from datetime import timezone

    parsed = datetime.fromisoformat(at.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _products(product: Any) -> frozenset[tuple[str, str]]:
    """A case's product as the counters name it: ("product", SKU, else name) and ("batch", batch)."""
    if not isinstance(product, dict):
        return frozenset()
    name = str(product.get("sku") or product.get("name") or "").strip()
    batch = str(product.get("batch") or "").strip()
    return frozenset(pair for pair in (("product", name), ("batch", batch)) if pair[1])


def _departments(episode: Episode, cases: list[dict[str, Any]]) -> list[str]:
    found = {c["department"] for c in cases if c.get("department")}
    if episode.dimension == "department":
        found.add(episode.value)
    return sorted(found)


def _keys(alert: RootCauseAlert) -> dict[str, Any]:
    """Log keys: ids and counts (the value is a product, batch or category - no personal data)."""
    return {"alert_id": alert.alert_id, "kind": alert.kind, "dimension": alert.dimension,
            "first_day": alert.first_day, "last_day": alert.last_day, "cases_found": alert.evidence.cases_found}


def root_cause_job(clock: Callable[[], datetime] | None = None) -> RootCauseJob:
    from shared.alert_store import alert_store, episode_cases
    from shared.clock import now
    from shared.config_store import config_store
    from shared.stats_store import stats_store
    from shared.store import event_publisher

    return RootCauseJob(stats_store(), alert_store(), episode_cases(), event_publisher(), config_store(),
                        clock or now)


def run(event: Any = None) -> dict[str, Any]:
    """The scheduled event's handler: one run; returns its report (what it read and raised)."""
    return asdict(root_cause_job().run())
