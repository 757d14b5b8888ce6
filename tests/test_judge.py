"""Honest verdicts: only the package's own table can be reproduced, only with the published checkpoint
as strongly as the registry pins it, only on the whole test set of distinct images and, once pinned,
only on the pinned data."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from bench.accuracy import reproduce
from bench.accuracy.expected import load_expected
from bench.checkpoint import ResolvedCheckpoint, default_checkpoint
from bench.data.dataset import load_dataset
from bench.reports.schema import Subset
from bench.testing.synthetic_data import write_mini_dataset
from bench.weights import Weights
from reference.pipeline import pipeline_config

BUNDLED = load_expected()
PUBLISHED_SHA = "1aa4a132" + "0" * 56
ROW = BUNDLED.rows[0]
SPEC = reproduce.RowSpec(ROW.name, pipeline_config(ROW.scales, ROW.flip), published=ROW)
FULL = Subset("crowdpose_test.json", 8000, True, "a" * 64, "b" * 64, None)
AT_PUBLISHED = dict(ROW.expected)


def weights(sha256: str = PUBLISHED_SHA) -> Weights:
    checkpoint = ResolvedCheckpoint(Path("ckpt.pth"), sha256, "ckpt.pth")
    return Weights.from_checkpoint(checkpoint, default_checkpoint())


def judge(table=BUNDLED, subset=FULL, checkpoint=None, metrics=None):
    return reproduce._judge(SPEC, checkpoint or weights(), subset, table, False, metrics or AT_PUBLISHED,
                            None, {})


def test_the_published_checkpoint_on_the_full_set_reproduces_and_says_how_strongly():
    status, reason = judge()
    assert status == "reproduced"
    assert reason == ("checkpoint prefix-verified (32 bits; full digest not pinned: `python -m bench fetch` "
                      "prints the line to pin); data unpinned (fingerprints in the report, not pinned in the "
                      "package yet)")
    assert weights().to_record().published and "prefix-verified" in weights().to_record().verification


def test_once_the_full_digest_is_pinned_a_forged_prefix_is_not_the_published_checkpoint():
    pinned = dataclasses.replace(BUNDLED.checkpoint, sha256="1aa4a132" + "f" * 56)
    table = dataclasses.replace(BUNDLED, checkpoint=pinned)
    status, reason = judge(table=table)
    assert status == "skipped" and "not the published" in reason
    genuine = weights("1aa4a132" + "f" * 56)
    assert judge(table=table, checkpoint=genuine)[1].startswith("checkpoint full sha256 matched (pinned")


def test_a_custom_table_redefining_checkpoint_and_set_size_only_matches(tmp_path):
    """The attack: a 4-image synthetic run with a table naming its own checkpoint and set size."""
    fake = dataclasses.replace(BUNDLED, path=str(tmp_path / "mine.toml"), sha256="c" * 64, bundled=False,
                               dataset_num_images=4,
                               checkpoint=dataclasses.replace(BUNDLED.checkpoint, sha256_prefix="deadbeef"))
    small = dataclasses.replace(FULL, num_images=4)
    status, reason = judge(table=fake, subset=small, checkpoint=weights("deadbeef" + "0" * 56))
    assert status == "matched" and "not a reproduction of the published numbers" in reason
    assert f"custom table {tmp_path / 'mine.toml'} (sha256 cccccccccccc...)" in reason
    assert weights("deadbeef" + "0" * 56).to_record().published is False
    status, reason = judge(table=fake, subset=small, checkpoint=weights("deadbeef" + "0" * 56),
                           metrics={name: 0.0 for name in AT_PUBLISHED})
    assert status == "failed" and reason.startswith(f"against custom table {tmp_path / 'mine.toml'}")


def test_data_that_differs_from_pinned_fingerprints_is_not_compared():
    table = dataclasses.replace(BUNDLED, annotations_sha256="a" * 64, images_digest="e" * 64)
    status, reason = judge(table=table, subset=dataclasses.replace(FULL, data_pinned=False))
    assert status == "skipped" and "differs from the fingerprints pinned" in reason
    status, reason = judge(table=table, subset=dataclasses.replace(FULL, data_pinned=True))
    assert status == "reproduced" and reason.endswith("; data pinned")


def test_entries_pointing_at_one_image_file_are_not_the_full_set(tmp_path):
    root = write_mini_dataset(tmp_path, num_images=3, seed=1)
    ann_file = root / "annotations" / "crowdpose_test.json"
    gt = json.loads(ann_file.read_text())
    table = dataclasses.replace(BUNDLED, dataset_num_images=3)
    dataset = load_dataset(root)
    assert reproduce._is_full(dataset, table)
    for image in gt["images"]:
        image["file_name"] = gt["images"][0]["file_name"]
    ann_file.write_text(json.dumps(gt))
    dataset = load_dataset(root)
    assert not reproduce._is_full(dataset, table)
    subset = reproduce.data_subset(dataset, table, smoke=False, digests=reproduce.data_digests(dataset))
    assert not subset.full and subset.data_pinned is None
    assert judge(subset=subset)[0] == "skipped"


def test_replacing_an_image_changes_the_image_set_digest(tmp_path):
    root = write_mini_dataset(tmp_path, num_images=2, seed=1)
    def subset():
        dataset = load_dataset(root)
        return reproduce.data_subset(dataset, BUNDLED, False, reproduce.data_digests(dataset))

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
                        lambda *args: ResolvedCheckpoint(path, "1aa4a132" + "9" * 56, str(path)))
    monkeypatch.setattr(fetch, "registry_entry", lambda name: entry)
    assert main(["fetch", str(path)]) == 0
    out = capsys.readouterr().out
    assert (f'sha256 = "1aa4a132{"9" * 56}"' in out) == (pinned is None)
