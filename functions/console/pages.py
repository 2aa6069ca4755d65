"""The staff console: ``GET /console`` (the page) and ``GET /console/{name}`` (its assets, and the
local stack's dev sign-in ``/console/dev-token``).

The console is one static page (``web/console.html``) with plain scripts - no build step, no
framework - that call the staff JSON API with the signed-in person's bearer token. The server fills in
three things at request time: the base path the API is mounted under (``/api`` behind API Gateway's
stage, empty locally), the asset URLs (``?v=<content hash>``, so assets may be cached for a week) and
the sign-in configuration:

* in AWS, Cognito's hosted UI: ``COGNITO_DOMAIN`` and the app client (``COGNITO_CLIENT_ID``, else
  ``JWT_AUDIENCE``, which is the same client id). The page sends the browser to
  ``https://<domain>/login?response_type=token&client_id=..&redirect_uri=<PUBLIC_BASE_URL>/console``
  and picks the ID token up from the ``#id_token=`` fragment it comes back with;
* locally (``DEV_SIGN_IN``, which only ``complaints run`` sets), a picker of the demo staff
  (``infra/demo_staff.py``): ``GET /console/dev-token`` lists them, ``?name=..`` answers a token signed
  with the stack's development key (``infra/devkeys.py``, next to ``JWKS_PATH``). Anywhere else that
  route is a 404, and the key is never made here.

Files are read once per container through ``Path(__file__).parent / "web"`` (checkout and Lambda zip alike).
"""
from __future__ import annotations

import html
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from chalice import Response

WEB_DIR = Path(__file__).parent / "web"
ASSET_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "application/javascript; charset=utf-8",
    ".svg": "image/svg+xml; charset=utf-8",
}
HTML_TYPE = "text/html; charset=utf-8"
ASSET_CACHE = "public, max-age=604800"
DEV_TOKEN = "dev-token"
DEV_TOKEN_MINUTES = 480
ROUTE = "/console"
_SAFE_BASE = re.compile(r"^(/[A-Za-z0-9._~\-]+)*$")
_DOMAIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")
# Personas beside the demo handlers: roles no handler has (the subject comes from the name)
EXTRA_PERSONAS = [("Ada Admin", "admin", []), ("Ode Auditor", "auditor", [])]

