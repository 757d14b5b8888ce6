"""bench compare --html: one self-contained page, checked in a real headless Chromium (Selenium).

Two pages are built once per module: one of the committed ``results/`` and one of generated reports
(two profiles of machine A, 30% slower the second day; one of machine B, another CPU; a reproduce report
of machine A with a row whose AP is -1)."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
from helpers import reproduce_record, write_profile
from test_report import reproduce_row

from bench import atomic
from bench.__main__ import main
from bench.evaluation import metric_text
from bench.reports.compare import load_reports, report_paths
from bench.reports.results_page import RATIO_DIRECTION
from bench.reports.writing import new_report

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
def generated(tmp_path_factory, environment) -> Path:
    """The page of generated reports (see the module docstring); exit status 1: A is slower."""
    folder = tmp_path_factory.mktemp("reports")
    machine_a = dataclasses.replace(environment, hardware=dataclasses.replace(
        environment.hardware, cpu_model="Test CPU A", gpus=(), gpu_driver=None))
    machine_b = dataclasses.replace(machine_a, hardware=dataclasses.replace(
        machine_a.hardware, cpu_model="Test CPU B"))
    write_profile(folder, machine_a, "aaaa00000000", 1, {"forward": 100.0})
    write_profile(folder, machine_a, "aaaa00000000", 2, {"forward": 130.0})
    write_profile(folder, machine_b, "bbbb00000000", 3, {"forward": 50.0})
    measured = reproduce_row()
    with_interval = dataclasses.replace(measured, result=dataclasses.replace(
        measured.result, ci95={"AP": (0.640, 0.660)}))
    undefined = dataclasses.replace(measured, result=dataclasses.replace(
        measured.result, name="scales=[2, 1], flip", metrics={**measured.result.metrics, "AP": -1.0}))
    report = new_report("reproduce", reproduce_record(), command=["bench", "reproduce"],
                        environment=dataclasses.replace(machine_a, fingerprint_id="aaaa00000000"),
                        rows=(with_interval, undefined))
    report = dataclasses.replace(report, created="2025-01-04T00:00:00+00:00")
    atomic.write_json(folder / "reproduce.json", report.to_dict())
    out = folder.parent / f"{folder.name}.html"
    assert main(["compare", str(folder), "--html", str(out)]) == 1
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


def show(browser, page: Path) -> None:
    """Open ``page`` unless the browser shows it already (a page is loaded once, not per test)."""
    if browser.current_url != page.as_uri():
        browser.get(page.as_uri())


COLUMN = """
const table = document.getElementById("T_" + arguments[0]);
const header = table.tHead.rows[table.tHead.rows.length - 1];
const headers = Array.from(header.cells, cell => cell.textContent.trim());
const index = headers.indexOf(arguments[1]);
return index < 0 ? null : Array.from(table.tBodies[0].rows, row => row.cells[index].textContent.trim());
"""


def column(browser, table: str, name: str) -> list[str]:
    """The cells of a column by its header, in the order shown (text content, so that a collapsed table
    reads too; one script call, not one call per cell)."""
    cells = browser.execute_script(COLUMN, table, name)
    assert cells is not None, f"table {table} has no column {name!r}"
    return cells


def test_the_page_loads_without_errors_and_needs_no_network(page, browser):
    show(browser, page)
    assert browser.execute_script("return performance.getEntriesByType('resource').length") == 0
    assert browser.title == "Cross-hardware comparison"
    severe = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert severe == []
    headings = [heading.text for heading in browser.find_elements("css selector", "h2")]
    assert headings == ["Accuracy against the published numbers", "Speed across systems", "Speed verdicts",
                        "Details"]
    assert browser.find_elements("css selector", "details figure svg"), "no per-stage chart"
    assert not browser.find_element("css selector", "details figure svg").is_displayed(), "not collapsed"


def test_the_headline_lists_the_published_rows_with_published_and_measured_ap(page, browser):
    loaded, _ = load_reports(report_paths([RESULTS]))
    published = sorted((row.result.name,
                        "-" if row.result.role == "smoke" else metric_text(row.verdict.expected.get("AP")),
                        metric_text((row.result.metrics or {}).get("AP")))
                       for item in loaded for row in item.report.rows if row.result.role != "sweep")
    show(browser, page)
    shown = sorted(zip(column(browser, "headline", "row"), column(browser, "headline", "published AP"),
                       column(browser, "headline", "measured AP"), strict=True))
    assert published and shown == published
    assert {ap for row, ap, _ in shown if row.startswith("sample:")} == {"-"}  # smoke: never compared
    assert set(column(browser, "headline", "status")) == {"skipped", "smoke"}


def test_two_machines_of_one_model_get_two_names_and_two_rows(page, browser):
    loaded, _ = load_reports(report_paths([RESULTS]))
    fingerprints = {item.report.fingerprint_id for item in loaded}
    show(browser, page)
    systems = column(browser, "systems", "system")
    assert len(fingerprints) >= 2 and len(set(systems)) == len(systems) == len(fingerprints)
    assert sorted(column(browser, "systems", "fingerprint")) == sorted(fingerprints)
    assert set(column(browser, "headline", "system")) <= set(systems)  # systems with reproduce rows
    assert browser.find_element("css selector", "#T_systems").find_element("xpath", "..").get_attribute(
        "class") == "scroll"


def test_the_raw_tables_keep_one_row_per_report_and_the_ap_intervals(page, browser):
    loaded, _ = load_reports(report_paths([RESULTS]))
    with_intervals = sum(1 for item in loaded for row in item.report.rows if row.result.ci95)
    show(browser, page)
    assert sorted(column(browser, "reports", "report")) == sorted(item.path.name for item in loaded)
    shown = column(browser, "accuracy", "AP")
    assert with_intervals > 0 and sum("[" in cell for cell in shown) == with_intervals


def test_clicking_a_header_sorts_its_column(page, browser):
    show(browser, page)
    header = next(cell for cell in browser.find_elements("css selector", "#T_pair1 thead th")
                  if cell.text == "cand (ms)")
    before = [float(value) for value in column(browser, "pair1", "cand (ms)")]
    header.click()
    timed = [float(value) for value in column(browser, "pair1", "cand (ms)")]
    assert len(timed) > 1 and timed != before and timed == sorted(timed)
    header.click()
    timed = [float(value) for value in column(browser, "pair1", "cand (ms)")]
    assert timed == sorted(timed, reverse=True)


def test_systems_are_named_and_the_verdict_states_the_ratio_direction(generated, browser, environment):
    show(browser, generated)
    assert sorted(column(browser, "systems", "system")) == [_name("Test CPU A", environment),
                                                            _name("Test CPU B", environment)]
    text = browser.find_element("tag name", "body").text
    assert text.count(RATIO_DIRECTION) == 1
    (heading,) = [heading.text for heading in browser.find_elements("css selector", "h3")
                  if heading.is_displayed()]
    assert heading.startswith(f"{_name('Test CPU A', environment)}: profile synthetic-512x512-b1-s1-flip")
    assert "End to end: slower" in text and "1 of 1 stages slower" in text
    assert "Candidate 2025-01-02 00:00 UTC against reference 2025-01-01 00:00 UTC." in text
    verdicts = dict(zip(column(browser, "pair1", "stage"), column(browser, "pair1", "verdict"), strict=True))
    assert verdicts == {"end_to_end": "slower", "forward": "slower"}
    assert ".json" not in browser.find_element("css selector", "#T_pair1").text


def test_minus_one_is_shown_as_n_a_and_explained(generated, browser):
    show(browser, generated)
    assert column(browser, "headline", "measured AP") == ["0.6500", "n/a"]
    assert column(browser, "headline", "published AP") == ["0.6550", "0.6550"]
    assert column(browser, "headline", "AP 95% interval") == ["[0.6400, 0.6600]", "-"]
    assert "n/a: no ground truth to score" in browser.find_element("tag name", "body").text


def _name(model: str, environment) -> str:
    """The page's name of a machine of this ``model`` on this host."""
    host = getattr(environment.host, "machine", None) or environment.host.hostname
    return f"{model} ({host})" if host else model
