"""Pacing the notifier's emails to the account's SES sending quota.

SES refuses what exceeds the account's maximum send rate (``MaxSendRate``, emails a second) and its
24-hour quota (``Max24HourSend``). At a peak (a product recall: a hundred times the usual volume in an
hour) the notifier would otherwise send as fast as SQS hands it messages, and the refused sends would
be retried and end in the dead-letter queue. So every container paces itself:

* the quota is read with ``GetSendQuota`` (SES v1; ``ses:GetSendQuota``) and kept for
  :data:`QUOTA_TTL_SECONDS` per container;
* each container may use ``MaxSendRate * SHARE / senders`` emails a second, ``senders`` being the
  notifier's maximum concurrency (``NOTIFIER_MAX_CONCURRENCY``: the template's
  ``ScalingConfig.MaximumConcurrency``), so all containers together stay under the account's rate;
  :data:`SHARE` leaves room for the reports and for SES's own accounting;
* every email takes the next free slot (:meth:`SendPacer.take`, in ``channels.EmailChannel.send``),
  waiting for it if needed (a "generic cell rate" schedule: up to :data:`BURST` emails may go ahead
  of the pace - SES accepts short bursts above the rate - and the rest are spaced by the interval): a
  container handles its batch one record at a time, so the wait is at most about one interval and the
  backlog waits in the queue, not in the function;
* before a record is handled (:meth:`SendPacer.admit`, in ``handlers``) the pacer checks that its next
  slot comes within :data:`MAX_WAIT_SECONDS` (and the invocation's remaining time) and that the day's
  quota is not used up. If not, :class:`SendingPaused` is raised *before anything is done*: the handler
  makes the message invisible until the pacer expects room (``redelivery.Redelivery``) and reports it
  as failed, so SQS hands it over again then. Nothing is dropped; nothing is sent twice (the delivery
  log's claims make a redelivered event skip what was sent).

Pure Python with injectable clocks; the one AWS call is the quota reader passed in.
"""
from __future__ import annotations

import math
import os
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, Callable

SHARE = 0.8  # of the account's MaxSendRate for the notifier
DAILY_SHARE = 0.98  # of Max24HourSend: the last 2% stay for the reports and staff
QUOTA_TTL_SECONDS = 60.0
MAX_WAIT_SECONDS = 20.0  # the longest one record may wait for its slot (notifier timeout: 120 s)
QUOTA_DEFERRAL_SECONDS = 3600  # the day's quota is used up: try again in an hour (a rolling 24 h window)
MIN_DEFERRAL_SECONDS = 1
BURST = 10  # emails a container may send ahead of its pace (one batch); SES accepts short bursts


@dataclass(frozen=True)
class Quota:
    max_24_hour_send: float  # < 0: unlimited
    max_send_rate: float
    sent_last_24_hours: float

    @classmethod
    def of(cls, answer: dict[str, Any]) -> "Quota":
        return cls(float(answer["Max24HourSend"]), float(answer["MaxSendRate"]), float(answer["SentLast24Hours"]))


class SendingPaused(Exception):
    """No email may go out now; the message should come back at ``until``."""

    def __init__(self, until: datetime, reason: str):
        super().__init__(f"sending paused ({reason}) until {until.isoformat()}")
        self.until, self.reason = until, reason


