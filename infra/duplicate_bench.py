"""Duplicate detection: precision and recall on pairs built from real complaint texts.

The texts are the shared datasets (``../shared/datasets``, env ``DATASETS_DIR``): Chinese shopping
and food-delivery reviews and citizens' messages, English CFPB narratives. For each sampled text:

* positives - the same complaint sent again: with typos; with a sentence added ("this is my second
  complaint"); with a sentence cut; through another channel (an email with a subject line and
  greeting, a hotline agent's transcript without punctuation, a social post cut to 140 characters);
  typos and an added sentence together;
* negatives - another complaint the same customer might send: a random text on the same topic
  (same label), and the most similar other text of the same set (by plain bigram Jaccard, so the
  scorer under test does not choose its own negatives). Some sets hold the same text twice (CFPB
  template dispute letters, one narrative filed twice): such "negatives" (bigram Jaccard >= 0.8)
  are counted as different all the same, and the figures without them are given beside.

Pairs are scored by :func:`functions.router.duplicates.similarity`. The threshold is chosen on one
sample (the highest recall with precision >= ``MIN_PRECISION``) and the figures are reported on
another, disjoint sample. ``figures()`` returns them (``make bench`` calls it);
``python -m infra.duplicate_bench`` prints them and writes ``.bench/duplicates.json``.
"""
from __future__ import annotations

import csv
import json
import os
import random
import re
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATASETS = ROOT.parent / "shared" / "datasets"
RESULTS = ROOT / ".bench" / "duplicates.json"
MIN_PRECISION = 0.99
MAX_CHARS = 2000
SOURCE_COPY = 0.8  # bigram Jaccard from which two dataset texts are the same text filed twice

# (name, file, language, keep(row))
SOURCES: list[tuple[str, str, str, Callable[[dict[str, str]], bool]]] = [
    ("food_delivery_reviews_zh", "reviews.csv", "zh", lambda r: r.get("sentiment") == "negative"),
    ("shopping_negative_zh", "dev.csv", "zh", lambda r: True),
    ("gov_messages_zh", "dev.csv", "zh", lambda r: True),
    ("cfpb_products_en", "dev.csv", "en", lambda r: True),
]

FOLLOW_UPS = {
    "zh": ["这已经是我第二次投诉了，请尽快处理。", "到现在还没有人联系我，请给个说法。", "补充一下：订单号在上一条里。",
           "希望你们重视这个问题！", "我昨天已经在网上提交过一次了。"],
    "en": ["This is the second time I am reporting this, please respond.", "Nobody has contacted me yet.",
           "Adding to my earlier message: the order number is in the first one.", "Please escalate this.",
           "I already submitted this through your website yesterday."],
}
GREETINGS = {"zh": ("您好，", "谢谢。"), "en": ("Hello,", "Regards")}
SENTENCE_END = re.compile(r"(?<=[。！？!?；;.])\s*")


@dataclass(frozen=True)
class Pair:
    a: str
    b: str
    repeat: bool
    kind: str
    source: str
    language: str
    copy_in_source: bool = False  # a "different" text that is a near-verbatim copy in the dataset itself


def datasets_dir(path: str | Path | None = None) -> Path:
    return Path(path or os.environ.get("DATASETS_DIR") or DEFAULT_DATASETS)


def load_texts(root: Path) -> dict[str, list[tuple[str, str]]]:
    """name -> [(text, label)], texts of at least 10 characters, cut at MAX_CHARS."""
    out: dict[str, list[tuple[str, str]]] = {}
    for name, file, _, keep in SOURCES:
        path = root / name / file
        if not path.is_file():
            continue
        with path.open(encoding="utf-8", newline="") as fh:
            rows = [r for r in csv.DictReader(fh) if keep(r)]
        seen, texts = set(), []
        for r in rows:
            text = (r.get("text") or "").strip()[:MAX_CHARS]
            if len(text) >= 10 and text not in seen:
                seen.add(text)
                texts.append((text, r.get("label") or ""))
        out[name] = texts
    return out


