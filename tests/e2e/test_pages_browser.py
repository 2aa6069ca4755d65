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

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = "/tmp/complaints-pages-{}.png"
PAYLOAD_SCRIPT = "<script>window.__pwned=1</script>"
PAYLOAD_IMG = "<img src=x onerror=\"window.__pwned=2\">"

if not os.path.exists(CHROMIUM):
    pytest.skip("Debian's chromium is not installed (apt-get install chromium); browser tests skipped",
                allow_module_level=True)
try:
    from playwright.sync_api import Page, expect, sync_playwright
except ImportError:
    pytest.skip("playwright is not importable (pip install playwright); browser tests skipped",
                allow_module_level=True)


def png_bytes(width: int = 8, height: int = 8) -> bytes:
    """A small valid PNG, made here so the test needs no fixture files."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + b"\x1d\x4f\x91" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


# -- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


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
