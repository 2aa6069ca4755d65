"""The customer's web pages: the complaint form (``/``), the tracking page (``/track``) and their assets.

The tracking page shows the case with its conversation and lets the customer answer: a reply with
attachments, accepting or disputing the resolution, and the satisfaction survey (``?survey=1`` opens
it: the link for the survey email). The token stays in the address's fragment (``#token=``).

The pages are static HTML templates in ``web/`` filled with three values at request time: the
base path the API is mounted under (``/api`` behind API Gateway's stage, empty locally), the
language to start in, and the form's validation rules (``shared.models.FORM_RULES``, so the
browser checks exactly what the server checks). Everything else - labels in both languages,
validation, uploads, submission, tracking - happens in plain JavaScript under ``web/``.

Files are read once per container through ``Path(__file__).parent / "web"``, which works from a
checkout and from inside the Lambda zip alike.
"""
from __future__ import annotations

import html
import json
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from chalice import Response

WEB_DIR = Path(__file__).parent / "web"

# What /static/{name} may serve, by suffix. Templates (.html) are not assets: they are only
# served rendered, through the page routes.
ASSET_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "application/javascript; charset=utf-8",
    ".svg": "image/svg+xml; charset=utf-8",
}
HTML_TYPE = "text/html; charset=utf-8"
ASSET_CACHE = "public, max-age=604800"  # pages link assets with ?v=<content hash>
PAGE_CACHE = "no-cache"
LANGUAGES = ("zh", "en")
_SAFE_BASE = re.compile(r"^(/[A-Za-z0-9._~\-]+)*$")


# -- files -----------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _assets() -> dict[str, tuple[str, str, str]]:
    """name -> (text, content type, etag) for every servable file in ``web/`` (the allow-list)."""
    from shared.http import web_assets

    return web_assets(WEB_DIR, ASSET_TYPES)


@lru_cache(maxsize=None)
def _template(name: str) -> str:
    return (WEB_DIR / name).read_text(encoding="utf-8")


# -- security headers ----------------------------------------------------------------------------


def upload_origins(env: dict[str, str] | None = None) -> list[str]:
    """Origins the browser may POST attachments to (the S3 endpoint of the presigned upload).

    Locally (``AWS_ENDPOINT_URL``, e.g. moto on http://127.0.0.1:4566) the endpoint's origin; in
    AWS the bucket's regional endpoint in both addressing styles (``shared.aws`` signs path-style
    URLs, ``https://s3.<region>.amazonaws.com/<bucket>``; virtual-hosted ones are
    ``https://<bucket>.s3.<region>.amazonaws.com``).
    """
    env = os.environ if env is None else env
    endpoint = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
    if endpoint:
        parts = urlsplit(endpoint)
        return [f"{parts.scheme}://{parts.netloc}"] if parts.scheme and parts.netloc else []
    bucket = env.get("ATTACHMENTS_BUCKET")
    if not bucket:
        return []
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"
    origins = [f"https://{bucket}.s3.{region}.amazonaws.com", f"https://s3.{region}.amazonaws.com"]
    if region == "us-east-1":  # boto3 signs the global endpoint for us-east-1
        origins += [f"https://{bucket}.s3.amazonaws.com", "https://s3.amazonaws.com"]
    return origins


CHALLENGE_ORIGIN = "https://challenges.cloudflare.com"  # Turnstile's widget (script and frame)
CHALLENGE_SCRIPT = CHALLENGE_ORIGIN + "/turnstile/v0/api.js"


def content_security_policy(env: dict[str, str] | None = None) -> str:
    from shared.challenge import site_key

    uploads = " ".join(["'self'", *upload_origins(env)])
    challenge = f" {CHALLENGE_ORIGIN}" if site_key(env) else ""  # only while a bot challenge is on
    return "; ".join([
        "default-src 'none'",
        f"script-src 'self'{challenge}",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        f"connect-src {uploads}",
        f"form-action {uploads}",
        *([f"frame-src {CHALLENGE_ORIGIN}"] if challenge else []),
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ])


