"""The staff console's server side through Chalice's test client: the page and its assets (types, CSP,
caching), the sign-in configuration (Cognito's hosted UI URL; the dev token picker only when
DEV_SIGN_IN is on), and the case list's filters and search the console's queue and drill-down use
(``GET /staff/complaints?category=&priority=&assignee=&product=&batch=&until=&q=``)."""
from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from functions.console import pages
from tests.support import a_complaint, post_json

ASSETS = sorted(p.name for p in pages.WEB_DIR.iterdir() if p.suffix in pages.ASSET_TYPES)


def csp_of(res) -> dict[str, list[str]]:
    policy = res.headers["Content-Security-Policy"]
    return {d.split()[0]: d.split()[1:] for d in (part.strip() for part in policy.split(";")) if d}


def embedded_config(body: str) -> dict:
    match = re.search(r'<script type="application/json" id="console-config">(.*?)</script>', body, re.S)
    assert match, "the page embeds its sign-in configuration"
    return json.loads(match.group(1))


def get(client, path: str, token: str | None = None):
    return client.http.get(path, headers={"Authorization": f"Bearer {token}"} if token else {})


def body_of(res) -> dict:
    return json.loads(res.body)


@pytest.fixture
def settings_env(monkeypatch):
    """Change the functions' environment for one test (settings are cached per container)."""
    from shared import store

    def set_env(**values: str | None) -> None:
        for key, value in values.items():
            if value is None:
                monkeypatch.delenv(key, raising=False)
            else:
                monkeypatch.setenv(key, value)
        store.reset()  # settings and the token verifier read the environment again

    yield set_env
    store.reset()


# -- the page and its assets ------------------------------------------------------------------------------
def test_the_console_page_is_html_under_a_strict_csp(client):
    res = client.http.get("/console")
    assert res.status_code == 200
    assert res.headers["Content-Type"] == "text/html; charset=utf-8"
    assert res.headers["Cache-Control"] == "no-cache"
    assert res.headers["X-Content-Type-Options"] == "nosniff"
    assert res.headers["Referrer-Policy"] == "no-referrer"
    assert res.headers["X-Frame-Options"] == "DENY"
    csp = csp_of(res)
    assert csp["default-src"] == ["'none'"]
    assert csp["script-src"] == ["'self'"] and csp["style-src"] == ["'self'"]  # no inline script or style
    assert csp["connect-src"] == ["'self'"]  # the API only
    assert csp["frame-ancestors"] == ["'none'"] and csp["base-uri"] == ["'none'"]
    body = res.body.decode()
    assert body.startswith("<!doctype html>") and "{{" not in body
    assert '<meta name="viewport"' in body
    for tag in re.findall(r"<script[^>]*>", body):  # no inline script: files, or data the scripts read
        assert ' src="' in tag or 'type="application/json"' in tag, tag
    assert not re.search(r"<[^>]+\s(style|on[a-z]+)=", body), "no inline styles or event handlers"
    config = embedded_config(body)
    assert config == {"base": "", "dev": False, "cognito": None}  # neither sign-in is configured here


def test_every_script_and_stylesheet_is_linked_with_its_content_hash_and_served(client):
    body = client.http.get("/console").body.decode()
    linked = re.findall(r'(?:src|href)="/console/([A-Za-z0-9._-]+)\?v=([0-9a-f]{16})"', body)
    assert {name for name, _ in linked} == set(ASSETS), "every asset in web/ is used by the page, and only those"
    for name, version in linked:
        res = client.http.get(f"/console/{name}?v={version}")
        assert res.status_code == 200, name
        assert res.headers["ETag"] == f'"{version}"'  # the link changes whenever the file does
        assert res.headers["Cache-Control"] == "public, max-age=604800"
        expected = "application/javascript; charset=utf-8" if name.endswith(".js") else "text/css; charset=utf-8"
        assert res.headers["Content-Type"] == expected
        assert res.headers["X-Content-Type-Options"] == "nosniff"
        assert csp_of(res)["default-src"] == ["'none'"]


