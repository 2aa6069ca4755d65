"""The customer pages in a real browser (Debian's chromium driven by Playwright) against the local stack.

Needs /usr/bin/chromium (``apt-get install chromium``) and the ``playwright`` package; Playwright's own
browser downloads are never used. Screenshots of each page land in /tmp/complaints-pages-*.png.
"""
from __future__ import annotations

import json
import os
import re
import struct
import zlib
from typing import Any

import pytest

from tests.e2e.browser import Page, browser, expect  # noqa: F401 - browser: the fixture; skips without chromium

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

SCREENSHOTS = "/tmp/complaints-pages-{}.png"
PAYLOAD_SCRIPT = "<script>window.__pwned=1</script>"
PAYLOAD_IMG = "<img src=x onerror=\"window.__pwned=2\">"


def png_bytes(width: int = 8, height: int = 8) -> bytes:
    """A small valid PNG, made here so the test needs no fixture files."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + b"\x1d\x4f\x91" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


# -- fixtures -------------------------------------------------------------------------------------


@pytest.fixture
def base_url(local_stack) -> str:
    return local_stack.api_url.rstrip("/")


class Watch:
    """What a page did: API requests, script errors, dialogs."""

    def __init__(self, page: Page):
        self.requests: list[Any] = []
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        page.on("request", lambda request: self.requests.append(request))
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("console", self._console)
        page.on("dialog", lambda dialog: (self.dialogs.append(dialog.message), dialog.dismiss()))

    def _console(self, message: Any) -> None:
        if message.type == "error" and "Content Security Policy" in message.text:
            self.errors.append(message.text)  # the pages must work under their own CSP

    def posts(self, path: str) -> list[Any]:
        return [r for r in self.requests if r.method == "POST" and r.url.split("?")[0].endswith(path)]


@pytest.fixture
def context(browser):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US", timezone_id="Asia/Shanghai")
    ctx.set_default_timeout(15_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context):
    page = context.new_page()
    page.watch = Watch(page)
    yield page
    assert page.watch.errors == [], f"script errors on the page: {page.watch.errors}"
    assert page.watch.dialogs == [], f"unexpected dialogs: {page.watch.dialogs}"


def field(page: Page, name: str):
    return page.locator(f'[name="{name}"]')


def error_of(page: Page, name: str):
    return page.locator(f'[id="err-{name}"]')


def fill_minimal(page: Page, description: str = "The kettle leaks from the base after a week.",
                 title: str | None = None, email: str = "li.wei@example.com") -> None:
    if title is not None:
        field(page, "title").fill(title)
    field(page, "description").fill(description)
    field(page, "customer.name").fill("Li Wei")
    field(page, "customer.email").fill(email)


def submit_and_wait(page: Page) -> tuple[str, str]:
    page.locator("#submit-button").click()
    expect(page.locator("#result-section")).to_be_visible()
    number = page.locator("#result-number").inner_text().strip()
    token = page.locator("#result-token").inner_text().strip()
    return number, token


# -- tests ------------------------------------------------------------------------------------------


def test_submit_in_english_with_an_attachment_then_track(page, base_url):
    page.goto(f"{base_url}/?lang=en")
    expect(page.locator("h1#form-heading")).to_have_text("Submit a complaint")
    expect(page.locator("html")).to_have_attribute("lang", "en")

    fill_minimal(page, title="Kettle leaks")
    field(page, "customer.phone").fill("+86 138 0013 8000")
    field(page, "product.name").fill("Kettle K2")
    field(page, "product.sku").fill("K2-WHT")
    field(page, "product.purchased_at").fill("2024-05-01")
    field(page, "expected_resolution").fill("A replacement")
    page.locator("#f-attachments").set_input_files(
        [{"name": "photo.png", "mimeType": "image/png", "buffer": png_bytes()},
         {"name": "tool.exe", "mimeType": "application/x-msdownload", "buffer": b"MZ\x00\x00"}])
    uploaded = page.locator(".attachment.state-done")
    expect(uploaded).to_have_count(1)
    expect(uploaded).to_contain_text("photo.png")
    rejected = page.locator(".attachment.state-rejected")
    expect(rejected).to_contain_text("tool.exe")
    expect(rejected.locator(".attachment-error")).to_contain_text("not accepted")
    page.get_by_role("button", name="Remove tool.exe").click()
    expect(page.locator(".attachment")).to_have_count(1)
    page.screenshot(path=SCREENSHOTS.format("form-en"), full_page=True)

    number, token = submit_and_wait(page)
    assert re.fullmatch(r"C[2-9A-HJ-NP-Z]{9}", number), number
    assert len(token) >= 20
    expect(page.locator("#result-section")).to_contain_text("Keep this tracking token")
    expect(page.locator("#result-heading")).to_be_focused()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base_url)
    page.locator("#copy-token").click()
    expect(page.locator("#copy-status")).to_have_text("Tracking token copied.")
    assert page.evaluate("navigator.clipboard.readText()") == token

    (post,) = page.watch.posts("/complaints")
    assert re.fullmatch(r"[0-9a-f-]{36}", post.headers["idempotency-key"])
    body = json.loads(post.post_data)
    assert body["channel"] == "web" and body["customer"]["preferred_language"] == "en"
    assert body["product"] == {"name": "Kettle K2", "sku": "K2-WHT", "purchased_at": "2024-05-01"}
    assert len(body["attachment_ids"]) == 1 and body["attachment_ids"][0].startswith("att_")
    assert "email" in body["customer"] and "member_id" not in body["customer"]  # empty fields are left out
    upload = [r for r in page.watch.requests if r.method == "POST" and not r.url.startswith(base_url)]
    assert upload, "the file went straight to storage, not through the API"

    href = page.locator("#result-link").get_attribute("href")
    assert href == f"/track?id={number}#token={token}"  # the token stays in the fragment
    page.locator("#result-link").click()
    expect(page.locator("#case")).to_be_visible()
    expect(page.locator("#case-number")).to_have_text(number)
    # the router may already have classified it by the time the page asks
    expect(page.locator("#case-status")).to_have_text(re.compile("^(Received|Under review)$"))
    expect(page.locator("#case-title")).to_have_text("Kettle leaks")
    # newest first; the notifier may already have added "Confirmation sent" above it
    expect(page.locator("#case-timeline li").last).to_contain_text("Complaint received")
    gets = [r for r in page.watch.requests if r.method == "GET" and f"/complaints/{number}" in r.url]
    assert gets and gets[-1].headers["x-tracking-token"] == token and token not in gets[-1].url
    page.screenshot(path=SCREENSHOTS.format("track"), full_page=True)


def test_switching_to_chinese_changes_labels_and_is_remembered(page, base_url):
    page.goto(f"{base_url}/")
    page.get_by_role("button", name="中文").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("h1#form-heading")).to_have_text("提交投诉")
    expect(page.locator('label[for="f-description"]')).to_contain_text("发生了什么？")
    expect(page.locator('label[for="f-customer.email"]')).to_have_text("电子邮箱")
    expect(page.locator("#submit-button")).to_have_text("提交投诉")
    expect(page.get_by_role("button", name="中文")).to_have_attribute("aria-pressed", "true")
    expect(field(page, "customer.preferred_language")).to_have_value("zh")
    page.locator("#submit-button").click()  # errors come in Chinese too
    expect(error_of(page, "description")).to_have_text("此项为必填项。")
    page.screenshot(path=SCREENSHOTS.format("form-zh"), full_page=True)

    page.goto(f"{base_url}/track")  # remembered across pages
    expect(page.locator("h1")).to_have_text("查询投诉进度")
    page.get_by_role("button", name="EN").click()
    expect(page.locator("h1")).to_have_text("Track a complaint")
    page.goto(f"{base_url}/track?lang=zh")  # ?lang= wins over the remembered choice
    expect(page.locator("h1")).to_have_text("查询投诉进度")


def test_client_side_validation_blocks_without_any_request(page, base_url):
    page.goto(f"{base_url}/?lang=en")
    page.locator("#submit-button").click()
    expect(error_of(page, "description")).to_have_text("This field is required.")
    expect(error_of(page, "customer.name")).to_have_text("This field is required.")
    expect(error_of(page, "customer.contact")).to_contain_text("email address or a phone number")
    expect(field(page, "description")).to_have_attribute("aria-invalid", "true")
    expect(field(page, "description")).to_be_focused()
    expect(page.locator("#form-summary")).to_be_visible()

    field(page, "description").fill("Broken on arrival")
    field(page, "customer.name").fill("Li Wei")
    field(page, "customer.email").fill("not-an-email")
    field(page, "customer.phone").fill("call me")
    page.locator("#submit-button").click()
    expect(error_of(page, "description")).to_be_empty()
    expect(error_of(page, "customer.contact")).to_be_empty()
    expect(error_of(page, "customer.email")).to_contain_text("name@example.com")
    expect(error_of(page, "customer.phone")).to_contain_text("phone number")

    field(page, "customer.email").fill("")
    field(page, "customer.phone").fill("12345")  # matches no pattern: too short
    field(page, "title").fill("x" * 201)  # FORM_RULES title.max_length is 200
    page.locator("#submit-button").click()
    expect(error_of(page, "title")).to_contain_text("at most 200 characters")
    expect(error_of(page, "customer.phone")).not_to_be_empty()

    field(page, "description").fill("   ")
    page.locator("#submit-button").click()
    expect(error_of(page, "description")).to_have_text("This field is required.")
    assert page.watch.posts("/complaints") == [], "invalid input never reaches the API"


def test_server_errors_are_shown_next_to_their_fields(page, base_url):
    page.goto(f"{base_url}/?lang=en")
    fill_minimal(page, email="li.wei@shop.invalid")  # well-formed, but the server refuses reserved domains
    page.locator("#submit-button").click()
    expect(error_of(page, "customer.email")).to_contain_text("special-use or reserved")
    expect(page.locator("#form-summary")).to_contain_text("could not be submitted")
    first_key = page.watch.posts("/complaints")[0].headers["idempotency-key"]

    field(page, "customer.email").fill("li.wei@example.com")
    number, _ = submit_and_wait(page)
    assert number
    second_key = page.watch.posts("/complaints")[1].headers["idempotency-key"]
    assert second_key != first_key  # a refused submission stored nothing: the corrected one is new


def test_a_retry_after_a_network_error_reuses_the_idempotency_key(page, base_url):
    held = []
    page.route(f"{base_url}/complaints", lambda route: held.append(route))  # hold the request
    page.goto(f"{base_url}/?lang=en")
    fill_minimal(page)
    page.locator("#submit-button").click()
    expect(page.locator("#submit-button")).to_be_disabled()  # while the request is on its way
    expect(page.locator("#submit-button")).to_have_text("Submitting…")
    for _ in range(50):  # Playwright hands the held request over while the page is being waited on
        if held:
            break
        page.wait_for_timeout(100)
    assert len(held) == 1
    held[0].abort("internetdisconnected")
    expect(page.locator("#form-summary")).to_contain_text("could not reach our server")
    expect(page.locator("#submit-button")).to_be_enabled()

    page.unroute(f"{base_url}/complaints")
    number, _ = submit_and_wait(page)
    first, second = page.watch.posts("/complaints")
    assert first.headers["idempotency-key"] == second.headers["idempotency-key"]
    assert json.loads(first.post_data) == json.loads(second.post_data)


def test_markup_in_a_complaint_is_shown_as_text_and_never_runs(page, base_url):
    text = f"Look {PAYLOAD_SCRIPT} and {PAYLOAD_IMG} here"
    page.goto(f"{base_url}/?lang=en")
    fill_minimal(page, description=f"Description {PAYLOAD_SCRIPT} {PAYLOAD_IMG}", title=text)
    number, token = submit_and_wait(page)

    page.goto(f"{base_url}/track?id={number}#token={token}")
    expect(page.locator("#case-title")).to_have_text(text)
    assert page.locator("#case img, #case script").count() == 0
    page.wait_for_timeout(300)  # give an injected onerror handler the time it would need
    assert page.evaluate("window.__pwned") is None
    # the look-up form is prefilled from ?id= and #token=
    expect(page.locator("#t-number")).to_have_value(number)
    expect(page.locator("#t-token")).to_have_value(token)


def test_tracking_with_a_wrong_token_or_a_mistyped_number(page, base_url):
    page.goto(f"{base_url}/?lang=en")
    fill_minimal(page)
    number, token = submit_and_wait(page)

    page.goto(f"{base_url}/track?id={number}#token=not-the-token", wait_until="domcontentloaded")
    expect(page.locator("#track-message")).to_contain_text("found no complaint")
    expect(page.locator("#case")).to_be_hidden()

    typo = number[:-1] + ("2" if number[-1] != "2" else "3")  # the check character catches it
    page.locator("#t-number").fill(typo)
    page.locator("#t-token").fill(token)
    page.locator("#track-button").click()
    expect(page.locator("#track-message")).to_contain_text("not valid")
    expect(page.locator("#err-number")).to_contain_text("typos")

    page.locator("#t-number").fill(number.lower())  # customers may type it in lower case
    page.locator("#track-button").click()
    expect(page.locator("#case-number")).to_have_text(number)
    expect(page.locator("#track-message")).to_be_hidden()
    page.get_by_role("button", name="中文").click()
    expect(page.locator("#case-status")).to_have_text(re.compile("^(已受理|审核中)$"))  # received or classified
    expect(page.locator("#case-timeline li").last).to_contain_text("收到投诉")  # the oldest entry


@pytest.mark.parametrize("path", ["/?lang=en", "/?lang=zh", "/track?lang=en", "/track?lang=zh"])
def test_mobile_viewport_has_no_horizontal_scroll(browser, base_url, path):
    ctx = browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True,
                              device_scale_factor=2)
    try:
        page = ctx.new_page()
        page.goto(f"{base_url}{path}")
        expect(page.locator("h1").first).to_be_visible()

        def overflow() -> int:
            return page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")

        assert overflow() <= 0
        if path.startswith("/?"):
            page.locator("#submit-button").click()  # with every error message shown
            expect(page.locator("#form-summary")).to_be_visible()
            assert overflow() <= 0
            if path == "/?lang=en":
                page.screenshot(path=SCREENSHOTS.format("form-mobile"), full_page=True)
        else:
            page.locator("#track-button").click()
            assert overflow() <= 0
        for narrowest in (360,):
            page.set_viewport_size({"width": narrowest, "height": 740})
            assert overflow() <= 0
    finally:
        ctx.close()


# -- the tracking page: answering, accepting, disputing, the survey ---------------------------------------------


def submit_by_api(base_url: str, language: str = "en") -> tuple[str, str]:
    import requests

    body = {"title": "Frozen dumplings spoiled",
            "description": "The frozen pork dumplings from batch B2611 smelled sour after cooking and the filling "
                          "was mouldy. My son ate two and had a stomach ache. I want a refund.",
            "customer": {"name": "Li Wei", "email": f"li.wei.{os.getpid()}@example.com",
                         "preferred_language": language}, "channel": "web"}
    res = requests.post(f"{base_url}/complaints", json=body, timeout=10)
    assert res.status_code == 201, res.text
    return res.json()["complaint_id"], res.json()["tracking_token"]


def classified(stack, number: str, token: str) -> dict:
    """The customer's view once the router has taken the case (the tests then set the state they need)."""
    import time

    import requests

    deadline = time.monotonic() + 45
    while time.monotonic() < deadline:
        view = requests.get(f"{stack.api_url}/complaints/{number}", headers={"X-Tracking-Token": token},
                            timeout=10).json()
        if view["status"] != "received":
            return view
        time.sleep(0.3)
    pytest.fail(f"the case was not classified in time: {view}")


