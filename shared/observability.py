"""Structured logging (Powertools Logger), created on first use.

Log keys carry identifiers (complaint number, request id), never contact data or free text.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any


@lru_cache(maxsize=None)
def logger(service: str = "complaints") -> Any:
    from aws_lambda_powertools import Logger

    return Logger(service=service, use_rfc3339=True)
