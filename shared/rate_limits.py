"""Rate limits of the public endpoints, and the tracking-number lock that makes guessing tokens pointless.

Fixed-window counters in the complaints table (access patterns 90-92 of ``docs/data-model.md``):
``PK = RATE#<scope>#<keyed hash>``, ``SK = W#<window start, epoch seconds>``; each request is one
``UpdateItem ADD hits :one`` answering the new count (``ReturnValues=UPDATED_NEW``), and the item
expires through the table's TTL attribute ``expires_at`` an hour after its window ends. Keys are
keyed hashes (the look-up HMAC of :class:`shared.crypto.LookupHasher`): no IP address, email or
phone number is ever a key in clear.

Scopes and their defaults (each overridable by an environment variable, e.g. ``RATE_LIMIT_SUBMIT_IP=
"10/hour"``; periods ``second``, ``minute``, ``hour``, ``day``, optionally with a count, ``5/15 minutes``):

====================  ====================================================  ===============
scope                 what is counted                                        default
====================  ====================================================  ===============
``submit_ip``         ``POST /complaints`` per client IP (IPv6: per /64)     20 / hour
``submit_customer``   ``POST /complaints`` per customer email and phone      5 / day
``upload_ip``         ``POST /complaints/attachments`` per client IP         60 / hour
``track_ip``          ``GET /complaints/{id}`` per client IP                 60 / minute
``answer_ip``         the customer's messages, confirmation, survey per IP   30 / hour
``answer_case``       the same per complaint number                          30 / day
``token_failures``    wrong tracking tokens per complaint number             5 / 15 minutes
====================  ====================================================  ===============

Reaching ``token_failures`` locks the number (``PK = RATE#track_lock#<hash>``, ``SK = LOCK``) for 15
minutes, then 30, 60 ... up to 24 hours for each further lock while the last one is less than a day
old: every request for a locked number answers 429 with ``Retry-After``, even with the right token.
Numbers that do not exist are counted and locked the same way, so a lock says nothing about whether
a number exists.

``RATE_LIMITS=off`` turns every limit off. Requests from the machine itself (a loopback source IP:
the local stack's pages, tests and benches) are not limited unless ``RATE_LIMIT_LOCAL=on`` - API
Gateway never reports a loopback source IP, so this changes nothing in AWS. A failure of the
counter store lets the request through (logged): complaints matter more than a counter.
"""
from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, Callable

from pydantic import BaseModel, ConfigDict, Field, field_validator

_PERIOD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)?\s*(s|sec|seconds?|m|min|minutes?|h|hours?|d|days?)\s*$", re.I)
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}
ENV_PREFIXES = ("RATE_LIMIT", "TRACKING_LOCK")
EXPIRY_GRACE = 3600  # counter items live an hour past their window (TTL deletion is lazy anyway)
LOCK_MEMORY = 86400  # a lock escalates the next one while it is younger than this


@dataclass(frozen=True)
class Limit:
    """``count`` requests per ``seconds`` (a fixed window)."""

    count: int
    seconds: int

    @classmethod
    def parse(cls, text: str) -> "Limit":
        match = _PERIOD.match(str(text))
        if not match:
            raise ValueError(f"{text!r} is not a limit like '20/hour' or '5/15 minutes'")
        count, times, unit = int(match[1]), int(match[2] or 1), match[3][0].lower()
        if count < 1 or times < 1:
            raise ValueError(f"{text!r}: count and period must be positive")
        return cls(count, times * _UNIT[unit])

    def window(self, at: float) -> tuple[int, int]:
        """The window containing the instant ``at`` (epoch seconds): its start and its end."""
        start = int(at) - int(at) % self.seconds
        return start, start + self.seconds


