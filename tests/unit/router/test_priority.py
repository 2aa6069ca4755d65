"""Priority rules: every signal in Chinese and English, each level, the limits on raises, negations,
and the rules version on the decision."""
from __future__ import annotations

import json

import pytest

from functions.router.priority import (BUNDLED_RULES, LEVELS, PriorityInputs, PriorityRules, RulesLoadError,
                                       load_rules)


@pytest.fixture(scope="module")
def rules() -> PriorityRules:
    return load_rules()


def assess(rules, text, category="product_quality", **kw):
    return rules.assess(PriorityInputs(text=text, category=category, channel=kw.pop("channel", "web"), **kw))


# (rule id, level it leads to from a P3 category, Chinese example, English example)
SIGNALS = [
    ("health.food_poisoning", "P1", "吃完饺子全家食物中毒了", "My whole family got food poisoning from the dumplings"),
    ("health.illness", "P1", "孩子吃了以后一直拉肚子", "After eating it I was vomiting all night"),
    ("health.illness", "P1", "吃完就呕吐", "it gave me diarrhea"),
    ("health.medical_care", "P1", "昨晚送医急诊", "we ended up in the emergency room"),
    ("safety.injury", "P1", "开袋时被划伤流血", "I was injured by the packaging"),
    ("safety.injury", "P1", "汤太烫，外包装破了导致烫伤", "the lid popped and I got scalded"),
    ("safety.allergy", "P1", "标签没写花生，吃了过敏", "label did not list nuts and I had an allergic reaction"),
    ("safety.sharp_object", "P1", "饺子里吃出一块玻璃", "there was a piece of glass in the soup"),
    ("safety.foreign_object", "P2", "汤圆里有异物", "I found a foreign object in the bag"),
    ("safety.foreign_object", "P2", "包子里有一根头发", "there was a hair in my noodles"),
    ("safety.foreign_object", "P2", "馅里有虫子", "there were insects in the flour"),
    ("legal.action", "P2", "再不处理我就找律师起诉你们", "I will sue you"),
    ("legal.action", "P2", "我们法院见", "my lawyer will contact you"),
    ("legal.regulator", "P2", "我已经投诉到消协和12315了", "I reported you to the attorney general"),
    ("legal.regulator", "P2", "我要向市场监管局举报", "I have filed with the regulator"),
    ("reputation.media", "P2", "我要找媒体曝光你们", "I am talking to a journalist about this"),
    ("reputation.media", "P2", "已经联系了电视台记者", "this will go to the media"),
]


@pytest.mark.parametrize("rule,level,zh,en", SIGNALS)
def test_each_signal_in_both_languages(rules, rule, level, zh, en):
    for text in (zh, en):
        decision = assess(rules, text)
        assert rule in decision.signals, (text, decision.explanation())
        assert decision.level == level, (text, decision.explanation())


@pytest.mark.parametrize("text", ["我家老人吃了之后说味道不对", "孕妇能吃吗？包装上没写", "婴儿辅食里颗粒太粗",
                                  "My elderly mother bought this", "I am pregnant and worried", "for my baby",
                                  "I am disabled and the driver left it downstairs"])
def test_vulnerable_customers_raise_one_level(rules, text):
    decision = assess(rules, text, category="delivery_logistics")
    assert "customer.vulnerable" in decision.signals
    assert decision.level == "P2"


def test_each_level_is_reached(rules):
    assert assess(rules, "快递太慢了", category="other").level == "P4"
    assert assess(rules, "The delivery was late", category="delivery_logistics").level == "P3"
    assert assess(rules, "This is the second bag with a hair in it").level == "P2"
    assert assess(rules, "肉馅变质，吃了上吐下泻").level == "P1"
    assert assess(rules, "价格比超市贵", category="billing_price").level == "P3"
    assert assess(rules, "", category="food_safety").level == "P2"
    assert assess(rules, "whatever", category="unknown_label").level == "P3"  # default level


def test_negated_terms_do_not_count(rules):
    for text in ("没有发现异物，只是包装破了", "并无过敏反应，只是口感差", "没有受伤，但是很生气",
                 "There was no foreign object, just a late delivery", "Nobody was injured, thankfully I was not sick",
                 "I didn't go to the hospital", "without any glass, just a cracked jar"):
        decision = assess(rules, text, category="delivery_logistics")
        assert decision.level == "P3", (text, decision.explanation())
    # a negation elsewhere in the sentence does not hide a later mention
    assert assess(rules, "吃了没多久就呕吐").level == "P1"
    assert assess(rules, "No one answered, and then my son started vomiting").level == "P1"


def test_english_terms_are_whole_words(rules):
    assert assess(rules, "The suede was scuffed").level == "P3"  # not "sue"
    assert assess(rules, "the chair was uncomfortable").level == "P3"  # not "hair"
    assert assess(rules, "THE CHILD WAS SICK", category="delivery_logistics").signals.count("customer.vulnerable") == 1


