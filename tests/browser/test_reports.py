"""The lab's HTML pages (report.html, compare.html, ab.html) in headless Chromium, from file://.

They promise to open from a file manager or a mail attachment: every plot inline as SVG, every
table in the page, nothing fetched. Every committed page is opened, and always one report.html
that `lab report` draws afresh from a fixture run, so the test never depends on what results/
holds.
"""

import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import REPO_ROOT, required_env, screenshot_name

PAGE_NAMES = ("report.html", "compare.html", "ab.html")
FIXTURE_RUN = REPO_ROOT / "lab/tests/fixtures/runs/20261129T132008Z-compose-tight-postgres"
FRESH = "lab-report-of-the-fixture-run"
LAB_REPORT_TIMEOUT_SECS = 120


def committed_pages() -> list[str]:
    """The lab's pages under results/ that git tracks (a run being written beside them is not
    committed); without git (an exported tree), every such page there."""
    try:
        listed = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "ls-files", "-z", "--", "results"],
            check=True,
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.split("\0")
    except (OSError, subprocess.SubprocessError):
        listed = [str(p.relative_to(REPO_ROOT)) for p in (REPO_ROOT / "results").rglob("*.html")]
    return sorted(p for p in listed if p and Path(p).name in PAGE_NAMES)


@pytest.fixture(scope="session")
def fresh_report(tmp_path_factory) -> Path:
    """report.html drawn by `lab report` in a copy of the fixture run."""
    lab = required_env("LAB_BIN")
    run = tmp_path_factory.mktemp("fresh-report") / FIXTURE_RUN.name
    shutil.copytree(FIXTURE_RUN, run)
    drawn = subprocess.run(
        [lab, "report", str(run)],
        capture_output=True,
        text=True,
        timeout=LAB_REPORT_TIMEOUT_SECS,
    )
    assert drawn.returncode == 0, f"lab report failed:\n{drawn.stdout}\n{drawn.stderr}"
    report = run / "report.html"
    assert report.is_file(), f"lab report wrote no report.html:\n{drawn.stdout}"
    return report


@pytest.fixture(params=[*committed_pages(), FRESH])
def lab_page(request) -> tuple[str, Path]:
    """(label, path) of one page: a committed one, or the one drawn afresh."""
    if request.param == FRESH:
        return FRESH, request.getfixturevalue("fresh_report")
    return request.param, REPO_ROOT / request.param


# Each top-level <svg>: its size on the page and what it draws.
SVG_SUMMARY = """svgs => svgs
  .filter(svg => !svg.parentElement.closest('svg'))
  .map(svg => {
    const box = svg.getBoundingClientRect();
    return {
      width: box.width,
      height: box.height,
      shapes: svg.querySelectorAll('path, polyline, polygon, line, rect, circle').length,
      texts: svg.querySelectorAll('text').length,
    };
  })"""

# Each <table>: its size on the page, its rows with cells, and its header cells.
TABLE_SUMMARY = """tables => tables.map(table => {
  const box = table.getBoundingClientRect();
  return {
    width: box.width,
    height: box.height,
    rows: [...table.querySelectorAll('tr')].filter(tr => tr.querySelector('td')).length,
  };
})"""


def test_each_lab_page_renders_its_plots_and_tables_from_file_without_any_request(
    recorded, lab_page, artifacts
):
    page, record = recorded
    label, path = lab_page
    url = path.resolve().as_uri()
    page.goto(url, wait_until="load")

    svgs = page.eval_on_selector_all("svg", SVG_SUMMARY)
    assert svgs, f"{label}: no inline <svg>"
    for index, svg in enumerate(svgs):
        assert svg["width"] > 0 and svg["height"] > 0, f"{label}: svg {index} has no size: {svg}"
        assert svg["shapes"] > 0 and svg["texts"] > 0, f"{label}: svg {index} draws nothing: {svg}"
    # A figure whose plot file was missing says so instead of holding an <svg>.
    assert page.locator(".missing").count() == 0, f"{label}: a plot is missing"
    assert page.locator("figure:not(:has(svg))").count() == 0, f"{label}: a figure without a plot"

    tables = page.eval_on_selector_all("table", TABLE_SUMMARY)
    assert tables, f"{label}: no <table>"
    for index, table in enumerate(tables):
        assert table["rows"] > 0, f"{label}: table {index} has no row"
        assert table["width"] > 0 and table["height"] > 0, f"{label}: table {index} has no size"

    page.wait_for_load_state("networkidle")
    assert record.requests[0] == url
    for request_url in record.requests:
        assert request_url.startswith(("file:", "data:")), f"{label} requested {request_url}"
    record.assert_no_errors()

    name = screenshot_name(label.removeprefix("results/"))
    page.screenshot(path=artifacts / "reports" / f"{name}.png")
    # A second picture from the top of the first plot: the top of a report is tables.
    page.locator("svg").first.evaluate("svg => (svg.closest('figure') || svg).scrollIntoView()")
    page.screenshot(path=artifacts / "reports" / f"{name}-plot.png")