def put_case(stack, number: str, entries=(), **changes) -> None:
    """Put the case in a state as the workflow would leave it, straight in the stack's table."""
    import time
    from datetime import datetime, timezone

    from shared.repository import ComplaintRepository, StaleVersion

    repo = ComplaintRepository(stack.client("dynamodb"), stack.env["TABLE_NAME"], None, None)
    for _ in range(10):
        case, _ = repo.get(number)
        try:
            repo.save(case.model_copy(update={"version": case.version + 1, "updated_at": datetime.now(timezone.utc),
                                              "department": "quality", "category": "food_safety",
                                              "needs_triage": False, **changes}),
                      list(entries), expected_version=case.version)
            return
        except StaleVersion:  # the sweep touched it meanwhile
            time.sleep(0.3)
    pytest.fail("could not update the case")


def proposed_plan(state: str = "proposed"):
    from datetime import datetime, timezone
    from decimal import Decimal

    from shared.models import PlanComponent, ResolutionPlan

    return ResolutionPlan(plan_id="plan-e2e", state=state, proposed_by="staff-e2e",
                          proposed_at=datetime.now(timezone.utc), internal_note="approved by Zhao Min",
                          explanation="We refund the bag and send you a new one from another batch.",
                          components=[PlanComponent(type="refund", amount=Decimal("129.00"), currency="CNY"),
                                      PlanComponent(type="replacement", description="Pork dumplings 1kg, batch B2702")])