# -- edits -------------------------------------------------------------------------------------------
def _typos(text: str, rng: random.Random, rate: float = 0.04) -> str:
    chars = list(text)
    for _ in range(max(1, int(len(chars) * rate))):
        i = rng.randrange(len(chars))
        op = rng.choice(("swap", "drop", "double", "replace"))
        if op == "swap" and i + 1 < len(chars):
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
        elif op == "drop" and len(chars) > 5:
            del chars[i]
        elif op == "double":
            chars.insert(i, chars[i])
        else:
            chars[i] = rng.choice("的了是我不在有一这个，。 aeiou") if not chars[i].isascii() else rng.choice("aeiorstn ")
    return "".join(chars)


def _sentences(text: str) -> list[str]:
    return [s for s in SENTENCE_END.split(text) if s.strip()]


def _cut_sentence(text: str, rng: random.Random) -> str:
    parts = _sentences(text)
    if len(parts) >= 3:
        del parts[rng.randrange(1, len(parts))]
        return "".join(parts) if not text.isascii() else " ".join(parts)
    return text[: max(8, int(len(text) * 0.8))]


def edit(text: str, kind: str, lang: str, rng: random.Random) -> str:
    follow = rng.choice(FOLLOW_UPS[lang])
    hello, bye = GREETINGS[lang]
    if kind == "typos":
        return _typos(text, rng)
    if kind == "added_sentence":
        return text + (" " if lang == "en" else "") + follow
    if kind == "cut_sentence":
        return _cut_sentence(text, rng)
    if kind == "channel_email":
        subject = text[:20] if lang == "zh" else " ".join(text.split()[:6])
        return f"{'主题' if lang == 'zh' else 'Subject'}: {subject}\n\n{hello}\n\n{text}\n\n{bye}"
    if kind == "channel_hotline":
        spoken = re.sub(r"[^\w\s]", " ", text).lower()
        return ("客户来电反映：" if lang == "zh" else "Customer called. Says ") + spoken
    if kind == "channel_social":
        return ("@客服 " if lang == "zh" else "@support ") + text[:140] + (" #投诉" if lang == "zh" else " #complaint")
    if kind == "typos_and_added":
        return _typos(text, rng) + (" " if lang == "en" else "") + follow
    raise ValueError(kind)


EDITS = ("typos", "added_sentence", "cut_sentence", "channel_email", "channel_hotline", "channel_social",
         "typos_and_added")


def _bigrams(text: str) -> frozenset[str]:
    from functions.router.duplicates import normalize

    norm = normalize(text)
    return frozenset(norm[i:i + 2] for i in range(len(norm) - 1))


def build_pairs(texts: dict[str, list[tuple[str, str]]], *, per_source: int, seed: int,
                exclude: set[str] = frozenset(), pool: int = 400) -> list[Pair]:
    """Positives (two edits of each sampled text) and negatives (same topic, nearest other text of
    a pool drawn once per set)."""
    from functions.router.duplicates import normalize as _normalize

    rng = random.Random(seed)
    pairs: list[Pair] = []
    norms: dict[str, str] = {}

    def normalize(t: str) -> str:
        if t not in norms:
            norms[t] = _normalize(t)
        return norms[t]

    for name, _, lang, _ in SOURCES:
        rows = texts.get(name) or []
        candidates = [r for r in rows if r[0] not in exclude]
        if len(candidates) < 3:
            continue
        sample = rng.sample(candidates, min(per_source, len(candidates)))
        by_label: dict[str, list[str]] = defaultdict(list)
        for text, label in rows:
            by_label[label].append(text)
        others = [(t, _bigrams(t)) for t, _ in rng.sample(rows, min(pool, len(rows)))]
        for text, label in sample:
            for kind in rng.sample(EDITS, 2):
                pairs.append(Pair(text, edit(text, kind, lang, rng), True, kind, name, lang))
            norm = normalize(text)
            same_topic = [t for t in by_label[label] if normalize(t) != norm]
            if same_topic:
                pairs.append(Pair(text, rng.choice(same_topic), False, "same_topic", name, lang))
            grams = _bigrams(text)
            scored_others = [(len(grams & g) / len(grams | g) if grams and g else 0.0, t) for t, g in others
                             if normalize(t) != norm]
            if scored_others:
                score, nearest = max(scored_others)
                pairs.append(Pair(text, nearest, False, "nearest_other", name, lang, score >= SOURCE_COPY))
    return pairs


