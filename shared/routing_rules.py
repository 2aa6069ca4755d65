"""Routing as data: which department takes a case, and how a department picks its handler.

The routing configuration (``GET/PUT /staff/config/routing``; defaults in
``shared/routing_config.json``) lists departments - each with its assignment strategy, per-handler
cap, lead, manager and business calendar - and ordered rules. The first rule whose every given
condition matches the case names the department; no match: the default department. Plain Python:
no AWS here (the config store keeps the versions, :mod:`shared.assignment` applies the decision).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from shared.calendars import CalendarConfig
from shared.staff_directory import DEPARTMENT_ID, HandlerProfile

CATEGORIES = ("product_quality", "food_safety", "delivery_logistics", "service_attitude", "billing_price",
              "refund_after_sales", "privacy_security", "other")
PRIORITIES = ("P1", "P2", "P3", "P4")
Strategy = Literal["round_robin", "least_load", "skills"]
Short = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class _Config(BaseModel):
    # built on first validation: functions that never load this configuration do not pay for it on a cold start
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, defer_build=True)


class Department(_Config):
    department_id: Annotated[str, StringConstraints(pattern=DEPARTMENT_ID)]
    name: dict[Literal["en", "zh"], Annotated[str, StringConstraints(min_length=1, max_length=100)]]
    strategy: Strategy = "least_load"
    max_open_per_handler: int = Field(25, ge=1, le=1000)
    lead: Short | None = None  # a handler id: told when the queue waits, and at the first breach
    manager: Short | None = None  # told at the second escalation level
    calendar: CalendarConfig = CalendarConfig()


class RoutingRule(_Config):
    rule_id: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]
    department: str
    categories: list[Literal[CATEGORIES]] | None = None  # type: ignore[valid-type]
    product_lines: list[Short] | None = None  # a prefix of the product's SKU, or a word of its name
    regions: list[Short] | None = None  # ISO 3166 country or subdivision codes, prefix match ("CN" takes "CN-31")
    channels: list[Literal["web", "app", "hotline", "social", "email"]] | None = None
    languages: list[Literal["zh", "en"]] | None = None
    priorities: list[Literal[PRIORITIES]] | None = None  # type: ignore[valid-type]

    def matches(self, case: "CaseFacts") -> bool:
        if self.categories is not None and case.category not in self.categories:
            return False
        if self.priorities is not None and case.priority not in self.priorities:
            return False
        if self.channels is not None and case.channel not in self.channels:
            return False
        if self.languages is not None and case.language not in self.languages:
            return False
        if self.regions is not None and not any(_region_in(case.region, r) for r in self.regions):
            return False
        if self.product_lines is not None and not any(_product_line(case, p) for p in self.product_lines):
            return False
        return True


class RoutingConfig(_Config):
    departments: Annotated[list[Department], Field(min_length=1, max_length=100)]
    rules: Annotated[list[RoutingRule], Field(max_length=500)] = []
    default_department: str
    description: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> "RoutingConfig":
        ids = [d.department_id for d in self.departments]
        dupes = sorted({d for d in ids if ids.count(d) > 1})
        if dupes:
            raise ValueError(f"department ids must be unique: {', '.join(dupes)}")
        if self.default_department not in ids:
            raise ValueError(f"default_department {self.default_department!r} is not a listed department")
        rule_ids = [r.rule_id for r in self.rules]
        dupes = sorted({r for r in rule_ids if rule_ids.count(r) > 1})
        if dupes:
            raise ValueError(f"rule ids must be unique: {', '.join(dupes)}")
        unknown = [f"{r.rule_id} -> {r.department}" for r in self.rules if r.department not in ids]
        if unknown:
            raise ValueError(f"rules name departments that are not listed: {', '.join(unknown)}")
        return self

    def department(self, department_id: str | None) -> Department | None:
        return next((d for d in self.departments if d.department_id == department_id), None)


@dataclass(frozen=True)
class CaseFacts:
    """What routing looks at (from a case; no personal data)."""

    category: str | None
    priority: str | None
    channel: str
    language: str
    region: str | None = None
    sku: str | None = None
    product_name: str | None = None

    @classmethod
    def of(cls, case: Any) -> "CaseFacts":
        product = case.product
        return cls(category=case.category, priority=case.priority,
                   channel=getattr(case.channel, "value", case.channel), language=case.language,
                   region=getattr(case, "region", None), sku=product.sku if product else None,
                   product_name=product.name if product else None)


@dataclass(frozen=True)
class DepartmentChoice:
    department: str
    rule_id: str | None  # None: the default department

    def explanation(self) -> str:
        return f"rule {self.rule_id}" if self.rule_id else "no rule matched: default department"


def choose_department(config: RoutingConfig, case: CaseFacts) -> DepartmentChoice:
    for rule in config.rules:
        if rule.matches(case):
            return DepartmentChoice(rule.department, rule.rule_id)
    return DepartmentChoice(config.default_department, None)


def _region_in(region: str | None, wanted: str) -> bool:
    if not region:
        return False
    region, wanted = region.upper(), wanted.upper()
    return region == wanted or region.startswith(wanted + "-")


def _product_line(case: CaseFacts, line: str) -> bool:
    line_l = line.lower()
    if case.sku and case.sku.lower().startswith(line_l):
        return True
    # FIX: "a word of its name", not any substring ("tea" must not take "Steak knife"). Only ASCII
    # letters and digits bound a word, so Chinese names (no spaces) still match: "牛奶" in "蒙牛纯牛奶".
    return bool(case.product_name) and re.search(
        rf"(?<![a-z0-9]){re.escape(line_l)}(?![a-z0-9])", case.product_name.lower()) is not None


# -- choosing a handler within a department ------------------------------------------------------
@dataclass(frozen=True)
class HandlerChoice:
    handler_id: str | None  # None: nobody can take it now; the case waits in the department queue
    reason: str
    candidates: int  # on duty and below their cap


def choose_handler(department: Department, roster: list[HandlerProfile], case: CaseFacts, *,
                   last_handler: str | None = None, exclude: frozenset[str] = frozenset()) -> HandlerChoice:
    """The handler the department's strategy picks among those on duty and below their cap.

    * ``round_robin``: the next handler after the last one served, in id order;
    * ``least_load``: the fewest open cases (ties: the longest since their last assignment, then id);
    * ``skills``: handlers who take the case's language; among them those with the category as a skill
      first; least load within the group.
    ``exclude``: handlers whose write just failed (they reached their cap meanwhile).
    """
    cap = department.max_open_per_handler
    available = [h for h in roster if h.on_duty and h.open_load < h.cap(cap) and h.handler_id not in exclude]
    if not available:
        on_duty = sum(1 for h in roster if h.on_duty)
        why = "nobody in the department" if not roster else (
            "nobody on duty" if not on_duty else "everyone on duty is at their cap")
        return HandlerChoice(None, why, 0)
    if department.strategy == "round_robin":
        ordered = sorted(available, key=lambda h: h.handler_id)
        after = [h for h in ordered if last_handler is not None and h.handler_id > last_handler]
        pick = (after or ordered)[0]
        return HandlerChoice(pick.handler_id, "round robin: next in turn", len(available))
    pool, reason = available, "least open load"
    if department.strategy == "skills":
        speaking = [h for h in available if h.takes_language(case.language)]
        if not speaking:
            return HandlerChoice(None, f"nobody on duty takes {case.language} complaints", 0)
        skilled = [h for h in speaking if h.has_skill(case.category)]
        pool = skilled or speaking
        reason = (f"skill {case.category} and language {case.language}" if skilled
                  else f"language {case.language} (nobody with skill {case.category})") + ", then least load"
    pick = min(pool, key=_load_order)
    return HandlerChoice(pick.handler_id, reason, len(available))


def _load_order(h: HandlerProfile) -> tuple[int, float, str]:
    # FIX: compare instants, not ISO text (which orders 10:00+08:00 after 03:00+00:00); never assigned first
    last = h.last_assigned_at.timestamp() if h.last_assigned_at else float("-inf")
    return h.open_load, last, h.handler_id