SECURITY_HEADERS = {
    # Everything comes from the app itself; the API is the same origin. Charts are inline SVG built
    # through the DOM (no style attributes), attachments are links the browser navigates to.
    "Content-Security-Policy": "; ".join([
        "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:",
        "connect-src 'self'", "form-action 'self'", "base-uri 'none'", "frame-ancestors 'none'",
    ]),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # the Cognito fragment never leaves in a Referer
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


# -- files ----------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _assets() -> dict[str, tuple[str, str, str]]:
    """name -> (text, content type, etag) for every servable file in ``web/`` (the allow-list)."""
    from shared.http import web_assets

    return web_assets(WEB_DIR, ASSET_TYPES)


@lru_cache(maxsize=1)
def _template() -> str:
    return (WEB_DIR / "console.html").read_text(encoding="utf-8")


# -- the page --------------------------------------------------------------------------------------
def console_page(request: Any) -> Response:
    base = mount_base(request)
    assets = _assets()

    def asset_url(match: re.Match) -> str:
        name = match.group(1)
        return html.escape(f"{base}{ROUTE}/{name}?v={assets[name][2] if name in assets else '0'}")

    page = re.sub(r"\{\{asset:([A-Za-z0-9._-]+)\}\}", asset_url, _template())
    page = (page.replace("{{base}}", html.escape(base))
                .replace("{{lang}}", _language(request))
                .replace("{{config}}", _json_for_script(sign_in_config(base))))
    return Response(body=page, status_code=200,
                    headers={"Content-Type": HTML_TYPE, "Cache-Control": "no-cache", **SECURITY_HEADERS})


def mount_base(request: Any) -> str:
    """The prefix the app is mounted under: the request path before ``/console`` (``/api`` for API
    Gateway's stage), ``""`` locally."""
    context = getattr(request, "context", None) or {}
    path = (context.get("path") or "").split("?")[0].rstrip("/")
    base = path[: -len(ROUTE)] if path.endswith(ROUTE) else ""
    return base if _SAFE_BASE.match(base) else ""


def _language(request: Any) -> str:
    query = getattr(request, "query_params", None) or {}
    lang = (query.get("lang") or "").lower()[:2]
    return lang if lang in ("zh", "en") else "en"


def _json_for_script(value: Any) -> str:
    """JSON safe inside a ``<script type="application/json">`` element."""
    text = json.dumps(value, ensure_ascii=True, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def sign_in_config(base: str = "") -> dict[str, Any]:
    """How the page signs people in: ``dev`` (the picker) and/or ``cognito`` (the hosted UI's URLs)."""
    from shared.config import settings

    s = settings()
    return {"base": base, "dev": dev_sign_in_enabled(), "cognito": cognito_urls(
        s.cognito_domain, s.cognito_client_id or s.jwt_audience, s.public_base_url)}


def cognito_urls(domain: str | None, client_id: str | None, public_base_url: str) -> dict[str, str] | None:
    """The hosted UI's sign-in and sign-out URLs, coming back to the console (``redirect_uri`` and
    ``logout_uri`` must be the app client's callback and sign-out URLs); None when not configured.
    ``response_type=token`` (the implicit grant) answers the ID token in the fragment; ``scope=openid``
    makes Cognito include the ID token, with every attribute the client may read."""
    host = re.sub(r"^https://", "", (domain or "").strip()).rstrip("/")
    if not host or not client_id or not _DOMAIN.match(host):
        return None
    console_url = public_base_url.rstrip("/") + ROUTE
    login = urlencode({"response_type": "token", "client_id": client_id, "redirect_uri": console_url,
                       "scope": "openid"}, quote_via=quote)
    logout = urlencode({"client_id": client_id, "logout_uri": console_url}, quote_via=quote)
    return {"login_url": f"https://{host}/login?{login}", "logout_url": f"https://{host}/logout?{logout}",
            "console_url": console_url}


# -- assets and the dev sign-in -----------------------------------------------------------------------
def console_asset(name: str) -> Response:
    """A file from ``web/`` by exact name (anything else, ``..`` included, is a 404); ``dev-token`` is
    the local sign-in."""
    if name == DEV_TOKEN:
        from functions.app import app  # the route hands over the name only; the request is the app's current one

        return dev_token(app.current_request)
    found = _assets().get(name) if isinstance(name, str) else None
    if found is None:
        return _error(404, "not_found", "no such file")
    text, content_type, etag = found
    return Response(body=text, status_code=200, headers={
        "Content-Type": content_type, "Cache-Control": ASSET_CACHE, "ETag": f'"{etag}"', **SECURITY_HEADERS})


def dev_sign_in_enabled() -> bool:
    """On only where ``DEV_SIGN_IN`` is set and tokens are checked against a local JWKS file."""
    from shared.config import settings

    s = settings()
    return bool(s.dev_sign_in and s.jwks_path and not s.jwks_url)


def dev_token(request: Any) -> Response:
    """``GET /console/dev-token``: the demo staff to pick from; ``?name=<name>[&role=][&department=]``:
    a token for that person (``department`` narrows it to one of theirs). 404 unless dev sign-in is on."""
    if not dev_sign_in_enabled():
        return _error(404, "not_found", "no such file")
    params = dict(getattr(request, "query_params", None) or {})
    unknown = [k for k in params if k not in ("name", "role", "department")]
    if unknown:
        return _error(400, "invalid_query", "some query parameters are invalid",
                      [{"field": k, "problem": "unknown query parameter"} for k in unknown])
    people = personas()
    if not params.get("name"):
        return _json({"personas": people})
    person = next((p for p in people if p["name"] == params["name"]
                   and params.get("role", p["role"]) == p["role"]), None)
    if person is None:
        return _error(404, "not_found", "no demo staff member with this name and role")
    departments = person["departments"]
    if params.get("department"):
        if params["department"] not in departments:
            return _error(400, "invalid_query", "not one of this person's departments",
                          [{"field": "department", "problem": "must be one of " + ", ".join(departments)}])
        departments = [params["department"]]
    key = _dev_key()
    if key is None:
        return _error(404, "not_found", "the local development key is missing (complaints run makes it)")
    from infra import devkeys

    token = devkeys.issue_token(role=person["role"], departments=departments, name=person["name"],
                                ttl_minutes=DEV_TOKEN_MINUTES, key=key)
    return _json({"token": token, "name": person["name"], "subject": person["subject"], "role": person["role"],
                  "departments": departments, "expires_in": DEV_TOKEN_MINUTES * 60})


def personas() -> list[dict[str, Any]]:
    """The demo staff as one can sign in: each handler (a lead for the departments they lead), the
    manager, and an admin and an auditor."""
    from infra import demo_staff
    from infra.devkeys import subject_for

    people = []
    for name, departments, _, _ in demo_staff.HANDLERS:
        led = [d for d, lead in demo_staff.LEADS.items() if lead == name]
        role = "manager" if name == demo_staff.MANAGER else "lead" if led else "agent"
        people.append({"name": name, "subject": subject_for(name), "role": role,
                       "departments": led if role == "lead" else list(departments)})
    people += [{"name": n, "subject": subject_for(n), "role": r, "departments": d} for n, r, d in EXTRA_PERSONAS]
    return people


def _dev_key() -> Any:
    """The stack's development key next to ``JWKS_PATH``; never generated here (a JWKS of another
    key at that path stays as it is)."""
    from infra import devkeys
    from shared.config import settings

    jwks = Path(settings().jwks_path or "")
    directory = jwks.parent
    if jwks.name != devkeys.JWKS_FILE or not jwks.is_file() or not (directory / devkeys.PRIVATE_KEY_FILE).is_file():
        return None
    return devkeys.ensure_dev_key(directory)


def _json(body: Any, status: int = 200) -> Response:
    return Response(body=json.dumps(body, ensure_ascii=False), status_code=status, headers={
        "Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store", **SECURITY_HEADERS})


def _error(status: int, code: str, message: str, details: list[dict[str, str]] | None = None) -> Response:
    return _json({"error": code, "message": message, "details": details or []}, status)
