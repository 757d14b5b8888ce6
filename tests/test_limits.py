"""Every bounded setting is refused before any work (exit status 2), with its value and its limit: on
the command line, in a --config file and through the Python API alike. Nothing here runs a network."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.__main__ import main
from bench.accuracy import predict
from bench.accuracy.settings import ReproduceConfig
from bench.accuracy.sweep import Sweep, SweepVariant
from bench.data.dataset import DataConfig
from bench.data.sample import SAMPLE_DIR, SAMPLE_GT
from bench.devicecheck.cases import load_matrix
from bench.devicecheck.settings import CASES_FILE
from bench.errors import BenchError
from bench.evaluation.bootstrap import BootstrapSettings
from bench.speed import profile
from bench.speed.profile import ProfileConfig, run_profile

NINE_SCALES = (1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7, 1.8)
JOINTS = tuple(range(14))


def long_sweep(tmp_path: Path) -> Sweep:
    """A sweep whose file name would make the report's file names too long to write."""
    return Sweep(str(tmp_path / f"{'v' * 150}.toml"), "0" * 64, (SweepVariant("only", (1.0,)),))


@pytest.mark.parametrize(("settings", "message"), [
    ({"threads": 100_000}, "threads 100000 is above the limit of 256"),
    ({"threads": 4294967297}, "threads 4294967297 is above the limit of 256"),
    ({"threads": 0}, "threads must be >= 1, got 0"),
    ({"threads": 2.0}, "threads must be an integer, got 2.0"),
    ({"workers": 65}, "workers 65 is above the limit of 64"),
    ({"workers": True}, "workers must be an integer, got True"),
    ({"batch_size": 257}, "--batch-size 257 is above the limit of 256"),
    ({"pipeline_options": {"max_num_people": 100_000}}, "max_num_people 100000 is above the limit of 1000"),
    ({"pipeline_options": {"nms_kernel": 99_999}}, "nms_kernel 99999 is above the limit of 31"),
    ({"pipeline_options": {"input_size": 100_000}}, "input_size 100000 is above the limit of 4096"),
    ({"pipeline_options": {"joint_order": (0, 1, 2)}}, "joint_order has 3 joints; it must be a permutation"),
    ({"pipeline_options": {"joint_order": (*JOINTS, 14)}}, "joint_order has 15 joints"),
    ({"pipeline_options": {"joint_order": (*JOINTS[:-1], 0)}}, "joint_order must be a permutation"),
    ({"scales": ((0.001,),)}, "--scales 0.001: scale 0.001 is outside the limits [0.5, 4]"),
    ({"scales": (NINE_SCALES,)}, "the number of scales 9 is above the limit of 8"),
    ({"scales": ((1.0,),) * 60}, "--scales: the report label s1-s1-"),
    ({"data": DataConfig(image_ids=(True,))}, "image_ids entry must be an integer, got True"),
    ({"sweep": long_sweep}, "--sweep file name: the report label sweep-vvv"),
])
def test_reproduce_settings_out_of_bounds_are_refused_when_the_config_is_made(tmp_path, settings, message):
    settings = {name: value(tmp_path) if callable(value) else value for name, value in settings.items()}
    with pytest.raises(BenchError) as raised:
        ReproduceConfig(**settings)
    assert message in str(raised.value)


@pytest.mark.parametrize(("settings", "message"), [
    ({"batch_sizes": (257,)}, "--batch-size 257 is above the limit of 256"),
    ({"workers": 65}, "workers 65 is above the limit of 64"),
    ({"workers": True}, "workers must be an integer, got True"),
    ({"iters": True}, "iters must be an integer, got True"),
    ({"warmup": 1.5}, "warmup must be an integer, got 1.5"),
    ({"warmup": 10**9}, "warmup 1000000000 is above the limit of 1000"),
    ({"inputs": "synthetic", "sizes": ((4097, 512),)}, "--sizes width 4097 is above the limit of 4096"),
    ({"inputs": "synthetic", "sizes": ((512, 2**32 + 1),)}, "--sizes height 4294967297 is above the limit"),
    ({"inputs": "synthetic", "sizes": ((4000, 100),)}, "aspect ratio 40.0 is over the limit 8"),
    ({"input_size": 100_000}, "input_size 100000 is above the limit of 4096"),
    ({"input_size": 4096}, "input_size 4096, --scales 1: a 640x425 image needs a 6208x4096 network input"),
    ({"scales": (0.001,)}, "scale 0.001 is outside the limits [0.5, 4]"),
    ({"scales": NINE_SCALES}, "the number of scales 9 is above the limit of 8"),
])
def test_profile_settings_out_of_bounds_are_refused_when_the_config_is_made(settings, message):
    with pytest.raises(BenchError) as raised:
        ProfileConfig(**settings)
    assert message in str(raised.value)