@pytest.mark.parametrize("name", ["console.html", "nope.js", "..", "%2e%2e%2fapp.py", ".hidden.js", "dev-token.js"])
def test_anything_else_under_console_is_404(client, name):
    res = client.http.get(f"/console/{name}")
    assert res.status_code == 404
    assert body_of(res)["error"] == "not_found"


def test_the_base_path_comes_from_the_stage_prefix():
    class Request:
        def __init__(self, path: str):
            self.context = {"path": path, "resourcePath": "/console"}

    assert pages.mount_base(Request("/api/console")) == "/api"
    assert pages.mount_base(Request("/console")) == ""
    assert pages.mount_base(Request("/a b/console")) == ""  # never anything that is not a plain path


def test_the_page_starts_in_the_language_asked_for(client):
    assert '<html lang="zh">' in client.http.get("/console?lang=zh").body.decode()
    assert '<html lang="en">' in client.http.get("/console?lang=xx").body.decode()


# -- sign-in in AWS: Cognito's hosted UI -------------------------------------------------------------------------
def test_the_cognito_login_url_returns_to_the_console_with_an_id_token(client, settings_env):
    settings_env(COGNITO_DOMAIN="https://staff-auth.auth.ap-east-1.amazoncognito.com/", JWT_AUDIENCE="5abc123client",
                 PUBLIC_BASE_URL="https://complaints.example.com/api")
    config = embedded_config(client.http.get("/console").body.decode())
    assert config["dev"] is False
    assert config["cognito"] == {
        "login_url": "https://staff-auth.auth.ap-east-1.amazoncognito.com/login?response_type=token"
                     "&client_id=5abc123client&redirect_uri=https%3A%2F%2Fcomplaints.example.com%2Fapi%2Fconsole"
                     "&scope=openid",
        "logout_url": "https://staff-auth.auth.ap-east-1.amazoncognito.com/logout?client_id=5abc123client"
                      "&logout_uri=https%3A%2F%2Fcomplaints.example.com%2Fapi%2Fconsole",
        "console_url": "https://complaints.example.com/api/console",
    }
    settings_env(COGNITO_CLIENT_ID="other-client")  # an explicit client id wins over the token audience
    assert "client_id=other-client&" in embedded_config(client.http.get("/console").body.decode())["cognito"]["login_url"]


@pytest.mark.parametrize("domain, client_id", [
    ("auth.example.com/evil?x=", "client"), ("javascript:alert(1)", "client"), ("auth.example.com", None), ("", "client"),
])
def test_no_cognito_sign_in_without_a_plain_domain_and_a_client(domain, client_id):
    assert pages.cognito_urls(domain, client_id, "https://complaints.example.com") is None


# -- sign-in locally: the dev token picker --------------------------------------------------------------------
@pytest.fixture
def dev_key(tmp_path, settings_env):
    """A development key as ``complaints run`` makes it, with the functions' JWKS_PATH pointing at it."""
    from infra import devkeys

    key = devkeys.ensure_dev_key(tmp_path / "dev-keys")
    settings_env(JWKS_PATH=str(key.jwks_path), JWT_ISSUER=devkeys.ISSUER, DEV_SIGN_IN="true", JWKS_URL=None)
    return key


def test_dev_sign_in_is_a_404_unless_switched_on(client, settings_env):
    assert settings_env is not None
    for path in ("/console/dev-token", "/console/dev-token?name=Li%20Wei"):
        res = client.http.get(path)
        assert res.status_code == 404 and body_of(res)["error"] == "not_found"


