"""Text to sparse features for the complaint-type classifier, the same code at training and at runtime.

No word segmenter is needed: a run of CJK characters gives character n-grams (uni- and bigrams by
default, so "变质" and "肚子" are features by themselves; trigrams gave no gain in our tests), a run
of Latin (or any other alphabetic) script gives words and word bigrams, and character 4-grams
inside words of four letters or more for robustness to inflection and typos. Mixed text
("iPhone屏幕碎了") simply yields both kinds.

Normalisation, in order: cheap HTML clean-up (``<script>``/``<style>`` blocks and tags dropped in
linear time, entities unescaped), a length cap, NFKC (full-width letters and digits become ASCII),
lower case, redaction masks ("XXXX") dropped, every digit run becomes ``0`` (so "2小时" and "35小时"
share "0小"), and a character repeated more than twice is cut to two ("好好好好好" -> "好好",
"!!!!!!" -> "!!"). Emoji and other pictographic symbols are features of their own.

Feature names are readable, because the runtime shows them as explanations: a CJK n-gram is the
characters themselves ("变质"), a word is the word ("refund"), a word bigram is two words joined by a
space ("charged twice"), an in-word character n-gram starts with ``~`` and marks the word's ends
with ``~`` too ("~~cha", "~harg", "~ged~"), and an emoji is itself. None holds a newline (the model
file relies on that).

Pure Python (``re``, ``unicodedata``, ``html``) with the loops in C; no numpy.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from itertools import repeat
from operator import add
from typing import Any, Iterable

try:  # the C helper behind Counter.update: counts an iterable into a dict without Python-level loops
    from _collections import _count_elements as _count
except ImportError:  # pragma: no cover - other Pythons
    def _count(mapping: dict[str, int], iterable: Iterable[str]) -> None:
        get = mapping.get
        for item in iterable:
            mapping[item] = get(item, 0) + 1

# first this many characters (after HTML clean-up) are used: a complaint says what it is about early
MAX_CHARS = 1000
# raw input beyond this is not even looked at (markup may take most of the first characters)
MAX_RAW_CHARS = 32_000

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
# a CJK run may hold the digit placeholder, so "2小时" and "两小时" share "小时" and "0小" is a feature;
# (one character class only: compiling big Unicode classes costs milliseconds at cold start)
_CJK_RUN = re.compile(rf"([{_CJK}0]+)")
# words between CJK runs; the split has already taken every CJK character out
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?|0")
# possessive quantifiers: no backtracking, linear time even for "<a" followed by 20,000 letters
_TAG = re.compile(r"<([!/?]?)([a-zA-Z][a-zA-Z0-9]*+)?[^<>]{0,2000}+>")
# tags that end a line or a block separate words; inline ones (<b>, <span>, <a>...) do not
_BLOCK_TAGS = frozenset("br p div li ul ol tr td th table h1 h2 h3 h4 h5 h6 hr blockquote pre section article "
                        "header footer title body html head".split())
_DIGITS = re.compile(r"\d+")
# redaction masks ("XXXX", "XX/XX/XXXX" in CFPB narratives; "xxx" for a hidden name) carry no meaning
_REDACTED = re.compile(r"(?<![^\W\d_])x{2,}(?![^\W\d_])")
_REPEAT = re.compile(r"(.)\1\1+", re.DOTALL)
_SPACE = re.compile(r"\s{2,}|[^\S ]")  # single spaces are left alone (cheaper)


@dataclass(frozen=True)
class FeatureConfig:
    """Which n-grams to extract; stored in the model file so runtime and training always agree."""

    cjk_ngrams: tuple[int, ...] = (1, 2)
    word_ngrams: tuple[int, ...] = (1, 2)
    word_char_ngrams: tuple[int, ...] = (4,)  # character n-grams inside Latin words (robust to inflection)
    word_char_min_len: int = 4  # only words this long get them (a shorter word is its own best feature)
    max_chars: int = MAX_CHARS

    def to_json(self) -> dict[str, Any]:
        return {"cjk_ngrams": list(self.cjk_ngrams), "word_ngrams": list(self.word_ngrams),
                "word_char_ngrams": list(self.word_char_ngrams), "word_char_min_len": self.word_char_min_len,
                "max_chars": self.max_chars}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "FeatureConfig":
        def ints(name: str, default: tuple[int, ...]) -> tuple[int, ...]:
            value = data.get(name, list(default))
            if not isinstance(value, list) or not all(isinstance(n, int) and 1 <= n <= 8 for n in value):
                raise ValueError(f"feature setting {name!r} must be a list of small positive integers")
            return tuple(value)

        numbers = {}
        for name, default in (("max_chars", MAX_CHARS), ("word_char_min_len", 1)):
            value = data.get(name, default)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"feature setting {name!r} must be a positive integer")
            numbers[name] = value
        return cls(cjk_ngrams=ints("cjk_ngrams", cls.cjk_ngrams), word_ngrams=ints("word_ngrams", cls.word_ngrams),
                   word_char_ngrams=ints("word_char_ngrams", ()), **numbers)


DEFAULT_CONFIG = FeatureConfig()


def normalize(text: str | None, max_chars: int = MAX_CHARS) -> str:
    """The text the features are taken from (see the module docstring)."""
    if not text:
        return ""
    if not isinstance(text, str):
        text = str(text)
    text = text[:MAX_RAW_CHARS]
    if "<" in text:
        text = _drop_code_blocks(text)
        text = _TAG.sub(_tag_space, text)
    if "&" in text:
        import html  # only texts with entities pay for the import

        text = html.unescape(text)
    text = unicodedata.normalize("NFKC", text[: max_chars * 2]).lower()
    if "xx" in text:
        text = _REDACTED.sub(" ", text)
    text = _DIGITS.sub("0", text)
    text = _REPEAT.sub(r"\1\1", text)
    return _SPACE.sub(" ", text)[:max_chars].strip()


def _drop_code_blocks(text: str) -> str:
    """Remove <script>...</script> and <style>...</style> (an unclosed one runs to the end). Linear time."""
    lower = text.lower()
    if "<script" not in lower and "<style" not in lower:
        return text
    out, pos = [], 0
    while True:
        starts = [k for k in (lower.find("<script", pos), lower.find("<style", pos)) if k >= 0]
        if not starts:
            out.append(text[pos:])
            break
        start = min(starts)
        name = "script" if lower.startswith("<script", start) else "style"
        out.append(text[pos:start])
        end = lower.find(f"</{name}", start)
        if end < 0:
            break
        close = lower.find(">", end)
        pos = len(text) if close < 0 else close + 1
        out.append(" ")
    return "".join(out)


def _tag_space(match: re.Match[str]) -> str:
    name = (match.group(2) or "").lower()
    return " " if not name or name in _BLOCK_TAGS else ""


def _is_pictograph(ch: str) -> bool:
    return ord(ch) >= 0x2100 and unicodedata.category(ch) == "So"


def _grams(seq: Any, n: int) -> Iterable[str]:
    """The n-grams of a string (characters) or of a list of words (joined by a space), built in C."""
    if n == 1:
        return seq
    if isinstance(seq, str):
        grams = map(add, seq, seq[1:])
        for k in range(2, n):
            grams = map(add, grams, seq[k:])
        return grams
    return map(" ".join, zip(*(seq[k:] for k in range(n))))


def extract(text: str | None, config: FeatureConfig = DEFAULT_CONFIG) -> dict[str, int]:
    """Feature name -> count for one text. Empty text gives an empty dict."""
    norm = normalize(text, config.max_chars)
    counts: dict[str, int] = {}
    if not norm:
        return counts
    word_ns = [n for n in config.word_ngrams if n > 1]
    all_words: list[str] = []
    segment: list[str] = []  # word n-grams (n >= 2) do not cross a CJK run; punctuation and numbers do not break them

    def flush() -> None:
        for n in word_ns:
            if len(segment) >= n:
                _count(counts, _grams(segment, n))
        all_words.extend(segment)
        segment.clear()

    # even positions: text between CJK runs (words, emoji); odd positions: the CJK runs themselves
    ascii_only = norm.isascii()
    for position, part in enumerate([norm] if ascii_only else _CJK_RUN.split(norm)):
        if position % 2:
            if not part.strip("0"):  # only the digit placeholder: a number between words
                segment.append("0")
                continue
            if segment:
                flush()
            for n in config.cjk_ngrams:
                if len(part) >= n:
                    _count(counts, _grams(part, n))
        elif part and part != " ":
            segment.extend(_WORD.findall(part))
            if not ascii_only and max(part) >= "\u2100":
                _count(counts, filter(_is_pictograph, part))
    if segment:
        flush()
    if all_words:
        if 1 in config.word_ngrams:
            _count(counts, all_words)
        if config.word_char_ngrams:
            # "~word~" per word, so n-grams mark the word's ends; a window never spans a space
            shortest = config.word_char_min_len
            long_words = all_words if shortest <= 1 else [w for w in all_words if len(w) >= shortest]
            joined = "~" + "~ ~".join(long_words) + "~"
            for n in config.word_char_ngrams:
                _count(counts, map(add, repeat("~"), _window(n).findall(joined)))
    return counts


@lru_cache(maxsize=None)
def _window(n: int) -> re.Pattern[str]:
    return re.compile(rf"(?=([^ ]{{{n}}}))")
