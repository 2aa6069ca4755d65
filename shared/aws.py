"""Cached boto3 clients, created on first use (boto3 is imported lazily to keep cold starts short).

The endpoint comes from the environment (``AWS_ENDPOINT_URL``, honoured by botocore itself), so
the same code talks to AWS in Lambda and to moto in the local stack.
"""
from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any

_lock = threading.Lock()


@lru_cache(maxsize=None)
def client(service: str) -> Any:
    with _lock:  # boto3's default session is not thread-safe while creating clients
        import boto3
        from botocore.config import Config

        from shared.config import settings

        config = Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=3, read_timeout=10)
        if service == "s3":
            config = config.merge(Config(signature_version="s3v4", s3={"addressing_style": "path"}))
        return boto3.client(service, region_name=settings().region, config=config)


def reset_clients() -> None:
    client.cache_clear()


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a botocore ClientError, or None for anything else."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return response.get("Error", {}).get("Code")
    return None
