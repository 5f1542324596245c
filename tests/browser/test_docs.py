"""/docs in headless Chromium, served by the real app (debug build, seeded SQLite).

app/tests/api/docs_page.rs runs the page's renderer under node; here the page runs as a reader
sees it: its own fetch of openapi.json, its DOM, its "Try it" forms sending real requests, its
Content-Security-Policy enforced by the browser (a violation is a console error).
"""

import json
import urllib.request
from urllib.parse import urlsplit

import pytest

from conftest import required_env

METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture(scope="module")
def app_url() -> str:
    return required_env("APP_URL").rstrip("/")


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, json.loads(response.read())


@pytest.fixture(scope="module")
def spec(app_url):
    status, document = get_json(app_url + "/openapi.json")
    assert status == 200
    return document


def open_docs(page, app_url):
    page.goto(app_url + "/docs", wait_until="load")
    # The page draws itself once its fetch of openapi.json has answered.
    page.wait_for_selector("#content section.op")


def try_it(page, operation_id: str, inputs: dict) -> tuple[str, str]:
    """Fills the operation's Try-it form, sends it, and returns the shown status line and body."""
    section = page.locator(f"section#{operation_id}")
    section.locator("summary").click()
    form = section.locator("form.try")
    for name, value in inputs.items():
        form.locator(f'input[name="{name}"]').fill(value)
    form.get_by_role("button", name="Send").click()
    result = form.locator("pre.result")
    # Until the answer arrives the box says "GET <url> ...": wait for "<status> <text>".
    page.wait_for_function(
        "element => /^\\d{3} /.test(element.textContent)", arg=result.element_handle()
    )
    status_line, _, body = result.text_content().partition("\n\n")
    return status_line, body


def test_every_route_of_the_live_document_is_listed_on_the_page(recorded, app_url, spec):
    page, record = recorded
    open_docs(page, app_url)
    documented = {
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in METHODS
        if method in item
    }
    assert len(documented) >= 24, f"only {len(documented)} operations documented"
    shown = page.eval_on_selector_all(
        "#content section.op h3",
        """headings => headings
             .filter(h => h.querySelector('.method'))
             .map(h => [h.querySelector('.method').textContent, h.querySelector('.path').textContent])""",
    )
    assert len(shown) == len(documented), "an operation is shown twice or is missing"
    assert {tuple(pair) for pair in shown} == documented
    # The side list links every operation, each link to a section on the page, all visible.
    links = page.eval_on_selector_all(
        "#nav a[href^='#op-']",
        "links => links.map(a => [a.getAttribute('href').slice(1), a.textContent])",
    )
    assert len(links) == len(documented)
    for target, text in links:
        assert page.locator(f"section#{target}").count() == 1, f"{text} links to nothing"
    hidden = page.eval_on_selector_all(
        "#content section.op[id^='op-']",
        """sections => sections
             .filter(s => { const box = s.getBoundingClientRect(); return !(box.width > 0 && box.height > 0); })
             .map(s => s.id)""",
    )
    assert hidden == [], f"operations drawn with no size: {hidden}"
    # The title comes from the document, not the placeholder.
    assert page.locator("#title").text_content().startswith(spec["info"]["title"])
    record.assert_no_errors()


def test_try_it_gets_a_disk_by_id_from_the_app(recorded, app_url):
    page, record = recorded
    open_docs(page, app_url)
    status_line, body = try_it(page, "op-get-disks-id", {"id": "1"})
    assert status_line == "200 OK"
    shown = json.loads(body)
    assert shown["id"] == 1
    assert shown == get_json(app_url + "/disks/1")[1]
    assert app_url + "/disks/1" in record.requests
    record.assert_no_errors()


def test_try_it_lists_two_disks_from_the_app(recorded, app_url):
    page, record = recorded
    open_docs(page, app_url)
    status_line, body = try_it(page, "op-get-disks", {"limit": "2"})
    assert status_line == "200 OK"
    shown = json.loads(body)
    assert [disk["id"] for disk in shown["items"]] == [1, 2]
    assert shown == get_json(app_url + "/disks?limit=2")[1]
    assert app_url + "/disks?limit=2" in record.requests
    record.assert_no_errors()


def test_the_page_and_its_requests_stay_on_127_0_0_1_without_a_console_error(
    recorded, app_url, artifacts
):
    page, record = recorded
    open_docs(page, app_url)
    status_line, _ = try_it(page, "op-get-disks-id", {"id": "2"})
    assert status_line == "200 OK"
    page.wait_for_load_state("networkidle")
    assert record.requests, "no request recorded"
    for url in record.requests:
        assert urlsplit(url).hostname == "127.0.0.1", f"{url} leaves 127.0.0.1"
    # The page itself, its document and the form's request: nothing else was needed.
    assert app_url + "/docs" in record.requests
    assert app_url + "/openapi.json" in record.requests
    record.assert_no_errors()
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=artifacts / "docs.png")
    page.screenshot(path=artifacts / "docs-full.png", full_page=True)
