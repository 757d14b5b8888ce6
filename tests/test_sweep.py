"""`bench reproduce` with shared forwards: both published rows from one pass, bit-identical to each row
alone; `--sweep` files, checked before any work; sweep rows equal plain runs with the same settings;
the bundled sweep; the report's decode times, Markdown and plot."""

from __future__ import annotations

import hashlib
import json
import tomllib
from pathlib import Path

import pytest

from bench.__main__ import main
from bench.accuracy.sweep import BUNDLED_SWEEP, load_sweep
from bench.checkpoint import sha256_of
from bench.errors import BenchError
from bench.reports.schema import load_report
from bench.testing.synthetic_data import write_mini_dataset
from bench.testing.synthetic_weights import calibrated_state_dict, save_mmpose_checkpoint

NUM_IMAGES = 2


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    staging = tmp_path_factory.mktemp("ckpt") / "tame.pth"
    save_mmpose_checkpoint(calibrated_state_dict(), staging, meta={"note": "test"})
    named = staging.with_name(f"tame_hrnet-{sha256_of(staging)[:8]}_20260101.pth")
    staging.rename(named)
    return named


@pytest.fixture(scope="module")
def mini_root(tmp_path_factory) -> Path:
    return write_mini_dataset(tmp_path_factory.mktemp("mini"), num_images=NUM_IMAGES, seed=5)


@pytest.fixture(scope="module")
def expected(checkpoint, tmp_path_factory) -> Path:
    """Both rows of the published table's shape, for the mini set, any metric accepted."""
    prefix = checkpoint.name.split("-")[-1].split("_")[0]
    rows = "".join(f'[[expected.rows]]\nname = "mini {scales}"\nscales = {scales}\nflip = true\n'
                   'source = "test"\nmetrics = { AP = 0.0 }\n' for scales in ("[1]", "[2, 1]"))
    path = tmp_path_factory.mktemp("table") / "expected.toml"
    path.write_text(f'[checkpoints."{checkpoint.name}"]\nurl = "{checkpoint}"\nsha256_prefix = "{prefix}"\n'
                    f'sha256 = ""\n[expected]\ncheckpoint = "{checkpoint.name}"\ndataset = "mini"\n'
                    f'num_images = {NUM_IMAGES}\ntolerance = 1.0\ntolerance_reason = "test"\n{rows}')
    return path


def reproduce(work: Path, checkpoint: Path, mini_root: Path, expected: Path, *extra: str) -> tuple[int, dict]:
    out = work / "out"
    code = main(["reproduce", "--checkpoint", str(checkpoint), "--data-root", str(mini_root),
                 "--expected", str(expected), "--out", str(out), "--cache-dir", str(work / "cache"),
                 "--workers", "0", "--no-sample", *extra])
    newest = max(out.glob("reproduce-*.json"), key=lambda path: path.stat().st_mtime_ns)
    return code, json.loads(newest.read_text())


def results_of(row: dict) -> list[dict]:
    return json.loads(Path(row["behaviour"]["results_json"]).read_text())


