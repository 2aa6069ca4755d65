"""Clusters of similar complaint texts across customers, growing faster than usual: a root-cause signal.

A spike needs a counter to rise and a concentration needs a product or batch on the case; many
customers describing the same new problem in their own words ("the dumplings smell sour", "饺子有股
酸味") show up in neither when the cases carry no product, or spread over several. This module finds
them among the cases of the last days (pure Python, no AWS; the hourly root-cause job reads the cases
and raises the alert, :mod:`functions.reports.root_cause_job`):

* each text (title and description) becomes a TF-IDF vector (:mod:`shared.similarity`: words for
  English, character bigrams for Chinese), the IDF taken over the cases read; texts with fewer than
  ``min_terms`` terms ("too slow!") say too little and are left out;
* two cases are neighbours when their cosine reaches the threshold, by script: ``zh`` for Chinese,
  ``en`` for English, the mean weighted by the share of Chinese terms for a mixed text (and the mean
  of the two cases' thresholds for a pair);
* clusters are found density-based (DBSCAN): a case with at least ``min_customers - 1`` neighbours is
  a core; cores that are neighbours join, and a core's neighbours belong to its cluster. A chain of
  pairwise look-alikes does not make a cluster, a dense group of them does;
* a cluster is a signal when, in the recent window, its cases come from at least ``min_customers``
  different customers (cases sharing any contact hash are one customer: :func:`distinct_customers`,
  the router's rule for group complaints) **and** they are far more than the cluster's own rate in
  the baseline days before would give: P(X >= recent | Poisson(expected)) below ``p_value``, the
  expectation floored at ``min_expected``. Real complaints always hold steady topics ("delivery was
  late"): on the project's real data sets, 500 to 2,000 complaints spread evenly over a week form such
  clusters of dozens of cases, and none of them is a signal; six customers writing about the same new
  problem in two days are (tests/unit/test_text_clusters.py).

Scores are exact: the dot products are accumulated through an inverted index (term -> cases), so the
cost follows the pairs that share terms, not all pairs.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from shared.similarity import Corpus, terms


@dataclass(frozen=True)
class TextCase:
    complaint_id: str
    received_at: str  # ISO time
    text: str
    customer: frozenset[str] = frozenset()  # the case's contact hashes
    department: str | None = None
    category: str | None = None
    cluster_id: str | None = None  # the router's batch/order cluster, if any
    products: frozenset[tuple[str, str]] = frozenset()  # ("product", SKU or name), ("batch", batch)


@dataclass
class TextCluster:
    members: list[TextCase]  # the cluster's cases in the recent window, oldest first
    customers: int  # distinct customers among them
    similarity: float  # mean cosine of the neighbouring pairs among them
    baseline: int = 0  # the cluster's cases in the baseline days before the window
    expected: float = 0.0  # what the baseline rate gives for the window
    p_value: float = 1.0
    first_day: str = field(init=False)
    last_day: str = field(init=False)

    def __post_init__(self) -> None:
        self.members.sort(key=lambda c: (c.received_at, c.complaint_id))
        self.first_day = self.members[0].received_at[:10]
        self.last_day = max(c.received_at[:10] for c in self.members)

    @property
    def key(self) -> str:
        """The cluster's oldest case in the window: what names it."""
        return self.members[0].complaint_id

    @property
    def ids(self) -> list[str]:
        return [c.complaint_id for c in self.members]

    def explained_by(self, covered: set[tuple[str, str]]) -> bool:
        """Half or more of the cases are about a product or batch in ``covered`` (one a spike or
        concentration alert already names)."""
        return 2 * sum(1 for c in self.members if c.products & covered) >= len(self.members)

    def per_day(self) -> list[dict[str, object]]:
        counts: dict[str, int] = defaultdict(int)
        for c in self.members:
            counts[c.received_at[:10]] += 1
        return [{"day": d, "count": n} for d, n in sorted(counts.items())]


