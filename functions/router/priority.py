"""Priority P1 (most urgent) to P4 from versioned rules (``shared/priority_rules.json``, or a copy in
S3 named by ``PRIORITY_RULES_URI``), explained like the category: every rule that counted is listed.

How a level is reached (the rules file holds every number and term):

1. the category's level (``category_levels``; ``default_level`` for an unknown category); a repeat
   starts from the level of the case it repeats when that one is more urgent;
2. floors: health and safety, legal/regulator/media signals in the text, a member on file, a group
   complaint (several customers, same batch or order, within the window) - the case is lifted to
   at least each matching floor;
3. raises: vulnerable customers and tier claims in the text, the customer's tier, the channel, a
   repeat - their steps add up to at most ``max_raise``, and never lift a case above
   ``raise_limit`` (P2): only a floor rule makes a case P1.

Terms in Chinese match as substrings, others as whole words (``*`` at the end allows any word
ending); a term right after a negation ("没有发现异物", "no foreign object") does not count.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

BUNDLED_RULES = Path(__file__).resolve().parents[2] / "shared" / "priority_rules.json"
LEVELS = ("P1", "P2", "P3", "P4")

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
_ZH_NEGATION = re.compile(r"(没有|没|无|未|不是|并非|并无|毫无|不存在|不含)(发现|看到|出现|吃出|见到|任何|什么|明显)?$")
_EN_NEGATIONS = {"no", "not", "never", "without", "nor", "none", "neither", "nothing", "nobody", "noone"}


class RulesLoadError(Exception):
    """The priority rules could not be read or are invalid (a deployment problem: fail loudly)."""


# -- the rules file -------------------------------------------------------------------------------
def _check_level(value: str) -> str:
    if value not in LEVELS:
        raise ValueError(f"{value!r} is not a priority level ({', '.join(LEVELS)})")
    return value


Level = Annotated[str, AfterValidator(_check_level)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Effect(_Strict):
    floor: Level | None = None
    raise_: int = Field(0, alias="raise", ge=0, le=3)
    why: str | None = None


class Signal(_Strict):
    id: str = Field(pattern=r"^[a-z_]+\.[a-z_]+$")
    group: str
    floor: Level | None = None
    raise_: int = Field(0, alias="raise", ge=0, le=3)
    zh: list[str] = []
    en: list[str] = []

    @model_validator(mode="after")
    def _has_effect_and_terms(self) -> "Signal":
        if (self.floor is None) == (self.raise_ == 0):
            raise ValueError(f"signal {self.id} needs exactly one of floor or raise")
        if not (self.zh or self.en) or any(not t.strip() for t in self.zh + self.en):
            raise ValueError(f"signal {self.id} needs non-empty terms")
        return self


class RepeatRule(_Strict):
    raise_: int = Field(1, alias="raise", ge=0, le=3)
    many_after: int = Field(2, ge=1)
    many_raise: int = Field(1, ge=0, le=3)
    why: str | None = None


class CustomerRules(_Strict):
    member: Effect = Effect()
    tiers: dict[str, Effect] = {}


class RulesFile(_Strict):
    version: str = Field(min_length=1)
    description: str | None = None
    levels: list[str]
    default_level: Level
    category_levels: dict[str, Level] = {}
    max_raise: int = Field(2, ge=0, le=3)
    raise_limit: Level = "P2"
    signals: list[Signal]
    customer: CustomerRules = CustomerRules()
    group: Effect = Effect()
    channels: dict[str, Effect] = {}
    repeat: RepeatRule = RepeatRule()

    @model_validator(mode="after")
    def _consistent(self) -> "RulesFile":
        if tuple(self.levels) != LEVELS:
            raise ValueError(f"levels must be {list(LEVELS)}")
        ids = [s.id for s in self.signals]
        if len(set(ids)) != len(ids):
            raise ValueError("signal ids must be unique")
        return self


# -- matching ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Term:
    text: str
    pattern: re.Pattern[str] | None  # None: a Chinese term, matched as a substring

    @classmethod
    def of(cls, term: str) -> "_Term":
        term = term.strip()
        if _CJK.search(term):
            return cls(term, None)
        stem, wildcard = (term[:-1], True) if term.endswith("*") else (term, False)
        body = r"\s+".join(re.escape(w) for w in stem.split())
        tail = r"[\w'-]*" if wildcard else ""
        return cls(term, re.compile(rf"(?<![A-Za-z0-9]){body}{tail}(?![A-Za-z0-9])", re.IGNORECASE))

    def find(self, text: str) -> str | None:
        """The first occurrence not right after a negation, as written in the text."""
        if self.pattern is None:
            start = text.find(self.text)
            while start >= 0:
                if not _ZH_NEGATION.search(text[max(0, start - 6):start]):
                    return self.text
                start = text.find(self.text, start + 1)
            return None
        for m in self.pattern.finditer(text):
            if not _negated_en(text[:m.start()]):
                return m.group(0)
        return None


def _negated_en(before: str) -> bool:
    words = re.findall(r"[A-Za-z']+", before[-48:].lower())[-4:]
    return any(w in _EN_NEGATIONS or w.endswith("n't") for w in words)


def _level_no(level: str) -> int:
    return LEVELS.index(level) + 1


def _level(number: int) -> str:
    return LEVELS[min(max(number, 1), len(LEVELS)) - 1]


# -- assessment ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PriorityInputs:
    text: str
    category: str | None = None
    channel: str | None = None
    is_member: bool = False
    tier: str | None = None  # from member data, when there is any
    group_customers: int = 1  # distinct customers (this one included) reporting the same batch/order
    group_threshold: int = 3
    repeat_of_level: str | None = None  # the level of the case this one repeats
    repeat_count: int = 0  # repeats of that case, this one included (0: not a repeat)


@dataclass(frozen=True)
class MatchedRule:
    rule: str
    effect: str  # "base P3", "floor P1", "+1"
    matched: str | None = None  # the words in the text, or the fact, that made it count

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "effect": self.effect, "matched": self.matched}

    def __str__(self) -> str:
        return f"{self.rule} ({self.matched}) {self.effect}" if self.matched else f"{self.rule} {self.effect}"


@dataclass(frozen=True)
class PriorityDecision:
    level: str
    rules_version: str
    matched: list[MatchedRule] = field(default_factory=list)

    def explanation(self) -> str:
        """``"P1: category.food_safety base P2; health.food_poisoning (食物中毒) floor P1"``."""
        return f"{self.level}: " + "; ".join(str(m) for m in self.matched)

    @property
    def signals(self) -> list[str]:
        return [m.rule for m in self.matched]

    def as_dict(self) -> dict[str, Any]:
        return {"level": self.level, "rules_version": self.rules_version,
                "matched": [m.as_dict() for m in self.matched], "explanation": self.explanation()}


class PriorityRules:
    def __init__(self, rules: RulesFile, source: str = "bundled"):
        self.rules, self.source = rules, source

    @property
    def version(self) -> str:
        return self.rules.version

    @cached_property
    def _terms(self) -> list[tuple[Signal, list[_Term]]]:
        return [(s, [_Term.of(t) for t in s.zh + s.en]) for s in self.rules.signals]

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "dict") -> "PriorityRules":
        try:
            return cls(RulesFile.model_validate(data), source)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
            raise RulesLoadError(f"priority rules {source} are invalid: {problems}") from None

    def text_signals(self, text: str) -> list[tuple[Signal, str]]:
        """Every signal whose terms occur in the text (not negated), with the words found."""
        found = []
        for signal, terms in self._terms:
            hit = next((m for m in (t.find(text) for t in terms) if m), None)
            if hit:
                found.append((signal, hit))
        return found

    def assess(self, x: PriorityInputs) -> PriorityDecision:
        r = self.rules
        matched: list[MatchedRule] = []
        base = r.category_levels.get(x.category or "", r.default_level)
        level = _level_no(base)
        matched.append(MatchedRule(f"category.{x.category or 'unknown'}", f"base {base}"))
        if x.repeat_count and x.repeat_of_level in LEVELS and _level_no(x.repeat_of_level) < level:
            level = _level_no(x.repeat_of_level)
            matched.append(MatchedRule("repeat.inherit", f"base {x.repeat_of_level}", "level of the case it repeats"))

        floors: list[tuple[str, str, str | None]] = []  # rule, level, matched
        raises: list[tuple[str, int, str | None]] = []
        for signal, hit in self.text_signals(x.text):
            if signal.floor:
                floors.append((signal.id, signal.floor, hit))
            else:
                raises.append((signal.id, signal.raise_, hit))
        if x.is_member and r.customer.member.floor:
            floors.append(("customer.member", r.customer.member.floor, "member id on file"))
        if x.group_customers >= max(x.group_threshold, 2) and r.group.floor:
            floors.append(("impact.group_complaint", r.group.floor, f"{x.group_customers} customers"))
        tier = r.customer.tiers.get((x.tier or "").lower())
        if tier and tier.raise_:
            raises.append((f"customer.tier_{x.tier.lower()}", tier.raise_, x.tier))
        channel = r.channels.get(x.channel or "")
        if channel and channel.raise_:
            raises.append((f"channel.{x.channel}", channel.raise_, None))
        if x.repeat_count:
            steps = r.repeat.raise_ + (r.repeat.many_raise if x.repeat_count >= r.repeat.many_after else 0)
            if steps:
                raises.append(("repeat.count", steps, f"repeat {x.repeat_count}"))

        for rule, floor, hit in floors:
            matched.append(MatchedRule(rule, f"floor {floor}", hit))
            level = min(level, _level_no(floor))
        steps = 0
        for rule, step, hit in raises:
            matched.append(MatchedRule(rule, f"+{step}", hit))
            steps += step
        steps = min(steps, r.max_raise)
        limit = _level_no(r.raise_limit)
        if steps and level > limit:
            level = max(level - steps, limit)
        return PriorityDecision(_level(level), r.version, matched)

    def at_least(self, current: str | None, floor: str) -> str:
        """The more urgent of two levels (a missing level counts as the least urgent)."""
        if current not in LEVELS:
            return floor
        return _level(min(_level_no(current), _level_no(floor)))


def load_rules(source: str | None = None) -> PriorityRules:
    """The bundled rules (``None``), a local file, or ``s3://bucket/key``; raises RulesLoadError."""
    where = source or str(BUNDLED_RULES)
    try:
        if where.startswith("s3://"):
            from shared.aws import client

            bucket, _, key = where[5:].partition("/")
            raw = client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
        else:
            raw = Path(where).read_bytes()
        data = json.loads(raw)
    except Exception as exc:  # noqa: BLE001 - one clear message for every way a load can fail
        raise RulesLoadError(f"priority rules could not be loaded from {where}: {type(exc).__name__}: {exc}") from None
    if not isinstance(data, dict):
        raise RulesLoadError(f"priority rules at {where} are not a JSON object")
    return PriorityRules.from_dict(data, where if source else "bundled")