def challenge_widget(env: dict[str, str] | None = None) -> str:
    """The bot challenge's widget for the form (empty unless ``CHALLENGE_PROVIDER`` is on, see
    shared/challenge.py): Turnstile renders into it and puts its token in a ``challenge_token`` field."""
    from shared.challenge import site_key

    key = site_key(env)
    if not key:
        return ""
    return (f'<div class="challenge cf-turnstile" data-sitekey="{html.escape(key)}" '
            'data-response-field-name="challenge_token"></div>\n'
            f'      <script src="{CHALLENGE_SCRIPT}" async defer></script>')


def _security_headers() -> dict[str, str]:
    return {
        "Content-Security-Policy": content_security_policy(),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "Cross-Origin-Opener-Policy": "same-origin",
    }


# -- rendering -----------------------------------------------------------------------------------


def _base_path(request: Any) -> str:
    """The prefix the app is mounted under: ``/api`` for API Gateway's stage, ``""`` locally."""
    context = getattr(request, "context", None) or {}
    path = (context.get("path") or "").split("?")[0]
    resource = context.get("resourcePath") or ""
    base = ""
    if resource == "/":
        base = path.rstrip("/")
    elif resource and path.endswith(resource):
        base = path[: -len(resource)].rstrip("/")
    return base if _SAFE_BASE.match(base) else ""


def _language(request: Any) -> str:
    query = getattr(request, "query_params", None) or {}
    lang = (query.get("lang") or "").lower()[:2]
    return lang if lang in LANGUAGES else "en"


def json_for_script(value: Any) -> str:
    """JSON that is safe inside a ``<script type="application/json">`` element."""
    text = json.dumps(value, ensure_ascii=True, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


# what each page adds to the shared layout (web/layout.html): its title, its script and data
PAGE_HEAD = {
    "form": ("Complaint", '<script type="application/json" id="form-rules">{{form_rules}}</script>\n'
                          '<script src="{{asset:uploads.js}}" defer></script>\n'
                          '<script src="{{asset:form.js}}" defer></script>'),
    "track": ("Track", '<script src="{{asset:uploads.js}}" defer></script>\n'
                       '<script src="{{asset:track.js}}" defer></script>'),
}


def _render(page_name: str, request: Any, rules: dict | None = None) -> Response:
    """The layout (header, language switch, footer) around the page's ``<main>`` from ``web/<page>.html``."""
    base = _base_path(request)
    assets = _assets()

    def asset_url(match: re.Match) -> str:
        name = match.group(1)
        version = assets[name][2] if name in assets else "0"
        return html.escape(f"{base}/static/{name}?v={version}")

    title, head = PAGE_HEAD[page_name]
    page = (
        _template("layout.html")
        .replace("{{page_head}}", head)
        .replace("{{main}}", _template(f"{page_name}.html"))
        .replace("{{page}}", page_name)
        .replace("{{title}}", title)
    )
    for name in PAGE_HEAD:
        page = page.replace(f"{{{{current:{name}}}}}", ' aria-current="page"' if name == page_name else "")
    page = re.sub(r"\{\{asset:([A-Za-z0-9._-]+)\}\}", asset_url, page)
    page = (
        page.replace("{{base}}", html.escape(base))
        .replace("{{lang}}", _language(request))
        .replace("{{form_rules}}", json_for_script(rules or {}))
        .replace("{{challenge_widget}}", challenge_widget() if page_name == "form" else "")
    )
    headers = {"Content-Type": HTML_TYPE, "Cache-Control": PAGE_CACHE, **_security_headers()}
    return Response(body=page, status_code=200, headers=headers)


def form_page(request: Any) -> Response:
    from shared.models import FORM_RULES

    return _render("form", request, FORM_RULES)


def tracking_page(request: Any) -> Response:
    return _render("track", request)


def not_found(message: str) -> Response:
    return Response(
        body={"error": "not_found", "message": message, "details": []},
        status_code=404,
        headers={"Content-Type": "application/json", "X-Content-Type-Options": "nosniff",
                 "Cache-Control": "no-store"},
    )


def asset(name: str) -> Response:
    """A file from ``web/`` by exact name; anything not in the listing (``..``, ``a/b``) is a 404."""
    found = _assets().get(name) if isinstance(name, str) else None
    if found is None:
        return not_found("no such file")
    text, content_type, etag = found
    headers = {
        "Content-Type": content_type,
        "Cache-Control": ASSET_CACHE,
        "ETag": f'"{etag}"',
        **_security_headers(),
    }
    return Response(body=text, status_code=200, headers=headers)
