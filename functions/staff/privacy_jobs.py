"""The two scheduled privacy jobs (shared/privacy.py ``PrivacyDesk``; docs/privacy.md), apart from the staff
API's routes (functions/staff/privacy.py): a job's cold start loads no HTTP, token or policy code.

* ``follow_up_privacy_requests`` (hourly): pending erasures whose holds may have ended tried again;
  open requests near or past their deadline logged;
* ``anonymise_expired_cases`` (hourly): ended cases past their retention anonymised like an erasure.
"""
from __future__ import annotations

from typing import Any

from shared.observability import logger


def follow_up(event: Any) -> dict[str, int]:
    """Hourly: pending erasures whose holds may have ended tried again; open requests near or past
    their deadline logged (warning, error)."""
    from shared.privacy_store import privacy_desk

    report = privacy_desk().follow_up().as_dict()
    logger().info("privacy requests followed up", extra=report)
    return report


def retain(event: Any) -> dict[str, int]:
    """Hourly: ended cases past their retention anonymised (as an erasure does); a bounded number of
    index items and cases a run, so a run ends well within the function's timeout."""
    from shared.privacy_store import privacy_desk

    report = privacy_desk().retain().as_dict()
    logger().info("retention run", extra=report)
    return report
