"""The customer pages through Chalice's test client: types, security headers, embedded rules, assets.

Pages need no AWS: only the Content-Security-Policy reads the environment (the upload endpoint).
"""
from __future__ import annotations

import html
import json
import re

import pytest
from chalice.test import Client

from functions.app import app
from functions.intake import pages
from shared.models import FORM_RULES

WEB = pages.WEB_DIR
ASSETS = sorted(p.name for p in WEB.iterdir() if p.suffix in pages.ASSET_TYPES)


@pytest.fixture
def client(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    monkeypatch.setenv("ATTACHMENTS_BUCKET", "complaints-dev-attachments")
    with Client(app) as c:
        yield c


def csp_of(res) -> dict[str, list[str]]:
    policy = res.headers["Content-Security-Policy"]
    return {d.split()[0]: d.split()[1:] for d in (part.strip() for part in policy.split(";")) if d}


def embedded_rules(body: str) -> dict:
    match = re.search(r'<script type="application/json" id="form-rules">(.*?)</script>', body, re.S)
    assert match, "the form page embeds the validation rules"
    return json.loads(match.group(1))


@pytest.mark.parametrize("path", ["/", "/track", "/?lang=zh", "/track?id=CK7M4QX9TR&lang=en"])
def test_pages_are_html_with_security_headers(client, path):
    res = client.http.get(path)
    assert res.status_code == 200
    assert res.headers["Content-Type"] == "text/html; charset=utf-8"
    assert res.headers["X-Content-Type-Options"] == "nosniff"
    assert res.headers["Referrer-Policy"] == "no-referrer"
    csp = csp_of(res)
    assert csp["default-src"] == ["'none'"]
    assert csp["script-src"] == ["'self'"]  # no inline script, no CDN
    assert csp["connect-src"] == ["'self'", "http://127.0.0.1:4566"]
    assert csp["form-action"] == ["'self'", "http://127.0.0.1:4566"]
    assert csp["frame-ancestors"] == ["'none'"]
    body = res.body.decode()
    assert body.startswith("<!doctype html>")
    assert "{{" not in body, "every template placeholder is filled"
    assert '<meta name="viewport"' in body


def test_form_embeds_the_servers_rules(client):
    body = client.http.get("/").body.decode()
    assert embedded_rules(body) == json.loads(json.dumps(FORM_RULES))
    for name in ("description", "title", "customer.name", "customer.email", "customer.phone",
                 "customer.member_id", "customer.preferred_language", "product.name", "product.sku",
                 "product.batch", "product.purchase_channel", "product.purchased_at", "product.order_id",
                 "expected_resolution", "occurred_at"):
        assert f'name="{name}"' in body, name
    assert '<input type="hidden" name="channel" value="web">' in body
    assert 'type="file" multiple' in body


def test_embedded_json_cannot_close_the_script_element():
    text = pages.json_for_script({"pattern": "</script><script>alert(1)</script>", "amp": "a&b"})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"pattern": "</script><script>alert(1)</script>", "amp": "a&b"}


def test_pages_link_only_existing_assets_with_a_version(client):
    for path in ("/", "/track"):
        body = client.http.get(path).body.decode()
        links = re.findall(r'(?:src|href)="(/static/[^"]+)"', body)
        assert links
        for link in links:
            name, _, version = html.unescape(link).removeprefix("/static/").partition("?v=")
            assert name in ASSETS and version, link
            assert client.http.get(f"/static/{name}").status_code == 200


def test_pages_use_the_stage_prefix_behind_api_gateway():
    class Request:
        context = {"path": "/api/track", "resourcePath": "/track"}
        query_params = None

    body = pages.tracking_page(Request()).body
    assert 'src="/api/static/track.js?v=' in body
    assert 'data-base="/api"' in body
    Request.context = {"path": "/api/", "resourcePath": "/"}
    assert 'data-base="/api"' in pages.form_page(Request()).body
    Request.context = {"path": '/x"><script>/track', "resourcePath": "/track"}
    assert 'data-base=""' in pages.tracking_page(Request()).body


@pytest.mark.parametrize("name, content_type", [
    ("styles.css", "text/css; charset=utf-8"),
    ("i18n.js", "application/javascript; charset=utf-8"),
    ("common.js", "application/javascript; charset=utf-8"),
    ("form.js", "application/javascript; charset=utf-8"),
    ("track.js", "application/javascript; charset=utf-8"),
    ("uploads.js", "application/javascript; charset=utf-8"),
    ("favicon.svg", "image/svg+xml; charset=utf-8"),
])
def test_assets_are_served_with_their_type_and_cache_headers(client, name, content_type):
    res = client.http.get(f"/static/{name}")
    assert res.status_code == 200
    assert res.headers["Content-Type"] == content_type
    assert res.headers["X-Content-Type-Options"] == "nosniff"
    assert "max-age=" in res.headers["Cache-Control"]
    assert res.headers["ETag"].startswith('"')
    assert res.body == (WEB / name).read_bytes()


