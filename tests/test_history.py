"""The history of reported figures (``bench.reports.history``), its change points
(``bench.reports.change_points``) and the page's History section, on generated series and reports.

The series are seeded, so each test is deterministic; the detector's error rates over 300 seeds are in
``bench.reports.change_points``' docstring."""

from __future__ import annotations

import dataclasses
import html
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers import reproduce_record, write_profile
from test_report import reproduce_row

from bench import atomic
from bench.__main__ import main
from bench.errors import BenchError
from bench.reports.change_points import MIN_POINTS, change_points
from bench.reports.history import COLUMNS, append_history, history_series, read_history
from bench.reports.results_page import HISTORY_MEANING
from bench.reports.schema import load_report
from bench.reports.writing import new_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


def noisy(seed: int, levels: list[tuple[float, int]], spread: float = 2.0) -> np.ndarray:
    """Gaussian noise of ``spread`` around each (level, length) in turn."""
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.normal(level, spread, length) for level, length in levels])


@pytest.mark.parametrize(("seed", "step_at"), [(1, 8), (5, 15), (3, 22), (4, 12)])
def test_a_step_is_found_within_one_point_of_where_it_is(seed, step_at):
    series = noisy(seed, [(100.0, step_at), (110.0, 30 - step_at)])
    (point,) = change_points(series)
    assert abs(point.index - step_at) <= 1
    assert point.before == pytest.approx(100.0, abs=2.0) and point.after == pytest.approx(110.0, abs=2.0)
    assert point.relative_change == pytest.approx(point.after / point.before - 1)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_single_spike_is_no_change_point(seed):
    series = noisy(seed, [(100.0, 30)])
    series[14] = 160.0
    assert change_points(series) == ()


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_pure_noise_has_no_change_point(seed):
    assert change_points(noisy(seed, [(100.0, 30)])) == ()


def test_a_constant_ap_series_has_none_and_one_step_in_ap_is_found_where_it_is():
    assert change_points(np.full(12, 0.655)) == ()
    (point,) = change_points([0.655] * 6 + [0.661] * 6)
    assert point.index == 6
    assert (point.before, point.after) == pytest.approx((0.655, 0.661))


