"""Clusters of similar texts across customers (shared/text_clusters.py): many customers writing about
the same problem form one cluster among unrelated complaints; one customer writing many times, short
texts and unrelated real complaints form none; a mixed Chinese/English window works; a cluster about a
batch another alert already names is explained by it."""
from __future__ import annotations

import csv
import random
from pathlib import Path

import pytest

from infra.text_cluster_bench import PLANTED_EN, PLANTED_ZH
from shared.text_clusters import TextCase, find_clusters

DATASETS = Path(__file__).resolve().parents[3] / "shared" / "datasets"
SOUR, LATE_EN = PLANTED_ZH, PLANTED_EN
OTHER_ZH = [
    "快递员态度很差，把包裹直接扔在门口，东西都摔坏了，打电话也不接",
    "会员积分莫名其妙被清零了，客服一直说在核实，已经等了两个星期",
    "订单显示已签收，可是我根本没有收到货，物流信息也查不到",
    "发票开错了抬头，申请重开三次都没有处理，财务报销一直卡着",
    "汤圆包装破损，里面的汤圆全部粘在一起，没法吃，要求换货",
    "价格页面写的是满减，结账时却没有优惠，感觉被欺骗了",
]
RECENT = "2026-11-19T00:00:00Z"  # the window: 2026-11-19 and 20; the baseline: the 120 hours before


def clusters(window, **kwargs):
    return find_clusters(window, recent_from=RECENT, baseline_hours=120, window_hours=48, **kwargs)


def cases(texts, customers=None, start=0, products=None, day=20):
    out = []
    for i, text in enumerate(texts):
        who = customers[i] if customers is not None else f"customer-{start + i}"
        out.append(TextCase(complaint_id=f"C{start + i:04d}", received_at=f"2026-11-{day:02d}T{i % 24:02d}:00:00Z",
                            text=text, customer=frozenset({who}), products=products or frozenset()))
    return out


def background():
    return cases(OTHER_ZH, start=100) + cases(LATE_EN[:2], start=200)


def test_many_customers_saying_the_same_thing_form_one_cluster_among_unrelated_complaints():
    [cluster] = clusters(background() + cases(SOUR))
    assert len(cluster.ids) >= 5 and set(cluster.ids) <= {f"C{i:04d}" for i in range(6)}
    assert cluster.customers == len(cluster.ids) and cluster.key == "C0000"
    assert cluster.baseline == 0 and cluster.expected == 0.5 and cluster.p_value < 0.001
    assert 0.2 <= cluster.similarity <= 1
    assert cluster.per_day() == [{"day": "2026-11-20", "count": len(cluster.ids)}]


def test_a_topic_as_common_before_the_window_is_no_signal():
    before = cases(SOUR * 3, start=300, day=16)  # 18 like them in the baseline days: about 7 expected in 48 h
    assert clusters(background() + before + cases(SOUR)) == []
    assert len(clusters(background() + cases(SOUR))) == 1


def test_the_threshold_of_customers_counts_people_not_cases():
    assert clusters(background() + cases(SOUR, customers=["same"] * 6)) == []
    three_people = cases(SOUR, customers=["a", "b", "c", "a", "b", "c"])  # contacts shared: 3 customers
    assert clusters(background() + three_people) == []
    assert len(clusters(background() + three_people, min_customers=3, p_value=0.05)) == 1


def test_short_texts_say_too_little_to_link():
    assert clusters(background() + cases(["太慢了太慢了"] * 8)) == []
    assert clusters(background() + cases(["way too slow"] * 8)) == []


def test_english_and_chinese_clusters_in_one_window():
    found = clusters(cases(SOUR) + cases(LATE_EN, start=50) + cases(OTHER_ZH, start=100))
    assert {c.key for c in found} == {"C0000", "C0050"}
    assert all(len(c.ids) >= 5 for c in found)


def test_a_cluster_about_a_batch_an_alert_names_is_explained_by_it():
    batch = frozenset({("batch", "B2411"), ("product", "DUMP-1KG")})
    [cluster] = clusters(background() + cases(SOUR, products=batch))
    assert cluster.explained_by({("batch", "B2411")})
    assert not cluster.explained_by({("batch", "B9999")})


def _texts(name: str, file: str) -> list[str]:
    path = DATASETS / name / file
    if not path.exists():
        pytest.skip(f"{path} is not there (the team's ../shared/datasets folder)")
    with path.open(encoding="utf-8") as f:
        return [r["text"] for r in csv.DictReader(f)]


@pytest.mark.parametrize("name, file", [("food_delivery_reviews_zh", "reviews.csv"),
                                        ("shopping_negative_zh", "dev.csv"), ("gov_messages_zh", "dev.csv")])
def test_a_week_of_real_complaints_holds_steady_topics_and_no_signal(name, file):
    from infra.text_cluster_bench import week

    texts = _texts(name, file)
    for seed in (1, 2):
        cases_, found, _ = week(texts, seed, count=800)
        assert found == [], f"{name}, week {seed}"


def test_a_new_problem_is_found_among_a_week_of_real_complaints():
    from infra.text_cluster_bench import week

    texts = _texts("food_delivery_reviews_zh", "reviews.csv")
    _, found, _ = week(texts, 7, PLANTED_ZH, count=800)
    assert [sorted(c.ids) for c in found] == [[f"P{i:03d}" for i in range(6)]]
