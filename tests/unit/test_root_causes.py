"""The root-cause detector (``shared/root_causes.py``) on crafted series, its statistics against
values computed independently, and the episode logic that makes one alert per spike."""
from __future__ import annotations

import math
import random
from datetime import date
from decimal import Decimal, getcontext

import pytest
from pydantic import ValidationError

from shared.alert_store import MAX_CASES, MAX_SAMPLES, SAMPLE_CHARS, evidence_of, sample_text
from shared.root_causes import (SpikeSettings, alert_id, day_range, detect_concentrations, detect_spikes, mad,
                                median, normal_sf, poisson_sf, reason, runs, same_episode, series_from_counters,
                                examine_day, totals_from_counters)

S = SpikeSettings()
DAYS = day_range(date(2026, 9, 1), date(2026, 12, 31))  # 122 days


def exact_tail(k: int, lam: float) -> float:
    """P(X >= k), X ~ Poisson(lam), as 1 - the lower sum in 60-digit decimals: independent of the code."""
    getcontext().prec = 60
    lam_d = Decimal(repr(lam))
    term, lower = (-lam_d).exp(), Decimal(0)
    for i in range(k):
        lower += term
        term = term * lam_d / (i + 1)
    return float(1 - lower)


def poisson_counts(lam: float, n: int, seed: int) -> list[int]:
    """Poisson draws (Knuth's method) from a seeded generator."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        limit, k, p = math.exp(-lam), 0, 1.0
        while True:
            p *= rng.random()
            if p <= limit:
                break
            k += 1
        out.append(k)
    return out


def spikes_of(counts: list[int], settings: SpikeSettings = S, key=("batch", "B2411")) -> list:
    return detect_spikes({key: counts}, DAYS[:len(counts)], settings)


# -- statistics ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("k, lam", [(5, 1.0), (10, 3.0), (3, 10.0), (12, 3.0), (30, 12.5), (1, 0.5),
                                    (50, 5.0), (15, 2.2), (200, 100.0), (1001, 1000.0), (7, 7.0)])
def test_the_poisson_tail_matches_an_exact_sum(k, lam):
    assert poisson_sf(k, lam) == pytest.approx(exact_tail(k, lam), rel=1e-9)


def test_the_poisson_tail_at_its_edges_and_published_values():
    assert poisson_sf(0, 4.0) == 1.0 and poisson_sf(-3, 4.0) == 1.0
    assert poisson_sf(1, 0.0) == 0.0
    assert poisson_sf(1, 2.0) == pytest.approx(1 - math.exp(-2.0), rel=1e-12)
    # R: ppois(4, 1, lower.tail = FALSE) = 0.003659847; ppois(9, 3, lower.tail = FALSE) = 0.001102488
    assert poisson_sf(5, 1.0) == pytest.approx(0.003659847, rel=1e-6)
    assert poisson_sf(10, 3.0) == pytest.approx(0.001102488, rel=1e-6)
    assert 0 < poisson_sf(400, 10.0) < 1e-300 or poisson_sf(400, 10.0) == 0.0  # far tail: no overflow
    # monotone in k
    tail = [poisson_sf(k, 6.0) for k in range(30)]
    assert all(a >= b for a, b in zip(tail, tail[1:]))


def test_normal_tail_median_and_mad():
    assert normal_sf(0.0) == 0.5
    assert normal_sf(1.959964) == pytest.approx(0.025, rel=1e-5)
    assert normal_sf(3.090232) == pytest.approx(0.001, rel=1e-5)
    assert median([3, 1, 2]) == 2 and median([4, 1, 3, 2]) == 2.5
    assert mad([1, 2, 3, 4, 100]) == 1  # deviations from 3: 2, 1, 0, 1, 97
    with pytest.raises(ValueError):
        median([])


# -- spikes on crafted series ---------------------------------------------------------------------------
def test_a_flat_series_has_no_spike_and_one_high_day_is_one():
    assert spikes_of([3] * 60) == []
    [episode] = spikes_of([3] * 40 + [12] + [3] * 5)
    assert (episode.kind, episode.dimension, episode.value) == ("spike", "batch", "B2411")
    assert episode.first_day == episode.last_day == DAYS[40]
    [day] = episode.days
    # MAD 0: the scale falls back to sqrt(median) = sqrt(3); the Poisson mean is the window's, 3
    assert (day.count, day.median, day.mad, day.expected) == (12, 3, 0, 3)
    assert day.robust_z == pytest.approx(9 / math.sqrt(3))
    assert day.p_value == pytest.approx(exact_tail(12, 3.0), rel=1e-9)


def test_noisy_poisson_series_raise_nothing():
    for seed, lam in ((1, 2.0), (2, 10.0), (3, 40.0)):
        assert spikes_of(poisson_counts(lam, 122, seed)) == [], (seed, lam)


def test_a_weekly_pattern_is_no_spike_but_a_busy_weekend_day_is():
    weekly = [6 if DAYS[i] and date.fromisoformat(DAYS[i]).weekday() >= 5 else 20 for i in range(122)]
    assert spikes_of(weekly) == []
    saturday = next(i for i in range(60, 122) if date.fromisoformat(DAYS[i]).weekday() == 5)
    busy = list(weekly)
    busy[saturday] = 45
    [episode] = spikes_of(busy)
    assert episode.first_day == DAYS[saturday]


def test_a_spike_over_noise_is_found_on_its_first_day_and_lasts_while_it_stays_high():
    counts = poisson_counts(2.0, 70, seed=7)
    counts[50:53] = [14, 17, 12]
    [episode] = spikes_of(counts)
    assert (episode.first_day, episode.last_day) == (DAYS[50], DAYS[52])
    assert [d.count for d in episode.days] == [14, 17, 12]
    assert episode.peak.count == 17
    # a second burst after a quiet day is a new episode
    counts[55] = 16
    assert [(e.first_day, e.last_day) for e in spikes_of(counts)] == [(DAYS[50], DAYS[52]), (DAYS[55], DAYS[55])]


def test_a_slow_rise_is_no_spike():
    rising = [2 + i // 8 for i in range(120)]  # from 2 to 16 a day over four months
    assert spikes_of(rising) == []


def test_zeros_small_counts_and_the_minimum():
    assert spikes_of([0] * 60) == []
    assert spikes_of([0] * 40 + [4] + [0] * 5) == []  # below min_count
    [episode] = spikes_of([0] * 40 + [5] + [0] * 5)  # a batch nobody complained about, then five in a day
    assert episode.days[0].expected == S.min_expected and episode.days[0].p_value < S.p_value
    stricter = SpikeSettings(min_count=8)
    assert spikes_of([0] * 40 + [5] + [0] * 5, stricter) == []


def test_both_tests_must_agree():
    # a large, steady series: +20 % is far out for Poisson (p tiny) but inside the spread the window shows
    wobbly = [100, 130, 70, 120, 80] * 12
    assert all(examine_day("d", 150, wobbly[i:i + 28], S).p_value < S.p_value for i in range(0, 30, 5))
    assert spikes_of(wobbly + [150]) == []
    # a small robust-z jump on a tiny series is no spike when Poisson finds it plausible
    day = examine_day("d", 5, [1] * 28, SpikeSettings(min_count=1, mad_threshold=3.0))
    assert day.robust_z == 4.0 and day.p_value == pytest.approx(exact_tail(5, 1.0)) and day.spike is False


def test_the_day_tested_is_not_in_its_own_baseline():
    counts = [2] * 28 + [30]
    [episode] = spikes_of(counts)
    assert episode.days[0].median == 2 and episode.days[0].expected == 2


def test_evaluate_from_limits_the_days_examined():
    counts = [1] * 30 + [20] + [1] * 20 + [20]
    assert [e.first_day for e in spikes_of(counts)] == [DAYS[30], DAYS[51]]
    later = detect_spikes({("product", "X"): counts}, DAYS[:52], S, evaluate_from=45)
    assert [e.first_day for e in later] == [DAYS[51]]


# -- concentrations -------------------------------------------------------------------------------------
def test_a_rising_share_is_a_concentration_and_a_steady_one_is_not():
    totals = [100] * 70
    steady = [3] * 70
    rising = [3] * 50 + [12] * 20  # from 3 % to 12 % of all complaints
    found = detect_concentrations({("product", "DUMP-1KG"): rising, ("product", "RICE-5KG"): steady,
                                   ("category", "food_safety"): rising}, totals, DAYS[:70], S)
    assert [(e.kind, e.dimension, e.value) for e in found] == [("concentration", "product", "DUMP-1KG")]
    [episode] = found
    first = episode.days[0]
    assert first.day >= DAYS[50] and first.rising and first.ratio >= S.concentration_min_ratio
    assert first.p_value < S.concentration_p_value and first.baseline_share == pytest.approx(0.03)
    # one episode (one alert) while the share stays up against its baseline; it ends once the baseline
    # has taken in the new level (a new normal is no concentration)
    assert DAYS[56] < episode.last_day < DAYS[69]
    assert not any(e for e in detect_concentrations({("product", "X"): rising}, totals, DAYS[:70], S,
                                                    evaluate_from=69))


def test_every_rising_series_is_found_with_its_own_days():
    totals, rising, later = [100] * 70, [3] * 50 + [12] * 20, [3] * 60 + [15] * 10
    found = detect_concentrations({("product", "A"): rising, ("batch", "B"): later, ("product", "C"): rising},
                                  totals, DAYS[:70], S)
    a, c, b = found
    assert (a.value, c.value, b.value) == ("A", "C", "B")
    assert a.days == c.days and DAYS[50] <= a.first_day <= DAYS[53]  # the same series, the same days
    assert DAYS[60] <= b.first_day <= DAYS[62] and b.last_day == DAYS[69]


def test_a_concentration_needs_its_minimum_count():
    totals = [20] * 70
    few = [0] * 60 + [1] * 10  # 5 % of a small flow, from nothing: 7 complaints a week
    stricter = SpikeSettings(concentration_min_count=10)
    assert detect_concentrations({("batch", "B1"): few}, totals, DAYS[:70], stricter) == []
    assert detect_concentrations({("batch", "B1"): few}, totals, DAYS[:70], SpikeSettings(concentration_min_count=5))


# -- episodes, ids, reasons -------------------------------------------------------------------------------
def test_runs_and_same_episode():
    assert runs([False, True, True, False, True]) == [(1, 2), (4, 4)]
    assert runs([]) == [] and runs([True]) == [(0, 0)]
    known = ("2026-11-10", "2026-11-12")
    assert same_episode("2026-11-12", "2026-11-14", *known)  # seen again, grown
    assert same_episode("2026-11-13", "2026-11-13", *known)  # the next day
    assert same_episode("2026-11-08", "2026-11-11", *known)  # started earlier once late counts came in
    assert not same_episode("2026-11-14", "2026-11-14", *known)  # a quiet day between: a new episode
    assert not same_episode("2026-11-01", "2026-11-08", *known)


def test_alert_ids_are_stable_readable_and_keep_values_apart():
    one = alert_id("spike", "batch", "DUMP1KG#B2411", "2026-11-20")
    assert one == alert_id("spike", "batch", "DUMP1KG#B2411", "2026-11-20")
    assert one.startswith("spike:batch:DUMP1KG-B2411-") and one.endswith(":2026-11-20")
    assert alert_id("spike", "batch", "B 1", "2026-11-20") != alert_id("spike", "batch", "B-1", "2026-11-20")
    assert alert_id("spike", "product", "猪肉水饺", "2026-11-20").startswith("spike:product:")
    assert alert_id("spike", "batch", "B1", "2026-11-20") != alert_id("spike", "batch", "B1", "2026-11-21")


def test_reasons_are_one_english_line():
    counts = [1] * 30 + [9, 14]
    [episode] = spikes_of(counts)
    text = reason(episode)
    assert "\n" not in text and text.startswith("Spike in complaints for batch B2411: 14 on ")
    assert f"(since {DAYS[30]})" in text and "expected a day" in text
    totals, rising = [100] * 70, [3] * 50 + [12] * 20
    [conc] = detect_concentrations({("product", "DUMP-1KG"): rising}, totals, DAYS[:70], S)
    assert reason(conc).startswith("Rising share of complaints for product DUMP-1KG: ")
    assert "in the 7 days to" in reason(conc)


# -- series from the counters ---------------------------------------------------------------------------
def test_series_from_the_counters_layout():
    days = day_range(date(2026, 11, 1), date(2026, 11, 3))
    counters = {
        date(2026, 11, 1): {("batch", "B1"): {"received": 2, "resolved": 5}, ("all", "-"): {"received": 10}},
        "2026-11-03": {("batch", "B1"): {"received": 4}, ("product", "P"): {"resolved": 1},
                       ("handler", "h1"): {"received": 3}, ("all", "-"): {"received": 12}},
        "2026-10-31": {("batch", "B1"): {"received": 9}},  # outside the days asked
    }
    series = series_from_counters(counters, days, ["batch", "product"])
    assert series == {("batch", "B1"): [2, 0, 4]}  # no received for P: no series; handler not asked
    assert totals_from_counters(counters, days) == [10, 0, 12]


def test_settings_are_validated():
    assert SpikeSettings().window_days == 28 and SpikeSettings().dimensions == ["product", "batch", "category"]
    with pytest.raises(ValidationError):
        SpikeSettings(window_days=3)
    with pytest.raises(ValidationError):
        SpikeSettings(dimensions=["handler"])
    with pytest.raises(ValidationError):
        SpikeSettings(threshold=3)  # unknown field
    assert SpikeSettings(recipients=["a", "a", "b"]).recipients == ["a", "b"]


# -- evidence -------------------------------------------------------------------------------------------
def test_evidence_keeps_ten_cases_three_short_central_samples_and_the_clusters():
    cases = [{"complaint_id": f"C{i:02d}", "received_at": f"2026-11-20T0{i % 10}:00:00Z", "department": "quality",
              "category": "food_safety", "cluster_id": "BATCH#DUMP1KG#B2411" if i < 4 else None,
              "title": "饺子有异味", "description": "饺子打开后有异味，馅料已经变质了。" * (40 if i == 0 else 1)}
             for i in range(12)]
    cases[5]["title"], cases[5]["description"] = "Late parcel", "The courier came three days late."
    evidence = evidence_of([{"day": "2026-11-20", "count": 12}], cases)
    assert len(evidence.cases) == MAX_CASES and evidence.cases_found == 12
    assert len(evidence.samples) == MAX_SAMPLES and all(len(s.text) <= SAMPLE_CHARS for s in evidence.samples)
    assert "C05" not in {s.complaint_id for s in evidence.samples}  # the odd one out is not a sample
    assert evidence.clusters == [{"cluster_id": "BATCH#DUMP1KG#B2411", "cases": 4}]
    assert 0 < evidence.text_similarity < 1
    long = sample_text("Title", "word " * 100)
    assert len(long) == SAMPLE_CHARS and long.endswith("…")
    assert sample_text(None, "  two \n lines ") == "two lines"
    assert evidence_of([], []).samples == [] and evidence_of([], []).text_similarity is None
