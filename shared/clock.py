"""The time, as the domain sees it: the wall clock, unless a simulation has set another.

Services take a ``clock`` callable and default to :func:`now`; tests and the local stack's
simulated day (``tests/e2e``, ``infra/simulation``) call :func:`set_clock` to drive hours of SLA
time in seconds. Never set in a deployed function.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Callable

_override: Callable[[], datetime] | None = None


def now() -> datetime:
    return _override() if _override is not None else datetime.now(timezone.utc)


def set_clock(clock: Callable[[], datetime] | None) -> None:
    """Use ``clock`` for the domain's time (None: back to the wall clock)."""
    global _override
    _override = clock
