"""Assignment fairness: how evenly each strategy of :func:`shared.routing_rules.choose_handler` spreads
cases over a department's handlers.

:func:`simulate` drives ``choose_handler`` over simulated cases (random category and language), a
roster of handlers on duty (for ``skills``: random skills and complaint languages, so that every
language is still taken by someone), and keeps the bookkeeping the real assignment does: the open
load goes up by one per case, ``last_assigned_at`` moves on, round robin remembers the last handler.
Variants: no closures (loads only go up); ``close_rate`` > 0 (each open case closes at each step with
that probability, so loads go up and down); ``cap`` (a per-handler cap that binds: a case nobody can
take is counted as queued).

Figures: the spread (max - min) of the total assigned per handler, of the open load at the end, and
the worst open-load spread seen after any assignment. ``python -m infra.fairness_bench`` prints a
table; no AWS, no files.
"""
from __future__ import annotations

import random
import sys
from datetime import datetime, timedelta, timezone
from typing import Any

from shared.routing_rules import CATEGORIES, CaseFacts, Department, choose_handler
from shared.staff_directory import HandlerProfile

STRATEGIES = ("round_robin", "least_load", "skills")
LANGUAGES = ("zh", "en")
START = datetime(2026, 1, 5, 9, tzinfo=timezone.utc)


def _roster(strategy: str, handlers: int, rng: random.Random) -> list[HandlerProfile]:
    roster = []
    for i in range(handlers):
        skills: list[str] = []
        languages: list[str] = []
        if strategy == "skills":
            skills = rng.sample(CATEGORIES, rng.randint(0, 3))
            # the first two take one language each, so both are always covered; then [] (any), zh or en
            languages = [LANGUAGES[i]] if i < len(LANGUAGES) else rng.choice([[], ["zh"], ["en"]])
        roster.append(HandlerProfile(handler_id=f"h{i:02d}", name=f"Handler {i}", on_duty=True,
                                     skills=skills, languages=languages))
    return roster


def simulate(strategy: str, cases: int = 10_000, handlers: int = 12, seed: int = 7, *,
             close_rate: float = 0.0, cap: int | None = None) -> dict[str, Any]:
    """Assign ``cases`` simulated cases with ``strategy``; see the module docstring for the figures."""
    rng = random.Random(seed)
    department = Department(department_id="bench", name={"en": "Bench"}, strategy=strategy,
                            max_open_per_handler=cap or 1000)
    roster = {h.handler_id: h for h in _roster(strategy, handlers, rng)}
    if cap is None:  # a cap that cannot bind: each handler's own, above the number of cases
        roster = {i: h.model_copy(update={"max_open": cases + 1}) for i, h in roster.items()}
    assigned = dict.fromkeys(roster, 0)
    open_cases: list[str] = []  # the handler of each open case
    last: str | None = None
    queued = worst_open_spread = max_open_seen = 0

    def set_load(handler_id: str, delta: int, **update: Any) -> None:
        profile = roster[handler_id]
        roster[handler_id] = profile.model_copy(update={"open_load": profile.open_load + delta, **update})

    for step in range(cases):
        if close_rate:
            kept = []
            for handler_id in open_cases:
                if rng.random() < close_rate:
                    set_load(handler_id, -1)
                else:
                    kept.append(handler_id)
            open_cases = kept
        facts = CaseFacts(category=rng.choice(CATEGORIES), priority=rng.choice(("P1", "P2", "P3", "P4")),
                          channel="web", language=rng.choice(LANGUAGES))
        choice = choose_handler(department, list(roster.values()), facts, last_handler=last)
        if choice.handler_id is None:
            queued += 1
            continue
        set_load(choice.handler_id, +1, last_assigned_at=START + timedelta(minutes=step))
        assigned[choice.handler_id] += 1
        open_cases.append(choice.handler_id)
        last = choice.handler_id
        loads = [h.open_load for h in roster.values()]
        worst_open_spread = max(worst_open_spread, max(loads) - min(loads))
        max_open_seen = max(max_open_seen, max(loads))
    loads = [h.open_load for h in roster.values()]
    return {
        "strategy": strategy, "cases": cases, "handlers": handlers, "seed": seed, "close_rate": close_rate,
        "cap": cap, "assigned_spread": max(assigned.values()) - min(assigned.values()),
        "open_spread_end": max(loads) - min(loads), "open_spread_worst": worst_open_spread,
        "max_open_seen": max_open_seen, "queued": queued, "assigned": assigned,
    }


VARIANTS = (("no closures", {}), ("random closures", {"close_rate": 0.02}),
            ("closures, cap 4", {"close_rate": 0.02, "cap": 4}))


def figures(cases: int = 10_000, seed: int = 7) -> list[dict[str, Any]]:
    return [{"variant": name, **simulate(strategy, cases, seed=seed, **kwargs)}
            for strategy in STRATEGIES for name, kwargs in VARIANTS]


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    rows = figures(int(args[0]) if args else 10_000)
    header = ("strategy", "variant", "assigned max-min", "open max-min (end)", "open max-min (worst)",
              "max open", "queued")
    print(" | ".join(header))
    print(" | ".join("-" * len(h) for h in header))
    for r in rows:
        print(" | ".join(str(v) for v in (r["strategy"], r["variant"], r["assigned_spread"], r["open_spread_end"],
                                          r["open_spread_worst"], r["max_open_seen"], r["queued"])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