def distinct_customers(groups: Iterable[set[str] | frozenset[str]]) -> int:
    """How many customers own these hash sets: two sets sharing any hash are the same customer; an
    empty set (no contact known) is a customer of its own."""
    merged: list[set[str]] = []
    for hashes in groups:
        if not hashes:
            merged.append(set())
            continue
        joined = set(hashes)
        rest = []
        for m in merged:
            if m & joined:
                joined |= m
            else:
                rest.append(m)
        merged = rest + [joined]
    return len(merged)


def link_threshold(found: Sequence[str], zh: float, en: float) -> float:
    """The link threshold of a text's terms: by the share of them that are Chinese."""
    if not found:
        return en
    chinese = sum(1 for t in found if not ("a" <= t[0] <= "z")) / len(found)
    return zh * chinese + en * (1 - chinese)


def neighbours(cases: Sequence[TextCase], *, zh: float, en: float, min_terms: int
               ) -> tuple[list[TextCase], dict[int, dict[int, float]]]:
    """The cases with enough terms, and each one's neighbours ``{j: cosine}``."""
    usable, thresholds = [], []
    for case in cases:
        found = terms(case.text)
        if len(found) >= min_terms:
            usable.append(case)
            thresholds.append(link_threshold(found, zh, en))
    near: dict[int, dict[int, float]] = defaultdict(dict)
    if len(usable) < 2:
        return usable, near
    vectors = Corpus([c.text for c in usable]).vectors
    postings: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for i, vector in enumerate(vectors):
        for term, weight in vector.items():
            postings[term].append((i, weight))
    for i, vector in enumerate(vectors):
        dots: dict[int, float] = defaultdict(float)
        for term, weight in vector.items():
            for j, other in postings[term]:
                if j > i:
                    dots[j] += weight * other
        for j, score in dots.items():
            if score >= (thresholds[i] + thresholds[j]) / 2:
                near[i][j] = near[j][i] = score
    return usable, near


def dense_groups(count: int, near: dict[int, dict[int, float]], min_neighbours: int) -> list[set[int]]:
    """DBSCAN over the neighbour graph: cores (``min_neighbours`` or more) joined through each other,
    with their neighbours."""
    core = {i for i in range(count) if len(near.get(i, {})) >= min_neighbours}
    seen: set[int] = set()
    groups = []
    for start in sorted(core):
        if start in seen:
            continue
        group, stack = {start}, [start]
        seen.add(start)
        while stack:
            for j in near.get(stack.pop(), {}):
                if j not in group:
                    group.add(j)
                    if j in core and j not in seen:
                        seen.add(j)
                        stack.append(j)
        groups.append(group)
    return groups


def find_clusters(cases: Sequence[TextCase], *, recent_from: str, baseline_hours: float, window_hours: float,
                  zh: float = 0.2, en: float = 0.35, min_customers: int = 5, min_terms: int = 8,
                  p_value: float = 0.001, min_expected: float = 0.5) -> list[TextCluster]:
    """The clusters of similar texts whose cases received from ``recent_from`` (ISO time; the window,
    ``window_hours`` long) come from at least ``min_customers`` customers and far outnumber the
    cluster's cases of the ``baseline_hours`` before it; most customers first."""
    from shared.root_causes import poisson_sf

    usable, near = neighbours(cases, zh=zh, en=en, min_terms=min_terms)
    out = []
    for group in dense_groups(len(usable), near, max(1, min_customers - 1)):
        recent = [i for i in group if usable[i].received_at >= recent_from]
        if len(recent) < min_customers:
            continue
        customers = distinct_customers(usable[i].customer for i in recent)
        if customers < min_customers:
            continue
        baseline = len(group) - len(recent)
        expected = max(min_expected, baseline * window_hours / baseline_hours) if baseline_hours > 0 else min_expected
        p = poisson_sf(customers, expected)
        if p >= p_value:
            continue
        inside = set(recent)
        scores = [s for i in recent for j, s in near[i].items() if j in inside and i < j]
        out.append(TextCluster([usable[i] for i in recent], customers,
                               round(sum(scores) / len(scores), 4) if scores else 0.0,
                               baseline=baseline, expected=round(expected, 3), p_value=p))
    return sorted(out, key=lambda c: (-c.customers, c.key))