def test_dev_sign_in_lists_the_demo_staff_and_signs_a_working_token(client, dev_key):
    from infra import demo_staff

    res = client.http.get("/console/dev-token")
    assert res.status_code == 200 and res.headers["Cache-Control"] == "no-store"
    people = {p["name"]: p for p in body_of(res)["personas"]}
    assert set(people) == {h[0] for h in demo_staff.HANDLERS} | {"Ada Admin", "Ode Auditor"}
    assert people["Li Wei"] == {"name": "Li Wei", "subject": "dev-li-wei", "role": "agent", "departments": ["quality"]}
    assert people["Wang Fang"]["role"] == "lead" and people["Wang Fang"]["departments"] == ["quality"]
    assert people["Qian Lei"]["role"] == "lead" and people["Qian Lei"]["departments"] == ["finance", "privacy"]
    assert people["Zhao Min"]["role"] == "manager"
    assert {people["Ada Admin"]["role"], people["Ode Auditor"]["role"]} == {"admin", "auditor"}
    assert embedded_config(client.http.get("/console").body.decode())["dev"] is True

    signed = body_of(client.http.get("/console/dev-token?name=Li%20Wei&role=agent&department=quality"))
    assert signed["subject"] == "dev-li-wei" and signed["departments"] == ["quality"] and signed["expires_in"] == 480 * 60
    mine = client.http.get("/staff/queue?assignee=me", headers={"Authorization": f"Bearer {signed['token']}"})
    assert mine.status_code == 200, mine.body
    assert body_of(mine)["queue"] == "dev-li-wei"  # the API reads the token as Li Wei's

    manager = body_of(client.http.get("/console/dev-token?name=Zhao%20Min"))
    assert manager["role"] == "manager"
    assert get(client, "/staff/complaints?department=logistics", manager["token"]).status_code == 200
    lead = body_of(client.http.get("/console/dev-token?name=Qian%20Lei&department=privacy"))
    assert lead["departments"] == ["privacy"]  # narrowed to the one asked for


@pytest.mark.parametrize("query, status, field", [
    ("name=Nobody", 404, None), ("name=Li%20Wei&role=manager", 404, None),
    ("name=Li%20Wei&department=finance", 400, "department"), ("name=Li%20Wei&sub=dev-admin", 400, "sub"),
])
def test_dev_sign_in_gives_only_the_demo_staff_as_they_are(client, dev_key, query, status, field):
    res = client.http.get(f"/console/dev-token?{query}")
    assert res.status_code == status
    if field:
        assert field in [d["field"] for d in body_of(res)["details"]]


def test_dev_sign_in_stays_off_with_cognito_and_never_makes_a_key(client, tmp_path, settings_env):
    settings_env(DEV_SIGN_IN="true", JWKS_URL="https://cognito-idp.us-east-1.amazonaws.com/pool/.well-known/jwks.json")
    assert client.http.get("/console/dev-token").status_code == 404  # switched on by mistake in AWS: still off

    jwks = tmp_path / "keys" / "jwks.json"  # a JWKS of some other key, no private key beside it
    jwks.parent.mkdir()
    jwks.write_text('{"keys": []}')
    settings_env(JWKS_URL=None, JWKS_PATH=str(jwks))
    assert client.http.get("/console/dev-token").status_code == 200  # the list needs no key
    assert client.http.get("/console/dev-token?name=Li%20Wei").status_code == 404
    assert sorted(p.name for p in jwks.parent.iterdir()) == ["jwks.json"] and jwks.read_text() == '{"keys": []}'


# -- the case list's filters and search ---------------------------------------------------------------------
T0 = datetime(2025, 3, 5, 2, 0, tzinfo=timezone.utc)


@pytest.fixture
def clock(aws):
    from shared.clock import set_clock

    state = {"at": T0}
    set_clock(lambda: state["at"])
    yield state
    set_clock(None)


def new_case(client, clock, *, at: datetime | None = None, **fields) -> str:
    """A submitted case, then set as the router and assignment would leave it (``fields``)."""
    from shared.store import complaint_repository

    body = {k: fields.pop(k) for k in ("title", "description", "customer", "product", "channel") if k in fields}
    clock["at"] = at or clock["at"] + timedelta(minutes=1)
    res = post_json(client, "/complaints", a_complaint(**body))
    assert res.status_code == 201, res.body
    number = body_of(res)["complaint_id"]
    if fields:
        repo = complaint_repository()
        case, _ = repo.get(number)
        repo.save(case.model_copy(update={"version": case.version + 1, **fields}), [], expected_version=case.version)
    return number


def listed(client, token: str, query: str) -> list[str]:
    res = get(client, f"/staff/complaints?{query}", token)
    assert res.status_code == 200, res.body
    return [c["complaint_id"] for c in body_of(res)["complaints"]]


