"""Shared fixtures of the browser tests: one headless Chromium per session, a fresh context per
test, and a recorder of what a page requested and complained about.

scripts/browser-tests.sh sets the environment: APP_URL (the debug app on 127.0.0.1), LAB_BIN,
BROWSER_EXECUTABLE (Debian's chromium: Playwright cannot download its own here) and
BROWSER_ARTIFACTS (target/browser, for the screenshots). A missing variable fails the test that
needs it, with the reason, rather than skipping it.
"""

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import sync_playwright

REPO_ROOT = Path(os.environ.get("REPO_ROOT") or Path(__file__).resolve().parents[2])
VIEWPORT = {"width": 1280, "height": 900}
# Playwright's own waits (navigation, selectors, clicks): well under pytest's per-test timeout.
STEP_TIMEOUT_MS = 20_000


def required_env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run the browser tests through scripts/browser-tests.sh")
    return value


def screenshot_name(text: str) -> str:
    """A file name for a screenshot of `text` (a path or a test's label)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")


@dataclass
class PageRecord:
    """What one browser context did: every request's URL, the requests that failed, console
    errors and uncaught page errors."""

    requests: list = field(default_factory=list)
    failed: list = field(default_factory=list)
    console_errors: list = field(default_factory=list)
    page_errors: list = field(default_factory=list)

    def assert_no_errors(self):
        assert self.console_errors == [], f"console errors: {self.console_errors}"
        assert self.page_errors == [], f"uncaught errors: {self.page_errors}"
        assert self.failed == [], f"failed requests: {self.failed}"


def is_the_browsers_own_favicon_miss(message) -> bool:
    """Chromium asks an http page's origin for /favicon.ico by itself (no request event: not
    the page's request) and logs the app's 404 as a console error. The page declares no icon
    and the app serves none; that one message is the browser's, not an error of the page."""
    url = (message.location or {}).get("url", "")
    return urlsplit(url).path == "/favicon.ico" and "404" in message.text


def record_console_error(record: PageRecord, message):
    if message.type == "error" and not is_the_browsers_own_favicon_miss(message):
        record.console_errors.append(f"{message.text} ({message.location})")


@pytest.fixture(scope="session")
def browser():
    executable = required_env("BROWSER_EXECUTABLE")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable,
            headless=True,
            timeout=STEP_TIMEOUT_MS,
        )
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    folder = Path(required_env("BROWSER_ARTIFACTS"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def recorded(browser):
    """A fresh context and page, 1280x900, with everything it does recorded."""
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(STEP_TIMEOUT_MS)
    record = PageRecord()
    # On the context, not the page: a worker's or a pop-up's requests count too.
    context.on("request", lambda request: record.requests.append(request.url))
    context.on(
        "requestfailed",
        lambda request: record.failed.append(f"{request.url}: {request.failure}"),
    )
    page = context.new_page()
    page.on("console", lambda message: record_console_error(record, message))
    page.on("pageerror", lambda error: record.page_errors.append(str(error)))
    yield page, record
    context.close()
