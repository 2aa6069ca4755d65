"""Routing rules (shared.routing_rules): which department takes a case, config validation, and how a
department's strategy picks its handler - including a fairness simulation (infra/fairness_bench.py)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from infra.fairness_bench import simulate
from shared.config_store import bundled
from shared.routing_rules import CaseFacts, Department, RoutingConfig, choose_department, choose_handler
from shared.staff_directory import HandlerProfile

ROUTING = bundled("routing").config
NOON = datetime(2026, 11, 23, 12, tzinfo=timezone.utc)


def case(category: str | None = "other", *, priority: str = "P3", channel: str = "web", language: str = "zh",
         region: str | None = None, sku: str | None = None, product_name: str | None = None) -> CaseFacts:
    return CaseFacts(category=category, priority=priority, channel=channel, language=language, region=region,
                     sku=sku, product_name=product_name)


def departments(*ids: str) -> list[dict]:
    return [{"department_id": d, "name": {"en": d.title()}} for d in ids]


def routing(rules: list[dict], ids: tuple[str, ...] = ("general", "cn_delivery", "dairy", "urgent", "intl"),
            default: str = "general") -> RoutingConfig:
    return RoutingConfig.model_validate({"departments": departments(*ids), "rules": rules,
                                         "default_department": default})


def routed(config: RoutingConfig, facts: CaseFacts) -> tuple[str, str | None]:
    choice = choose_department(config, facts)
    return choice.department, choice.rule_id


# -- choosing the department ----------------------------------------------------------------------------------

@pytest.mark.parametrize("category, department, rule", [
    ("food_safety", "quality", "food-safety"),
    ("product_quality", "quality", "product-quality"),
    ("delivery_logistics", "logistics", "delivery"),
    ("billing_price", "finance", "money"),
    ("refund_after_sales", "finance", "money"),
    ("privacy_security", "privacy", "privacy"),
    ("service_attitude", "customer_service", "service"),
    ("other", "customer_service", None),
    (None, "customer_service", None),  # not classified (yet): the default department
])
def test_bundled_routing(category, department, rule):
    assert routed(ROUTING, case(category)) == (department, rule)


def test_bundled_departments_and_explanations():
    assert [d.department_id for d in ROUTING.departments] == [
        "customer_service", "quality", "logistics", "finance", "privacy"]
    quality = ROUTING.department("quality")
    assert (quality.strategy, quality.max_open_per_handler) == ("skills", 20)
    assert quality.calendar.time_zone == "Asia/Shanghai"
    assert ROUTING.department("nowhere") is None
    assert choose_department(ROUTING, case("food_safety")).explanation() == "rule food-safety"
    assert choose_department(ROUTING, case()).explanation() == "no rule matched: default department"


RULES = [
    {"rule_id": "cn-delivery", "department": "cn_delivery", "categories": ["delivery_logistics"], "regions": ["CN"]},
    {"rule_id": "dairy", "department": "dairy", "product_lines": ["MLK-", "yogurt", "牛奶"]},
    {"rule_id": "hotline-p1", "department": "urgent", "channels": ["hotline"], "priorities": ["P1"]},
    {"rule_id": "english", "department": "intl", "languages": ["en"]},
]


@pytest.mark.parametrize("facts, expected", [
    # regions: a country code takes its subdivisions; every condition of a rule must hold
    (case("delivery_logistics", region="CN-31"), ("cn_delivery", "cn-delivery")),
    (case("delivery_logistics", region="cn"), ("cn_delivery", "cn-delivery")),
    (case("delivery_logistics", region="CNX-1"), ("general", None)),
    (case("delivery_logistics", region="US-CA"), ("general", None)),
    (case("delivery_logistics"), ("general", None)),
    (case("product_quality", region="CN-31"), ("general", None)),
    # product lines: a prefix of the SKU, or a word of the product's name (any case)
    (case(sku="mlk-1l-uht"), ("dairy", "dairy")),
    (case(sku="XMLK-1"), ("general", None)),
    (case(product_name="Greek Yogurt 500 g"), ("dairy", "dairy")),
    (case(product_name="蒙牛纯牛奶 250ml"), ("dairy", "dairy")),
    (case(product_name="Frozen yogurts"), ("general", None)),  # not the word "yogurt"
    # channels and priorities together
    (case(channel="hotline", priority="P1"), ("urgent", "hotline-p1")),
    (case(channel="hotline", priority="P2"), ("general", None)),
    (case(channel="app", priority="P1"), ("general", None)),
    # languages
    (case(language="en"), ("intl", "english")),
    # the first matching rule wins
    (case("delivery_logistics", region="CN-11", language="en", sku="MLK-2"), ("cn_delivery", "cn-delivery")),
    (case(channel="hotline", priority="P1", language="en", product_name="yogurt"), ("dairy", "dairy")),
    (case(channel="hotline", priority="P1", language="en"), ("urgent", "hotline-p1")),
])
def test_rule_conditions(facts, expected):
    assert routed(routing(RULES), facts) == expected


def test_a_rule_with_a_word_of_the_name_does_not_match_inside_another_word():
    config = routing([{"rule_id": "tea", "department": "dairy", "product_lines": ["tea"]}])
    assert routed(config, case(product_name="Green tea, 20 bags")) == ("dairy", "tea")
    assert routed(config, case(product_name="Steak knife")) == ("general", None)


def test_case_facts_of_a_case():
    class Product:
        sku, name = "MLK-1", "Milk"

    class Case:
        category, priority, channel, language, region, product = "food_safety", "P2", "app", "en", "GB-ENG", Product()

    assert CaseFacts.of(Case()) == CaseFacts("food_safety", "P2", "app", "en", "GB-ENG", "MLK-1", "Milk")


# -- configuration -------------------------------------------------------------------------------------------

def routing_doc(**changes) -> dict:
    return {**ROUTING.model_dump(mode="json"), **changes}


def test_bundled_routing_validates():
    assert RoutingConfig.model_validate(routing_doc()) == ROUTING


@pytest.mark.parametrize("changes, message", [
    ({"departments": departments("a", "b", "a", "b", "c")}, "department ids must be unique: a, b"),
    ({"default_department": "support"}, "default_department 'support' is not a listed department"),
    ({"rules": [{"rule_id": "x", "department": "nowhere", "categories": ["other"]}]},
     "rules name departments that are not listed: x -> nowhere"),
    ({"rules": [{"rule_id": "x", "department": "quality"}, {"rule_id": "x", "department": "finance"}]},
     "rule ids must be unique: x"),
    ({"departments": departments("customer_service", "Quality Team")}, r"departments\.1\.department_id"),
    ({"rules": [{"rule_id": "x", "department": "quality", "categories": ["food"]}]},
     r"rules\.0\.categories\.0\s+Input should be 'product_quality'"),
    ({"departments": [{"department_id": "customer_service", "name": {"en": "CS"}, "strategy": "random"}]},
     r"departments\.0\.strategy\s+Input should be 'round_robin', 'least_load' or 'skills'"),
    ({"departments": [{"department_id": "customer_service", "name": {"en": "CS"}, "max_open_per_handler": 0}]},
     "max_open_per_handler"),
    ({"rules": [{"rule_id": "x", "department": "quality", "channels": ["fax"]}]}, r"rules\.0\.channels\.0"),
    ({"departments": [], "default_department": "x"}, "departments"),
    ({"routing": "magic"}, "Extra inputs are not permitted"),
])
def test_invalid_routing_is_rejected(changes, message):
    with pytest.raises(ValidationError, match=message):
        RoutingConfig.model_validate(routing_doc(**changes))


# -- choosing the handler ------------------------------------------------------------------------------------

def handler(handler_id: str, load: int = 0, *, on_duty: bool = True, max_open: int | None = None,
            skills: tuple[str, ...] = (), languages: tuple[str, ...] = (),
            last: datetime | None = None) -> HandlerProfile:
    return HandlerProfile(handler_id=handler_id, name=handler_id.title(), on_duty=on_duty, open_load=load,
                          max_open=max_open, skills=list(skills), languages=list(languages), last_assigned_at=last)


def department(strategy: str = "least_load", cap: int = 5) -> Department:
    return Department(department_id="team", name={"en": "Team"}, strategy=strategy, max_open_per_handler=cap)


def pick(strategy: str, roster: list[HandlerProfile], facts: CaseFacts | None = None, cap: int = 5, **kwargs):
    return choose_handler(department(strategy, cap), roster, facts or case(), **kwargs)


@pytest.mark.parametrize("strategy", ["round_robin", "least_load", "skills"])
def test_only_handlers_on_duty_and_below_their_cap_are_picked(strategy):
    roster = [handler("a", on_duty=False), handler("b", 5), handler("c", 2, max_open=2), handler("d", 4)]
    choice = pick(strategy, roster)
    assert (choice.handler_id, choice.candidates) == ("d", 1)
    # a handler's own cap counts, above the department's too
    assert pick(strategy, [handler("e", 7, max_open=10), handler("f", 5)]).handler_id == "e"


@pytest.mark.parametrize("roster, reason", [
    ([], "nobody in the department"),
    ([handler("a", on_duty=False), handler("b", on_duty=False)], "nobody on duty"),
    ([handler("a", 5), handler("b", 3, max_open=3), handler("c", on_duty=False)], "everyone on duty is at their cap"),
])
@pytest.mark.parametrize("strategy", ["round_robin", "least_load", "skills"])
def test_nobody_available(strategy, roster, reason):
    choice = pick(strategy, roster)
    assert (choice.handler_id, choice.reason, choice.candidates) == (None, reason, 0)


@pytest.mark.parametrize("last, expected", [
    (None, "a"), ("a", "b"), ("b", "c"), ("c", "a"),  # the next id after the last one served, wrapping
    ("bb", "c"),  # the last one served has left the roster
    ("zz", "a"),
])
def test_round_robin_takes_turns_in_id_order(last, expected):
    roster = [handler("c", 4), handler("a"), handler("b", 1)]  # loads do not matter
    choice = pick("round_robin", roster, last_handler=last)
    assert (choice.handler_id, choice.reason) == (expected, "round robin: next in turn")


def test_round_robin_skips_who_cannot_take_it():
    roster = [handler("a"), handler("b", 5), handler("c", on_duty=False), handler("d")]
    assert pick("round_robin", roster, last_handler="a").handler_id == "d"
    assert pick("round_robin", roster, last_handler="d").handler_id == "a"
    assert pick("round_robin", roster, last_handler="a", exclude=frozenset({"d"})).handler_id == "a"


def test_least_load_picks_the_fewest_open_cases():
    assert pick("least_load", [handler("a", 3), handler("b", 1), handler("c", 2)]).handler_id == "b"


def test_least_load_ties_go_to_the_least_recently_assigned_then_the_id():
    early, late = NOON - timedelta(hours=2), NOON
    assert pick("least_load", [handler("a", 1, last=late), handler("b", 1, last=early)]).handler_id == "b"
    assert pick("least_load", [handler("a", 1, last=late), handler("b", 1)]).handler_id == "b"  # never assigned
    assert pick("least_load", [handler("b", 1, last=early), handler("a", 1, last=early)]).handler_id == "a"
    # instants, not their text: 10:00 Shanghai (02:00 UTC) is before 03:00 UTC
    shanghai = datetime(2026, 11, 23, 10, tzinfo=timezone(timedelta(hours=8)))
    assert pick("least_load", [handler("a", 1, last=NOON.replace(hour=3)), handler("b", 1, last=shanghai)]
                ).handler_id == "b"


SKILLS_ROSTER = [
    handler("a", 0, languages=("en",)),
    handler("b", 2, skills=("food_safety",), languages=("zh",)),
    handler("c", 3, skills=("food_safety", "product_quality")),  # any language
    handler("d", 1, languages=("zh",)),
]


@pytest.mark.parametrize("facts, expected, reason", [
    # skilled and speaking the language first, least load among them
    (case("food_safety", language="zh"), "b", "skill food_safety and language zh, then least load"),
    (case("product_quality", language="en"), "c", "skill product_quality and language en, then least load"),
    # nobody skilled: the least loaded of those who take the language
    (case("billing_price", language="zh"), "d", "language zh (nobody with skill billing_price), then least load"),
    (case("billing_price", language="en"), "a", "language en (nobody with skill billing_price), then least load"),
])
def test_skills(facts, expected, reason):
    choice = pick("skills", SKILLS_ROSTER, facts)
    assert (choice.handler_id, choice.reason, choice.candidates) == (expected, reason, 4)


def test_skills_exclude_and_language_nobody_takes():
    facts = case("food_safety", language="zh")
    assert pick("skills", SKILLS_ROSTER, facts, exclude=frozenset({"b"})).handler_id == "c"
    assert pick("skills", SKILLS_ROSTER, facts, exclude=frozenset({"b", "c"})).handler_id == "d"
    english_only = [handler("a", languages=("en",)), handler("b", 2, languages=("en",))]
    choice = pick("skills", english_only, facts)
    assert (choice.handler_id, choice.reason) == (None, "nobody on duty takes zh complaints")
    # the category does not matter to least_load or round robin
    assert pick("least_load", SKILLS_ROSTER, facts).handler_id == "a"


def test_exclude_everyone_leaves_nobody():
    choice = pick("least_load", [handler("a"), handler("b")], exclude=frozenset({"a", "b"}))
    assert (choice.handler_id, choice.reason) == (None, "everyone on duty is at their cap")


# -- fairness (infra/fairness_bench.py) ---------------------------------------------------------------------

def test_round_robin_spreads_cases_evenly():
    figures = simulate("round_robin")
    assert figures["cases"] == 10_000 and figures["queued"] == 0
    assert figures["assigned_spread"] <= 1
    assert sum(figures["assigned"].values()) == 10_000


def test_least_load_keeps_open_loads_level():
    figures = simulate("least_load")
    assert figures["open_spread_worst"] <= 1 and figures["open_spread_end"] <= 1 and figures["queued"] == 0


@pytest.mark.parametrize("strategy", ["round_robin", "least_load", "skills"])
def test_a_binding_cap_is_never_exceeded(strategy):
    figures = simulate(strategy, cases=3000, close_rate=0.02, cap=4)
    assert figures["max_open_seen"] == 4  # reached, never exceeded
    assert figures["queued"] > 0  # the cap did bind: some cases waited for the queue


def test_skills_simulation_assigns_every_case_when_every_language_is_taken():
    figures = simulate("skills", cases=2000)
    assert figures["queued"] == 0 and sum(figures["assigned"].values()) == 2000
