"""The environment matrix (``bench.matrix``): the declared matrix parses and pins exact versions that differ
from constraints.txt, an environment's requirements hold its pins over constraints.txt, and the table
builder counts images identical / within tolerance / changed against the reference and prints the AP
change (or that there is no ground truth) on generated predictions, offline and without installing
anything."""

from __future__ import annotations

import json
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd
import pytest
from packaging.version import Version

from bench.data.dataset import DataConfig
from bench.errors import BenchError
from bench.evaluation.bootstrap import BootstrapSettings
from bench.matrix.declared import Environment, load_environments, pinned_versions
from bench.matrix.environment import constraints_with_pins, requirements_file
from bench.matrix.measure import FAILED, MEASURED, NOT_INSTALLED, MeasureConfig
from bench.matrix.run import measure_command
from bench.matrix.table import TableSettings, matrix_frame, matrix_markdown, write_matrix
from bench.testing.synthetic_data import DetectionSpec, GroundTruthSpec, make_detections, make_ground_truth

ROW = "scales=[1], flip"
WITHIN_IMAGES, CHANGED_IMAGES = 2, 3


def test_the_declared_matrix_pins_exact_versions_that_differ_from_constraints():
    environments = load_environments()
    pinned = pinned_versions()
    assert [environment.name for environment in environments if environment.is_reference] == ["pinned"]
    for environment in environments:
        for package, version in environment.pins.items():
            assert str(Version(version)) == version and Version(version) != Version(pinned[package])
    versions = {package: {environment.pins.get(package, pinned[package]) for environment in environments}
                for package in ("opencv-python-headless", "numpy")}
    assert len(versions["opencv-python-headless"]) >= 3 and len(versions["numpy"]) >= 2


@pytest.mark.parametrize(("entries", "problem"), [
    ('name = "a"\npins = {}\n[[environment]]\nname = "a"\npins = { numpy = "2.2.6" }', "unique"),
    ('name = "a"\npins = {}\n[[environment]]\nname = "b"\npins = {}', "exactly one environment"),
    ('name = "a"\npins = { numpy = ">=2.2" }', "not an exact version"),
    ('name = "a"\npins = { numpy = "2.4.6" }', "is the version"),
    ('name = "a"\npins = { leftpad = "1.0" }', "is not pinned"),
    ('name = "a"\npins = {}\nextra = 1', "exactly the keys"),
    ('name = "A b"\npins = {}', "must match"),
])
def test_a_bad_declaration_names_its_entry_and_the_problem(tmp_path, entries, problem):
    constraints = tmp_path / "constraints.txt"
    constraints.write_text("# pins\nnumpy==2.4.6\nopencv-python-headless==4.11.0.86  # cv2\n")
    declared = tmp_path / "environments.toml"
    declared.write_text(f"[[environment]]\n{entries}\n")
    with pytest.raises(BenchError, match=problem) as raised:
        load_environments(declared, constraints)
    assert str(declared) in str(raised.value)


def test_the_requirements_hold_the_pins_over_constraints_txt(tmp_path):
    text = "# pins\nnumpy==2.4.6\nopencv-python-headless==4.11.0.86  # cv2\ntorch==2.13.0\n"
    pins = MappingProxyType({"numpy": "2.2.6"})
    assert constraints_with_pins(text, pins) == text.replace("numpy==2.4.6", "numpy==2.2.6")
    constraints = tmp_path / "constraints.txt"
    constraints.write_text(text)
    written = requirements_file(Environment("numpy-2.2", pins), tmp_path / "cache", constraints)
    lines = written.read_text().split()
    assert lines[:1] == ["-c"] and lines[2:] == ["numpy==2.2.6"]
    assert (tmp_path / "cache" / "requirements" / lines[1]).read_text() == constraints_with_pins(text, pins)