def test_a_series_too_short_for_the_test_gets_none():
    assert change_points([0.655] * (MIN_POINTS // 2) + [0.9] * (MIN_POINTS - 1 - MIN_POINTS // 2)) == ()
    with pytest.raises(ValueError, match="finite"):
        change_points([1.0, float("nan")] * MIN_POINTS)


def reproduce_report(environment, day: int, ap: float):
    """A reproduce report of 2025-01-``day`` whose one row measured ``ap`` (its AP_easy is -1: no
    figure)."""
    row = reproduce_row()
    row = dataclasses.replace(row, result=dataclasses.replace(
        row.result, metrics={**row.result.metrics, "AP": ap}))
    report = new_report("reproduce", reproduce_record(), command=["bench", "reproduce"],
                        environment=dataclasses.replace(environment, fingerprint_id="aaaa00000000"),
                        rows=(row,))
    return dataclasses.replace(report, created=f"2025-01-{day:02d}T00:00:00+00:00")


def test_appending_is_idempotent_and_keeps_the_rows_it_has(tmp_path, environment):
    reports = [load_report(write_profile(tmp_path, environment, "aaaa00000000", day, {"forward": 100.0}))
               for day in (1, 2)]
    history = tmp_path / "history.csv"
    first = append_history(history, [(report, "profile/w") for report in reports])
    assert (first.new_reports, first.new_rows) == (2, len(first.table))
    assert tuple(first.table.columns) == COLUMNS
    assert set(first.table["quantity"]) == {"forward p50 ms", "end_to_end p50 ms"}
    written = history.read_bytes()

    again = append_history(history, [(reports[1], "profile/w"), (reports[0], "profile/w")])
    assert (again.new_reports, again.new_rows) == (0, 0)
    assert history.read_bytes() == written

    newer = reproduce_report(environment, 3, 0.650)
    grown = append_history(history, [(newer, "reproduce/w"), (reports[0], "profile/w")])
    assert grown.new_reports == 1
    kept = grown.table.iloc[:len(first.table)].reset_index(drop=True)
    assert kept.equals(read_history(tmp_path / "history.csv").iloc[:len(first.table)])
    assert history.read_text().startswith(written.decode())  # the newer report's rows come last
    added = grown.table[grown.table["digest"] == newer.digest]
    assert sorted(added["quantity"]) == ["AP scales=[1], flip", "AP50 scales=[1], flip"]  # AP_easy -1: none


def test_a_library_upgrade_goes_on_in_its_series_and_other_hardware_starts_one(tmp_path, environment):
    """Series are keyed by the machine's hardware, not its fingerprint: a torch upgrade on the same
    machine is a point of the same series (a change point can name it), other hardware a new series."""
    upgraded = dataclasses.replace(environment, software=dataclasses.replace(environment.software,
                                                                               torch="9.9.9"))
    bigger = dataclasses.replace(environment, hardware=dataclasses.replace(environment.hardware,
                                                                             cpu_count=64))
    reports = [load_report(write_profile(tmp_path, env, fingerprint, day, {"forward": 100.0}))
               for day, (env, fingerprint) in enumerate([(environment, "aaaa00000000"),
                                                         (upgraded, "bbbb00000000"),
                                                         (bigger, "cccc00000000")], start=1)]
    table = append_history(tmp_path / "history.csv", [(report, "profile/w") for report in reports]).table
    forward = table[table["quantity"] == "forward p50 ms"]
    assert forward["fingerprint"].nunique() == 3
    assert forward.groupby("series")["digest"].nunique().sort_values().tolist() == [1, 2]


def test_a_file_that_is_no_history_is_refused_naming_it(tmp_path, environment, capsys):
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    with pytest.raises(BenchError, match=re.escape(str(other)) + ".*not a bench history"):
        read_history(other)
    report = write_profile(tmp_path, environment, "aaaa00000000", 1, {"forward": 100.0})
    assert main(["compare", str(report), "--history", str(other)]) == 2
    assert "not a bench history" in capsys.readouterr().err and other.read_text() == "a,b\n1,2\n"
    history = tmp_path / "history.csv"
    history.write_text(",".join(COLUMNS) + "\n" + ",".join(["x"] * (len(COLUMNS) - 1)) + ",fast\n")
    with pytest.raises(BenchError, match="line 2: value 'fast' is not a number"):
        read_history(history)


@pytest.fixture(scope="module")
def history_page(tmp_path_factory, environment) -> tuple[Path, Path]:
    """The history and page of twelve daily profiles of one machine whose forward became 30% slower on
    day 7 and twelve reproduce reports whose AP moved on day 7 (`compare --history --html`)."""
    folder = tmp_path_factory.mktemp("reports")
    for day in range(1, 13):
        write_profile(folder, environment, "aaaa00000000", day, {"forward": 100.0 if day < 7 else 130.0},
                      samples=12)
        report = reproduce_report(environment, day, 0.650 if day < 7 else 0.655)
        atomic.write_json(folder / f"reproduce-{day}.json", report.to_dict())
    history, page = folder.parent / "history.csv", folder.parent / "index.html"
    assert main(["compare", str(folder), "--history", str(history), "--html", str(page)]) == 0
    return history, page


def test_the_page_shows_each_series_with_its_change_points(history_page):
    history, page = history_page
    series = history_series(read_history(history))
    moved = {item.quantity: item.change_points for item in series
             if item.quantity in ("forward p50 ms", "AP scales=[1], flip")}
    assert [point.index for point in moved["AP scales=[1], flip"]] == [6]
    assert [abs(point.index - 6) <= 1 for point in moved["forward p50 ms"]] == [True]
    text = page.read_text()
    section = text[text.index("<details id='history'>"):]
    section = section[:section.index("</details>")]
    assert html.escape(HISTORY_MEANING) in section
    images = re.findall(r"<img alt='([^']*)' src='data:image/png;base64,", section)
    assert sorted(images) == sorted({html.escape(item.quantity) for item in series})
    for item in series:
        assert html.escape(item.key) in section
    assert "-&gt; 0.655 (+0.8%)" in section  # the AP change point in the series table


@pytest.mark.skipif(CHROMIUM is None or CHROMEDRIVER is None,
                    reason="no system Chromium and ChromeDriver (apt-get install chromium chromium-driver)")
def test_the_history_opens_collapsed_in_a_browser_and_needs_no_network(history_page):
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (.[test] has it)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    browser = webdriver.Chrome(service=webdriver.ChromeService(executable_path=CHROMEDRIVER), options=options)
    try:
        browser.get(history_page[1].as_uri())
        assert browser.execute_script("return performance.getEntriesByType('resource').length") == 0
        assert [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"] == []
        images = browser.find_elements("css selector", "details#history figure img")
        assert images and not images[0].is_displayed(), "not collapsed"
        browser.find_element("css selector", "details#history > summary").click()
        assert all(browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0",
                                          image) for image in images), "an image does not decode"
    finally:
        browser.quit()
