"""`bench reproduce` with shared forwards: both published rows from one pass, bit-identical to each row
alone; `--sweep` files, checked before any work; sweep rows equal plain runs with the same settings;
the bundled sweep; the report's decode times, Markdown and plot. The network is the provided tiny one:
what is proved here is the decoding of shared outputs, whatever the network (the W32 case is in
test_shared_forward)."""

from __future__ import annotations

import hashlib
import json
import tomllib
from pathlib import Path

import pytest
from helpers import TinyPoseNet

from bench.__main__ import main
from bench.accuracy.reproduce import run_reproduction
from bench.accuracy.settings import ReproduceConfig
from bench.accuracy.sweep import BUNDLED_SWEEP, load_sweep
from bench.data.dataset import DataConfig
from bench.errors import BenchError
from bench.evaluation.bootstrap import BootstrapSettings, PairedDelta
from bench.reports.schema import load_report
from bench.testing.synthetic_data import write_mini_dataset

NUM_IMAGES = 2


@pytest.fixture(scope="module")
def mini_root(tmp_path_factory) -> Path:
    return write_mini_dataset(tmp_path_factory.mktemp("mini"), num_images=NUM_IMAGES, seed=5)


def reproduce(work: Path, mini_root: Path, **settings):
    """A run on the mini set with the tiny network; its report."""
    config = ReproduceConfig(data=DataConfig(data_root=mini_root), out=str(work / "out"),
                             cache_dir=str(work / "cache"), workers=0, sample=False,
                             bootstrap=BootstrapSettings(resamples=0), **settings)
    result = run_reproduction(config, model=TinyPoseNet())
    return result.exit_code, result.report


def results_of(row) -> list[dict]:
    return json.loads(Path(row.result.behaviour.results_json).read_text())