def test_answering_a_request_for_information_with_a_photo(page, base_url, local_stack):
    from datetime import datetime, timedelta, timezone

    from shared.lifecycle import Status
    from shared.models import TimelineEntry, TimelineKind, Visibility

    number, token = submit_by_api(base_url)
    seen = classified(local_stack, number, token)
    # just after what the pipeline wrote, and well before the customer answers
    now = datetime.fromisoformat(seen["updated_at"].replace("Z", "+00:00")) + timedelta(milliseconds=1)
    put_case(local_stack, number, status=Status.WAITING_ON_CUSTOMER, entries=[
        TimelineEntry(at=now, kind=TimelineKind.STATUS_CHANGED, status=Status.IN_PROGRESS, actor="staff:staff-e2e"),
        TimelineEntry(at=now + timedelta(milliseconds=1), kind=TimelineKind.INTERNAL_NOTE, visibility=Visibility.INTERNAL,
                      actor="staff:staff-e2e", text="Batch B2611 is on hold at the plant."),
        TimelineEntry(at=now + timedelta(milliseconds=2), kind=TimelineKind.STAFF_REPLY, actor="staff:staff-e2e",
                      text="Please send a photo of the label.", details={"requests_information": True}),
        TimelineEntry(at=now + timedelta(milliseconds=2), kind=TimelineKind.STATUS_CHANGED,
                      status=Status.WAITING_ON_CUSTOMER, actor="staff:staff-e2e")])

    page.goto(f"{base_url}/track?id={number}&lang=en#token={token}")
    expect(page.locator("#case-status")).to_have_text("Waiting for your reply")
    expect(page.locator("#case-waiting")).to_be_visible()
    question = page.locator("#case-timeline li.kind-information_request")
    expect(question).to_contain_text("We need information from you")
    expect(question).to_contain_text("Please send a photo of the label.")
    expect(page.locator("#reply-heading")).to_have_text("Answer our question")
    expect(page.locator("#plan-section")).to_be_hidden()
    expect(page.locator("#case")).not_to_contain_text("on hold at the plant")  # an internal note

    page.locator("#reply-button").click()  # nothing typed yet
    expect(page.locator("#err-reply-text")).to_have_text("This field is required.")
    expect(page.locator("#reply-text")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#reply-text")).to_be_focused()
    assert page.watch.posts(f"/complaints/{number}/messages") == []

    page.get_by_label("Your message").fill("Here is the label, batch B2411.")
    expect(page.locator("#reply-text")).not_to_have_attribute("aria-invalid", "true")
    page.locator("#reply-attachments").set_input_files(
        [{"name": "label.png", "mimeType": "image/png", "buffer": png_bytes()}])
    expect(page.locator("#reply-attachment-list .attachment.state-done")).to_contain_text("label.png")
    page.get_by_role("button", name="Send message").click()

    expect(page.locator("#action-status")).to_have_text("Your message was sent. We will get back to you.")
    expect(page.locator("#action-status")).to_be_focused()
    expect(page.locator("#case-status")).to_have_text("In progress")
    answer = page.locator("#case-timeline li.kind-customer_message")
    expect(answer).to_contain_text("Here is the label, batch B2411.")
    expect(answer.locator(".timeline-files")).to_contain_text("label.png")
    kinds = page.locator("#case-timeline li").evaluate_all("items => items.map(i => i.className)")
    assert [k for k in kinds if "customer_message" in k or "information_request" in k] == [
        "timeline-item kind-customer_message from-customer",  # newest first: the answer above the question
        "timeline-item kind-information_request from-staff"]
    expect(page.locator("#reply-text")).to_have_value("")
    expect(page.locator("#reply-attachment-list .attachment")).to_have_count(0)
    expect(page.locator("#reply-heading")).to_have_text("Write to us")
    (post,) = page.watch.posts(f"/complaints/{number}/messages")
    assert post.headers["x-tracking-token"] == token and post.headers["idempotency-key"]
    body = json.loads(post.post_data)
    assert body["text"] == "Here is the label, batch B2411." and len(body["attachment_ids"]) == 1
    page.screenshot(path=SCREENSHOTS.format("track-reply"), full_page=True)


def test_accepting_the_proposed_plan_then_answering_the_survey_by_keyboard(page, base_url, local_stack):
    from shared.lifecycle import Status

    number, token = submit_by_api(base_url)
    classified(local_stack, number, token)
    put_case(local_stack, number, status=Status.RESOLUTION_PROPOSED, plan=proposed_plan())

    page.goto(f"{base_url}/track?id={number}&lang=en#token={token}")
    expect(page.locator("#case-status")).to_have_text("Solution proposed")
    plan = page.locator("#plan-section")
    expect(plan.locator("#plan-heading")).to_have_text("Our proposed solution")
    expect(plan.locator(".plan-component")).to_have_count(2)
    expect(plan.locator(".plan-component").first).to_contain_text("Refund")
    expect(plan.locator(".plan-amount")).to_contain_text("129.00")
    expect(plan.locator("#plan-explanation")).to_have_text("We refund the bag and send you a new one from another batch.")
    expect(plan).not_to_contain_text("Zhao Min")  # the internal note stays internal
    expect(page.locator("#survey-section")).to_be_hidden()
    page.screenshot(path=SCREENSHOTS.format("track-plan"), full_page=True)

    page.get_by_role("button", name="Accept the solution").click()
    expect(page.locator("#action-status")).to_contain_text("Thank you for confirming")
    expect(page.locator("#case-status")).to_have_text("Closed")
    expect(page.locator("#case-closure")).to_contain_text("You confirmed the resolution")
    expect(page.locator("#plan-state")).to_have_text("Accepted")
    expect(page.locator("#confirm-box")).to_be_hidden()
    expect(page.locator("#reply-section")).to_be_hidden()
    (confirmation,) = page.watch.posts(f"/complaints/{number}/confirmation")
    assert json.loads(confirmation.post_data) == {"accept": True}

    survey = page.locator("#survey-section")
    expect(survey).to_be_visible()
    page.get_by_role("button", name="Send feedback").click()  # no stars chosen
    expect(page.locator("#err-rating")).to_have_text("Please choose from 1 to 5 stars.")
    expect(page.locator("#rating-1")).to_be_focused()
    assert page.watch.posts(f"/complaints/{number}/feedback") == []

    for _ in range(3):  # a radio group: the arrow keys move the choice, 1 -> 4
        page.keyboard.press("ArrowRight")
    expect(page.locator("#rating-4")).to_be_checked()
    expect(page.locator("#rating-value")).to_have_text("You chose 4 of 5: satisfied")
    expect(page.locator("#err-rating")).to_be_empty()
    expect(page.locator("label.star.lit")).to_have_count(4)
    speed = survey.locator("fieldset.aspect").filter(has_text="Speed of the answer")
    speed.get_by_label("Went well").check()
    survey.locator("fieldset.aspect").filter(has_text="The outcome").get_by_label("Went badly").check()
    page.get_by_label("Anything else you would like to tell us?").fill("Quick, but the new bag took a week.")
    page.screenshot(path=SCREENSHOTS.format("track-survey"), full_page=True)
    page.set_viewport_size({"width": 360, "height": 740})  # the plan and the survey fit a small phone
    assert page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth") <= 0
    page.screenshot(path=SCREENSHOTS.format("track-survey-mobile"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.get_by_role("button", name="Send feedback").click()

    expect(page.locator("#action-status")).to_have_text("Thank you, your feedback was recorded.")
    expect(page.locator("#survey-thanks")).to_contain_text("You rated us 4 of 5.")
    expect(page.locator("#survey-form")).to_be_hidden()
    (answer,) = page.watch.posts(f"/complaints/{number}/feedback")
    assert json.loads(answer.post_data) == {"rating": 4, "aspects": {"speed": "good", "outcome": "bad"},
                                            "comment": "Quick, but the new bag took a week."}
    expect(page.locator("#case-timeline li").first).to_contain_text("Your feedback")


def test_disputing_a_resolution_in_chinese_needs_a_reason(page, base_url, local_stack):
    from datetime import datetime, timedelta, timezone

    from shared.lifecycle import Status
    from shared.models import TimelineEntry, TimelineKind

    number, token = submit_by_api(base_url, language="zh")
    classified(local_stack, number, token)
    now = datetime.now(timezone.utc)
    put_case(local_stack, number, status=Status.RESOLVED, resolved_at=now,
             confirmation_due_at=now + timedelta(days=7), entries=[TimelineEntry(
                 at=now, kind=TimelineKind.STATUS_CHANGED, status=Status.RESOLVED, actor="staff:staff-e2e",
                 text="我们已为您退款，并寄出另一批次的新水饺。")])

    page.goto(f"{base_url}/track?id={number}&lang=zh#token={token}")
    expect(page.locator("#case-status")).to_have_text("已解决")
    expect(page.locator("#plan-heading")).to_have_text("您的投诉已处理完毕")
    expect(page.locator("#plan-explanation")).to_have_text("我们已为您退款，并寄出另一批次的新水饺。")
    expect(page.locator("#confirm-due")).to_contain_text("请在")
    dispute = page.get_by_role("button", name="否，未解决")
    expect(dispute).to_have_attribute("aria-expanded", "false")
    dispute.click()
    expect(dispute).to_have_attribute("aria-expanded", "true")
    expect(page.locator("#dispute-reason")).to_be_focused()
    page.get_by_role("button", name="提交答复").click()
    expect(page.locator("#err-dispute-reason")).to_have_text("请说明原因，以便我们改进处理。")
    assert page.watch.posts(f"/complaints/{number}/confirmation") == []

    page.get_by_label("请告诉我们原因").fill("新寄来的水饺也有异味。")
    page.get_by_role("button", name="提交答复").click()
    expect(page.locator("#action-status")).to_contain_text("您的投诉已重新处理")
    expect(page.locator("#case-status")).to_have_text("处理中")
    expect(page.locator("#plan-section")).to_be_hidden()
    expect(page.locator("#reply-section")).to_be_visible()
    (post,) = page.watch.posts(f"/complaints/{number}/confirmation")
    assert json.loads(post.post_data) == {"accept": False, "reason": "新寄来的水饺也有异味。"}
    expect(page.locator("#case-timeline li.kind-disputed")).to_contain_text("新寄来的水饺也有异味。")
    page.get_by_role("button", name="EN").click()  # the page follows the language switch
    expect(page.locator("#case-status")).to_have_text("In progress")
    expect(page.locator("#case-timeline li.kind-disputed")).to_contain_text("You did not accept the resolution")


def test_the_survey_link_before_the_case_is_closed_says_so(page, base_url, local_stack):
    number, token = submit_by_api(base_url)
    classified(local_stack, number, token)
    page.goto(f"{base_url}/track?id={number}&survey=1&lang=en#token={token}")
    expect(page.locator("#survey-section")).to_be_visible()
    expect(page.locator("#survey-unavailable")).to_have_text("The survey opens once your complaint is closed.")
    expect(page.locator("#survey-heading")).to_be_focused()
    expect(page.locator("#survey-form")).to_be_hidden()
