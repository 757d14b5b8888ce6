"""Per-stage goldens of the pipeline on the bundled sample (HigherHRNet-W32 with deterministic fan-in
weights, input 128, flip test, scales [1] and [2, 1]; ``bench.testing.stage_goldens``): the committed
record ``tests/data/stage_goldens.json`` matches what the pipeline produces now; a mismatch names the
first stage that differs; ``--accept`` (or BENCH_ACCEPT_GOLDENS=1) rewrites it."""

from __future__ import annotations

import copy
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import reference.aggregate as aggregate
from bench.data.images import read_image
from bench.data.sample import sample_images
from bench.testing.golden_check import EXPLANATIONS, mismatch_message
from bench.testing.golden_file import accept, golden_json, read_golden
from bench.testing.stage_goldens import (
    AGGREGATE,
    POSES,
    PREPROCESS,
    STAGES,
    GoldenSettings,
    golden_model,
    golden_record,
)

GOLDENS = Path(__file__).parent / "data" / "stage_goldens.json"
SETTINGS = GoldenSettings()


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    return golden_model(SETTINGS)


@pytest.fixture(scope="module")
def images() -> dict[str, np.ndarray]:
    return {path.name: read_image(path) for path in sample_images()[0]}


@pytest.fixture(scope="module")
def captured(model, images) -> dict:
    return golden_record(model, images, SETTINGS)


def test_the_sample_matches_its_stage_goldens(captured, accept_goldens, capsys):
    if accept_goldens:
        with capsys.disabled():
            print("\n" + accept(GOLDENS, captured))
        return
    assert GOLDENS.exists(), f"no stage goldens at {GOLDENS}: create them with --accept"
    problem = mismatch_message(read_golden(GOLDENS), captured)
    assert problem is None, f"{problem}\nif the change is intended: pytest {__file__} -n 0 --accept"


@pytest.mark.parametrize("stage", STAGES)
def test_a_changed_stage_is_named_first_and_the_later_ones_after(captured, tmp_path, stage):
    """A temp copy of the goldens with one entry of ``stage`` and one of the last stage changed."""
    path = tmp_path / "goldens.json"
    accept(path, captured)
    recorded = read_golden(path)
    label, name = _change_first_entry(recorded, stage)
    _change_first_entry(recorded, POSES)
    lines = mismatch_message(recorded, captured).splitlines()
    assert lines[0].startswith(f"{EXPLANATIONS[stage].title} changed: {label} {name}: ")
    assert lines[-1] == ("later stages that also differ: poses" if stage != POSES else lines[0])


def test_a_new_opencv_release_is_named_with_the_changed_warp(captured):
    recorded = copy.deepcopy(captured)
    recorded["versions"]["OpenCV"] = "4.0.0"
    label, _ = _change_first_entry(recorded, PREPROCESS)
    lines = mismatch_message(recorded, captured).splitlines()
    assert lines == [f"pre-processing changed: {label} input: digest differs (recorded with OpenCV 4.0.0, "
                     f"now {cv2.__version__}): OpenCV's warpAffine output changed between releases",
                     f"versions differ from the recorded ones: OpenCV 4.0.0 -> {cv2.__version__}"]


@pytest.mark.parametrize(("relative", "differs"), [(2e-5, False), (1e-3, True)])
def test_float_noise_passes_and_a_larger_change_does_not(captured, relative, differs):
    """Every statistic of every summarised stage moved by ``relative``: 1 and 2 threads differ by ~4e-6."""
    recorded = copy.deepcopy(captured)
    for stage in STAGES[1:]:
        for entries in recorded["stages"][stage].values():
            for entry in entries.values():
                entry.update({field: (np.asarray(value) * (1 + relative)).tolist()
                              for field, value in entry.items() if field != "shape"})
    assert (mismatch_message(recorded, captured) is not None) == differs


def test_a_different_resize_interpolation_is_caught_at_preprocessing(model, images, captured, monkeypatch):
    """The warp with nearest-neighbour instead of bilinear interpolation."""
    warp = cv2.warpAffine
    monkeypatch.setattr(cv2, "warpAffine",
                        lambda *args, **kwargs: warp(*args, **{**kwargs, "flags": cv2.INTER_NEAREST}))
    name, message = _smallest_image_again(model, images, captured)
    assert message.startswith(f"pre-processing changed: {name} x2 input: digest differs (OpenCV "
                              f"{cv2.__version__}, as recorded): the warp (resize) or the normalisation")


def test_a_different_map_resize_is_caught_at_aggregation(model, images, captured, monkeypatch):
    """Maps resized with corners aligned: the inputs and network outputs pass, aggregation is named."""
    monkeypatch.setattr(aggregate, "resize_to", lambda maps, size_hw: F.interpolate(
        maps, size=size_hw, mode="bilinear", align_corners=True))
    name, message = _smallest_image_again(model, images, captured)
    assert message.startswith(f"{EXPLANATIONS[AGGREGATE].title} changed: {name} [1.0] heatmaps: ")


def test_goldens_taken_with_other_settings_are_not_compared_stage_by_stage(captured):
    recorded = copy.deepcopy(captured)
    recorded["settings"]["input_size"] = 256
    assert mismatch_message(recorded, captured).startswith("the goldens were taken with other settings: ")


def test_accept_rewrites_the_file_and_says_what_changed(captured, tmp_path):
    path = tmp_path / "goldens.json"
    old = copy.deepcopy(captured)
    old["versions"]["torch"] = "2.0.0"
    label, name = _change_first_entry(old, AGGREGATE)
    path.write_text(golden_json(old))
    lines = accept(path, captured).splitlines()
    assert read_golden(path) == captured
    assert lines[0] == f"{path}: 2 change(s)"
    assert lines[1].startswith("versions: ") and "'torch': '2.0.0'" in lines[1]
    assert lines[2].startswith(f"aggregate {label} {name} (beyond tolerance): mean ")
    assert accept(path, captured) == f"{path}: unchanged"


def _change_first_entry(record: dict, stage: str) -> tuple[str, str]:
    """Change the first entry of ``stage`` in ``record`` beyond any tolerance; its label and array name."""
    label, entries = next(iter(record["stages"][stage].items()))
    name, entry = next(iter(entries.items()))
    if "sha256" in entry:
        entry["sha256"] = "0" * 64
    else:
        entry["mean"] = entry["mean"] * 1.001 + 1e-3
    return label, name


def _smallest_image_again(model, images: dict[str, np.ndarray], captured: dict) -> tuple[str, str | None]:
    """The smallest sample image (quickest to capture) and the mismatch of its record taken again
    against its entries in ``captured``."""
    name = min(images, key=lambda image: images[image].size)
    stages = {stage: {label: entries for label, entries in labels.items() if label.startswith(f"{name} ")}
              for stage, labels in captured["stages"].items()}
    again = golden_record(model, {name: images[name]}, SETTINGS)
    return name, mismatch_message({**captured, "stages": stages}, again)
