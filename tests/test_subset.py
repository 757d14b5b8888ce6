"""`reproduce --subset N`: N images drawn at random within the crowd-index splits, in the set's
proportions, recorded in the report (seed, strata, ids), measured and never compared, with intervals
resampled within the strata."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import TinyPoseNet

from bench.__main__ import main
from bench.accuracy.reproduce import run_reproduction
from bench.accuracy.settings import ReproduceConfig
from bench.data.dataset import DataConfig
from bench.errors import BenchError
from bench.evaluation.bootstrap import STRATIFIED_RESAMPLED, BootstrapSettings, resample_weights
from bench.evaluation.subset import STRATA, allocation, draw_subset, strata_of
from bench.testing.synthetic_data import GroundTruthSpec, write_mini_dataset

IDS = np.arange(100000, 100040)
CROWD = np.concatenate([np.full(8, 0.1), np.full(20, 0.5), [0.8, 1.0, 1.7, 3.0], np.full(8, 0.95)])


def test_a_draw_keeps_the_splits_proportions_and_puts_crowd_indices_above_1_in_hard():
    assert strata_of(np.array([0.0, 0.19, 0.2, 0.79, 0.8, 1.0, 2.5])).tolist() == [0, 0, 1, 1, 2, 2, 2]
    assert allocation(np.array([8, 20, 12]), 10).tolist() == [2, 5, 3]
    assert allocation(np.array([1, 1, 1]), 2).tolist() == [1, 1, 0]
    ids, draw = draw_subset(IDS, CROWD, 10, seed=4)
    assert len(set(ids.tolist())) == 10 and list(ids) == sorted(ids) and set(ids) <= set(IDS)
    assert [(stratum.name, stratum.images, stratum.drawn) for stratum in draw.strata] == [
        ("easy", 8, 2), ("medium", 20, 5), ("hard", 12, 3)]
    drawn = strata_of(CROWD[np.searchsorted(IDS, ids)])
    assert np.bincount(drawn, minlength=3).tolist() == [2, 5, 3]
    assert draw.describe() == "a stratified random subset of 10 images (seed 4; easy/medium/hard 2/5/3)"
    assert draw_subset(IDS[::-1], CROWD[::-1], 10, seed=4)[0].tolist() == ids.tolist()  # input order is moot
    assert draw_subset(IDS, CROWD, 10, seed=5)[0].tolist() != ids.tolist()
    for size in (0, len(IDS)):
        with pytest.raises(ValueError, match="a subset draws from 1 to 39 of the 40 images"):
            draw_subset(IDS, CROWD, size, seed=0)


def test_stratified_resamples_keep_each_stratum_size():
    strata = strata_of(CROWD)
    for counts in resample_weights(len(CROWD), BootstrapSettings(resamples=20, seed=1), strata):
        assert np.bincount(strata, weights=counts, minlength=3).tolist() == [8, 20, 12]


def test_a_subset_run_is_recorded_measured_and_never_compared(tmp_path):
    root = write_mini_dataset(tmp_path / "data", spec=GroundTruthSpec(num_images=12, seed=3,
                                                                       max_crowd_index=1.5))
    config = ReproduceConfig(data=DataConfig(data_root=root, subset=5, subset_seed=2),
                             out=str(tmp_path / "out"), cache_dir=str(tmp_path / "cache"), workers=0,
                             sample=False, scales=((1.0,),),
                             bootstrap=BootstrapSettings(resamples=20), pipeline_options={"input_size": 64})
    (row,) = run_reproduction(config, model=TinyPoseNet()).report.rows
    result = row.result
    draw = result.subset.draw
    assert (draw.size, draw.seed, [stratum.name for stratum in draw.strata]) == (5, 2, list(STRATA))
    assert sum(stratum.drawn for stratum in draw.strata) == 5 == len(result.behaviour.image_ids)
    assert not result.subset.full and row.verdict.status == "skipped"
    assert result.ci95 is not None and result.bootstrap["resampled"] == STRATIFIED_RESAMPLED


@pytest.mark.parametrize(("flags", "message"), [
    (["--subset", "4", "--limit", "2"], "--limit takes the first N images and --subset draws N at random"),
    (["--subset", "0"], "--subset must be"),
    (["--subset", "2", "--subset-seed", "-1"], "--subset-seed must be"),
])
def test_subset_flags_that_cannot_be_used_are_bad_input_before_any_work(tmp_path, flags, message, capsys):
    assert main(["reproduce", "--data-root", str(tmp_path), "--out", str(tmp_path / "out"), *flags]) == 2
    assert message in capsys.readouterr().err


def test_a_subset_as_large_as_the_set_is_bad_input(tmp_path):
    root = write_mini_dataset(tmp_path / "data", num_images=12)
    config = ReproduceConfig(data=DataConfig(data_root=root, subset=12), out=str(tmp_path / "out"),
                             cache_dir=str(tmp_path / "cache"), workers=0, sample=False)
    with pytest.raises(BenchError, match="--subset: a subset draws from 1 to 11 of the 12 images, not 12"):
        run_reproduction(config, model=TinyPoseNet())