def test_profile_and_reproduce_scales_get_the_one_pipeline_check():
    problems = []
    for make in (lambda: ReproduceConfig(scales=((5.0, 1.0),)), lambda: ProfileConfig(scales=(5.0, 1.0))):
        with pytest.raises(BenchError) as raised:
            make()
        problems.append(str(raised.value).split(": ", 1)[1])
    assert problems == ["scale 5 is outside the limits [0.5, 4]"] * 2


@pytest.mark.parametrize(("settings", "message"), [
    ({"resamples": 10**12}, "bootstrap resamples 1000000000000 is above the limit of 100000"),
    ({"resamples": 1.5}, "bootstrap resamples must be an integer, got 1.5"),
    ({"seed": True}, "bootstrap seed must be an integer, got True"),
    ({"seed": 2**64}, "bootstrap seed 18446744073709551616 is above the limit of 9223372036854775807"),
    ({"confidence": "high"}, "bootstrap confidence must be a number in (0, 1), got 'high'"),
    ({"confidence": float("nan")}, "bootstrap confidence must be a number in (0, 1), got nan"),
])
def test_bootstrap_settings_are_checked_when_made(settings, message):
    with pytest.raises(ValueError) as raised:
        BootstrapSettings(**settings)
    assert message in str(raised.value)


@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if a reproduce run predicts anything or a profile builds its predictor."""
    def refuse(*args, **kwargs):
        raise AssertionError("work started before the bad input was refused")
    monkeypatch.setattr(predict, "predict_images", refuse)
    monkeypatch.setattr(profile.Predictor, "from_config", refuse)


def reproduce_args(tmp_path: Path, settings: str) -> list[str]:
    """`bench reproduce` on the bundled sample with a --config file holding ``settings``."""
    config = tmp_path / "config.toml"
    config.write_text(f'[reproduce]\nsample = false\ncache_dir = "{tmp_path / "cache"}"\n{settings}')
    return ["reproduce", "--ann-file", str(SAMPLE_GT), "--img-dir", str(SAMPLE_DIR),
            "--out", str(tmp_path / "out"), "--config", str(config)]


@pytest.mark.parametrize(("settings", "message"), [
    ("threads = 100000\n", "threads 100000 is above the limit of 256"),
    ("workers = 65\n", "workers 65 is above the limit of 64"),
    ("workers = 2.0\n", "workers must be int, got 2.0"),
    ("threads = true\n", "threads must be int, got True"),
    ("image_ids = [true]\n", "image_ids entry must be an integer, got True"),
    ("[reproduce.bootstrap]\nresamples = 1000000000000\n",
     "bootstrap resamples 1000000000000 is above the limit of 100000"),
    ("[reproduce.pipeline]\nmax_num_people = 100000\n", "max_num_people 100000 is above the limit of 1000"),
    ("[reproduce.pipeline]\nmax_num_people = 30.0\n", "max_num_people must be a positive integer"),
    ("[reproduce.pipeline]\nnms_kernel = 99999\n", "nms_kernel 99999 is above the limit of 31"),
    ("[reproduce.pipeline]\ninput_size = true\n", "input_size must be an int, got bool"),
    ("[reproduce.pipeline]\njoint_order = [0, 1, 2]\n", "joint_order has 3 joints"),
])
def test_a_config_file_gets_the_same_checks_with_exit_2(tmp_path, capsys, no_work, settings, message):
    assert main(reproduce_args(tmp_path, settings)) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(("arguments", "message"), [
    (["--batch-size", "257"], "--batch-size 257 is above the limit of 256"),
    (["--inputs", "synthetic", "--sizes", "4097x512"], "--sizes width 4097 is above the limit of 4096"),
    (["--scales", "1,100"], "scale 100 is outside the limits [0.5, 4]"),
])
def test_profile_options_out_of_bounds_exit_2(tmp_path, capsys, no_work, arguments, message):
    assert main(["profile", *arguments, "--out", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(("settings", "message"), [
    ("input_size = 100000\n", "input_size 100000 is above the limit of 4096"),
    ("workers = 65\n", "workers 65 is above the limit of 64"),
    ("warmup = 1000000\n", "warmup 1000000 is above the limit of 1000"),
    ("iters = true\n", "iters must be int, got True"),
])
def test_a_profile_config_file_gets_the_same_checks_with_exit_2(tmp_path, capsys, no_work, settings, message):
    config = tmp_path / "profile.toml"
    config.write_text(f"[profile]\n{settings}")
    assert main(["profile", "--config", str(config), "--out", str(tmp_path / "out")]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(("trace", "message"), [
    (lambda tmp: tmp, "--trace {tmp} is a folder, not a file"),
    (lambda tmp: a_file(tmp) / "trace.json", "the folder of --trace {tmp}/a-file is a file, not a folder"),
    (lambda tmp: a_file(tmp) / "sub" / "trace.json",
     "the folder of --trace {tmp}/a-file/sub cannot be created or written"),
    (lambda tmp: tmp / f"{'t' * 250}.json", "--trace: the file name tttt"),
])
def test_a_trace_that_cannot_be_written_is_refused_before_the_profile(tmp_path, no_work, trace, message):
    config = ProfileConfig(device="cpu", trace=trace(tmp_path), out_dir=tmp_path / "out")
    with pytest.raises(BenchError) as raised:
        run_profile(config)
    assert message.format(tmp=tmp_path) in str(raised.value)


def a_file(folder: Path) -> Path:
    path = folder / "a-file"
    path.write_text("x")
    return path


def cached_entry(tmp_path: Path) -> Path:
    """A prediction cache folder under the run's cache_dir, as a run leaves it (its shard not yet made)."""
    folder = tmp_path / "cache" / "0123456789abcdef0123"
    folder.mkdir(parents=True)
    (folder / "key.json").write_text("{}")
    return folder