def test_filters_by_category_priority_assignee_product_and_batch(client, clock, make_token):
    kettle = {"name": "Kettle K2", "sku": "K2-WHT", "batch": "L7"}
    a = new_case(client, clock, category="food_safety", priority="P1", department="quality", assignee="staff-li")
    b = new_case(client, clock, category="food_safety", priority="P3", department="quality", assignee="staff-amy")
    c = new_case(client, clock, product=kettle, category="product_quality", priority="P3", department="quality")
    d = new_case(client, clock, product={"name": "Kettle K2"}, category="product_quality", department="quality")
    manager = make_token(role="manager")
    assert listed(client, manager, "category=food_safety") == [b, a]  # newest first
    assert listed(client, manager, "category=food_safety&priority=P1") == [a]
    assert listed(client, manager, "status=received&category=product_quality") == [d, c]  # ByStatus + filters
    assert listed(client, manager, "assignee=staff-amy") == [b]
    li = make_token(role="agent", name="Li", departments=["quality"])  # subject staff-li
    assert listed(client, li, "assignee=me") == [a]
    assert listed(client, manager, "product=DUMP-1KG") == [b, a]  # by SKU, as the reports count products
    assert listed(client, manager, "product=Kettle%20K2") == [d]  # by name only where there is no SKU
    assert listed(client, manager, "product=K2-WHT&batch=L7") == [c]
    assert listed(client, manager, "batch=B2411") == [b, a]


def test_since_and_until_take_whole_days_and_start_the_walk_at_until(client, clock, make_token):
    first = new_case(client, clock, at=datetime(2025, 1, 31, 23, 59, tzinfo=timezone.utc))
    second = new_case(client, clock, at=datetime(2025, 2, 1, 0, 0, tzinfo=timezone.utc))
    third = new_case(client, clock, at=datetime(2025, 2, 28, 12, 0, tzinfo=timezone.utc))
    fourth = new_case(client, clock, at=datetime(2025, 3, 1, 0, 0, tzinfo=timezone.utc))
    token = make_token(role="manager")
    assert listed(client, token, "since=2025-02-01&until=2025-02-28") == [third, second]  # the drill-down's period
    assert listed(client, token, "until=2025-01-31") == [first]
    assert listed(client, token, "since=2025-02-28&until=2025-03-01") == [fourth, third]
    assert listed(client, token, "until=2025-02-28T12:00:00Z") == [third, second, first]  # a moment: inclusive
    assert listed(client, token, "status=received&since=2025-02-01&until=2025-02-28") == [third, second]
    res = get(client, "/staff/complaints?since=2025-03-01&until=2025-02-01", token)
    assert res.status_code == 400 and [d["field"] for d in body_of(res)["details"]] == ["until"]


def test_search_by_number_email_or_phone_goes_straight_to_the_cases(client, clock, make_token):
    alice = {"name": "Alice", "email": "Alice.W@Example.com", "phone": "+86 139 0000 1111", "preferred_language": "en"}
    mine = new_case(client, clock, customer=alice, department="quality", category="food_safety")
    other = new_case(client, clock, department="quality", category="food_safety")
    again = new_case(client, clock, customer=alice, department="logistics", category="delivery_logistics")
    manager = make_token(role="manager")
    assert listed(client, manager, f"q={mine.lower()}") == [mine]  # typed in lower case
    assert listed(client, manager, f"q={mine[:5]}-{mine[5:]}") == [mine]  # with a dash, as read over the phone
    assert listed(client, manager, "q=alice.w%40example.com") == [again, mine]  # the contact hash, newest first
    assert listed(client, manager, "q=%2B86%20139%200000%201111") == [again, mine]
    assert listed(client, manager, "q=%2B8613900001111&category=food_safety") == [mine]  # other filters still apply
    assert listed(client, manager, "q=nobody%40example.com") == []
    quality_agent = make_token(role="agent", departments=["quality"])
    assert listed(client, quality_agent, "q=alice.w%40example.com") == [mine]  # the logistics case is not theirs
    assert listed(client, quality_agent, f"q={again}") == []
    assert other not in listed(client, manager, "q=alice.w%40example.com")


