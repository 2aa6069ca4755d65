"""Text similarity between complaints: TF-IDF vectors compared by cosine, in pure Python.

Used to suggest resolved cases like the one a handler works on (``functions/staff/suggestions.py``).
Deterministic, and fast enough to rank a few hundred cases per request: 300 real complaints of about
400 Chinese characters (the slowest kind: a term per character) take about 80 ms, English ones less.

Terms, after NFKC and lower-casing (so full-width letters read as ASCII):

* a run of Chinese (CJK) characters gives its character bigrams ("外卖送晚了" -> 外卖, 卖送, 送晚,
  晚了); a single character between other scripts is a term by itself. No segmenter is needed, and
  bigrams catch most two-character words;
* a run of Latin letters gives words, minus English stop words, with a crude suffix folding so that
  "refunded", "refunds" and "refund" (or "charged" and "charges") meet;
* digits are dropped: order numbers, amounts and dates say little about what a complaint is about.

Weights: ``1 + ln(tf)`` times a smoothed IDF, ``ln((1 + n) / (1 + df)) + 1``, over the documents
being compared (the candidates and the query), each vector L2-normalised; the score is their cosine,
0 (nothing shared) to 1 (the same terms in the same proportions).
"""
from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from operator import add
from typing import Hashable, Iterable, Sequence, TypeVar

K = TypeVar("K", bound=Hashable)

MAX_CHARS = 3_000  # of each document: what a complaint is about is said early
# The least score worth showing, by script: Chinese bigram vectors have many more distinct terms than
# English word vectors, so unrelated texts score lower. On the real complaint texts of the project's
# data sets, 99 in 100 unrelated pairs score below 0.05 (Chinese) and 0.18 (English) while the nearest
# same-topic neighbour mostly scores above; a mixed text takes the weighted mean.
THRESHOLD_ZH, THRESHOLD_EN = 0.06, 0.15
_TF = [0.0] + [1.0 + math.log(n) for n in range(1, 32)]  # 1 + ln(tf) for the usual counts

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN = re.compile(rf"[{_CJK}]+|[a-z]+(?:'[a-z]+)?")
_SUFFIXES = ("ing", "ies", "ied", "es", "ed", "s", "e")
STOP_WORDS = frozenset("""
a about above after again against all also am an and any are as at be because been before being below
between both but by can cannot could did do does doing down during each few for from further had has have
having he her here hers herself him himself his how i if in into is it its itself just let me more most my
myself no nor not now of off on once only or other our ours ourselves out over own same she should so some
such than that the their theirs them themselves then there these they this those through to too under until
up very was we were what when where which while who whom why will with would you your yours yourself
yourselves im ive id dont didnt doesnt isnt wasnt cant couldnt wont get got one two still even us
""".split())


def fold(word: str) -> str:
    """A word without its common English inflection: refunded/refunds -> refund, charged/charges -> charg."""
    if word.endswith("'s"):
        word = word[:-2]
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not (suffix == "s" and word.endswith("ss")):
            stem = word[: -len(suffix)]
            return stem + "y" if suffix in ("ies", "ied") else stem
    return word


def terms(text: str | None) -> list[str]:
    """The terms of a text (see the module docstring), in order, repeats kept."""
    if not text:
        return []
    text = unicodedata.normalize("NFKC", text[:MAX_CHARS]).lower()
    out: list[str] = []
    for run in _TOKEN.findall(text):
        if "a" <= run[0] <= "z":
            if len(run) > 1 and run not in STOP_WORDS:
                out.append(fold(run))
        elif len(run) == 1:
            out.append(run)
        else:
            out.extend(map(add, run[:-1], run[1:]))  # bigrams, joined in C
    return out


def case_history(title: str | None, description: str | None, messages: Iterable[str | None] = ()) -> str:
    """The text a case is compared by: its title, the description and the customer's own messages."""
    return "\n".join(t for t in (title, description, *messages) if t)


class Corpus:
    """IDF weights over a set of documents, and their normalised TF-IDF vectors."""

    def __init__(self, documents: Iterable[str]):
        self._counts = [Counter(terms(d)) for d in documents]
        df: Counter[str] = Counter()
        for counts in self._counts:
            df.update(counts.keys())
        n = len(self._counts)
        self._idf = {term: math.log((1 + n) / (1 + f)) + 1.0 for term, f in df.items()}
        self._unseen_idf = math.log(1 + n) + 1.0  # a term in no document of the corpus
        self.vectors = [self._weigh(c) for c in self._counts]

    def vector(self, text: str) -> dict[str, float]:
        return self._weigh(Counter(terms(text)))

    def _weigh(self, counts: Counter[str]) -> dict[str, float]:
        idf, unseen = self._idf, self._unseen_idf
        weights = {t: (_TF[c] if c < len(_TF) else 1.0 + math.log(c)) * idf.get(t, unseen) for t, c in counts.items()}
        norm = math.sqrt(sum(w * w for w in weights.values()))
        return {t: w / norm for t, w in weights.items()} if norm else {}


def cosine(a: dict[str, float], b: dict[str, float]) -> float:
    if len(a) > len(b):
        a, b = b, a
    return sum(w * b.get(t, 0.0) for t, w in a.items())


def threshold_for(text: str) -> float:
    """The least score worth showing for a query: by the share of its terms that are Chinese."""
    found = terms(text)
    if not found:
        return THRESHOLD_EN
    chinese = sum(1 for t in found if not ("a" <= t[0] <= "z")) / len(found)
    return round(THRESHOLD_ZH * chinese + THRESHOLD_EN * (1 - chinese), 4)


def rank(query: str, candidates: Sequence[tuple[K, str]], *, limit: int = 5,
         threshold: float | None = None) -> list[tuple[K, float]]:
    """The candidates most like ``query``: ``(key, score)`` best first, at most ``limit``, each scoring
    at least ``threshold`` (default: :func:`threshold_for` the query). The IDF is taken over the
    candidates and the query together; ties keep the candidates' order (so newest first stays first)."""
    if not candidates or limit <= 0:
        return []
    if threshold is None:
        threshold = threshold_for(query)
    corpus = Corpus([query, *(text for _, text in candidates)])
    target = corpus.vectors[0]
    if not target:
        return []
    scored = [(cosine(target, vector), i) for i, vector in enumerate(corpus.vectors[1:])]
    best = sorted((s for s in scored if s[0] >= threshold), key=lambda s: (-s[0], s[1]))[:limit]
    return [(candidates[i][0], round(score, 4)) for score, i in best]


def similarity(a: str, b: str) -> float:
    """The cosine of two texts weighed by each other alone (a quick look; :func:`rank` for a set)."""
    corpus = Corpus([a, b])
    return round(cosine(*corpus.vectors), 4)
