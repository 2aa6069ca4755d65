"""Duplicate detection: similarity of resubmitted texts (zh and en), thresholds, candidate rules, and
precision/recall on a small sample built from the real texts."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from functions.router import duplicates
from functions.router.duplicates import Candidate, best_repeat, normalize, shingles, similarity

ZH = "我在你们店买的速冻水饺，打开后发现有一股酸味，馅料颜色发灰，明显已经变质了。要求退款并给出说法。"
EN = ("I bought two bags of frozen pork dumplings at your store on Monday. When I opened the first bag they "
      "smelled sour and the filling was grey. I want a refund and an explanation.")
T0 = datetime(2025, 3, 1, 12, tzinfo=timezone.utc)


def test_normalize_ignores_width_case_punctuation_and_spacing():
    assert normalize("ＡＢＣ，  Def!!  饺 子 有 异味。") == "abc def 饺子有异味"
    assert normalize("") == ""
    assert shingles("饺子有异味") == frozenset({"饺子有", "子有异", "有异味"})
    assert shingles("ab") == frozenset({"ab"})
    assert len(next(iter(shingles("The dumplings smelled sour")))) == 5  # Latin text: 5-grams


@pytest.mark.parametrize("edited", [
    ZH.replace("酸味", "酸位").replace("明显", "明先"),  # typos
    ZH + "这已经是我第二次投诉了，请尽快处理！",  # a sentence added
    ZH.split("。")[0] + "。",  # a sentence cut
    "主题：水饺变质\n\n您好，\n" + ZH + "\n谢谢",  # by email
    "客户来电反映 " + ZH.replace("，", " ").replace("。", " "),  # the hotline's transcript
    "@客服 " + ZH[:40] + " #投诉",  # social post, cut short
])
def test_resubmissions_in_chinese_are_repeats(edited):
    assert similarity(ZH, edited).score >= duplicates.THRESHOLD, edited


@pytest.mark.parametrize("edited", [
    EN.replace("dumplings", "dumplngs").replace("filling", "fillng"),
    EN + " This is my second complaint about this, nobody has answered.",
    EN.rsplit(".", 2)[0] + ".",
    "Subject: sour dumplings\n\nHello,\n\n" + EN + "\n\nRegards, Ann",
    "Customer called. Says " + EN.lower().replace(".", "").replace(",", ""),
    "@support " + EN[:140] + " #complaint",
])
def test_resubmissions_in_english_are_repeats(edited):
    assert similarity(EN, edited).score >= duplicates.THRESHOLD, edited


@pytest.mark.parametrize("a,b", [
    (ZH, "快递员态度很差，东西扔在楼下就走了，打电话也不接。"),
    (ZH, "我买的速冻汤圆，打开后发现有一股怪味，馅料发黑，感觉不新鲜。要求换货。"),  # same topic, other case
    (EN, "The courier left my parcel in the rain and it was soaked through. I want a refund."),
    (EN, "I bought frozen chicken wings at your store and they were freezer burnt. Please refund me."),
    ("太慢了", "太慢了吧，等了两个小时，饭菜都凉了，再也不点了"),  # a short text inside a long one
])
def test_different_complaints_are_not_repeats(a, b):
    assert similarity(a, b).score < duplicates.THRESHOLD, (a, b)


def test_similarity_is_symmetric_and_bounded():
    for a, b in ((ZH, ZH + "补充"), (EN, EN[:60]), ("", EN), ("abc", "abc")):
        s1, s2 = similarity(a, b), similarity(b, a)
        assert s1 == s2
        assert 0.0 <= s1.score <= 1.0
    assert similarity(ZH, ZH).score == 1.0
    assert similarity("", "").score == 0.0


def test_containment_needs_enough_text():
    short = "包装破了"
    long = "包装破了，里面的饺子全都碎了，还粘在一起，根本没法煮"
    sim = similarity(short, long)
    assert sim.containment == sim.jaccard  # too short for containment to count
    assert sim.score < duplicates.THRESHOLD


def candidate(cid, text, days_before, *, open=True, **kw):
    return Candidate(complaint_id=cid, text=text, received_at=T0 - timedelta(days=days_before),
                     status="classified" if open else "closed", open=open, **kw)


def test_best_repeat_picks_the_most_similar_eligible_case():
    cands = [
        candidate("C1", "快递员态度很差，东西扔在楼下就走了。", 2, matched_by=("customer",)),
        candidate("C2", ZH, 5, matched_by=("customer",)),
        candidate("C3", ZH + "补充一下订单号。", 1, matched_by=("customer", "order")),
    ]
    match = best_repeat(ZH + "请尽快处理", T0, cands)
    assert match is not None and match.original_id == "C2" and match.checked == 3
    data = match.as_dict()
    assert data["repeat_of"] == "C2" and data["matched_by"] == ["customer"] and data["similarity"]["score"] >= 0.85


def test_best_repeat_respects_window_order_and_threshold():
    later = Candidate(complaint_id="C9", text=ZH, received_at=T0 + timedelta(minutes=1), status="received", open=True)
    closed_long_ago = candidate("C8", ZH, 45, open=False)
    closed_recently = candidate("C7", ZH, 10, open=False)
    open_long_ago = candidate("C6", ZH, 90, open=True)
    assert best_repeat(ZH, T0, [later, closed_long_ago]) is None
    assert best_repeat(ZH, T0, [closed_recently]).original_id == "C7"
    assert best_repeat(ZH, T0, [open_long_ago]).original_id == "C6"
    assert best_repeat(ZH, T0, [closed_recently], window_days=5) is None
    assert best_repeat("完全不同的内容，关于发票开错了抬头的问题。", T0, [closed_recently]) is None
    assert best_repeat(ZH, T0, [candidate("C5", ZH[:30], 1)], threshold=0.99) is None
    assert best_repeat(ZH, T0, []) is None


def test_complaint_text_includes_a_title_not_repeated_in_the_description():
    assert duplicates.complaint_text("水饺变质", ZH) == "水饺变质\n" + ZH
    assert duplicates.complaint_text("速冻水饺", ZH) == ZH
    assert duplicates.complaint_text(None, ZH) == ZH


DATASETS = Path(__file__).resolve().parents[3].parent / "shared" / "datasets"


@pytest.mark.skipif(not DATASETS.is_dir(), reason="../shared/datasets is not beside the checkout")
def test_precision_and_recall_on_a_small_sample_of_real_texts():
    from infra import duplicate_bench

    texts = duplicate_bench.load_texts(DATASETS)
    pairs = duplicate_bench.build_pairs(texts, per_source=25, seed=11, pool=150)
    assert sum(p.repeat for p in pairs) == 200 and len({p.language for p in pairs}) == 2
    scores = duplicate_bench.scored(pairs)
    figures = duplicate_bench.confusion(scores, duplicates.THRESHOLD)
    assert figures["recall"] >= 0.95, figures
    assert figures["precision"] >= 0.93, figures
    clean = duplicate_bench.confusion([x for x in scores if not x[1].copy_in_source], duplicates.THRESHOLD)
    assert clean["precision"] >= 0.97, clean
