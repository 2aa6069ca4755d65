"""Cached boto3 clients, created on first use (boto3 is imported lazily to keep cold starts short).

The endpoint comes from the environment (``AWS_ENDPOINT_URL``, honoured by botocore itself), so
the same code talks to AWS in Lambda and to moto in the local stack.
"""
from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any

_lock = threading.Lock()


# Services whose sends have no idempotency token: botocore would retry a request whose answer was lost
# (a read timeout after SES accepted the email) and send it twice (:func:`send_email_once`).
NOT_IDEMPOTENT = frozenset({"sesv2"})


@lru_cache(maxsize=None)
def client(service: str) -> Any:
    with _lock:  # boto3's default session is not thread-safe while creating clients
        import boto3
        from botocore.config import Config

        from shared.config import settings

        config = Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=3, read_timeout=10)
        if service in NOT_IDEMPOTENT:  # retried by the caller, who knows which failures sent nothing
            config = config.merge(Config(retries={"mode": "standard", "total_max_attempts": 1}))
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


class SendUnconfirmed(Exception):
    """The request reached the service but its answer was lost (a read timeout): the email may well be
    out. It is not sent again - SES has no idempotency token, so a retry would be a second email."""


# What certainly sent nothing, so trying again cannot send twice: throttling, SES's own 5xx (it accepts
# an email only with a 200), and a connection that never carried the request.
RETRYABLE_SEND_CODES = frozenset({"TooManyRequestsException", "Throttling", "ThrottlingException",
                                  "LimitExceededException", "InternalFailure", "InternalServerError",
                                  "ServiceUnavailable", "InternalError"})
SEND_BACKOFF_SECONDS = (0.1, 0.4, 1.0)  # between the 4 attempts


def send_email_once(sesv2: Any, **kwargs: Any) -> str:
    """``SendEmail`` with the retries botocore is not allowed to make for it (:data:`NOT_IDEMPOTENT`):
    SES's MessageId; :class:`SendUnconfirmed` when the answer was lost; the last error when every
    attempt certainly failed or the error is final."""
    import time

    from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError

    for pause in (*SEND_BACKOFF_SECONDS, None):
        try:
            return sesv2.send_email(**kwargs)["MessageId"]
        except ReadTimeoutError:
            raise SendUnconfirmed() from None
        except (ConnectTimeoutError, EndpointConnectionError):
            if pause is None:
                raise
        except Exception as exc:
            if pause is None or error_code(exc) not in RETRYABLE_SEND_CODES:
                raise
        time.sleep(pause)
    raise AssertionError("unreachable")  # pragma: no cover

