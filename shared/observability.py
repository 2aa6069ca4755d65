"""Structured logging (Powertools Logger), created once, on first use, under a lock.

Log keys carry identifiers (complaint number, request id), never contact data or free text.
The Powertools service name differs from the Chalice app name on purpose: both use Python's
``logging.getLogger(name)``, and sharing one logger would mix Chalice's plain handler into ours.
"""
from __future__ import annotations

import os
import threading
from typing import Any

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME") or "complaints-service"
if SERVICE == "complaints":  # the Chalice app's own logger name: never share it
    SERVICE = "complaints-service"
_lock = threading.Lock()
_logger: Any = None


def logger() -> Any:
    global _logger
    if _logger is None:
        with _lock:
            if _logger is None:
                from aws_lambda_powertools import Logger

                _logger = Logger(service=SERVICE, use_rfc3339=True)
    return _logger