def test_a_cache_shard_that_cannot_be_written_is_refused_before_any_work(tmp_path, capsys, no_work):
    shard = cached_entry(tmp_path) / "predictions-rank0.jsonl"
    shard.mkdir()  # not writable as a file, even for root
    assert main(reproduce_args(tmp_path, "")) == 2
    assert f"cache_dir: the prediction cache shard {shard} cannot be written" in capsys.readouterr().err


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only files anyway")
def test_a_read_only_cache_shard_is_refused_before_any_work(tmp_path, capsys, no_work):
    shard = cached_entry(tmp_path) / "predictions-rank0.jsonl"
    shard.write_text("")
    shard.chmod(0o400)
    assert main(reproduce_args(tmp_path, "")) == 2
    assert f"the prediction cache shard {shard} cannot be written" in capsys.readouterr().err


QUICK_CASES = """[quick]
batches = [1, 2]
precisions = ["float32"]
sizes = ["160x128"]
iters = 1
warmup = 0
profile_input_size = 128
reproduce_input_size = 256
reproduce_scales = [[1]]
pytest_timeout_s = 120
reproduce_timeout_s = 120
"""


@pytest.mark.parametrize(("line", "replacement", "message"), [
    ("batches = [1, 2]", "batches = [true, 2]", "--batch-size must be an integer, got True"),
    ("batches = [1, 2]", "batches = [1, 1000]", "--batch-size 1000 is above the limit of 256"),
    ("iters = 1", "iters = 1.5", "iters must be an integer, got 1.5"),
    ('sizes = ["160x128"]', 'sizes = ["160x99999"]', "--sizes height 99999 is above the limit of 4096"),
    ("profile_input_size = 128", "profile_input_size = 100000", "input_size 100000 is above the limit"),
    ("reproduce_input_size = 256", "reproduce_input_size = 100000", "reproduce settings: input_size 100000"),
])
def test_a_device_check_cases_file_is_checked_as_the_runs_it_asks_for(tmp_path, line, replacement, message):
    cases = tmp_path / "cases.toml"
    cases.write_text(QUICK_CASES.replace(line, replacement))
    with pytest.raises(BenchError) as raised:
        load_matrix(cases, quick=True)
    assert f"{cases} [quick]: " in str(raised.value) and message in str(raised.value)


def test_the_bundled_cases_pass_the_checks():
    for quick in (True, False):
        load_matrix(CASES_FILE, quick)