def test_the_measurement_gets_the_options_it_was_given(tmp_path):
    environment = Environment("numpy-2.2", MappingProxyType({"numpy": "2.2.6"}))
    goldens = tmp_path / "g.json"
    head = ["python", "-m", "bench", "matrix", "measure", "numpy-2.2", "--out", str(tmp_path), "--goldens",
            str(goldens)]
    assert measure_command(Path("python"), MeasureConfig(environment, tmp_path, goldens=goldens)) == head
    data = DataConfig(data_root=Path("/d"), subset=20)
    subset = MeasureConfig(environment, tmp_path, "ckpt.pth", data, goldens)
    assert measure_command(Path("python"), subset) == [*head, "--checkpoint", "ckpt.pth", "--data-root", "/d",
                                                       "--subset", "20", "--subset-seed", "0"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """GT and the reference's detections; copies identical, with 2 images moved by 0.01 px (within the
    tolerance) and with 3 images moved by 6 px (changed); the same images without any annotation."""
    folder = tmp_path_factory.mktemp("matrix")
    spec = GroundTruthSpec(num_images=12, seed=2, edge_cases=False, min_size=200, max_size=260)
    gt = make_ground_truth(spec)
    detections = make_detections(gt, DetectionSpec(seed=3, edge_cases=False))
    image_ids = sorted({detection["image_id"] for detection in detections})
    files = {"gt": gt, "reference": detections, "identical": detections,
             "within": _moved(detections, image_ids[:WITHIN_IMAGES], 0.01),
             "changed": _moved(detections, image_ids[-CHANGED_IMAGES:], 6.0),
             "no_gt": dict(gt, annotations=[])}
    paths = {}
    for name, content in files.items():
        paths[name] = folder / f"{name}.json"
        paths[name].write_text(json.dumps(content))
    return paths


def _moved(detections: list[dict], image_ids: list[int], pixels: float) -> list[dict]:
    moved = []
    for detection in detections:
        keypoints = np.array(detection["keypoints"], dtype=float).reshape(-1, 3)
        if detection["image_id"] in image_ids:
            keypoints[:, :2] += pixels
        moved.append(dict(detection, keypoints=keypoints.ravel().tolist()))
    return moved


def _entry(predictions: Path, gt: Path, first_stage: str | None = None) -> dict:
    message = f"{first_stage} changed: ..." if first_stage else None
    return {"status": MEASURED, "versions": {"numpy": "2.4.6", "OpenCV": "4.11.0", "torch": "2.13.0+cpu"},
            "stage_goldens": {"first_stage": first_stage, "message": message}, "images": 12,
            "annotations": str(gt), "weights": "calibrated synthetic weights",
            "rows": {ROW: {"predictions": str(predictions), "gt": str(gt)}}}


def _environments(*names: str) -> tuple[Environment, ...]:
    return tuple(Environment(name, MappingProxyType({} if index == 0 else {"numpy": f"2.{index}.0"}))
                 for index, name in enumerate(names))


@pytest.fixture(scope="module")
def table(runs, tmp_path_factory) -> tuple[pd.DataFrame, dict, TableSettings]:
    names = ("pinned", "identical", "within", "changed", "broken", "uninstallable", "missing")
    entries = {name: _entry(runs["reference" if name == "pinned" else name], runs["gt"])
               for name in names[:4]}
    entries["changed"] = _entry(runs["changed"], runs["gt"], first_stage="preprocess")
    entries["broken"] = {"status": FAILED, "reason": "ImportError: numpy.core.multiarray failed to import"}
    entries["uninstallable"] = {"status": NOT_INSTALLED, "reason": "pip exited with status 1:\n  conflict"}
    entries["missing"] = None
    settings = TableSettings(tmp_path_factory.mktemp("scratch"), BootstrapSettings(resamples=20))
    return matrix_frame(_environments(*names), entries, settings), entries, settings


def test_the_table_counts_identical_within_tolerance_and_changed_images(table):
    frame = table[0].set_index("environment")
    counts = frame[["identical", "within tolerance", "changed"]].astype(float)
    assert counts.loc["pinned"].tolist() == [12, 0, 0] and counts.loc["identical"].tolist() == [12, 0, 0]
    assert counts.loc["within"].tolist() == [12 - WITHIN_IMAGES, WITHIN_IMAGES, 0]
    assert counts.loc["changed"].tolist() == [12 - CHANGED_IMAGES, 0, CHANGED_IMAGES]
    assert frame.loc["identical", "AP change"] == 0 and frame.loc["identical", "AP change low"] == 0
    assert frame.loc["changed", "AP change"] < 0 <= frame.loc["changed", "AP reference"]
    assert frame.loc["changed", "first stage that differs"] == "preprocess"
    assert frame.loc["pinned", "first stage that differs"] == "none"
    assert frame.loc["pinned", "note"] == "reference"


def test_environments_that_did_not_run_keep_their_line_and_reason(table, tmp_path):
    frame, entries, settings = table
    status = frame.set_index("environment")["status"]
    assert status[["broken", "uninstallable", "missing"]].tolist() == [FAILED, NOT_INSTALLED, "not run"]
    markdown = matrix_markdown(frame, entries, "pinned", settings)
    assert "| broken |" in markdown and "numpy.core.multiarray failed to import" in markdown
    assert "| uninstallable | numpy 2.5.0 | - | - | - | not installed | - | - | - | - | - | - | - | - | " \
           "see the details |" in markdown
    assert "### uninstallable\n\n```\npip exited with status 1:\n  conflict\n```" in markdown
    paths = write_matrix(frame, markdown, tmp_path)
    written = pd.read_csv(paths["csv"])
    assert len(written) == len(frame) and "pip exited with status 1: | conflict" in written["note"].tolist()
    assert paths["md"].read_text() == markdown


def test_images_without_ground_truth_give_no_ap_change(runs, tmp_path):
    entries = {name: _entry(runs[predictions], runs["no_gt"]) for name, predictions in
               (("pinned", "reference"), ("changed", "changed"))}
    settings = TableSettings(tmp_path, BootstrapSettings(resamples=20))
    frame = matrix_frame(_environments("pinned", "changed"), entries, settings)
    assert frame["AP change"].isna().all() and frame["changed"].tolist() == [0, CHANGED_IMAGES]
    assert "| no ground truth |" in matrix_markdown(frame, entries, "pinned", settings)


def test_the_table_needs_the_reference_measured(runs, tmp_path):
    entries = {"pinned": None, "changed": _entry(runs["changed"], runs["gt"])}
    with pytest.raises(BenchError, match="reference environment 'pinned' has no measured entry"):
        matrix_frame(_environments("pinned", "changed"), entries, TableSettings(tmp_path))
