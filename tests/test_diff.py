"""`bench diff A B` on generated runs: a known perturbation ranks first, identical runs differ by 0,
and runs that cannot be compared image by image are refused with exit status 2."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from bench.__main__ import main
from bench.accuracy.diff import RunInput, check_comparable
from bench.errors import BenchError
from bench.evaluation.bootstrap import INTERVAL_METRICS
from bench.testing.synthetic_data import DetectionSpec, GroundTruthSpec, make_detections, make_ground_truth

PERTURBED = 3


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """GT, run A, and run B: A with every detection of 3 images moved by 25 px."""
    folder = tmp_path_factory.mktemp("diff")
    gt = make_ground_truth(GroundTruthSpec(num_images=80, seed=5, edge_cases=False, min_size=200,
                                           max_size=300))
    detections = make_detections(gt, DetectionSpec(seed=6, edge_cases=False))
    image_ids = sorted({det["image_id"] for det in detections})
    moved = set(np.random.default_rng(0).choice(image_ids, PERTURBED, replace=False).tolist())
    shifted = []
    for det in detections:
        keypoints = np.array(det["keypoints"]).reshape(14, 3)
        if det["image_id"] in moved:
            keypoints[:, :2] += 25.0
        shifted.append(dict(det, keypoints=keypoints.ravel().tolist()))
    paths = {}
    for name, content in (("gt", gt), ("a", detections), ("b", shifted)):
        paths[name] = folder / f"{name}.json"
        paths[name].write_text(json.dumps(content))
    return paths, moved, folder


def diff(paths, a: str, b: str, out, capsys, *extra: str) -> tuple[int, str, str]:
    config = out / "config.toml"
    out.mkdir(parents=True, exist_ok=True)
    config.write_text("[diff.bootstrap]\nresamples = 100\n")
    code = main(["diff", str(paths[a]), str(paths[b]), "--gt", str(paths["gt"]), "--out", str(out),
                 "--config", str(config), *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_perturbed_images_rank_first_and_ap_drops(runs, capsys, tmp_path):
    paths, moved, _ = runs
    code, markdown, _ = diff(paths, "a", "b", tmp_path, capsys)
    assert code == 0
    images = pd.read_csv(tmp_path / "images.csv")
    assert images.columns[0] == "image_id" and len(images) == 80
    assert set(images["image_id"].head(PERTURBED)) == moved
    assert (images["moved"].iloc[PERTURBED:] == 0).all()
    assert list(images["moved"]) == sorted(images["moved"], reverse=True)
    assert (images.head(PERTURBED)["matched_b"] < images.head(PERTURBED)["matched_a"]).all()
    assert markdown == (tmp_path / "diff.md").read_text() + "\n"  # printed (print adds a newline)
    assert (tmp_path / "mean_oks.png").read_bytes()[:4] == b"\x89PNG"
    ap_line = next(line for line in markdown.splitlines() if line.startswith("| AP |"))
    delta = float(ap_line.split("|")[4])
    low, high = (float(value) for value in ap_line.split("|")[5].strip(" []").split(","))
    assert delta < 0 and low <= delta <= high


def test_identical_runs_differ_by_zero(runs, capsys, tmp_path):
    paths, _, _ = runs
    code, markdown, _ = diff(paths, "a", "a", tmp_path, capsys)
    assert code == 0
    for metric in INTERVAL_METRICS:
        line = next(line for line in markdown.splitlines() if line.startswith(f"| {metric} |"))
        assert line.split("|")[4:6] == [" +0.0000 ", " [+0.0000, +0.0000] "]
    assert (pd.read_csv(tmp_path / "images.csv")["moved"] == 0).all()
    assert "No image moved" in markdown and "moved most" not in markdown


def test_files_of_one_name_are_told_apart_by_their_paths(runs, capsys, tmp_path):
    paths, _, folder = runs
    other = folder / "copy" / "a.json"
    other.parent.mkdir(exist_ok=True)
    other.write_bytes(paths["a"].read_bytes())
    code, markdown, _ = diff({**paths, "copy": other}, "a", "copy", tmp_path, capsys)
    assert code == 0
    assert f"- A: {paths['a']} " in markdown and f"- B: {other} " in markdown


def test_a_results_file_needs_the_ground_truth(runs, capsys, tmp_path):
    paths, _, _ = runs
    code = main(["diff", str(paths["a"]), str(paths["b"]), "--out", str(tmp_path)])
    assert code == 2 and "needs --gt" in capsys.readouterr().err


def test_runs_on_other_images_or_annotations_are_refused(runs):
    paths, _, _ = runs
    gt = json.loads(paths["gt"].read_text())
    fewer = dict(gt, images=gt["images"][:-1])
    base = RunInput("a", gt, str(paths["a"]), "crowdpose", "same")
    with pytest.raises(BenchError, match="not on the same images: 0 only in A, 1 only in B"):
        check_comparable(RunInput("a", fewer, str(paths["a"]), "crowdpose", "same"), base)
    with pytest.raises(BenchError, match="different annotation files"):
        check_comparable(base, RunInput("b", gt, str(paths["b"]), "crowdpose", "other"))
