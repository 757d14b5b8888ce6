"""Honest verdicts (``bench.accuracy.judge.verdict``, a pure function of a row's result and the table):
only the package's own table can be reproduced, only with the published checkpoint as strongly as the
registry pins it, only on the whole test set of distinct images and, once pinned, only on the pinned
data, only with the recorded behaviours, and a speed variant only within its AP tolerance of float32."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from helpers import SYNTHETIC

from bench.accuracy.expected import load_expected
from bench.accuracy.judge import VARIANT_AP_TOLERANCE, exit_code, verdict
from bench.accuracy.plan import data_run, is_full
from bench.checkpoint import ResolvedCheckpoint, default_checkpoint
from bench.data.dataset import load_dataset
from bench.reports.records import WeightsRecord
from bench.reports.rows import Evaluator, Row, RowBehaviour, RowResult, Subset, VariantCheck
from bench.testing.synthetic_data import write_mini_dataset
from bench.weights import Weights
from reference.pipeline import pipeline_config

BUNDLED = load_expected()
PUBLISHED_SHA = "1aa4a132" + "0" * 56
ROW = BUNDLED.rows[0]
FULL = Subset("crowdpose_test.json", 8000, True, "a" * 64, "b" * 64, None)
AT_PUBLISHED = {**ROW.expected, "AR": 0.7, "AR50": 0.9, "AR75": 0.75}


def weights(sha256: str = PUBLISHED_SHA) -> WeightsRecord:
    checkpoint = ResolvedCheckpoint(Path("ckpt.pth"), sha256, "ckpt.pth")
    return Weights.from_checkpoint(checkpoint, default_checkpoint()).to_record()


def result(subset: Subset = FULL, weights_record: WeightsRecord | None = None, metrics=None, role="published",
           pipeline: dict | None = None, variant: VariantCheck | None = None) -> RowResult:
    behaviour = RowBehaviour(pipeline=pipeline or pipeline_config(ROW.scales, ROW.flip).to_dict(),
                             forward=pipeline_config(ROW.scales, ROW.flip).to_dict(),
                             weights=weights_record or weights(), results_json="r.json",
                             results_sha256="c" * 64, variant_vs_float32=variant)
    return RowResult(ROW.name, role, ROW.scales, ROW.flip, subset, published_row=ROW.name,
                     metrics=metrics or AT_PUBLISHED,
                     evaluator=Evaluator("crowdpose", "bench.evaluation", "x"), behaviour=behaviour)


def test_the_published_checkpoint_on_the_full_set_reproduces_and_says_how_strongly():
    judged = verdict(result(), BUNDLED)
    assert judged.status == "reproduced"
    assert judged.reason == ("checkpoint prefix-verified (32 bits; full digest not pinned: `python -m bench "
                             "fetch` prints the line to pin); data unpinned (fingerprints in the report, not "
                             "pinned in the package yet)")
    assert judged.expected == dict(ROW.expected) and all(check.passed for check in judged.checks)
    assert [check.metric for check in judged.checks] == list(ROW.expected)
    assert weights().published and "prefix-verified" in weights().verification


def test_metrics_beyond_the_tolerance_fail_naming_each_metric():
    off = {**AT_PUBLISHED, "AP": ROW.expected["AP"] + 0.004, "AP_hard": ROW.expected["AP_hard"] - 0.01}
    judged = verdict(result(metrics=off), BUNDLED)
    assert judged.status == "failed"
    assert judged.reason.startswith(f"AP: actual {off['AP']:.4f}, "
                                    f"expected {ROW.expected['AP']:.4f} +/- 0.003")
    assert "AP_hard: actual" in judged.reason and [check.passed for check in judged.checks].count(False) == 2


def test_once_the_full_digest_is_pinned_a_forged_prefix_is_not_the_published_checkpoint():
    pinned = dataclasses.replace(BUNDLED.checkpoint, sha256="1aa4a132" + "f" * 56)
    table = dataclasses.replace(BUNDLED, checkpoint=pinned)
    judged = verdict(result(), table)
    assert judged.status == "skipped" and "not the published" in judged.reason
    genuine = verdict(result(weights_record=weights("1aa4a132" + "f" * 56)), table)
    assert genuine.reason.startswith("checkpoint full sha256 matched (pinned")


def test_a_custom_table_redefining_checkpoint_and_set_size_only_matches(tmp_path):
    """The attack: a 4-image synthetic run with a table naming its own checkpoint and set size."""
    fake = dataclasses.replace(BUNDLED, path=str(tmp_path / "mine.toml"), sha256="c" * 64, bundled=False,
                               dataset_num_images=4,
                               checkpoint=dataclasses.replace(BUNDLED.checkpoint, sha256_prefix="deadbeef"))
    small = dataclasses.replace(FULL, num_images=4)
    own = weights("deadbeef" + "0" * 56)
    judged = verdict(result(subset=small, weights_record=own), fake)
    assert judged.status == "matched" and "not a reproduction of the published numbers" in judged.reason
    assert f"custom table {tmp_path / 'mine.toml'} (sha256 cccccccccccc...)" in judged.reason
    assert own.published is False
    zeros = dict.fromkeys(AT_PUBLISHED, 0.0)
    failing = verdict(result(subset=small, weights_record=own, metrics=zeros), fake)
    assert (failing.status == "failed"
            and failing.reason.startswith(f"against custom table {tmp_path / 'mine.toml'}"))


def test_other_weights_a_subset_or_unpinned_data_are_measured_not_compared():
    synthetic = verdict(result(weights_record=SYNTHETIC), BUNDLED)
    assert synthetic.status == "skipped" and "not the published higher_hrnet32" in synthetic.reason
    subset = verdict(result(subset=dataclasses.replace(FULL, num_images=200, full=False)), BUNDLED)
    assert (subset.status == "skipped"
            and "measured on 200 images, not the whole CrowdPose test set" in subset.reason)


def test_data_that_differs_from_pinned_fingerprints_is_not_compared():
    table = dataclasses.replace(BUNDLED, annotations_sha256="a" * 64, images_digest="e" * 64)
    judged = verdict(result(subset=dataclasses.replace(FULL, data_pinned=False)), table)
    assert judged.status == "skipped" and "differs from the fingerprints pinned" in judged.reason
    judged = verdict(result(subset=dataclasses.replace(FULL, data_pinned=True)), table)
    assert judged.status == "reproduced" and judged.reason.endswith("; data pinned")


@pytest.mark.parametrize(("options", "status"), [
    ({"stage_aggregation": "2020"}, "reproduced"), ({"matcher": "munkres"}, "reproduced"),
    ({"input_size": 640}, "skipped"), ({"refine": False}, "skipped"), ({"max_num_people": 10}, "skipped"),
])
def test_only_the_recorded_behaviours_may_change_the_pipeline(options, status):
    pipeline = pipeline_config(ROW.scales, ROW.flip, **options).to_dict()
    judged = verdict(result(pipeline=pipeline), BUNDLED)
    assert judged.status == status, judged.reason
    if status == "skipped":
        assert f"pipeline settings {sorted(options)} change the published test configuration" in judged.reason


@pytest.mark.parametrize("delta", [0.0, VARIANT_AP_TOLERANCE, -VARIANT_AP_TOLERANCE])
def test_a_speed_variant_within_its_tolerance_of_float32_is_judged_as_float32(delta):
    pipeline = pipeline_config(ROW.scales, ROW.flip, precision="bfloat16").to_dict()
    judged = verdict(result(pipeline=pipeline, variant=VariantCheck(AT_PUBLISHED, delta)), BUNDLED)
    assert judged.status == "reproduced"


@pytest.mark.parametrize("delta", [0.0011, -0.002, 0.05])
def test_a_speed_variant_beyond_its_tolerance_is_labelled_not_accepted(delta):
    pipeline = pipeline_config(ROW.scales, ROW.flip, precision="tf32").to_dict()
    judged = verdict(result(pipeline=pipeline, variant=VariantCheck(AT_PUBLISHED, delta)), BUNDLED)
    assert judged.status == "skipped"
    assert f"speed variant: AP differs from the float32 run by {delta:+.4f}" in judged.reason


def test_smoke_and_sweep_rows_are_never_compared_and_rows_not_run_say_why():
    smoke = verdict(result(role="smoke", subset=dataclasses.replace(FULL, num_images=2, full=False)), BUNDLED)
    assert smoke.status == "smoke" and "never compared" in smoke.reason and smoke.checks == ()
    sweep = verdict(dataclasses.replace(result(role="sweep"), published_row=None), BUNDLED)
    assert sweep.status == "measured" and sweep.expected == {}
    missing = RowResult(ROW.name, "published", ROW.scales, ROW.flip, Subset("", 0, False),
                        published_row=ROW.name, not_run="not run: no usable checkpoint (see below)")
    assert verdict(missing, BUNDLED).status == "skipped"
    assert verdict(missing, BUNDLED).reason == "not run: no usable checkpoint (see below)"


def test_the_exit_code_is_1_for_a_failed_row_and_under_strict_for_a_skipped_one():
    def row(status: str) -> Row:
        return Row(result(), dataclasses.replace(verdict(result(), BUNDLED), status=status))

    assert exit_code([row("reproduced"), row("smoke")], strict=True) == 0
    assert exit_code([row("reproduced"), row("failed")], strict=False) == 1
    assert exit_code([row("skipped")], strict=False) == 0 and exit_code([row("skipped")], strict=True) == 1


def test_entries_pointing_at_one_image_file_are_not_the_full_set(tmp_path):
    root = write_mini_dataset(tmp_path, num_images=3, seed=1)
    ann_file = root / "annotations" / "crowdpose_test.json"
    gt = json.loads(ann_file.read_text())
    table = dataclasses.replace(BUNDLED, dataset_num_images=3)
    assert is_full(load_dataset(root), table)
    for image in gt["images"]:
        image["file_name"] = gt["images"][0]["file_name"]
    ann_file.write_text(json.dumps(gt))
    run = data_run((), Weights.synthetic("calibrated"), load_dataset(root), table)
    assert not run.subset.full and run.subset.data_pinned is None


def test_replacing_an_image_changes_the_image_set_digest(tmp_path):
    root = write_mini_dataset(tmp_path, num_images=2, seed=1)

    def subset() -> Subset:
        return data_run((), Weights.synthetic("calibrated"), load_dataset(root), BUNDLED).subset

    before = subset()
    image = next((root / "images").iterdir())
    image.write_bytes(image.read_bytes() + b"\0")
    after = subset()
    assert before.annotations_sha256 == after.annotations_sha256
    assert before.images_digest != after.images_digest


@pytest.mark.parametrize("pinned", [None, "f" * 64])
def test_fetch_prints_the_line_to_pin_only_while_unpinned(pinned, monkeypatch, tmp_path, capsys):
    from bench.__main__ import main
    from bench.commands import fetch

    entry = dataclasses.replace(default_checkpoint(), sha256=pinned)
    path = tmp_path / entry.file_name
    path.write_bytes(b"x")
    monkeypatch.setattr(fetch, "resolve_checkpoint",
                        lambda *args, **kwargs: ResolvedCheckpoint(path, "1aa4a132" + "9" * 56, str(path)))
    monkeypatch.setattr(fetch, "registry_entry", lambda name: entry)
    assert main(["fetch", str(path)]) == 0
    out = capsys.readouterr().out
    assert (f'sha256 = "1aa4a132{"9" * 56}"' in out) == (pinned is None)
