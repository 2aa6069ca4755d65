"""Debian's chromium, headless, driven by playwright: what every browser test starts from.

Importing this module skips the importing test module, with the reason, on a machine without chromium
(``apt-get install chromium``; ``.ci/run`` installs it) or without playwright; ``browser`` is the
module-scoped fixture (import it into the test module).
"""
from __future__ import annotations

import os

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

if not os.path.exists(CHROMIUM):
    pytest.skip("Debian's chromium is not installed (apt-get install chromium); browser tests skipped",
                allow_module_level=True)
try:
    from playwright.sync_api import Page, expect, sync_playwright
except ImportError:
    pytest.skip("playwright is not importable (pip install playwright); browser tests skipped",
                allow_module_level=True)

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "Page", "browser", "expect"]


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()
