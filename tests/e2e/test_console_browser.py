"""The staff console in a real browser (Debian's chromium driven by Playwright) against the local stack.

A Chinese food-safety complaint is submitted over HTTP; the router classifies and assigns it. Its
assignee signs in with the dev token picker, accepts it, answers with a canned response, proposes an
apology and resolves it - all in the console. Then the manager opens the dashboard and drills down from
the category chart to the list of cases behind the bar, which holds the case. A second test meets a
stale version (someone else changed the case) and reads the console in Chinese on a 360 px screen.

Needs /usr/bin/chromium and the ``playwright`` package (Playwright's own browser downloads are never
used). Screenshots of every step are saved under var/artifacts/console/.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import requests

from tests.e2e.browser import Page, browser, expect  # noqa: F401 - browser: the fixture; skips without chromium

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "artifacts" / "console"


# -- fixtures -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module", autouse=True)
def artifacts_folder():
    ARTIFACTS.mkdir(parents=True, exist_ok=True)


class Watch:
    """What the page did: script errors (CSP violations included) and the API calls it made."""

    def __init__(self, page: Page):
        self.errors: list[str] = []
        self.requests: list = []
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("console", lambda m: self.errors.append(m.text)
                if m.type == "error" and "Content Security Policy" in m.text else None)
        page.on("request", lambda r: self.requests.append(r))

    def posts(self, suffix: str) -> list:
        return [r for r in self.requests if r.method == "POST" and r.url.split("?")[0].endswith(suffix)]


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US", timezone_id="Asia/Shanghai")
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.watch = Watch(page)
    yield page
    context.close()
    assert page.watch.errors == [], f"script errors on the page: {page.watch.errors}"


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


# -- the stack side --------------------------------------------------------------------------------------
def submit(stack, title: str = "速冻水饺变质") -> str:
    body = {
        "title": title,
        "description": "昨天买的速冻猪肉水饺（批次 B2611）煮好后有一股酸臭味，馅料已经变质发霉，请尽快处理并退款。",
        "customer": {"name": "Alice Walker", "email": f"alice.{time.time_ns()}@example.com", "preferred_language": "zh"},
        "product": {"name": "Pork dumplings 1kg", "sku": "DUMP-1KG", "batch": "B2611"},
        "channel": "web",
    }
    res = requests.post(f"{stack.api_url}/complaints", json=body, timeout=10)
    assert res.status_code == 201, res.text
    return res.json()["complaint_id"]


def manager_headers(stack) -> dict[str, str]:
    return {"Authorization": "Bearer " + stack.token(role="manager", departments=[], name="Zhao Min")}


def staff_case(stack, number: str) -> dict:
    res = requests.get(f"{stack.api_url}/staff/complaints/{number}", headers=manager_headers(stack), timeout=10)
    assert res.status_code == 200, res.text
    return res.json()


def assigned(stack, number: str) -> dict:
    """The case once the router has classified it and assignment gave it to a demo handler."""
    deadline = time.monotonic() + 45
    while time.monotonic() < deadline:
        case = staff_case(stack, number)
        if case["assignee"]:
            assert case["category"] == "food_safety" and case["department"] == "quality", case["classification"]
            return case
        time.sleep(0.3)
    pytest.fail(f"case {number} was not assigned in time:\n{stack.output()[-3000:]}")


def sign_in(page: Page, base: str, subject: str) -> None:
    page.goto(f"{base}/console?lang=en#/sign-in")
    expect(page.locator("h1")).to_have_text("Sign in")
    page.locator(f'#personas button[data-subject="{subject}"]').click()
    expect(page.locator("#user-name")).to_be_visible()


def check_markup(page: Page) -> None:
    """Every id once, every form control with a label (or an aria-label)."""
    found = page.evaluate("""() => {
        const ids = [...document.querySelectorAll('[id]')].map((e) => e.id);
        const unlabelled = [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
            .filter((e) => !e.labels.length && !e.getAttribute('aria-label')).map((e) => e.id || e.name);
        return {duplicates: ids.filter((id, i) => ids.indexOf(id) !== i), unlabelled};
    }""")
    assert found == {"duplicates": [], "unlabelled": []}


def no_horizontal_overflow(page: Page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth") <= 0


# -- tests ------------------------------------------------------------------------------------------------
def test_a_handler_works_a_case_to_resolution_and_the_manager_drills_down_to_it(page, local_stack):
    base = local_stack.api_url.rstrip("/")
    number = submit(local_stack)
    handler = assigned(local_stack, number)["assignee"]

    page.goto(f"{base}/console?lang=en")
    expect(page.locator("h1")).to_have_text("Sign in")
    expect(page.locator("#personas")).to_contain_text("Zhao Min")
    shot(page, "01-sign-in")
    page.locator(f'#personas button[data-subject="{handler}"]').click()

    # the queue: the new case among mine, with its SLA state
    expect(page.locator("h1")).to_have_text("Work queue")
    expect(page.locator("h1")).to_be_focused()
    row = page.locator(f'#my-cases tr[data-complaint-id="{number}"]')
    expect(row).to_be_visible()
    expect(row.locator(".sla")).to_have_attribute("data-sla", "running")
    expect(row).to_contain_text("Food safety")
    check_markup(page)
    shot(page, "02-queue")
    row.get_by_role("link", name=number).click()

    # the case page: summary, the router's explanation, clocks
    expect(page.locator("h1")).to_have_text(f"Complaint {number}")
    expect(page.locator("h1")).to_be_focused()
    expect(page.locator("#case-status")).to_have_text("Assigned")
    expect(page.locator("#case-decisions")).to_contain_text("Classification: Food safety")
    expect(page.locator("#case-clocks [data-clock='first_response']")).to_contain_text("On track")
    expect(page.locator("#case-timeline li.kind-classified")).to_contain_text("Internal")
    check_markup(page)
    shot(page, "03-case")

    page.get_by_role("button", name="Accept and start work").click()
    expect(page.locator("#case-status")).to_have_text("In progress")
    expect(page.locator("#action-status")).to_have_text("Done: Accept and start work.")
    expect(page.locator("#action-status")).to_be_focused()

    # a canned response, its placeholders filled in, sent as the reply
    page.locator('button.insert-response[data-response-id="food-safety-reply-zh"]').click()
    expect(page.locator("#write-text")).to_be_focused()
    reply = page.locator("#write-text").input_value()
    assert number in reply and "Alice Walker" in reply and "{number}" not in reply
    expect(page.locator("#write-kind-reply")).to_be_checked()
    page.locator("#write-form").get_by_role("button", name="Send").click()
    expect(page.locator("#action-status")).to_have_text("Done: Reply to the customer.")
    expect(page.locator("#case-timeline li.kind-staff_reply")).to_contain_text(number)
    expect(page.locator("#case-timeline li.kind-staff_reply")).to_contain_text("Visible to the customer")
    expect(page.locator("#write-text")).to_have_value("")
    shot(page, "04-replied")

    # a resolution plan: an apology
    page.locator("#propose-details > summary").click()
    page.get_by_label("Apology").check()
    page.locator("#plan-type-apology-description").fill("A written apology from our food safety manager.")
    page.get_by_label("Explanation for the customer").fill("我们对此深表歉意，已将该批次下架检测。")
    page.locator("#propose-form").get_by_role("button", name="Propose").click()
    expect(page.locator("#case-status")).to_have_text("Resolution proposed")
    expect(page.locator("#plan-state")).to_have_text("State: Proposed to the customer")
    expect(page.locator("#case-plan")).to_contain_text("Apology")
    shot(page, "05-plan-proposed")

    page.locator("#resolve-details > summary").click()
    page.get_by_label("Resolution note for the customer (optional)").fill("该批次已全部下架，谢谢您的反馈。")
    page.locator("#resolve-form").get_by_role("button", name="Resolve").click()
    expect(page.locator("#case-status")).to_have_text("Resolved")
    expect(page.locator("#case-clocks [data-clock='resolution']")).to_contain_text("Met")
    shot(page, "06-resolved")

    sent = [json.loads(r.post_data) for r in page.watch.posts(f"/staff/complaints/{number}/actions")]
    assert [b["action"] for b in sent] == ["accept", "reply", "propose_resolution", "resolve"]
    assert all(isinstance(b["version"], int) for b in sent)
    assert sent[2]["components"] == [{"type": "apology", "description": "A written apology from our food safety manager."}]
    case = staff_case(local_stack, number)
    assert case["status"] == "resolved" and case["plan"]["state"] == "proposed"
    assert any(e["kind"] == "staff_reply" and e["text"] == reply for e in case["timeline"])

    # the manager: the dashboard, then from the category chart's bar to the cases behind it
    page.locator("#sign-out").click()
    expect(page.locator("h1")).to_have_text("Sign in")
    page.locator('#personas button[data-subject="dev-zhao-min"]').click()
    expect(page.locator("h1")).to_have_text("Dashboard")
    received = page.locator('#figures [data-measure="received"] .figure-value')
    expect(received).not_to_have_text("—")
    bar = page.locator('figure[data-chart="by-category"] a.chart-link', has_text="Food safety")
    expect(bar).to_have_count(1)
    expect(page.locator('figure[data-chart="daily"] svg[role="img"]')).to_be_visible()
    expect(page.locator("#alerts h2")).to_have_text("Alerts")
    expect(page.locator("#alerts")).not_to_contain_text("not available")  # the alerts route answered
    check_markup(page)
    shot(page, "07-dashboard")
    page.set_viewport_size({"width": 360, "height": 740})
    assert no_horizontal_overflow(page), "the dashboard fits a 360 px screen"
    shot(page, "07-dashboard-mobile")
    page.set_viewport_size({"width": 1280, "height": 900})

    bar.focus()  # a bar is a link: the keyboard reaches it
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text("Cases")
    hash_ = page.evaluate("location.hash")
    assert hash_.startswith("#/cases?category=food_safety&since="), hash_
    expect(page.locator("#cases-filters")).to_contain_text("Category: Food safety")
    expect(page.locator(f'#case-results tr[data-complaint-id="{number}"]')).to_be_visible()
    shot(page, "08-drill-down")


def test_a_stale_version_is_explained_and_reloaded_keeping_the_draft_then_chinese_on_a_phone(page, local_stack):
    base = local_stack.api_url.rstrip("/")
    number = submit(local_stack, title="水饺有异味")
    case = assigned(local_stack, number)
    sign_in(page, base, case["assignee"])
    page.goto(f"{base}/console?lang=en#/case/{number}")
    expect(page.locator("#case-status")).to_have_text("Assigned")

    # someone else writes a note while the page still holds the old version
    res = requests.post(f"{base}/staff/complaints/{number}/actions", headers=manager_headers(local_stack),
                        json={"action": "note", "text": "Batch B2611 is on hold at the plant.", "version": case["version"]},
                        timeout=10)
    assert res.status_code == 200, res.text

    page.get_by_label("Message", exact=True).fill("Customer called again: please hurry.")
    page.locator("#write-form").get_by_role("button", name="Send").click()
    expect(page.locator("#action-status")).to_contain_text("Someone else changed this case meanwhile")
    expect(page.locator("#action-status")).to_be_focused()
    expect(page.locator("#case-timeline li.kind-internal_note")).to_contain_text("on hold at the plant")  # reloaded
    expect(page.locator("#write-text")).to_have_value("Customer called again: please hurry.")  # the draft is kept
    statuses = [r.status for r in [p.response() for p in page.watch.posts(f"/staff/complaints/{number}/actions")]]
    assert statuses == [409]
    shot(page, "09-stale-version")

    page.locator("#write-form").get_by_role("button", name="Send").click()  # now on the new version
    expect(page.locator("#action-status")).to_have_text("Done: Internal note.")
    expect(page.locator("#case-timeline li.kind-internal_note")).to_have_count(2)

    # the same page in Chinese, on a small phone
    page.get_by_role("button", name="中文").click()
    expect(page.locator("h1")).to_have_text(f"投诉 {number}")
    expect(page.locator("#case-status")).to_have_text("已分派")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    page.set_viewport_size({"width": 360, "height": 740})
    assert no_horizontal_overflow(page), "the case page fits a 360 px screen"
    shot(page, "10-case-zh-mobile")
    page.goto(f"{base}/console#/queue")
    expect(page.locator("h1")).to_have_text("工作队列")
    assert no_horizontal_overflow(page), "the queue fits a 360 px screen"
    shot(page, "11-queue-zh-mobile")