class RateLimitSettings(BaseModel):
    """The limits, from the environment (see the module's table)."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    enabled: bool = Field(True, alias="RATE_LIMITS")
    local: bool = Field(False, alias="RATE_LIMIT_LOCAL")
    submit_ip: Limit = Field(Limit.parse("20/hour"), alias="RATE_LIMIT_SUBMIT_IP")
    submit_customer: Limit = Field(Limit.parse("5/day"), alias="RATE_LIMIT_SUBMIT_CUSTOMER")
    upload_ip: Limit = Field(Limit.parse("60/hour"), alias="RATE_LIMIT_UPLOAD_IP")
    track_ip: Limit = Field(Limit.parse("60/minute"), alias="RATE_LIMIT_TRACK_IP")
    answer_ip: Limit = Field(Limit.parse("30/hour"), alias="RATE_LIMIT_ANSWER_IP")
    answer_case: Limit = Field(Limit.parse("30/day"), alias="RATE_LIMIT_ANSWER_CASE")
    token_failures: Limit = Field(Limit.parse("5/15 minutes"), alias="TRACKING_LOCK_FAILURES")
    lock_seconds: int = Field(900, alias="TRACKING_LOCK_SECONDS", ge=1, description="the first lock")
    lock_max_seconds: int = Field(86400, alias="TRACKING_LOCK_MAX_SECONDS", ge=1, description="the longest lock")

    @field_validator("enabled", "local", mode="before")
    @classmethod
    def _switch(cls, value: Any) -> Any:
        return str(value).strip().lower() not in ("off", "0", "false", "no") if isinstance(value, str) else value

    @field_validator("submit_ip", "submit_customer", "upload_ip", "track_ip", "answer_ip", "answer_case",
                     "token_failures", mode="before")
    @classmethod
    def _parse(cls, value: Any) -> Any:
        return Limit.parse(value) if isinstance(value, str) else value

    def limit(self, scope: str) -> Limit:
        return getattr(self, scope)

    def lock_duration(self, level: int) -> int:
        """Seconds of the ``level``-th lock in a row: the first lock, doubled each time, capped."""
        return min(self.lock_seconds * 2 ** max(level - 1, 0), self.lock_max_seconds)


def rate_limit_settings(env: dict[str, str] | None = None) -> RateLimitSettings:
    env = os.environ if env is None else env
    return _settings(tuple(sorted((k, v) for k, v in env.items() if k.startswith(ENV_PREFIXES))))


@lru_cache(maxsize=8)
def _settings(items: tuple[tuple[str, str], ...]) -> RateLimitSettings:
    return RateLimitSettings.model_validate(dict(items))


# -- the client ---------------------------------------------------------------------------------------------
def client_ip(request: Any) -> str | None:
    """The caller's address as API Gateway saw it (``requestContext.identity.sourceIp``): never a header
    the caller could set (``X-Forwarded-For``)."""
    context = getattr(request, "context", None) or {}
    ip = (context.get("identity") or {}).get("sourceIp")
    return str(ip) if ip else None


def ip_key(ip: str | None) -> str:
    """What one client is: an IPv4 address, or the /64 network of an IPv6 one (a host gets a whole
    /64); ``unknown`` when API Gateway gave none (all such requests share a counter)."""
    try:
        address = ipaddress.ip_address(ip or "")
    except ValueError:
        return "unknown"
    if address.version == 6:
        mapped = address.ipv4_mapped
        return str(mapped) if mapped else str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def is_loopback(ip: str | None) -> bool:
    try:
        return ipaddress.ip_address(ip or "").is_loopback
    except ValueError:
        return False


# -- outcomes -----------------------------------------------------------------------------------------------
class RateLimited(Exception):
    """Too many requests: try again in ``retry_after`` seconds."""

    def __init__(self, scope: str, retry_after: int):
        super().__init__(f"{scope} limit reached; retry after {retry_after} s")
        self.scope, self.retry_after = scope, max(int(retry_after), 1)


@dataclass(frozen=True)
class Lock:
    until: int  # epoch seconds
    level: int  # locks in a row (escalates the next one)
    set_at: int


# -- the store (the gateway to DynamoDB) -----------------------------------------------------------------------
class RateLimitStore:
    """Counters and locks in the complaints table; ``hasher(kind, value)`` makes the keys."""

    def __init__(self, dynamodb: Any, table: str, hasher: Callable[[str, str], str]):
        self._db, self._table, self._hasher = dynamodb, table, hasher

    def _pk(self, scope: str, key: str) -> str:
        return f"RATE#{scope}#{self._hasher('rate:' + scope, key)[:32]}"

    def count(self, scope: str, key: str, limit: Limit, at: float) -> tuple[int, int]:
        """One more hit in the current window: (the window's count now, seconds until it ends)."""
        start, end = limit.window(at)
        out = self._db.update_item(
            TableName=self._table,
            Key={"PK": {"S": self._pk(scope, key)}, "SK": {"S": f"W#{start}"}},
            UpdateExpression="ADD hits :one SET expires_at = if_not_exists(expires_at, :ttl)",
            ExpressionAttributeValues={":one": {"N": "1"}, ":ttl": {"N": str(end + EXPIRY_GRACE)}},
            ReturnValues="UPDATED_NEW",
        )
        return int(out["Attributes"]["hits"]["N"]), end - int(at)

    def lock(self, key: str) -> Lock | None:
        out = self._db.get_item(TableName=self._table, Key={"PK": {"S": self._pk("track_lock", key)},
                                                            "SK": {"S": "LOCK"}})
        item = out.get("Item")
        if not item:
            return None
        return Lock(until=int(item["until"]["N"]), level=int(item["level"]["N"]), set_at=int(item["set_at"]["N"]))

    def put_lock(self, key: str, lock: Lock) -> None:
        self._db.put_item(TableName=self._table, Item={
            "PK": {"S": self._pk("track_lock", key)}, "SK": {"S": "LOCK"},
            "until": {"N": str(lock.until)}, "level": {"N": str(lock.level)}, "set_at": {"N": str(lock.set_at)},
            "expires_at": {"N": str(lock.until + LOCK_MEMORY)}})


# -- the policy ---------------------------------------------------------------------------------------------
class RateLimiter:
    """The limits of one request from ``ip``: :meth:`hit` per scope, and the tracking-number lock."""

    def __init__(self, store: RateLimitStore, settings: RateLimitSettings, ip: str | None,
                 clock: Callable[[], datetime] | None = None):
        from shared.clock import now

        self._store, self._settings, self._clock = store, settings, clock or now
        self.ip = ip
        self.active = settings.enabled and (settings.local or not is_loopback(ip))

    def _now(self) -> float:
        return self._clock().timestamp()

    def hit(self, scope: str, key: str | None = None) -> None:
        """Count this request in ``scope`` (keyed by ``key``, default the client); RateLimited when over."""
        if not self.active:
            return
        limit = self._settings.limit(scope)
        try:
            hits, remaining = self._store.count(scope, key if key is not None else ip_key(self.ip), limit, self._now())
        except Exception as exc:  # noqa: BLE001 - fail open: a counter must never lose a complaint
            _log_store_failure(scope, exc)
            return
        if hits > limit.count:
            _log_limited(scope)
            raise RateLimited(scope, remaining)

    def locked(self, number: str) -> Lock | None:
        """The number's lock while it holds (RateLimited), else the last lock (or None)."""
        if not self.active:
            return None
        try:
            lock = self._store.lock(number)
        except Exception as exc:  # noqa: BLE001 - fail open
            _log_store_failure("track_lock", exc)
            return None
        now = int(self._now())
        if lock is not None and lock.until > now:
            _log_limited("track_lock")
            raise RateLimited("track_lock", lock.until - now)
        return lock

    def token_failed(self, number: str, last: Lock | None) -> None:
        """A wrong token for ``number``: counted; the failure that reaches the limit locks the number
        (RateLimited). ``last``: what :meth:`locked` answered for this request."""
        if not self.active:
            return
        limit = self._settings.token_failures
        at = self._now()
        try:
            failures, _ = self._store.count("token_failures", number, limit, at)
            if failures < limit.count:
                return
            recent = last is not None and at - last.set_at < LOCK_MEMORY
            level = (last.level if recent else 0) + 1
            seconds = self._settings.lock_duration(level)
            self._store.put_lock(number, Lock(until=int(at) + seconds, level=level, set_at=int(at)))
        except Exception as exc:  # noqa: BLE001 - fail open
            _log_store_failure("token_failures", exc)
            return
        from shared.observability import logger

        logger().warning("tracking number locked after wrong tokens", extra={"lock_level": level, "seconds": seconds})
        raise RateLimited("track_lock", seconds)


def _log_limited(scope: str) -> None:
    from shared.observability import logger

    logger().info("rate limited", extra={"rate_limit": scope})


def _log_store_failure(scope: str, exc: Exception) -> None:
    from shared.aws import error_code
    from shared.observability import logger

    logger().warning("rate limit not checked: the counter store failed",
                     extra={"rate_limit": scope, "error": error_code(exc) or type(exc).__name__})


def rate_limiter(request: Any) -> RateLimiter:
    """The limiter of ``request`` (its client IP), wired to the table and the look-up key."""
    from shared.aws import client
    from shared.config import settings
    from shared.store import lookup_hasher

    store = RateLimitStore(client("dynamodb"), settings().table_name, lookup_hasher().hash)
    return RateLimiter(store, rate_limit_settings(), client_ip(request))
