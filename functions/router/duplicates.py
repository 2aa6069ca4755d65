"""Is a new complaint a repeat of an earlier one? Text similarity over character n-grams.

Character shingles work for Chinese (no word segmentation needed) and English alike, and survive
typos, re-punctuation, and a transcription by the hotline or a copy into an email. The score is the
larger of two views of the shingle sets:

* Jaccard (shared / all): high when the texts are the same with small edits;
* containment (shared / smaller set), discounted: high when one text is the other with sentences
  added or cut (the customer pastes their complaint again and adds "this is my second complaint").
  It counts only when the smaller text has enough shingles, so short texts need a real match.

Candidates are never the whole table: the router asks only about the same customer's recent cases
(by the keyed hashes of email, phone and member id, any channel) and the same order's
(:class:`Candidate`); :func:`best_repeat` picks the most similar one above the threshold. The
threshold and weights come from ``infra/duplicate_bench.py`` (figures in ``docs/router.md``).
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

NGRAM_CJK = 3  # Chinese: three characters carry about a word and a half
NGRAM_LATIN = 5  # English: three-letter grams are shared by any two long texts ("the", "ing")
THRESHOLD = 0.45
CONTAINMENT_WEIGHT = 0.85
MIN_CONTAINED_SHINGLES = 6
WINDOW_DAYS = 30

_DROP = re.compile(r"[^\w\u3400-\u4dbf\u4e00-\u9fff]+")
_SPACE_BETWEEN_CJK = re.compile(r"(?<=[\u3400-\u9fff])\s+(?=[\u3400-\u9fff])")


def normalize(text: str) -> str:
    """NFKC (full-width to half-width), lower case, punctuation and spacing reduced to one space,
    none between Chinese characters (hotline transcripts and copies space them differently)."""
    text = unicodedata.normalize("NFKC", text or "").lower()
    text = _DROP.sub(" ", text).replace("_", " ")
    text = " ".join(text.split())
    return _SPACE_BETWEEN_CJK.sub("", text)


def is_cjk(text: str) -> bool:
    """Mostly Chinese: at least a third as many CJK characters as Latin letters and digits."""
    cjk = sum(1 for ch in text if "\u3400" <= ch <= "\u9fff")
    latin = sum(1 for ch in text if ch.isascii() and ch.isalnum())
    return cjk > 0 and cjk * 3 >= latin


@lru_cache(maxsize=4096)
def shingles(text: str, n: int | None = None) -> frozenset[str]:
    norm = normalize(text)
    n = n or (NGRAM_CJK if is_cjk(norm) else NGRAM_LATIN)
    if len(norm) <= n:
        return frozenset([norm]) if norm else frozenset()
    return frozenset(norm[i:i + n] for i in range(len(norm) - n + 1))


@dataclass(frozen=True)
class Similarity:
    score: float
    jaccard: float
    containment: float

    def as_dict(self) -> dict[str, float]:
        return {"score": round(self.score, 3), "jaccard": round(self.jaccard, 3),
                "containment": round(self.containment, 3)}


def similarity(a: str, b: str) -> Similarity:
    n = NGRAM_CJK if is_cjk(a) or is_cjk(b) else NGRAM_LATIN
    sa, sb = shingles(a, n), shingles(b, n)
    if not sa or not sb:
        return Similarity(0.0, 0.0, 0.0)
    shared = len(sa & sb)
    jaccard = shared / len(sa | sb)
    smaller = min(len(sa), len(sb))
    containment = shared / smaller if smaller >= MIN_CONTAINED_SHINGLES else jaccard
    return Similarity(max(jaccard, CONTAINMENT_WEIGHT * containment), jaccard, containment)


@dataclass(frozen=True)
class Candidate:
    """An earlier case the new one may repeat."""

    complaint_id: str
    text: str
    received_at: datetime
    status: str
    open: bool
    repeat_of: str | None = None  # a candidate that is itself a repeat points to its original
    matched_by: tuple[str, ...] = ()  # "customer" (a contact hash in common), "order"
    priority: str | None = None
    version: int = 0
    repeat_count: int = 0


@dataclass(frozen=True)
class RepeatMatch:
    candidate: Candidate
    similarity: Similarity
    checked: int

    @property
    def original_id(self) -> str:
        return self.candidate.complaint_id

    def as_dict(self) -> dict[str, object]:
        return {"repeat_of": self.original_id, "similarity": self.similarity.as_dict(),
                "matched_by": list(self.candidate.matched_by), "candidates_checked": self.checked}


def complaint_text(title: str | None, description: str) -> str:
    return f"{title}\n{description}" if title and title.strip() and title.strip() not in description else description


def eligible(c: Candidate, received_at: datetime, window_days: int = WINDOW_DAYS) -> bool:
    """Earlier than the new case, and open, or closed less than the window ago."""
    if c.received_at >= received_at:
        return False
    return c.open or received_at - c.received_at <= timedelta(days=window_days)


def best_repeat(text: str, received_at: datetime, candidates: list[Candidate], *,
                threshold: float = THRESHOLD, window_days: int = WINDOW_DAYS) -> RepeatMatch | None:
    """The most similar eligible candidate at or above the threshold (the earliest one on a tie)."""
    best: RepeatMatch | None = None
    checked = 0
    for c in sorted(candidates, key=lambda c: c.received_at):
        if not eligible(c, received_at, window_days):
            continue
        checked += 1
        sim = similarity(text, c.text)
        if sim.score >= threshold and (best is None or sim.score > best.similarity.score):
            best = RepeatMatch(c, sim, 0)
    return RepeatMatch(best.candidate, best.similarity, checked) if best else None