def test_every_asset_in_the_folder_is_tested():
    assert set(ASSETS) == {"styles.css", "i18n.js", "common.js", "form.js", "track.js", "uploads.js", "favicon.svg"}


@pytest.mark.parametrize("name", [
    "nope.js", "form.html", "track.html", "..%2Fpages.py", "..%2F..%2Fapp.py", "%2Fetc%2Fpasswd",
    ".hidden", "STYLES.CSS", "styles.css%00.js", "..", "%2e%2e",
])
def test_unknown_or_traversing_names_are_404_json(client, name):
    res = client.http.get(f"/static/{name}")
    assert res.status_code == 404
    assert res.headers["Content-Type"].startswith("application/json")
    body = json.loads(res.body)
    assert body["error"] == "not_found" and body["details"] == [] and body["message"]


@pytest.mark.parametrize("name", ["../pages.py", "../../app.py", "/etc/passwd", "web/form.js", "./form.js"])
def test_asset_refuses_paths_even_when_decoded(name):
    res = pages.asset(name)
    assert res.status_code == 404
    assert res.body["error"] == "not_found"


def test_both_languages_are_present(client):
    i18n = client.http.get("/static/i18n.js").body.decode()
    for text in ("Submit a complaint", "Track a complaint", "Tracking token", "Waiting for your reply",
                 "提交投诉", "查询投诉进度", "查询码", "等待您的回复", "处理中"):
        assert text in i18n, text
    statuses = ("received", "classified", "assigned", "in_progress", "waiting_on_customer",
                "resolution_proposed", "resolved", "closed", "rejected", "withdrawn")
    kinds = ("received", "acknowledged", "status_changed", "customer_message", "staff_reply")
    for key in [f"status.{s}" for s in statuses] + [f"kind.{k}" for k in kinds]:
        assert i18n.count(f'"{key}"') == 2, key  # once in English, once in Chinese
    form = client.http.get("/").body.decode()
    assert 'data-set-lang="zh"' in form and 'data-set-lang="en"' in form


def test_every_key_used_by_the_pages_exists_in_both_languages(client):
    i18n = client.http.get("/static/i18n.js").body.decode()
    en_block, zh_block = i18n.split("\n    zh: {", 1)
    used = set()
    for name in ("form.html", "track.html"):
        text = (WEB / name).read_text()
        used |= set(re.findall(r'data-i18n="([\w.]+)"', text))
        used |= {key for attr in re.findall(r'data-i18n-attr="([^"]+)"', text) for key in re.findall(r":([\w.]+)", attr)}
    for name in ("form.js", "track.js", "common.js", "uploads.js"):
        used |= set(re.findall(r'"((?:common|form|validation|upload|result|track)\.[\w.]+)"', (WEB / name).read_text()))
    # keys the tracking page builds from the view's values (`plan.${type}`, `closure.${closure}` ...)
    from shared.models import PLAN_TYPES, TimelineKind

    used |= {f"plan.{x}" for x in PLAN_TYPES} | {f"rating.{n}" for n in range(1, 6)}
    used |= {f"planstate.{x}" for x in ("proposed", "accepted", "disputed")}
    used |= {f"closure.{x}" for x in ("confirmed", "resolved_without_confirmation", "rejected", "withdrawn")}
    used |= {f"track.{x}_{s}" for x in ("confirm", "accept", "dispute") for s in ("plan", "resolution")
             if x != "confirm"} | {f"track.confirm_{s}_question" for s in ("plan", "resolution")}
    from functions.intake.views import PUBLIC_KINDS

    used |= {f"kind.{k.value}" for k in PUBLIC_KINDS} | {"kind.information_request", "status.merged"}
    assert TimelineKind.PLAN_PROPOSED in PUBLIC_KINDS
    assert used
    for key in used:
        assert f'"{key}":' in en_block, f"{key} missing in English"
        assert f'"{key}":' in zh_block, f"{key} missing in Chinese"


def test_user_text_is_never_assigned_as_html():
    for name in ("form.js", "track.js", "common.js", "i18n.js", "uploads.js"):
        source = (WEB / name).read_text()
        assert not re.search(r"\.(innerHTML|outerHTML)\s*=|insertAdjacentHTML|document\.write", source), name


def test_upload_origins_in_aws_follow_bucket_and_region():
    env = {"ATTACHMENTS_BUCKET": "b-1", "AWS_REGION": "eu-west-1"}
    assert pages.upload_origins(env) == ["https://b-1.s3.eu-west-1.amazonaws.com", "https://s3.eu-west-1.amazonaws.com"]
    us = pages.upload_origins({"ATTACHMENTS_BUCKET": "b-1", "AWS_DEFAULT_REGION": "us-east-1"})
    assert "https://s3.amazonaws.com" in us and "https://b-1.s3.amazonaws.com" in us
    assert pages.upload_origins({"AWS_ENDPOINT_URL": "http://127.0.0.1:4566/"}) == ["http://127.0.0.1:4566"]
    assert pages.upload_origins({}) == []
    assert "connect-src 'self';" in pages.content_security_policy({})
