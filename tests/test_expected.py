"""The published-metrics table and the metric checks."""

from __future__ import annotations

import math

import pytest

from bench.errors import BenchError
from bench.expected import METRIC_NAMES, check_metrics, find_row, load_expected


def test_table_holds_the_published_rows():
    table = load_expected()
    single = find_row(table, (1,), True)
    multi = find_row(table, (2, 1), True)
    assert single.expected == {"AP": 0.655, "AP50": 0.859, "AP75": 0.705, "AP_easy": 0.728,
                               "AP_medium": 0.660, "AP_hard": 0.577}
    assert multi.expected["AP"] == 0.661 and multi.expected["AP_hard"] == 0.566
    assert set(single.tolerance.values()) == {0.003}
    assert table.checkpoint_url.endswith("higher_hrnet32_crowdpose_512x512-1aa4a132_20201017.pth")
    assert find_row(table, (1,), False) is None


def test_checks_name_each_metric_and_fail_missing_or_nan():
    expected = {"AP": 0.655, "AP50": 0.859, "AP75": 0.705}
    checks = check_metrics(expected, 0.003, {"AP": 0.6579, "AP50": math.nan})
    assert [(c.metric, c.passed) for c in checks] == [("AP", True), ("AP50", False), ("AP75", False)]
    assert "AP75: actual missing" in checks[2].describe()
    assert not check_metrics({"AP": 0.655}, 0.003, {"AP": 0.6581})[0].passed


def test_malformed_table_names_the_file(tmp_path):
    path = tmp_path / "expected.toml"
    path.write_text('[checkpoint]\nname = "x"\nurl = "y"\n[tolerance]\ndefault = 0.003\nreason = "r"\n'
                    '[[rows]]\nname = "r"\nscales = [1]\nflip = true\nsource = "s"\n'
                    'expected = { APX = 0.5 }\n')
    with pytest.raises(BenchError, match="expected.toml.*APX"):
        load_expected(path)
    path.write_text("not = [toml")
    with pytest.raises(BenchError, match="not valid TOML"):
        load_expected(path)


def test_metric_names_match_the_evaluator_keys():
    assert METRIC_NAMES == ("AP", "AP50", "AP75", "AR", "AR50", "AR75", "AP_easy", "AP_medium", "AP_hard")
