"""The published table and checkpoint registry in bench/published.toml, and the metric checks."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from bench.accuracy.expected import check_metrics, load_expected
from bench.checkpoint import default_checkpoint
from bench.errors import BenchError
from bench.evaluation import evaluate
from bench.evaluation.results import people_to_results


def test_table_holds_the_published_rows_of_the_registry_checkpoint():
    table = load_expected()
    rows = {(row.scales, row.flip): row for row in table.rows}
    assert set(rows) == {((1.0,), True), ((2.0, 1.0), True)}
    single, multi = rows[(1.0,), True], rows[(2.0, 1.0), True]
    assert single.expected == {"AP": 0.655, "AP50": 0.859, "AP75": 0.705, "AP_easy": 0.728,
                               "AP_medium": 0.660, "AP_hard": 0.577}
    assert multi.expected["AP"] == 0.661 and multi.expected["AP_hard"] == 0.566
    assert set(single.tolerance.values()) == {0.003}
    assert table.checkpoint == default_checkpoint()
    assert table.checkpoint.url.endswith("higher_hrnet32_crowdpose_512x512-1aa4a132_20201017.pth")
    assert table.dataset_num_images == 8000


def test_checks_name_each_metric_and_fail_missing_or_nan():
    expected = {"AP": 0.655, "AP50": 0.859, "AP75": 0.705}
    checks = check_metrics(expected, 0.003, {"AP": 0.6579, "AP50": math.nan})
    assert [(c.metric, c.passed) for c in checks] == [("AP", True), ("AP50", False), ("AP75", False)]
    assert "AP75: actual missing" in checks[2].describe()
    assert not check_metrics({"AP": 0.655}, 0.003, {"AP": 0.6581})[0].passed


TABLE_HEAD = ('[checkpoints."x-1aa4a132_20201017.pth"]\nurl = "http://127.0.0.1/x-1aa4a132_20201017.pth"\n'
              'sha256_prefix = "1aa4a132"\nsha256 = ""\n'
              '[expected]\ncheckpoint = "x-1aa4a132_20201017.pth"\ndataset = "d"\nnum_images = 2\n'
              'tolerance = 0.003\ntolerance_reason = "r"\n')


def test_malformed_table_names_the_file_and_the_problem(tmp_path):
    path = tmp_path / "expected.toml"
    row = '[[expected.rows]]\nname = "r"\nscales = [1]\nflip = true\nsource = "s"\nmetrics = { APX = 0.5 }\n'
    path.write_text(TABLE_HEAD + row)
    with pytest.raises(BenchError, match="expected.toml.*APX"):
        load_expected(path)
    path.write_text(TABLE_HEAD.replace('checkpoint = "x-', 'checkpoint = "y-') + row)
    with pytest.raises(BenchError, match="expected.toml.*not one of the file's"):
        load_expected(path)
    path.write_text("not = [toml")
    with pytest.raises(BenchError, match="not valid TOML"):
        load_expected(path)


def test_table_metric_names_are_the_keys_the_evaluator_returns(sample_dir):
    gt = json.loads((sample_dir / "test_crowdpose.json").read_text())
    detections = [entry for ann in gt["annotations"]
                  for entry in people_to_results(ann["image_id"], np.reshape(ann["keypoints"], (1, 14, 3)),
                                                 np.ones(1))]
    returned = evaluate(gt, detections).metrics
    for row in load_expected().rows:
        assert set(row.expected) <= set(returned), row.name