def test_customer_value_channel_group_and_repeat(rules):
    plain = assess(rules, "快递太慢了", category="other")
    assert plain.level == "P4"
    assert assess(rules, "快递太慢了", category="other", is_member=True).level == "P3"
    assert assess(rules, "我是VIP会员，快递太慢了", category="delivery_logistics").level == "P2"
    assert assess(rules, "I am a platinum member; the delivery was late", category="delivery_logistics").level == "P2"
    assert assess(rules, "late", category="delivery_logistics", tier="Gold").level == "P2"
    assert assess(rules, "快递太慢了", category="delivery_logistics", channel="social").level == "P2"
    assert assess(rules, "late delivery", category="delivery_logistics", channel="hotline").level == "P2"
    assert assess(rules, "late delivery", category="delivery_logistics", channel="email").level == "P3"
    group = assess(rules, "同一批次饺子发酸", group_customers=3, group_threshold=3)
    assert group.level == "P2" and "impact.group_complaint" in group.signals
    assert assess(rules, "同一批次饺子发酸", group_customers=2, group_threshold=3).level == "P3"
    repeat = assess(rules, "还是没人处理", category="delivery_logistics", repeat_of_level="P3", repeat_count=1)
    assert repeat.level == "P2" and "repeat.count" in repeat.signals
    inherited = assess(rules, "still waiting", category="other", repeat_of_level="P2", repeat_count=1)
    assert inherited.level == "P2" and "repeat.inherit" in inherited.signals


def test_raises_are_capped_and_never_make_p1(rules):
    # VIP + vulnerable + social + repeat: four raises from P4, capped at two steps
    many = assess(rules, "VIP customer, my baby's order is late again", category="other", channel="social",
                  repeat_count=3, repeat_of_level="P4")
    assert many.level == "P2"
    from_p2 = assess(rules, "我是VIP，老人在家等", category="food_safety", channel="social")
    assert from_p2.level == "P2"  # only a floor rule makes P1
    assert assess(rules, "VIP，吃出玻璃", channel="social").level == "P1"


def test_decision_records_rules_version_and_explains(rules):
    decision = assess(rules, "吃了你们的饺子后食物中毒，已经住院，我要起诉", channel="social")
    data = decision.as_dict()
    assert data["rules_version"] == rules.version == json.loads(BUNDLED_RULES.read_text(encoding="utf-8"))["version"]
    assert data["level"] == "P1"
    matched = {m["rule"]: m for m in data["matched"]}
    assert matched["health.food_poisoning"]["matched"] == "食物中毒"
    assert matched["health.food_poisoning"]["effect"] == "floor P1"
    assert matched["channel.social"]["effect"] == "+1"
    assert data["explanation"].startswith("P1: category.product_quality base P3; ")
    assert "health.food_poisoning (食物中毒) floor P1" in data["explanation"]


def test_rules_are_data(tmp_path, rules):
    raw = json.loads(BUNDLED_RULES.read_text(encoding="utf-8"))
    raw["version"] = "test-2"
    raw["channels"]["email"] = {"raise": 1}
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(raw), encoding="utf-8")
    custom = load_rules(str(path))
    assert custom.version == "test-2"
    assert custom.assess(PriorityInputs(text="late", category="delivery_logistics", channel="email")).level == "P2"


def test_rules_from_s3(aws, tmp_path):
    import boto3

    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="rules-bucket")
    s3.put_object(Bucket="rules-bucket", Key="priority/rules.json", Body=BUNDLED_RULES.read_bytes())
    assert load_rules("s3://rules-bucket/priority/rules.json").version == json.loads(BUNDLED_RULES.read_text())["version"]
    with pytest.raises(RulesLoadError, match="could not be loaded from s3://rules-bucket/missing.json"):
        load_rules("s3://rules-bucket/missing.json")


@pytest.mark.parametrize("mutate,problem", [
    (lambda r: r.update(levels=["P1", "P2"]), "levels"),
    (lambda r: r["signals"][0].update(floor="P9"), "P9"),
    (lambda r: r["signals"][0].update({"raise": 1}), "exactly one of floor or raise"),
    (lambda r: r["signals"].append(dict(r["signals"][0])), "unique"),
    (lambda r: r.update(unknown_key=1), "unknown_key"),
    (lambda r: r.pop("version"), "version"),
])
def test_invalid_rules_fail_loudly(tmp_path, mutate, problem):
    raw = json.loads(BUNDLED_RULES.read_text(encoding="utf-8"))
    mutate(raw)
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(RulesLoadError, match="invalid") as err:
        load_rules(str(path))
    assert problem in str(err.value)


def test_unreadable_rules_fail_loudly(tmp_path):
    with pytest.raises(RulesLoadError, match="could not be loaded"):
        load_rules(str(tmp_path / "missing.json"))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(RulesLoadError, match="could not be loaded"):
        load_rules(str(bad))


def test_levels_order():
    assert LEVELS == ("P1", "P2", "P3", "P4")