def write_sweep(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def both_rows(checkpoint, mini_root, expected, tmp_path_factory):
    return reproduce(tmp_path_factory.mktemp("both"), checkpoint, mini_root, expected)


@pytest.mark.slow
def test_both_published_rows_come_from_one_forward_bit_identical_to_each_alone(
        both_rows, checkpoint, mini_root, expected, tmp_path):
    code, report = both_rows
    assert code == 0 and [row["status"] for row in report["rows"]] == ["matched", "matched"]
    assert report["throughput"]["mini [1] + mini [2, 1]: images from cache"] == 0
    assert "mini [1] + mini [2, 1]: images/s" in report["throughput"]
    for row, scales in zip(report["rows"], ("1", "2,1"), strict=True):
        assert row["behaviour"]["forward"]["scales"] == [2.0, 1.0]
        assert row["decode_ms"]["count"] == NUM_IMAGES and row["decode_ms"]["p50_ms"] > 0
        _, alone = reproduce(tmp_path / scales, checkpoint, mini_root, expected, "--scales", scales)
        (alone_row,) = alone["rows"]
        assert alone_row["behaviour"]["forward"]["scales"] == row["scales"]
        assert results_of(row) == results_of(alone_row) and results_of(row)
        assert alone_row["metrics"] == row["metrics"]


@pytest.mark.slow
def test_a_sweep_of_one_variant_equals_plain_reproduce(both_rows, checkpoint, mini_root, expected, tmp_path):
    sweep = write_sweep(tmp_path / "one.toml", '[[variant]]\nname = "only"\nscales = [1]\n')
    code, report = reproduce(tmp_path, checkpoint, mini_root, expected, "--sweep", str(sweep))
    (row,) = report["rows"]
    plain = both_rows[1]["rows"][0]
    assert code == 0 and row["status"] == "measured" and "never compared" in row["reason"]
    assert row["metrics"] == plain["metrics"] and results_of(row) == results_of(plain)
    assert row["expected"] == {} and row["checks"] == []
    assert report["config"]["settings"]["sweep"]["sha256"] == hashlib.sha256(sweep.read_bytes()).hexdigest()


@pytest.mark.slow
def test_every_sweep_variant_equals_a_plain_run_with_its_settings(checkpoint, mini_root, expected, tmp_path):
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
evaluator = "xtcocotools"
""")
    code, report = reproduce(tmp_path / "sweep", checkpoint, mini_root, expected, "--sweep", str(sweep),
                             "--pipeline-options", '{"stage_aggregation": "2020"}')
    assert code == 0 and [row["name"] for row in report["rows"]] == ["default", "refine off",
                                                                      "flip off, munkres", "xtcocotools"]
    label = "default + refine off + flip off, munkres + xtcocotools"
    assert report["throughput"][f"{label}: images from cache"] == 0
    rows = {row["name"]: row for row in report["rows"]}
    for name, options in (("refine off", {"refine": False}),
                          ("flip off, munkres", {"matcher": "munkres", "adjust": False})):
        assert rows[name]["behaviour"]["pipeline"]["stage_aggregation"] == "2020"
        _, plain = reproduce(tmp_path / name, checkpoint, mini_root, expected, "--scales", "1",
                             "--pipeline-options", json.dumps({"stage_aggregation": "2020", **options}),
                             *(["--expected", str(no_flip_table(expected, tmp_path))] if "flip" in name
                               else []))
        (plain_row,) = plain["rows"]
        assert results_of(rows[name]) == results_of(plain_row)
        assert plain_row["metrics"] == rows[name]["metrics"]
    assert rows["xtcocotools"]["behaviour"]["results_json"] == rows["default"]["behaviour"]["results_json"]
    assert rows["xtcocotools"]["decode_ms"] == rows["default"]["decode_ms"]  # scored, not decoded, again
    assert rows["xtcocotools"]["evaluator"]["protocol"] == "xtcocotools"
    assert not rows["xtcocotools"]["evaluator"]["official"]
    out = tmp_path / "sweep" / "out"
    stored = load_report(next(out.glob("reproduce-*.json")))
    markdown = next(out.glob("reproduce-*.md")).read_text()
    assert "decode p50 ms/img" in markdown and "xtcocotools protocol" in markdown
    assert [path.name.rsplit("-", 1)[-1] for path in out.glob("*.png")] == ["variants.png"]
    assert all(row.decode_ms and row.decode_ms.count == NUM_IMAGES for row in stored.rows)
    again, rerun = reproduce(tmp_path / "sweep", checkpoint, mini_root, expected, "--sweep", str(sweep),
                             "--pipeline-options", '{"stage_aggregation": "2020"}')
    assert again == 0 and rerun["throughput"][f"{label}: images from cache"] == NUM_IMAGES
    assert [row["metrics"] for row in rerun["rows"]] == [row["metrics"] for row in report["rows"]]


def no_flip_table(expected: Path, folder: Path) -> Path:
    """The expected table with its [1] row tested without flip (a plain run of a flip-off variant)."""
    path = folder / "no-flip.toml"
    text = expected.read_text().replace("scales = [1]\nflip = true", "scales = [1]\nflip = false", 1)
    path.write_text(text)
    return path


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
    ('[[variant]]\nname = "a"\nscales = [1]\nevaluator = "coco"\n', "'evaluator' must be one of crowdpose"),
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
    code = main(["reproduce", "--sweep", str(path), "--out", str(tmp_path / "out"), "--no-sample"])
    assert code == 2 and "option 'compile' changes the network" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    good = write_sweep(tmp_path / "good.toml", '[[variant]]\nname = "a"\nscales = [1]\n')
    assert main(["reproduce", "--sweep", str(good), "--scales", "1", "--no-sample"]) == 2
    assert "give one" in capsys.readouterr().err


def test_the_bundled_sweep_covers_the_recorded_behaviours_and_usual_switches():
    sweep = load_sweep(BUNDLED_SWEEP)
    variants = {variant.name: variant for variant in sweep.variants}
    options = [variant.options for variant in sweep.variants]
    assert {"stage_aggregation": "2020"} in options and {"group_limit": "2020"} in options
    assert {"matcher": "munkres"} in options and {"refine": False} in options and {"adjust": False} in options
    assert any(not variant.flip for variant in sweep.variants)
    assert {variant.scales for variant in sweep.variants} == {(2.0, 1.0), (1.0,)}
    assert {variant.evaluator for variant in sweep.variants} == {"crowdpose", "xtcocotools"}
    assert len(variants) == len(tomllib.loads(BUNDLED_SWEEP.read_text())["variant"])


@pytest.mark.slow
def test_sweep_rows_get_intervals_and_paired_differences_to_the_first(checkpoint, mini_root, expected,
                                                                      tmp_path):
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
    code, report = reproduce(tmp_path / "sweep", checkpoint, mini_root, expected, "--sweep", str(sweep),
                             "--bootstrap-resamples", "200", "--bootstrap-seed", "3")
    assert code == 0
    first, again, refine_off = report["rows"]
    assert first["paired_delta"] is None and first["baseline_row"] is None
    for row in report["rows"]:
        assert set(row["ci95"]) == {"AP", "AP50", "AP75", "AP_easy", "AP_medium", "AP_hard"}
        assert row["bootstrap"]["resamples"] == 200 and row["bootstrap"]["seed"] == 3
    assert again["baseline_row"] == refine_off["baseline_row"] == "default"
    assert again["paired_delta"]["AP"] == {"delta": 0.0, "ci95": [0.0, 0.0]}
    delta = refine_off["paired_delta"]["AP"]
    assert delta["delta"] == pytest.approx(refine_off["metrics"]["AP"] - first["metrics"]["AP"])
    markdown = next((tmp_path / "sweep" / "out").glob("reproduce-*.md")).read_text()
    assert "Paired differences to 'default'" in markdown
