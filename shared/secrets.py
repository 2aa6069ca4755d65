"""Secrets from AWS Secrets Manager (the webhooks' signing secrets), cached for a few minutes.

A secret is read by name (``GetSecretValue``; its ``SecretString`` is the secret itself) and kept
for ``cache_seconds`` (300 by default), so a busy notifier asks once per container and five
minutes, and a rotated secret is picked up within that time. Values never reach logs or errors.
"""
from __future__ import annotations

import threading
import time
from typing import Any, Callable


class SecretUnavailable(Exception):
    """The secret does not exist, is not a string, or cannot be read (the code says why)."""

    def __init__(self, name: str, code: str):
        super().__init__(f"secret {name!r} unavailable: {code}")
        self.name, self.code = name, code


class SecretStore:
    def __init__(self, secretsmanager: Any, *, cache_seconds: float = 300,
                 clock: Callable[[], float] = time.monotonic):
        self._client, self._ttl, self._clock = secretsmanager, cache_seconds, clock
        self._cache: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> str:
        now = self._clock()
        with self._lock:
            hit = self._cache.get(name)
            if hit and now - hit[0] < self._ttl:
                return hit[1]
        from shared.aws import error_code

        try:
            value = self._client.get_secret_value(SecretId=name).get("SecretString")
        except Exception as exc:  # noqa: BLE001 - reduced to its code: messages may quote the request
            raise SecretUnavailable(name, error_code(exc) or type(exc).__name__) from None
        if not value:
            raise SecretUnavailable(name, "NotAString")
        with self._lock:
            self._cache[name] = (now, value)
        return value

    def forget(self, name: str | None = None) -> None:
        """Drop one cached secret (or all): the next ``get`` reads it again."""
        with self._lock:
            if name is None:
                self._cache.clear()
            else:
                self._cache.pop(name, None)


_store: tuple[Any, SecretStore] | None = None
_store_lock = threading.Lock()


def secret_store() -> SecretStore:
    """One store per container, made anew when ``shared.aws`` hands out a new client (tests)."""
    global _store
    from shared.aws import client
    from shared.config import settings

    sm = client("secretsmanager")
    with _store_lock:
        if _store is None or _store[0] is not sm:
            _store = (sm, SecretStore(sm, cache_seconds=settings().secrets_cache_seconds))
        return _store[1]
