"""Bad input exits with status 2 and a message naming the flag, the config key or the file, before any
work: nothing is predicted and no report is written."""

from __future__ import annotations

import json
import os

import pytest
import torch

from bench.__main__ import main
from bench.accuracy import predict
from bench.data.sample import SAMPLE_DIR, SAMPLE_GT


@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if anything gets predicted."""
    def refuse(*args, **kwargs):
        raise AssertionError("work started before the bad input was refused")
    monkeypatch.setattr(predict, "predict_images", refuse)


def config(tmp_path, text: str = "") -> str:
    """A --config file: no smoke run, the cache in ``tmp_path`` unless ``text`` (more [reproduce] lines)
    names one."""
    cache = "" if text.startswith("cache_dir =") else f'cache_dir = "{tmp_path / "cache"}"\n'
    path = tmp_path / "config.toml"
    path.write_text(f"[reproduce]\nsample = false\n{cache}{text}")
    return str(path)


def reproduce_args(tmp_path, *extra: str, settings: str = "") -> list[str]:
    return ["reproduce", "--ann-file", str(SAMPLE_GT), "--img-dir", str(SAMPLE_DIR),
            "--out", str(tmp_path / "out"), "--config", config(tmp_path, settings), *extra]


def a_file(tmp_path):
    path = tmp_path / "a-file"
    path.write_text("x")
    return path


@pytest.mark.parametrize(("flags", "settings", "message"), [
    (lambda tmp: ["--out", str(a_file(tmp))], "", "--out {tmp}/a-file is a file, not a folder"),
    (lambda tmp: ["--out", str(a_file(tmp) / "sub")], "",
     "--out {tmp}/a-file/sub cannot be created or written"),
    (lambda tmp: [], 'cache_dir = "{a_file}"', "cache_dir {tmp}/a-file is a file"),
    (lambda tmp: [], 'checkpoint_cache_dir = "{a_file}"', "checkpoint_cache_dir {tmp}/a-file is a file"),
    (lambda tmp: ["--device", "nosuch"], "", "--device 'nosuch' is not a device name"),
    (lambda tmp: ["--checkpoint", str(tmp / "missing.pth")], "",
     "missing.pth' is neither an http(s) URL nor"),
    (lambda tmp: ["--data-root", str(tmp / "nowhere")], "",
     "CrowdPose root {tmp}/nowhere (from --data-root)"),
    (lambda tmp: ["--img-dir", str(tmp / "no-images")], "",
     "image folder {tmp}/no-images (from --img-dir) does not exist"),
    (lambda tmp: [], "[reproduce.bootstrap]\nresamples = -1\n", "bootstrap resamples must be >= 0, got -1"),
    (lambda tmp: [], "[reproduce.bootstrap]\nseed = -3\n", "bootstrap seed must be >= 0, got -3"),
    (lambda tmp: [], "[reproduce.limits]\nmax_aspect_ratio = 0.5\n",
     "max_aspect_ratio must be a finite number >= 1"),
])
def test_reproduce_refuses_bad_input_with_exit_2_before_any_work(tmp_path, capsys, no_work, flags, settings,
                                                                message):
    if "{a_file}" in settings:
        settings = settings.format(a_file=a_file(tmp_path))
    args = reproduce_args(tmp_path, *flags(tmp_path), settings=settings)
    if "--data-root" in args:
        for flag in ("--ann-file", "--img-dir"):
            del args[args.index(flag):args.index(flag) + 2]
    assert main(args) == 2
    assert message.format(tmp=tmp_path) in capsys.readouterr().err
    assert not list((tmp_path / "out").glob("*.json"))


def test_a_checkpoint_with_nan_weights_is_bad_input_naming_the_file(tmp_path, capsys, no_work):
    from bench.testing.synthetic_weights import save_mmpose_checkpoint

    name = "keypoint_head.final_layers.0.weight"  # values are checked before keys and shapes
    state = {name: torch.full((14, 32, 1, 1), float("nan"))}
    path = tmp_path / "nan.pth"
    save_mmpose_checkpoint(state, path, meta={})
    assert main(reproduce_args(tmp_path, "--checkpoint", str(path))) == 2
    err = capsys.readouterr().err
    assert f"checkpoint {path} holds NaN or infinite values" in err and name in err


def test_an_annotation_folder_is_named_as_a_folder(tmp_path, capsys, no_work):
    args = reproduce_args(tmp_path)
    args[args.index("--ann-file") + 1] = str(tmp_path)
    assert main(args) == 2
    assert f"annotation file {tmp_path} (from --ann-file) is a folder" in capsys.readouterr().err


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders anyway")
def test_a_read_only_out_folder_is_bad_input(tmp_path, capsys, no_work):
    out = tmp_path / "read-only"
    out.mkdir()
    out.chmod(0o500)
    try:
        args = reproduce_args(tmp_path)
        args[args.index("--out") + 1] = str(out)
        assert main(args) == 2
        assert "cannot be created or written" in capsys.readouterr().err
    finally:
        out.chmod(0o700)


def test_evaluate_json_pointing_at_a_folder_is_bad_input(tmp_path, capsys):
    results = tmp_path / "results.json"
    results.write_text(json.dumps([]))
    assert main(["evaluate", str(SAMPLE_GT), str(results), "--json", str(tmp_path)]) == 2
    assert f"--json {tmp_path} is a folder, not a file" in capsys.readouterr().err


def test_compare_and_profile_out_pointing_at_a_file_is_bad_input(tmp_path, capsys):
    target = a_file(tmp_path)
    assert main(["compare", str(tmp_path), "--out", str(target)]) == 2
    assert f"--out {target} is a file, not a folder" in capsys.readouterr().err
    assert main(["profile", "--out", str(target)]) == 2
    assert f"--out {target} is a file, not a folder" in capsys.readouterr().err


def test_an_image_over_the_input_limits_in_the_annotations_stops_the_run_at_the_start(tmp_path, capsys,
                                                                                     no_work):
    gt = json.loads(SAMPLE_GT.read_text())
    gt["images"][0].update(width=4000, height=10)
    ann_file = tmp_path / "gt.json"
    ann_file.write_text(json.dumps(gt))
    args = reproduce_args(tmp_path)
    args[args.index("--ann-file") + 1] = str(ann_file)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"image id {gt['images'][0]['id']} ({gt['images'][0]['file_name']}): a 4000x10 image needs a " \
           "409600x1024 network input: its aspect ratio 400.0 is over the limit 8" in err


@pytest.mark.parametrize(("flags", "message"), [
    (lambda tmp: [str(tmp / "missing.json"), str(SAMPLE_GT)], "diff input {tmp}/missing.json does not exist"),
    (lambda tmp: [str(SAMPLE_GT), str(SAMPLE_GT)], "not a bench report"),
    (lambda tmp: [str(SAMPLE_GT), str(SAMPLE_GT), "--out", str(a_file(tmp))], "--out {tmp}/a-file is a file"),
])
def test_diff_refuses_bad_input_with_exit_2(tmp_path, capsys, flags, message):
    assert main(["diff", "--out", str(tmp_path / "out"), *flags(tmp_path)]) == 2
    assert message.format(tmp=tmp_path) in capsys.readouterr().err
    assert not (tmp_path / "out" / "diff.md").exists()


def test_diff_refuses_bad_bootstrap_settings_naming_the_config_file(tmp_path, capsys):
    path = tmp_path / "config.toml"
    path.write_text("[diff.bootstrap]\nresamples = -1\n")
    assert main(["diff", str(SAMPLE_GT), str(SAMPLE_GT), "--out", str(tmp_path / "out"),
                 "--config", str(path)]) == 2
    assert f"{path}: [diff]: bootstrap resamples must be >= 0" in capsys.readouterr().err
