"""Hostile text in a real browser: the tracking page and the console's case page, queue, case list and
dashboard show a case full of payloads (tests/hostile.py) as text. No dialog opens (every payload calls
``alert``), no injected element exists, and the payload text is on the page, visible.

Needs /usr/bin/chromium and the ``playwright`` package (skipped with a message otherwise), and the local
stack (tests/e2e/conftest.py).
"""
from __future__ import annotations

import time

import pytest
import requests

from tests.e2e.browser import Page, browser, expect  # noqa: F401 - browser: the fixture; skips without chromium
from tests.hostile import FORMULAS, XSS, hostile

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


# what an injected payload would have made; the pages make none of these from data
INJECTED = ('img[src="x"], svg[onload], iframe, [onerror], [onload], [onmouseover], a[href^="javascript:"], '
            'script:not([src]):not([type="application/json"])')
TITLE = f"{XSS[0]} 饺子 {XSS[1]}"
SHOWN = (XSS[0], XSS[1], XSS[2], XSS[3])  # pieces of single-line text the pages must show verbatim


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US", timezone_id="Asia/Shanghai")
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.dialogs, page.errors = [], []
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    yield page
    context.close()


def untouched(page: Page) -> None:
    """No payload ran and none became an element."""
    page.wait_for_timeout(300)  # the time an injected onerror/onload handler would need
    assert page.dialogs == [], f"a payload opened a dialog: {page.dialogs}"
    assert page.errors == [], page.errors
    assert page.evaluate(f"document.querySelectorAll({INJECTED!r}).length") == 0, page.evaluate(
        f"[...document.querySelectorAll({INJECTED!r})].map((e) => e.outerHTML)")


@pytest.fixture(scope="module")
def hostile_case(local_stack):
    """A food-safety complaint full of payloads, assigned, answered, with a task and a plan shown to the customer."""
    from infra.devkeys import subject_for
    from tests.e2e.test_console_browser import assigned

    base = local_stack.api_url.rstrip("/")
    body = {"title": TITLE,
            "description": "速冻猪肉水饺（批次 B2611）有酸臭味，馅料变质发霉。" + hostile(1, 20_000),
            "expected_resolution": hostile(2, 2000),
            "customer": {"name": hostile(3, 100), "email": f"hostile.{time.time_ns()}@example.com",
                         "preferred_language": "en"},
            "product": {"name": hostile(4, 200), "sku": FORMULAS[0], "batch": hostile(5, 64)}, "channel": "web"}
    res = requests.post(f"{base}/complaints", json=body, timeout=10)
    assert res.status_code == 201, res.text
    number, token = res.json()["complaint_id"], res.json()["tracking_token"]
    case = assigned(local_stack, number)
    name = case["assignee"].removeprefix("dev-").replace("-", " ").title()
    assert subject_for(name) == case["assignee"]
    staff_token = local_stack.token(role="agent", departments=[case["department"]], name=name)
    assignee = {"Authorization": "Bearer " + staff_token}
    for action in ({"action": "accept"}, {"action": "note", "text": hostile(6, 20_000)},
                   {"action": "reply", "text": hostile(7, 20_000)},
                   {"action": "open_task", "department": "quality", "title": hostile(8, 200),
                    "details": hostile(9, 2000)},
                   {"action": "propose_resolution", "explanation": hostile(10, 20_000),
                    "internal_note": hostile(11, 2000), "components": [{"type": "apology", "description": hostile(12, 2000)}]}):
        res = requests.post(f"{base}/staff/complaints/{number}/actions", headers=assignee,
                            json={**action, "version": case["version"]}, timeout=10)
        assert res.status_code == 200, res.text
        case = res.json()
    return {"base": base, "number": number, "token": token, "case": case}


def test_the_tracking_page_shows_the_payloads_as_text(page, hostile_case):
    base, number, token = hostile_case["base"], hostile_case["number"], hostile_case["token"]
    page.goto(f"{base}/track?id={number}&lang=en#token={token}")
    expect(page.locator("#case")).to_be_visible(timeout=15_000)  # the look-up, on a busy machine
    expect(page.locator("#case-title")).to_have_text(TITLE)
    expect(page.locator("#plan-explanation")).to_contain_text(XSS[2])
    expect(page.locator("#case-timeline")).to_contain_text(XSS[3])  # the reply
    text = page.locator("#case").inner_text()
    assert all(piece in text for piece in SHOWN), text[:2000]
    untouched(page)


def test_the_console_pages_show_the_payloads_as_text(page, hostile_case, local_stack):
    from tests.e2e.test_console_browser import sign_in

    base, number = hostile_case["base"], hostile_case["number"]
    sign_in(page, base, hostile_case["case"]["assignee"])  # the handler: the queue holds the case
    page.goto(f"{base}/console?lang=en#/queue")
    expect(page.locator("h1")).to_have_text("Work queue")
    expect(page.locator(f'#my-cases tr[data-complaint-id="{number}"]')).to_contain_text(XSS[0])
    untouched(page)

    page.goto(f"{base}/console?lang=en#/case/{number}")
    expect(page.locator("h1")).to_have_text(f"Complaint {number}")
    expect(page.locator("#case-timeline li.kind-internal_note").first).to_contain_text(XSS[0])
    expect(page.locator("#case-plan")).to_contain_text(XSS[4])
    text = page.locator("main").inner_text()
    assert all(piece in text for piece in SHOWN), text[:2000]
    assert FORMULAS[0] in text  # the SKU
    untouched(page)

    page.locator("#sign-out").click()  # the manager: the case list and the dashboard
    expect(page.locator("h1")).to_have_text("Sign in")
    page.locator('#personas button[data-subject="dev-zhao-min"]').click()
    expect(page.locator("h1")).to_have_text("Dashboard")
    page.wait_for_load_state("networkidle")
    untouched(page)

    page.goto(f"{base}/console?lang=en#/cases?category=food_safety")
    expect(page.locator(f'tr[data-complaint-id="{number}"]')).to_contain_text(XSS[0])
    untouched(page)