class SendPacer:
    """One per container (see the module docstring). ``clock``/``sleep``: monotonic seconds;
    ``wall``: the current time (aware datetime) for the deferral's ``until``."""

    def __init__(self, read_quota: Callable[[], Quota], *, senders: int, wall: Callable[[], datetime],
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                 share: float = SHARE, daily_share: float = DAILY_SHARE, max_wait: float = MAX_WAIT_SECONDS,
                 quota_ttl: float = QUOTA_TTL_SECONDS, burst: int = BURST):
        if senders < 1:
            raise ValueError("senders must be at least 1")
        self._read_quota, self._senders, self._wall = read_quota, senders, wall
        self._clock, self._sleep = clock, sleep
        self._share, self._daily_share, self._max_wait, self._ttl = share, daily_share, max_wait, quota_ttl
        self._burst = max(1, burst)
        self._lock = threading.Lock()
        self._quota: Quota | None = None
        self._read_at = -math.inf
        self._sent_since_read = 0
        self._due = -math.inf  # the theoretical time of the next send at the pace (GCRA's TAT)

    # the quota
    def quota(self) -> Quota:
        now = self._clock()
        if self._quota is None or now - self._read_at >= self._ttl:
            self._quota = self._read_quota()
            self._read_at, self._sent_since_read = now, 0
        return self._quota

    def interval(self) -> float:
        """Seconds between two sends of this container."""
        rate = self.quota().max_send_rate * self._share / self._senders
        return 1.0 / rate if rate > 0 else math.inf

    def _day_used_up(self) -> bool:
        q = self.quota()
        if q.max_24_hour_send < 0:
            return False
        return q.sent_last_24_hours + self._sent_since_read >= q.max_24_hour_send * self._daily_share

    # the two checks
    def admit(self, remaining_seconds: float | None = None) -> None:
        """Before a record: raise :class:`SendingPaused` if its email could not go out soon enough."""
        with self._lock:
            if self._day_used_up():
                raise SendingPaused(self._wall() + timedelta(seconds=QUOTA_DEFERRAL_SECONDS), "daily quota")
            interval = self.interval()
            wait = self._wait(self._clock(), interval)
            budget = self._max_wait  # and at most half the invocation's time left (unknown: 0 or less)
            if remaining_seconds is not None and remaining_seconds > 0:
                budget = min(budget, remaining_seconds / 2)
            if wait > budget or interval > self._max_wait:
                ahead = max(wait, interval)
                seconds = 60 if ahead == math.inf else max(MIN_DEFERRAL_SECONDS, math.ceil(ahead))
                raise SendingPaused(self._wall() + timedelta(seconds=seconds), "send rate")

    def take(self) -> float:
        """Right before a send: wait for this container's next slot. Returns the seconds waited.
        Raises :class:`SendingPaused` only when the day's quota ran out meanwhile."""
        with self._lock:
            if self._day_used_up():
                raise SendingPaused(self._wall() + timedelta(seconds=QUOTA_DEFERRAL_SECONDS), "daily quota")
            now, interval = self._clock(), self.interval()
            wait = self._wait(now, interval)
            self._due = max(self._due, now) + interval
            self._sent_since_read += 1
        if wait > 0:
            self._sleep(wait)
        return wait

    def _wait(self, now: float, interval: float) -> float:
        """Seconds until the next email may go: ``BURST - 1`` intervals of slack ahead of the pace."""
        if interval == math.inf:
            return math.inf
        return max(0.0, max(self._due, now) - (self._burst - 1) * interval - now)


# -- the container's pacer --------------------------------------------------------------------------------
def monotonic() -> float:  # module-level, so tests can replace the clock
    return time.monotonic()


def sleep(seconds: float) -> None:
    time.sleep(seconds)


def senders() -> int:
    """The notifier's maximum concurrency (app.py's ScalingConfig; functions/.chalice/config.json)."""
    value = os.environ.get("NOTIFIER_MAX_CONCURRENCY") or "2"
    return max(1, int(value)) if value.isdigit() else 2


def quota_override(quota: Quota) -> Quota:
    """``SES_SEND_QUOTA=<per day>/<per second>`` (``-1`` per day: unlimited) replaces the account's
    figures: the local stack sets it, since moto answers a fixed sandbox quota (200 a day, 1 a second)
    that no real deployment has; never set in AWS."""
    text = (os.environ.get("SES_SEND_QUOTA") or "").strip()
    if not text:
        return quota
    try:
        day, rate = (float(part) for part in text.split("/", 1))
    except ValueError:
        return quota
    return Quota(day, rate, quota.sent_last_24_hours if day >= 0 else 0.0)


@lru_cache(maxsize=1)
def _pacer(ses: Any) -> SendPacer:
    from shared.clock import now

    return SendPacer(lambda: quota_override(Quota.of(ses.get_send_quota())), senders=senders(), wall=now,
                     clock=lambda: monotonic(), sleep=lambda s: sleep(s), share=SHARE, daily_share=DAILY_SHARE)


def email_pacer() -> SendPacer:
    """One per container; made anew whenever ``shared.aws`` hands out new clients (tests, local stack)."""
    from shared.aws import client

    return _pacer(client("ses"))


def reset() -> None:
    _pacer.cache_clear()