def write_sweep(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def sweep_of(path: Path, **options):
    return load_sweep(path, "float32", options)


def test_both_published_rows_come_from_one_forward_bit_identical_to_each_alone(mini_root, tmp_path):
    code, report = reproduce(tmp_path / "both", mini_root)
    assert (code == 0
            and [row.result.name for row in report.rows] == ["scales=[1], flip", "scales=[2, 1], flip"])
    (forward,) = report.throughput.forwards
    assert forward.rows == ("scales=[1], flip", "scales=[2, 1], flip") and forward.computed == NUM_IMAGES
    for row, scales in zip(report.rows, ((1.0,), (2.0, 1.0)), strict=True):
        assert row.result.behaviour.forward["scales"] == [2.0, 1.0]
        assert row.result.decode_ms.count == NUM_IMAGES and row.result.decode_ms.p50_ms > 0
        _, alone = reproduce(tmp_path / str(scales), mini_root, scales=(scales,))
        (alone_row,) = alone.rows
        assert alone_row.result.behaviour.forward["scales"] == list(scales)
        assert results_of(row) == results_of(alone_row) and results_of(row)
        assert alone_row.result.metrics == row.result.metrics


def test_a_sweep_of_one_variant_equals_plain_reproduce(mini_root, tmp_path):
    sweep = write_sweep(tmp_path / "one.toml", '[[variant]]\nname = "only"\nscales = [1]\n')
    code, report = reproduce(tmp_path / "sweep", mini_root, sweep=sweep_of(sweep))
    (row,) = report.rows
    _, plain = reproduce(tmp_path / "plain", mini_root, scales=((1.0,),))
    assert code == 0 and row.verdict.status == "measured" and "never compared" in row.verdict.reason
    assert row.result.metrics == plain.rows[0].result.metrics and results_of(row) == results_of(plain.rows[0])
    assert row.verdict.expected == {} and row.verdict.checks == ()
    assert report.config.settings["sweep"]["sha256"] == hashlib.sha256(sweep.read_bytes()).hexdigest()


def test_every_sweep_variant_equals_a_plain_run_with_its_settings(mini_root, tmp_path):
    sweep = write_sweep(tmp_path / "sweep.toml", """
[[variant]]
name = "default"
scales = [1]
[[variant]]
name = "refine off"
scales = [1]
options = { refine = false }
[[variant]]
name = "flip off, munkres"
scales = [1]
flip = false
options = { matcher = "munkres", adjust = false }
[[variant]]
name = "xtcocotools"
scales = [1]
protocol = "xtcocotools"
""")
    base = {"stage_aggregation": "2020"}
    code, report = reproduce(tmp_path / "sweep", mini_root, sweep=sweep_of(sweep, **base),
                             pipeline_options=base)
    rows = {row.result.name: row for row in report.rows}
    assert code == 0 and list(rows) == ["default", "refine off", "flip off, munkres", "xtcocotools"]
    (forward,) = report.throughput.forwards
    assert forward.computed == NUM_IMAGES and forward.rows == tuple(rows)
    for name, options in (("refine off", {"refine": False}),
                          ("flip off, munkres", {"matcher": "munkres", "adjust": False})):
        assert rows[name].result.behaviour.pipeline["stage_aggregation"] == "2020"
        flip = "flip" not in name
        options_toml = ", ".join(f"{k} = {json.dumps(v)}" for k, v in options.items())
        _, plain = reproduce(tmp_path / name, mini_root, sweep=sweep_of(write_sweep(
            tmp_path / f"{name}.toml", '[[variant]]\nname = "plain"\nscales = [1]\n'
                                       f"flip = {str(flip).lower()}\n"
                                       f"options = {{ {options_toml} }}\n"),
            **base), pipeline_options=base)
        assert results_of(rows[name]) == results_of(plain.rows[0])
        assert plain.rows[0].result.metrics == rows[name].result.metrics
    xtco, default = rows["xtcocotools"].result, rows["default"].result
    assert xtco.behaviour.results_json == default.behaviour.results_json
    assert xtco.decode_ms == default.decode_ms  # scored, not decoded, again
    assert xtco.evaluator.protocol == "xtcocotools"
    out = tmp_path / "sweep" / "out"
    stored = load_report(next(out.glob("reproduce-*.json")))
    markdown = next(out.glob("reproduce-*.md")).read_text()
    assert "decode p50 ms/img" in markdown and "xtcocotools protocol" in markdown
    assert [path.name.rsplit("-", 1)[-1] for path in out.glob("*.png")] == ["variants.png"]
    assert all(row.result.decode_ms and row.result.decode_ms.count == NUM_IMAGES for row in stored.rows)
    again, rerun = reproduce(tmp_path / "sweep", mini_root, sweep=sweep_of(sweep, **base),
                             pipeline_options=base)
    assert again == 0 and rerun.throughput.forwards[0].from_cache == NUM_IMAGES
    assert [row.result.metrics for row in rerun.rows] == [row.result.metrics for row in report.rows]


@pytest.mark.parametrize(("text", "message"), [
    ("", "no \\[\\[variant\\]\\] tables"),
    ('[[variant]]\nname = "a"\n', "'scales' must be a non-empty list of numbers"),
    ('[[variant]]\nscales = [1]\n', "variant 0 needs a non-empty string 'name'"),
    ('[[variant]]\nname = "a"\nscales = [1]\n[[variant]]\nname = "a"\nscales = [1]\n', "repeated: \\['a'\\]"),
    ('[[variant]]\nname = "a"\nscales = [1]\ncolour = 1\n', "unknown key\\(s\\) \\['colour'\\]"),
    ('[[variant]]\nname = "a"\nscales = [1]\noptions = { input_size = 640 }\n',
     "variant 'a': option 'input_size' changes the network"),
    ('[[variant]]\nname = "a"\nscales = [1]\noptions = { precision = "tf32" }\n',
     "option 'precision' changes the network"),
    ('[[variant]]\nname = "a"\nscales = [1]\noptions = { flip = false }\n', "'flip' is a variant key"),
    ('[[variant]]\nname = "a"\nscales = [1]\noptions = { refine = "no" }\n', "variant 'a': .*refine"),
    ('[[variant]]\nname = "a"\nscales = [1]\noptions = { colour = 1 }\n', "unknown pipeline option"),
    ('[[variant]]\nname = "a"\nscales = [1]\nprotocol = "coco"\n', "'protocol' must be one of crowdpose"),
    ('[[variant]]\nname = "a"\nscales = [1]\nflip = "yes"\n', "'flip' must be true or false"),
    ('[[variant]]\nname = "big"\nscales = [2]\n[[variant]]\nname = "small"\nscales = [1]\n',
     "cannot share one forward: variant 0 \\(scales \\[2.0\\]\\)"),
    ("[[variant]\n", "not valid TOML"),
])
def test_a_bad_sweep_file_is_refused_naming_the_file_and_variant(tmp_path, text, message):
    path = write_sweep(tmp_path / "bad.toml", text)
    with pytest.raises(BenchError, match=message) as raised:
        load_sweep(path)
    assert str(path) in str(raised.value)


def test_a_bad_sweep_exits_2_before_any_work(tmp_path, capsys):
    path = write_sweep(tmp_path / "bad.toml", '[[variant]]\nname = "a"\nscales = [1]\n'
                                              'options = { compile = true }\n')
    code = main(["reproduce", "--sweep", str(path), "--out", str(tmp_path / "out")])
    assert code == 2 and "option 'compile' changes the network" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    good = write_sweep(tmp_path / "good.toml", '[[variant]]\nname = "a"\nscales = [1]\n')
    assert main(["reproduce", "--sweep", str(good), "--scales", "1"]) == 2
    assert "give one" in capsys.readouterr().err


def test_the_bundled_sweep_covers_the_recorded_behaviours_and_usual_switches():
    sweep = load_sweep(BUNDLED_SWEEP)
    variants = {variant.name: variant for variant in sweep.variants}
    options = [variant.options for variant in sweep.variants]
    assert {"stage_aggregation": "2020"} in options and {"group_limit": "2020"} in options
    assert {"matcher": "munkres"} in options and {"refine": False} in options and {"adjust": False} in options
    assert any(not variant.flip for variant in sweep.variants)
    assert {variant.scales for variant in sweep.variants} == {(2.0, 1.0), (1.0,)}
    assert {variant.protocol for variant in sweep.variants} == {"crowdpose", "xtcocotools"}
    assert len(variants) == len(tomllib.loads(BUNDLED_SWEEP.read_text())["variant"])


def test_sweep_rows_get_intervals_and_paired_differences_to_the_first(mini_root, tmp_path):
    """Each variant gets its interval; the ones after the first their paired difference to it, which
    is exactly 0 with interval [0, 0] for a variant with the first one's settings."""
    sweep = write_sweep(tmp_path / "sweep.toml", """
[[variant]]
name = "default"
scales = [1]
[[variant]]
name = "default again"
scales = [1]
[[variant]]
name = "refine off"
scales = [1]
options = { refine = false }
""")
    config = ReproduceConfig(data=DataConfig(data_root=mini_root), out=str(tmp_path / "out"),
                             cache_dir=str(tmp_path / "cache"), workers=0, sample=False,
                             sweep=sweep_of(sweep), bootstrap=BootstrapSettings(resamples=200, seed=3))
    result = run_reproduction(config, model=TinyPoseNet())
    assert result.exit_code == 0
    first, again, refine_off = (row.result for row in result.report.rows)
    assert first.paired_delta is None and first.baseline_row is None
    for row in (first, again, refine_off):
        assert set(row.ci95) == {"AP", "AP50", "AP75", "AP_easy", "AP_medium", "AP_hard"}
        assert row.bootstrap["resamples"] == 200 and row.bootstrap["seed"] == 3
    assert again.baseline_row == refine_off.baseline_row == "default"
    assert again.paired_delta["AP"] == PairedDelta(0.0, (0.0, 0.0))
    expected_delta = refine_off.metrics["AP"] - first.metrics["AP"]
    assert refine_off.paired_delta["AP"].delta == pytest.approx(expected_delta)
    assert "Paired differences to 'default'" in result.paths["md"].read_text()
