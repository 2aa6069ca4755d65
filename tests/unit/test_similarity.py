"""Text similarity for suggestions (shared/similarity.py): terms in Chinese and English, ranking, and
a check on real complaint texts (../shared/datasets, skipped where absent) that the nearest case is
mostly one about the same thing."""
from __future__ import annotations

import csv
import random
from collections import Counter
from pathlib import Path

import pytest

from shared.similarity import THRESHOLD_EN, THRESHOLD_ZH, case_history, rank, similarity, terms, threshold_for

DATASETS = Path(__file__).resolve().parents[3] / "shared" / "datasets"


def test_chinese_gives_character_bigrams_and_english_folded_words():
    assert terms("饺子有异味") == ["饺子", "子有", "有异", "异味"]
    assert terms("I was charged twice; the refunds arrived") == ["charg", "twic", "refund", "arriv"]
    assert terms("They charge me") == ["charg"]
    assert terms("Order 20240501 for ¥128") == ["order"]  # digits say nothing about the topic
    assert terms("ＫＥＴＴＬＥ 坏") == ["kettl", "坏"]  # full-width letters read as ASCII; a lone character stays
    assert terms("iPhone屏幕碎了") == ["iphon", "屏幕", "幕碎", "碎了"]
    assert terms("") == [] and terms(None) == []


def test_the_kettle_complaint_finds_the_kettle_case():
    query = "The kettle leaks water from the base after a week of use."
    candidates = [
        ("C-charge", "I was charged twice for the same order and want the money back."),
        ("C-kettle", "Water leaking from the bottom of my new kettle"),
        ("C-rude", "The courier was rude and threw the parcel at my door."),
    ]
    ranked = rank(query, candidates)
    assert ranked[0][0] == "C-kettle"
    assert [key for key, _ in ranked] == ["C-kettle"]  # the others share nothing worth showing


def test_the_dumpling_complaint_finds_the_dumpling_case():
    query = "速冻饺子打开后有酸味，孩子吃了肚子疼"
    candidates = [
        ("C-late", "快递送晚了三天，冰淇淋都化了"),
        ("C-rude", "客服态度很差，电话直接挂断"),
        ("C-sour", "饺子有酸味，怀疑变质了"),
    ]
    ranked = rank(query, candidates)
    assert [key for key, _ in ranked] == ["C-sour"]
    assert 0 < ranked[0][1] <= 1


def test_ranking_is_ordered_bounded_and_deterministic():
    query = "refund for a broken blender"
    candidates = [(f"C{i}", "the blender arrived broken, refund please") for i in range(8)]
    candidates.insert(3, ("C-best", "refund for a broken blender"))
    first = rank(query, candidates, limit=5)
    assert first == rank(query, candidates, limit=5)
    assert first[0] == ("C-best", 1.0)
    assert [k for k, _ in first[1:]] == ["C0", "C1", "C2", "C3"]  # equal scores keep the given order
    assert all(a[1] >= b[1] for a, b in zip(first, first[1:]))
    assert rank(query, []) == [] and rank("", candidates) == [] and rank(query, candidates, limit=0) == []


def test_the_threshold_follows_the_script_of_the_query():
    assert threshold_for("the kettle leaks") == THRESHOLD_EN
    assert threshold_for("饺子有异味") == THRESHOLD_ZH
    assert THRESHOLD_ZH < threshold_for("kettle 漏水了") < THRESHOLD_EN
    assert similarity("a b c", "d e f") == 0.0


def test_case_history_joins_title_description_and_messages():
    assert case_history("Kettle", "It leaks.", ["Photo attached", None]) == "Kettle\nIt leaks.\nPhoto attached"
    assert case_history(None, "It leaks.") == "It leaks."


def _rows(name: str, limit: int) -> list[tuple[str, str]]:
    path = DATASETS / name / "dev.csv"
    if not path.exists():
        pytest.skip(f"{path} is not here (the data sets live beside the checkout)")
    with open(path, encoding="utf-8") as f:
        rows = [(r["text"], r["label"]) for r in csv.DictReader(f)]
    random.Random(7).shuffle(rows)
    return rows[:limit]


@pytest.mark.parametrize("name, floor", [("gov_messages_zh", 0.65), ("shopping_negative_zh", 0.45),
                                         ("support_tickets_en", 0.6), ("cfpb_products_en", 0.5)])
def test_the_nearest_real_complaint_is_mostly_about_the_same_thing(name, floor):
    """Top-1 neighbour with the same label, over 40 queries against 200 texts: far above chance."""
    rows = _rows(name, 200)
    chance = sum((n / len(rows)) ** 2 for n in Counter(label for _, label in rows).values())
    hits = asked = 0
    for i, (text, label) in enumerate(rows[:40]):
        ranked = rank(text, [(j, t) for j, (t, _) in enumerate(rows) if j != i], limit=1, threshold=0.0)
        asked += 1
        hits += bool(ranked) and rows[ranked[0][0]][1] == label
    assert hits / asked >= max(floor, chance + 0.15), (hits / asked, chance)