def test_text_search_matches_title_and_description_ignoring_case(client, clock, make_token):
    kettle = new_case(client, clock, title="Kettle LEAKS from the base", description="Water everywhere.")
    dumplings = new_case(client, clock, title="饺子变质", description="速冻水饺有一股酸臭味。")
    both = new_case(client, clock, title="Leaking bag", description="The Kettle box was wet too.")
    manager = make_token(role="manager")
    assert listed(client, manager, "q=leak") == [both, kettle]
    assert listed(client, manager, "q=kettle%20LEAK") == [both, kettle]  # every word, anywhere
    assert listed(client, manager, "q=%E9%85%B8%E8%87%AD") == [dumplings]  # 酸臭: a Chinese phrase
    assert listed(client, manager, "q=%EF%BC%AB%EF%BD%85%EF%BD%94%EF%BD%94%EF%BD%8C%EF%BD%85") == [both, kettle]  # full-width
    assert listed(client, manager, "q=2025-03-05") == []  # a date is text, not a phone number


def test_a_text_search_reads_a_bounded_number_of_cases_and_hands_back_a_cursor(client, clock, make_token, monkeypatch):
    import shared.repository as repository

    wanted = new_case(client, clock, title="The only one about a scorched pan")
    for i in range(7):
        new_case(client, clock, title=f"Unrelated complaint {i}")
    monkeypatch.setattr(repository, "LIST_FILTERED_PAGE", 2)
    monkeypatch.setattr(repository, "LIST_MAX_EVALUATED", 4)
    token, found, cursor, calls = make_token(role="manager"), [], None, 0
    while True:
        res = get(client, "/staff/complaints?q=scorched&limit=5" + (f"&cursor={cursor}" if cursor else ""), token)
        assert res.status_code == 200, res.body
        page = body_of(res)
        calls += 1
        found += [c["complaint_id"] for c in page["complaints"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert found == [wanted]
    assert calls >= 2  # the first call stopped at its bound with nothing found yet, and said where to go on


def test_filtered_pages_continue_after_the_last_case_shown(client, clock, make_token):
    numbers = [new_case(client, clock, category="billing_price", department="finance") for _ in range(5)]
    new_case(client, clock, category="other", department="finance")
    token, seen, cursor = make_token(role="manager"), [], None
    while True:
        res = get(client, "/staff/complaints?category=billing_price&limit=2" + (f"&cursor={cursor}" if cursor else ""), token)
        page = body_of(res)
        assert len(page["complaints"]) <= 2
        seen += [c["complaint_id"] for c in page["complaints"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == list(reversed(numbers))  # each once, newest first, none skipped


@pytest.mark.parametrize("query, field", [
    ("category=cheese", "category"), ("priority=P9", "priority"), ("until=tomorrow", "until"),
    ("product=" + "x" * 129, "product"), ("q=" + "y" * 129, "q"), ("sku=K2", "sku"), ("dimension=category", "dimension"),
])
def test_bad_filters_are_400_naming_the_parameter(client, make_token, query, field):
    res = get(client, f"/staff/complaints?{query}", make_token(role="manager"))
    assert res.status_code == 400
    assert field in [d["field"] for d in body_of(res)["details"]]


def test_the_list_reads_through_indexes_never_a_scan(client, clock, make_token, monkeypatch):
    from shared.store import complaint_repository

    new_case(client, clock, category="food_safety", department="quality")
    db = complaint_repository()._db
    calls: list[str] = []
    for name in ("scan", "query", "batch_get_item"):
        original = getattr(db, name)
        monkeypatch.setattr(db, name, lambda *a, _n=name, _o=original, **k: (calls.append(_n), _o(*a, **k))[1])
    token = make_token(role="manager")
    for query in ("category=food_safety&until=2025-03-31", "q=dumplings", "q=li.wei%40example.com", "status=received&batch=B2411"):
        assert get(client, f"/staff/complaints?{query}", token).status_code == 200
    assert "scan" not in calls and "query" in calls
