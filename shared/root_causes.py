"""Root causes: spikes of complaints per product, batch or category against each series' own
baseline, and products/batches behind a rising share of all complaints. Pure Python, no AWS calls.

The settings (:class:`SpikeSettings`) are the ``spikes`` section of the ``reports`` configuration
(``shared/report_config.py``); the hourly job (``functions/reports/root_cause_job.py``) reads the daily
counters, calls :func:`detect_spikes` and :func:`detect_concentrations`, and raises one alert per
episode (``shared/alert_store.py``). See docs/reports.md, "Root causes and spike alerts".
"""
from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated, Any, Iterable, Literal, Mapping, Sequence

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

# Counter dimensions a spike may be watched on (the STATS layout of shared/stats_store.py).
Dimension = Literal["product", "batch", "category", "channel", "department", "priority"]
StaffId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class SpikeSettings(BaseModel):
    """How spikes and concentrations are found and who hears of them (config kind ``reports``,
    section ``spikes``). The defaults are what the detection benchmark (``infra/spike_bench.py``) measures."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    dimensions: list[Dimension] = ["product", "batch", "category"]
    # the baseline: the trailing window of days before the day tested (the day itself excluded)
    window_days: int = Field(28, ge=7, le=90)
    # a spike day: count >= min_count, robust z = (count - median) / max(1.4826*MAD, sqrt(median), min_sigma)
    # above mad_threshold, and P(X >= count | Poisson(baseline mean)) below p_value
    min_count: int = Field(5, ge=1, le=10_000)
    mad_threshold: float = Field(4.0, gt=0, le=50)
    p_value: float = Field(0.001, gt=0, lt=0.5)
    min_sigma: float = Field(1.0, gt=0, le=100)  # floor of the scale when the baseline is nearly flat
    min_expected: float = Field(0.5, gt=0, le=100)  # floor of the Poisson mean (a series that was all zeros)
    lookback_days: int = Field(7, ge=1, le=31)  # days the hourly job re-examines (late classifications count)
    # concentrations: a product/batch's share of all complaints in the last recent_days vs the
    # baseline_days before them (one-sided two-proportion z-test)
    concentration_dimensions: list[Literal["product", "batch"]] = ["product", "batch"]
    recent_days: int = Field(7, ge=1, le=31)
    baseline_days: int = Field(28, ge=7, le=180)
    concentration_min_count: int = Field(10, ge=1, le=100_000)
    concentration_min_ratio: float = Field(2.0, ge=1.0, le=100)
    concentration_p_value: float = Field(0.001, gt=0, lt=0.5)
    # clusters of similar texts across customers growing faster than usual (shared.text_clusters): the
    # cases of the last text_window_hours against the cluster's rate in the text_baseline_hours before
    # (the newest text_max_cases cases of both), neighbours at the cosine thresholds per script
    text_clusters: bool = True
    text_window_hours: int = Field(48, ge=6, le=336)
    text_baseline_hours: int = Field(120, ge=24, le=720)
    text_min_customers: int = Field(5, ge=2, le=1000)
    text_similarity_zh: float = Field(0.2, gt=0, lt=1)
    text_similarity_en: float = Field(0.35, gt=0, lt=1)
    text_min_terms: int = Field(8, ge=2, le=200)
    text_p_value: float = Field(0.001, gt=0, lt=0.5)
    text_max_cases: int = Field(2000, ge=10, le=5000)
    # who hears of an alert: these staff ids; none given: the quality department's manager (else its lead)
    recipients: Annotated[list[StaffId], Field(max_length=20)] = []
    quality_department: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,39}$")] = "quality"

    @field_validator("dimensions", "concentration_dimensions", "recipients")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))


# -- statistics, in pure Python (no scipy at run time) ---------------------------------------------------
MAD_SCALE = 1.4826  # 1.4826 * MAD estimates the standard deviation of normally distributed values


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    n = len(ordered)
    if not n:
        raise ValueError("the median of nothing")
    middle = n // 2
    return float(ordered[middle]) if n % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def mad(values: Sequence[float], center: float | None = None) -> float:
    """The median absolute deviation from ``center`` (default: the median)."""
    center = median(values) if center is None else center
    return median([abs(v - center) for v in values])


def poisson_sf(k: int, lam: float) -> float:
    """P(X >= k) for X ~ Poisson(lam): the one-sided p-value of a count ``k`` when ``lam`` is expected.

    Summed term by term from the side that is small (the upper tail above the mean, else one minus the
    lower tail), each term from the previous one, starting from ``exp(-lam + k ln lam - ln k!)`` (log space,
    so large counts neither overflow nor lose the tail to cancellation)."""
    if k <= 0:
        return 1.0
    if lam <= 0:
        return 0.0
    if k > lam:  # the terms fall from k on: sum until they no longer change the total
        term = math.exp(-lam + k * math.log(lam) - math.lgamma(k + 1))
        total, i = 0.0, k
        while term > 0 and term > total * 1e-17:
            total += term
            i += 1
            term *= lam / i
        return min(total, 1.0)
    # k <= lam: P(X >= k) = 1 - P(X <= k - 1), the lower terms summed downwards from k - 1
    i = k - 1
    term = math.exp(-lam + i * math.log(lam) - math.lgamma(i + 1))
    lower = 0.0
    while i >= 0 and term > 0:
        lower += term
        if term < lower * 1e-17:
            break
        term *= i / lam
        i -= 1
    return max(0.0, 1.0 - lower)


def normal_sf(z: float) -> float:
    """P(Z >= z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def runs(flags: Sequence[bool]) -> list[tuple[int, int]]:
    """The (first, last) positions of each run of consecutive true flags."""
    found: list[tuple[int, int]] = []
    start = None
    for i, flag in enumerate(flags):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            found.append((start, i - 1))
            start = None
    if start is not None:
        found.append((start, len(flags) - 1))
    return found


# -- series -----------------------------------------------------------------------------------------
SeriesKey = tuple[str, str]  # (dimension, value)


def day_range(first: date, last: date) -> list[str]:
    return [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


def series_from_counters(counters: Mapping[Any, Mapping[tuple[str, str], Mapping[str, float]]], days: Sequence[str],
                         dimensions: Iterable[str], measure: str = "received") -> dict[SeriesKey, list[int]]:
    """Daily counts per (dimension, value) over ``days`` (missing days and measures are 0), from the
    counters as ``StatsStore.read`` gives them: ``{day: {(dimension, value): {measure: n}}}`` (a day as
    ``date`` or ``yyyy-mm-dd``). Only values with at least one count in the period have a series."""
    wanted = set(dimensions)
    position = {d: i for i, d in enumerate(days)}
    series: dict[SeriesKey, list[int]] = {}
    for day, items in counters.items():
        i = position.get(day if isinstance(day, str) else day.isoformat())
        if i is None:
            continue
        for (dimension, value), measures in items.items():
            count = int(measures.get(measure) or 0)
            if dimension not in wanted or count <= 0:
                continue
            series.setdefault((dimension, value), [0] * len(days))[i] += count
    return series


def totals_from_counters(counters: Mapping[Any, Mapping[tuple[str, str], Mapping[str, float]]], days: Sequence[str],
                         measure: str = "received") -> list[int]:
    """All complaints a day (dimension ``all``), aligned with ``days``."""
    totals = series_from_counters(counters, days, ["all"], measure)
    return totals.get(("all", "-"), [0] * len(days))


# -- spikes ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DayTest:
    """One day of a series tested against the trailing window before it."""

    day: str
    count: int
    median: float
    mad: float
    sigma: float  # max(1.4826 * MAD, sqrt(median), min_sigma)
    expected: float  # the window's mean (at least min_expected): the Poisson test's mean
    robust_z: float
    p_value: float
    spike: bool

    def as_dict(self) -> dict[str, Any]:
        return {"day": self.day, "count": self.count, "median": round(self.median, 3), "mad": round(self.mad, 3),
                "expected": round(self.expected, 3), "robust_z": round(self.robust_z, 3),
                "p_value": float(f"{self.p_value:.4g}")}


def examine_day(day: str, count: int, history: Sequence[int], settings: SpikeSettings) -> DayTest:
    """Is ``count`` a spike against ``history`` (the trailing window, the day itself excluded)?

    A spike: ``count >= min_count``, robust z ``(count - median) / max(1.4826 * MAD, sqrt(median),
    min_sigma) > mad_threshold``, and the Poisson tail ``P(X >= count | mean of the window) < p_value``.
    The scale's floors keep a flat or sparse window (MAD 0) from calling every small rise a spike:
    sqrt(median) is the spread a Poisson count around the median would have anyway."""
    if not history:
        raise ValueError("a day is tested against a window of earlier days")
    center = median(history)
    deviation = mad(history, center)
    sigma = max(MAD_SCALE * deviation, math.sqrt(center), settings.min_sigma)
    expected = max(sum(history) / len(history), settings.min_expected)
    z = (count - center) / sigma
    p = poisson_sf(count, expected)
    spike = count >= settings.min_count and z > settings.mad_threshold and p < settings.p_value
    return DayTest(day, count, center, deviation, sigma, expected, z, p, spike)


@dataclass(frozen=True)
class Episode:
    """Consecutive days on which a series stayed above its threshold: one alert."""

    kind: str  # "spike" | "concentration"
    dimension: str
    value: str
    days: tuple[Any, ...]  # DayTest | DayShare, one per day of the episode, in order

    @property
    def first_day(self) -> str:
        return self.days[0].day

    @property
    def last_day(self) -> str:
        return self.days[-1].day

    @property
    def peak(self) -> Any:
        key = (lambda d: d.count) if self.kind == "spike" else (lambda d: d.ratio)
        return max(self.days, key=key)


def detect_spikes(series: Mapping[SeriesKey, Sequence[int]], days: Sequence[str], settings: SpikeSettings,
                  *, evaluate_from: int | None = None) -> list[Episode]:
    """Spike episodes among the days from ``evaluate_from`` (default: the first with a whole window
    before it), each day tested against the ``window_days`` before it."""
    window = settings.window_days
    start = window if evaluate_from is None else max(evaluate_from, 1)
    found: list[Episode] = []
    for (dimension, value), counts in series.items():
        tests: list[DayTest | None] = []
        for i in range(start, len(days)):
            # a day below min_count is never a spike: skip the window's statistics
            tests.append(examine_day(days[i], counts[i], counts[max(0, i - window):i], settings)
                         if counts[i] >= settings.min_count else None)
        for first, last in runs([t is not None and t.spike for t in tests]):
            found.append(Episode("spike", dimension, value, tuple(tests[first:last + 1])))  # type: ignore[arg-type]
    return sorted(found, key=lambda e: (e.first_day, e.dimension, e.value))


# -- concentrations ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class DayShare:
    """A value's share of all complaints in the recent days up to ``day`` vs the baseline days before."""

    day: str
    count: int  # the value's complaints in the recent days
    total: int  # all complaints in the recent days
    baseline_count: int
    baseline_total: int
    ratio: float  # recent share / baseline share (the baseline share floored at half a complaint)
    z: float
    p_value: float
    rising: bool
    recent_days: int = 7

    @property
    def share(self) -> float:
        return self.count / self.total if self.total else 0.0

    @property
    def baseline_share(self) -> float:
        return self.baseline_count / self.baseline_total if self.baseline_total else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"day": self.day, "count": self.count, "total": self.total, "share": round(self.share, 4),
                "baseline_count": self.baseline_count, "baseline_total": self.baseline_total,
                "baseline_share": round(self.baseline_share, 4), "ratio": round(self.ratio, 3),
                "z": round(self.z, 3), "p_value": float(f"{self.p_value:.4g}")}


def examine_share(day: str, count: int, total: int, baseline_count: int, baseline_total: int,
                  settings: SpikeSettings) -> DayShare:
    """One-sided two-proportion z-test (pooled) of the recent share against the baseline share, with
    ``count >= concentration_min_count`` and the share at least ``concentration_min_ratio`` times the
    baseline's."""
    if total <= 0 or baseline_total <= 0:
        return DayShare(day, count, total, baseline_count, baseline_total, 0.0, 0.0, 1.0, False,
                        settings.recent_days)
    p1, p0 = count / total, baseline_count / baseline_total
    ratio = p1 / max(p0, 0.5 / baseline_total)
    pooled = (count + baseline_count) / (total + baseline_total)
    se = math.sqrt(pooled * (1 - pooled) * (1 / total + 1 / baseline_total))
    z = (p1 - p0) / se if se > 0 else 0.0
    p = normal_sf(z)
    rising = (count >= settings.concentration_min_count and ratio >= settings.concentration_min_ratio
              and p < settings.concentration_p_value)
    return DayShare(day, count, total, baseline_count, baseline_total, ratio, z, p, rising, settings.recent_days)


def detect_concentrations(series: Mapping[SeriesKey, Sequence[int]], totals: Sequence[int], days: Sequence[str],
                          settings: SpikeSettings, *, evaluate_from: int | None = None) -> list[Episode]:
    """Concentration episodes: for each day from ``evaluate_from`` (default: the first with the whole
    baseline before its recent days), the value's share of the ``recent_days`` up to it against the
    ``baseline_days`` before those; consecutive rising days make one episode."""
    recent, base = settings.recent_days, settings.baseline_days
    start = max(recent + base - 1, evaluate_from if evaluate_from is not None else 0)
    found: list[Episode] = []
    wanted = set(settings.concentration_dimensions)
    for (dimension, value), counts in series.items():
        if dimension not in wanted:
            continue
        tests: list[DayShare | None] = []
        for i in range(start, len(days)):
            lo, mid = i - recent + 1, max(0, i - recent - base + 1)
            count = sum(counts[lo:i + 1])
            if count < settings.concentration_min_count:
                tests.append(None)
                continue
            tests.append(examine_share(days[i], count, sum(totals[lo:i + 1]), sum(counts[mid:lo]),
                                       sum(totals[mid:lo]), settings))
        for first, last in runs([t is not None and t.rising for t in tests]):
            rising = tuple(tests[first:last + 1])
            found.append(Episode("concentration", dimension, value, rising))  # type: ignore[arg-type]
    return sorted(found, key=lambda e: (e.first_day, e.dimension, e.value))


# -- alerts -----------------------------------------------------------------------------------------
_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def alert_id(kind: str, dimension: str, value: str, first_day: str) -> str:
    """Stable for one episode: ``spike:batch:B2411-0a084063:2026-11-20``. The value is kept
    readable (characters outside ``[A-Za-z0-9_.-]`` become ``-``, at most 40), and a short hash of
    the exact value keeps two values that read alike apart."""
    digest = hashlib.sha256(value.encode("utf-8")).hexdigest()[:8]
    readable = _SAFE.sub("-", value).strip("-")[:40]
    return f"{kind}:{dimension}:{readable + '-' if readable else ''}{digest}:{first_day}"


def _p(value: float) -> str:
    return f"{value:.2g}" if value >= 1e-4 else f"{value:.1e}"


def reason(episode: Episode, *, since: str | None = None) -> str:
    """One English line for the inbox, the email and the logs (no personal data: counts and the key).
    ``since``: the episode's first day when ``episode`` holds only its later days."""
    what = f"{episode.dimension} {episode.value}"
    peak = episode.peak
    first = min(since or episode.first_day, episode.first_day)
    since = f" (since {first})" if first != peak.day else ""
    if episode.kind == "spike":
        return (f"Spike in complaints for {what}: {peak.count} on {peak.day}{since} against {peak.expected:.1f} "
                f"expected a day (median {peak.median:g}, MAD {peak.mad:g}, p = {_p(peak.p_value)})")
    return (f"Rising share of complaints for {what}: {peak.count} of {peak.total} ({peak.share:.1%}) in the "
            f"{peak.recent_days} days to {peak.day}{since} against {peak.baseline_share:.1%} before "
            f"(z = {peak.z:.1f}, p = {_p(peak.p_value)})")



def same_episode(first_day: str, last_day: str, known_first: str, known_last: str) -> bool:
    """Do the days ``first_day..last_day`` belong to the known episode ``known_first..known_last``? Yes
    when they overlap or touch (the day after its last): a run seen again hours later, grown by a day,
    or starting earlier once late classifications were counted, is the same episode - no new alert."""
    after_known = (date.fromisoformat(known_last) + timedelta(days=1)).isoformat()
    return first_day <= after_known and last_day >= known_first
