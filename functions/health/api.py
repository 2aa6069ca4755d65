"""``GET /health``: can the API reach what it depends on? Public, cheap, and telling nothing secret.

Checks, each one call with a short timeout and no retry:

* ``table``: a GetItem of a key no item has (``PK = HEALTH``), half a read unit, the permission the
  API already has;
* ``attachments_bucket``, ``inbound_mail_bucket``, ``reports_bucket``: HeadBucket (s3:ListBucket on the
  bucket itself, nothing inside);
* ``email_intake_queue``: GetQueueAttributes (``ApproximateNumberOfMessages``), the queue the staff
  re-drive of quarantined mail writes to.

200 ``{"status": "ok", "checks": {"table": "ok", ...}}`` or 503 ``{"status": "unavailable", "checks":
{..., "table": "failed"}, "error": "unavailable", "message", "details": [{"field": "table", "problem":
"unreachable"}]}`` (the error format's keys too). The answer names checks only: no resource name, ARN,
error text or account. A healthy answer is kept for :data:`CACHE_SECONDS` per container so a flood of
probes costs AWS nothing more; a failure is never kept.
"""
from __future__ import annotations

import threading
import time
from typing import Any, Callable

CACHE_SECONDS = 10.0
TIMEOUT_SECONDS = 2
HEALTH_KEY = {"PK": {"S": "HEALTH"}, "SK": {"S": "HEALTH"}}

_lock = threading.Lock()
_cached: tuple[float, dict[str, str]] | None = None


class Dependencies:
    """The AWS resources the API needs, probed with their own fast-failing clients."""

    def __init__(self, settings: Any, client: Callable[[str], Any] | None = None):
        self._settings = settings
        self._client = client or _client

    def checks(self) -> dict[str, Callable[[], None]]:
        s = self._settings
        found: dict[str, Callable[[], None]] = {"table": self.table}
        for name, bucket in (("attachments_bucket", s.attachments_bucket),
                             ("inbound_mail_bucket", s.inbound_mail_bucket), ("reports_bucket", s.reports_bucket)):
            found[name] = (lambda b=bucket: self.bucket(b)) if bucket else _missing
        found["email_intake_queue"] = (lambda: self.queue(s.email_intake_queue_url)) if s.email_intake_queue_url \
            else _missing
        return found

    def table(self) -> None:
        self._client("dynamodb").get_item(TableName=self._settings.table_name, Key=HEALTH_KEY,
                                          ProjectionExpression="PK")

    def bucket(self, name: str) -> None:
        self._client("s3").head_bucket(Bucket=name)

    def queue(self, url: str) -> None:
        self._client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])


class NotConfigured(Exception):
    pass


def _missing() -> None:
    raise NotConfigured()


_clients: dict[str, Any] = {}


def _client(service: str) -> Any:
    with _lock:
        if service not in _clients:
            import boto3
            from botocore.config import Config

            from shared.config import settings

            config = Config(retries={"mode": "standard", "max_attempts": 1}, connect_timeout=TIMEOUT_SECONDS,
                            read_timeout=TIMEOUT_SECONDS)
            if service == "s3":
                config = config.merge(Config(signature_version="s3v4", s3={"addressing_style": "path"}))
            _clients[service] = boto3.client(service, region_name=settings().region, config=config)
        return _clients[service]


def probe(dependencies: Dependencies) -> dict[str, str]:
    """Every check's result, ``ok`` or ``failed``; the failures logged by check name and error code."""
    from shared.aws import error_code
    from shared.observability import logger

    results: dict[str, str] = {}
    for name, check in dependencies.checks().items():
        try:
            check()
            results[name] = "ok"
        except Exception as exc:  # noqa: BLE001 - any failure is "failed"; its code goes to the log only
            results[name] = "failed"
            reason = "not_configured" if isinstance(exc, NotConfigured) else (error_code(exc) or type(exc).__name__)
            logger().warning("health check failed", extra={"check": name, "error": reason})
    return results


def health(request: Any) -> Any:
    from shared.config import settings
    from shared.http import json_response

    global _cached
    cached = _cached
    if cached is not None and time.monotonic() - cached[0] < CACHE_SECONDS:
        results = cached[1]
    else:
        try:
            results = probe(Dependencies(settings()))
        except Exception:  # noqa: BLE001 - the configuration itself is broken (e.g. TABLE_NAME unset)
            from shared.observability import logger

            logger().warning("health check failed", extra={"check": "configuration", "error": "invalid"})
            results = {"configuration": "failed"}
        if all(v == "ok" for v in results.values()):
            _cached = (time.monotonic(), results)
    failed = [name for name, v in results.items() if v != "ok"]
    if not failed:
        return json_response({"status": "ok", "checks": results})
    return json_response({"status": "unavailable", "checks": results, "error": "unavailable",
                          "message": "some dependencies cannot be reached",
                          "details": [{"field": name, "problem": "unreachable"} for name in failed]},
                         503, {"Retry-After": "30"})


def reset() -> None:
    """Forget the cached answer and the clients (tests switch moto instances)."""
    global _cached
    with _lock:
        _cached = None
        _clients.clear()
