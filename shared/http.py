"""Shaping HTTP answers: JSON bodies, the one error format, request body parsing.

Every error is ``{"error": code, "message": text, "details": [{"field", "problem"}]}`` with a
fitting 4xx status; nothing about the server's internals ever reaches the client.
"""
from __future__ import annotations

import functools
import json
from typing import Any, Callable, Iterable

from chalice import Response

from shared.observability import logger

JSON_TYPE = "application/json"
SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: Iterable[dict[str, str]] = (),
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, list(details)
        self.headers = dict(headers or {})  # e.g. Retry-After of a 429


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        body=json.dumps(body, ensure_ascii=False, default=str),
        status_code=status,
        headers={"Content-Type": JSON_TYPE + "; charset=utf-8", **SECURITY_HEADERS, **(headers or {})},
    )


def error_response(status: int, code: str, message: str, details: Iterable[dict[str, str]] = (),
                   headers: dict[str, str] | None = None) -> Response:
    return json_response({"error": code, "message": message, "details": list(details)}, status, headers)


def validation_details(exc: Any) -> list[dict[str, str]]:
    """pydantic errors as ``[{"field": "customer.email", "problem": "..."}]``."""
    details = []
    for err in exc.errors(include_url=False):
        loc = [str(p) for p in err.get("loc", ())]
        field = ".".join(loc) or "body"
        kind = err.get("type", "")
        if kind == "extra_forbidden":
            problem = "unknown field"
        elif kind == "missing":
            problem = "is required"
        else:
            problem = str(err.get("msg", "is invalid")).removeprefix("Value error, ")
        details.append({"field": field, "problem": problem})
    return details


def parse_json_body(request: Any, max_bytes: int) -> dict[str, Any]:
    raw = request.raw_body or b""
    if len(raw) > max_bytes:
        raise ApiError(413, "payload_too_large", f"the request body is larger than {max_bytes} bytes")
    if not raw.strip():
        raise ApiError(400, "invalid_json", "the request body must be a JSON object")
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ApiError(400, "invalid_json", "the request body is not valid JSON (UTF-8)") from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "the request body must be a JSON object")
    return body


def no_body(request: Any, max_bytes: int = 1024) -> None:
    """A POST that takes no body accepts none or ``{}``; anything else is refused like a model would
    (413 too large, 400 not JSON, 422 naming each unknown field)."""
    if not (request.raw_body or b"").strip():
        return
    body = parse_json_body(request, max_bytes)
    if body:
        raise ApiError(422, "validation_failed", "some fields are missing or invalid",
                       [{"field": str(k), "problem": "unknown field"} for k in body])


def query(request: Any, allowed: Iterable[str] = ()) -> dict[str, str]:
    """The query parameters, 400 ``invalid_query`` naming each one the route does not take."""
    params = dict(getattr(request, "query_params", None) or {})
    allowed = set(allowed)
    problems = [{"field": k, "problem": "unknown query parameter"} for k in params if k not in allowed]
    if problems:
        raise ApiError(400, "invalid_query", "some query parameters are invalid", problems)
    return params


def header(request: Any, name: str) -> str | None:
    headers = request.headers or {}
    value = headers.get(name)
    if value is None:
        lower = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lower), None)
    return value


def endpoint(func: Callable[..., Response]) -> Callable[..., Response]:
    """Turn domain errors into the error format; log the unexpected ones without their data."""
    from pydantic import ValidationError

    @functools.wraps(func)
    def wrapper(request: Any, *args: Any, **kwargs: Any) -> Response:
        log = logger()
        context = getattr(request, "context", None) or {}
        log.set_correlation_id(context.get("requestId"))
        try:
            return func(request, *args, **kwargs)
        except ApiError as exc:
            log.info("request refused", extra={"error": exc.code, "status": exc.status})
            return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)
        except ValidationError as exc:
            details = validation_details(exc)
            log.info("request invalid", extra={"error": "validation_failed", "fields": [d["field"] for d in details]})
            return error_response(422, "validation_failed", "some fields are missing or invalid", details)
        except Exception:  # noqa: BLE001 - the last line of defence: never a stack trace to the client
            log.exception("request failed")
            return error_response(500, "internal_error", "something went wrong on our side; please retry")
        finally:
            log.remove_keys(["complaint_id", "staff_role"])

    return wrapper


def web_assets(web_dir: Any, types: dict[str, str]) -> dict[str, tuple[str, str, str]]:
    """name -> (text, content type, etag) for every servable file in ``web_dir`` whose suffix is in
    ``types`` (the allow-list of a room's static files; the pages link them with ``?v=<etag>``)."""
    import hashlib

    found: dict[str, tuple[str, str, str]] = {}
    for path in sorted(web_dir.iterdir()):
        content_type = types.get(path.suffix)
        if content_type and path.is_file() and not path.name.startswith("."):
            data = path.read_bytes()
            found[path.name] = (data.decode("utf-8"), content_type, hashlib.sha256(data).hexdigest()[:16])
    return found


def query_day(value: str | None, field: str, problems: list[dict[str, str]]) -> Any:
    """A ``YYYY-MM-DD`` query parameter as a date; None when absent, or (with a problem noted for the
    400 answer) when it is not such a day."""
    import re
    from datetime import date

    if not value:
        return None
    try:
        if not re.fullmatch(r"\d{4}-\d\d-\d\d", value):
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        problems.append({"field": field, "problem": "must be a date, YYYY-MM-DD"})
        return None