# -- scoring --------------------------------------------------------------------------------------------
def scored(pairs: list[Pair]) -> list[tuple[float, Pair]]:
    from functions.router.duplicates import similarity

    return [(similarity(p.a, p.b).score, p) for p in pairs]


def confusion(scores: list[tuple[float, Pair]], threshold: float) -> dict[str, Any]:
    tp = sum(1 for s, p in scores if p.repeat and s >= threshold)
    fp = sum(1 for s, p in scores if not p.repeat and s >= threshold)
    fn = sum(1 for s, p in scores if p.repeat and s < threshold)
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
            "true_positives": tp, "false_positives": fp, "false_negatives": fn}


def choose_threshold(scores: list[tuple[float, Pair]], min_precision: float = MIN_PRECISION) -> float:
    """The lowest threshold (so the highest recall) whose precision reaches ``min_precision``."""
    best = 1.0
    for t in sorted({round(s, 2) for s, _ in scores if s > 0}, reverse=True):
        if confusion(scores, t)["precision"] >= min_precision:
            best = t
    return best


def breakdown(scores: list[tuple[float, Pair]], threshold: float) -> dict[str, Any]:
    by_kind: dict[str, Counter[str]] = defaultdict(Counter)
    for s, p in scores:
        by_kind[p.kind]["n"] += 1
        by_kind[p.kind]["flagged"] += s >= threshold
    return {k: {"pairs": c["n"], "flagged_as_repeat": round(c["flagged"] / c["n"], 4)} for k, c in sorted(by_kind.items())}


def figures(datasets: str | Path | None = None, *, per_source: int = 150, seed: int = 7,
            threshold: float | None = None) -> dict[str, Any]:
    """Precision and recall at the threshold (chosen on a tuning sample unless given), measured on
    a disjoint evaluation sample; per language and per edit or negative kind."""
    from functions.router import duplicates

    texts = load_texts(datasets_dir(datasets))
    if not texts:
        raise FileNotFoundError(f"no datasets under {datasets_dir(datasets)}")
    tuning = build_pairs(texts, per_source=per_source, seed=seed)
    chosen = choose_threshold([x for x in scored(tuning) if not x[1].copy_in_source])
    used = duplicates.THRESHOLD if threshold is None else threshold
    evaluation = build_pairs(texts, per_source=per_source, seed=seed + 1, exclude={p.a for p in tuning})
    scores = scored(evaluation)
    result: dict[str, Any] = {
        "threshold": used, "threshold_tuned": chosen, "min_precision_for_tuning": MIN_PRECISION,
        **confusion(scores, used),
        "pairs": {"repeats": sum(p.repeat for p in evaluation), "different": sum(not p.repeat for p in evaluation)},
        "at_tuned_threshold": confusion(scores, chosen),
        "excluding_copies_in_source": {
            **confusion([x for x in scores if not x[1].copy_in_source], used),
            "pairs_excluded": sum(p.copy_in_source for p in evaluation)},
        "by_language": {lang: confusion([x for x in scores if x[1].language == lang], used) for lang in ("zh", "en")},
        "by_kind": breakdown(scores, used),
        "sources": sorted(texts),
    }
    return result


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    result = figures(args[0] if args else None)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
