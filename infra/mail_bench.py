"""Email intake over the shared corpus of real-world messages: parse time and the share per outcome.

``corpus_figures()`` runs every message under ``<corpus>/*/messages/`` (default: ``../shared/email-corpus``
beside the repository, or env ``MAIL_CORPUS_DIR``) through ``parse_mail`` and ``decide`` with the
offline thread lookup, and returns the median parse time per message and the share of each outcome.
``make bench`` calls it; ``python -m infra.mail_bench [CORPUS]`` prints the figures and writes them to
``.bench/mail-corpus.json``. Timings depend on the machine: not part of ``make test``.
"""
from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = ROOT.parent / "shared" / "email-corpus"
RESULTS = ROOT / ".bench" / "mail-corpus.json"
OUTCOMES = ("new", "reply", "ignore", "quarantine")


def corpus_root(root: str | Path | None = None) -> Path:
    return Path(root or os.environ.get("MAIL_CORPUS_DIR") or DEFAULT_CORPUS)


def corpus_files(root: str | Path | None = None) -> list[Path]:
    """Every message file under ``<root>/*/messages/`` (sub-folders included), sorted."""
    base = corpus_root(root)
    return sorted(p for p in base.glob("*/messages/**/*") if p.is_file() and not p.name.startswith("."))


def corpus_figures(root: str | Path | None = None) -> dict[str, Any]:
    from functions.intake.mail import OfflineThreadLookup, decide, parse_mail

    base = corpus_root(root)
    files = corpus_files(base)
    if not files:
        return {"corpus": str(base), "messages": 0, "note": "no messages found (corpus folder absent?)"}
    lookup = OfflineThreadLookup()
    times: list[float] = []
    outcomes: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    slowest = ("", 0.0)
    for path in files:
        raw = path.read_bytes()
        start = time.perf_counter()
        mail = parse_mail(raw)
        elapsed = (time.perf_counter() - start) * 1000
        decision = decide(mail, lookup)
        times.append(elapsed)
        outcomes[decision.outcome] += 1
        reasons[f"{decision.outcome}:{decision.reason}"] += 1
        if elapsed > slowest[1]:
            slowest = (str(path.relative_to(base)), elapsed)
    count = len(files)
    ordered = sorted(times)
    return {
        "corpus": str(base),
        "messages": count,
        "median_parse_ms": round(statistics.median(times), 2),
        "p95_parse_ms": round(ordered[min(count - 1, int(count * 0.95))], 2),
        "max_parse_ms": round(slowest[1], 2),
        "slowest": slowest[0],
        "total_parse_s": round(sum(times) / 1000, 2),
        "outcome_share": {o: round(outcomes[o] / count, 3) for o in OUTCOMES},
        "outcome_counts": {o: outcomes[o] for o in OUTCOMES},
        "reasons": dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    figures = corpus_figures(args[0] if args else None)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(figures, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
