"""bench compare --html: one self-contained page, checked in a real headless Chromium (Selenium)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers import write_profile

from bench.__main__ import main
from bench.reports.compare import load_reports, report_paths

RESULTS = Path(__file__).resolve().parents[1] / "results"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (.[test] has it)")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="no system Chromium and ChromeDriver (apt-get install chromium chromium-driver)")


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("page") / "results.html"
    assert main(["compare", str(RESULTS), "--html", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def column(browser, table: str, name: str) -> list[str]:
    headers = [cell.text for cell in browser.find_elements("css selector", f"#T_{table} thead th")]
    index = headers.index(name) + 1
    cells = browser.find_elements("css selector", f"#T_{table} tbody td:nth-child({index})")
    return [cell.text for cell in cells]


def test_the_page_loads_without_errors_and_needs_no_network(page, browser):
    browser.get(page.as_uri())
    assert browser.execute_script("return performance.getEntriesByType('resource').length") == 0
    assert browser.title == "Cross-hardware comparison"
    severe = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert severe == []
    assert browser.find_elements("css selector", "figure svg"), "no per-stage chart"


def test_the_results_table_has_one_row_per_report(page, browser):
    loaded, _ = load_reports(report_paths([RESULTS]))
    browser.get(page.as_uri())
    assert sorted(column(browser, "results", "report")) == sorted(item.path.name for item in loaded)


def test_clicking_a_header_sorts_its_column(page, browser):
    browser.get(page.as_uri())
    header = next(cell for cell in browser.find_elements("css selector", "#T_results thead th")
                  if cell.text == "end-to-end p50 ms")
    header.click()
    timed = [float(value) for value in column(browser, "results", "end-to-end p50 ms") if value != "-"]
    assert len(timed) > 1 and timed == sorted(timed)
    header.click()
    timed = [float(value) for value in column(browser, "results", "end-to-end p50 ms") if value != "-"]
    assert timed == sorted(timed, reverse=True)


def test_a_slower_stage_is_shown_as_the_verdict_of_its_pair(tmp_path, environment, browser):
    write_profile(tmp_path, environment, "aaaa00000000", 1, {"forward": 100.0})
    write_profile(tmp_path, environment, "aaaa00000000", 2, {"forward": 130.0})
    page = tmp_path / "page.html"
    assert main(["compare", str(tmp_path), "--html", str(page)]) == 1
    browser.get(page.as_uri())
    verdicts = dict(zip(column(browser, "verdicts", "stage"), column(browser, "verdicts", "verdict"),
                        strict=True))
    assert verdicts == {"forward": "slower", "end_to_end": "slower"}
    assert len(column(browser, "results", "report")) == 2


def test_ap_rows_carry_their_bootstrap_intervals(page, browser):
    loaded, _ = load_reports(report_paths([RESULTS]))
    with_intervals = sum(1 for item in loaded for row in item.report.rows if row.result.ci95)
    browser.get(page.as_uri())
    shown = [cell for cell in column(browser, "accuracy", "AP") if "[" in cell]
    assert with_intervals > 0 and len(shown) == with_intervals
