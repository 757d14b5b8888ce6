"""Environment REFs of `bench ab` (`env:FILE`): the file's packages and key, and one end-to-end run in
real virtual environments built offline from wheels of a fake distribution, `benchprobe`, made here.
The generated repository's grouping reads `benchprobe.SHIFT_PX`, so two versions of it predict
differently on the same commit."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import zipfile
from importlib.metadata import version
from pathlib import Path

import pytest
from test_ab import make_repo

from bench.errors import BenchError
from bench.evaluation.bootstrap import BootstrapSettings
from bench.moved.ab import AbSettings, run_ab
from bench.moved.environments import ENVS, environment_python, pinned_versions, read_environment_file
from bench.moved.runner import Runner, Setup, SideFailed, check_imports, failure, run_python
from bench.moved.sides import resolve_ref
from bench.testing.synthetic_data import DetectionSpec, GroundTruthSpec, make_detections, make_ground_truth

PREDICT = """import json, sys
from pipeline import SHIFT_PX
detections = json.load(open(sys.argv[1]))
moved = sorted({det["image_id"] for det in detections})[:3]
for det in detections:
    if det["image_id"] in moved:
        det["keypoints"] = [value + SHIFT_PX * (index % 3 != 2)
                            for index, value in enumerate(det["keypoints"])]
json.dump(detections, open(sys.argv[2], "w"))
"""
REPO_FILES = {"bench/__init__.py": "", "bench/__main__.py": "", "predict.py": PREDICT}
PIPELINE = "from benchprobe import SHIFT_PX\n"


def build_wheel(folder: Path, release: str, shift_px: float) -> Path:
    """A wheel of `benchprobe` RELEASE whose module holds SHIFT_PX, written by hand (no build tools)."""
    info = f"benchprobe-{release}.dist-info"
    files = {"benchprobe.py": f"SHIFT_PX = {shift_px!r}\n",
             f"{info}/METADATA": f"Metadata-Version: 2.1\nName: benchprobe\nVersion: {release}\n",
             f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\n"
                              "Tag: py3-none-any\n"}
    record = [f"{path},sha256={digest(text)},{len(text.encode())}" for path, text in files.items()]
    files[f"{info}/RECORD"] = "\n".join([*record, f"{info}/RECORD,,", ""])
    path = folder / f"benchprobe-{release}-py3-none-any.whl"
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as wheel:
        for name, text in files.items():
            wheel.writestr(name, text)
    return path


def digest(text: str) -> str:
    """A RECORD entry's hash: urlsafe base64 of the sha256, without padding."""
    return base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()


def predictions_runner(detections: Path) -> Runner:
    """The real import check, and predictions made by the tree's `predict.py` run by the side's own
    interpreter (``run_python``, as every side runs); no profile."""

    def predictions(setup: Setup, out: Path) -> Path:
        out.mkdir(parents=True, exist_ok=True)
        code = run_python(setup, [str(setup.tree / "predict.py"), str(detections), str(out / "results.json")],
                          out / "predict.log")
        if code:
            raise failure("predict.py", code, out / "predict.log")
        return out / "results.json"

    def no_profile(setup: Setup, out: Path) -> dict[str, list[float]]:
        raise AssertionError("no speed is measured here")

    return Runner(check=check_imports, profile_round=no_profile, predictions=predictions)


def generated_data(folder: Path) -> tuple[Path, Path]:
    """A generated annotation file and detections on it."""
    gt = make_ground_truth(GroundTruthSpec(num_images=8, seed=5, edge_cases=False, min_size=200,
                                           max_size=300))
    (folder / "gt.json").write_text(json.dumps(gt))
    (folder / "detections.json").write_text(json.dumps(make_detections(gt, DetectionSpec(seed=6,
                                                                                         edge_cases=False))))
    return folder / "gt.json", folder / "detections.json"


def test_an_environment_file_names_its_packages_and_its_key_follows_its_bytes(tmp_path):
    text = ("# pins\n--find-links ./wheels\n-c other.txt\n"
            "OpenCV_Python-Headless==4.10.0.84  # the one moved\nnumpy==2.4.6 \\\n    --hash=sha256:00\n"
            "torch==2.13.0; python_version >= '3'\nnumpy>=2\nfuture==1.0; python_version < '3'\n")
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "env.txt").write_text(text)
    (tmp_path / "b.txt").write_text(text)
    (tmp_path / "c.txt").write_text(text + "scipy\n")
    first, same, other = (read_environment_file(tmp_path / name) for name in ("a/env.txt", "b.txt", "c.txt"))
    assert first.pins == (("opencv-python-headless", "==4.10.0.84"), ("numpy", "==2.4.6,>=2"),
                          ("torch", "==2.13.0"))  # the line for Python 2 does not count
    assert first.key == same.key and len(first.key) == 16 and other.key != first.key
    assert first.sha256 == hashlib.sha256(text.encode()).hexdigest()
    (tmp_path / "bad.txt").write_text("numpy==2\n\n./local/folder\n")
    with pytest.raises(BenchError, match=r"bad.txt line 3: './local/folder' is not a requirement"):
        read_environment_file(tmp_path / "bad.txt")


@pytest.mark.slow
def test_two_environments_on_one_commit_differ_where_their_package_does(tmp_path, monkeypatch):
    monkeypatch.setenv("PIP_CACHE_DIR", str(tmp_path / "pip-cache"))
    wheels = tmp_path / "wheels"
    build_wheel(wheels, "1.0", 0.0)
    build_wheel(wheels, "2.0", 25.0)
    numpy = version("numpy")
    for name, pins in (("a.txt", f"benchprobe==1.0\nnumpy=={numpy}\n"), ("b.txt", "benchprobe==2.0\n")):
        (tmp_path / name).write_text(f"--no-index\n--find-links {wheels}\n{pins}")
    make_repo(tmp_path / "repo", [PIPELINE], REPO_FILES)
    gt, detections = generated_data(tmp_path)
    runner = predictions_runner(detections)
    refs = {name: resolve_ref(tmp_path / "repo", f"env:{tmp_path / name}") for name in ("a.txt", "b.txt")}
    settings = AbSettings(out=tmp_path / "ab", cache=tmp_path / "cache", accuracy=True, max_rounds=0, gt=gt,
                          bootstrap=BootstrapSettings(resamples=50))

    changed = run_ab(tmp_path / "repo", refs["a.txt"], refs["b.txt"], runner, settings)
    assert changed.accuracy.changed and len(changed.accuracy.changed_images) == 3 and changed.exit_code == 1
    record = json.loads((tmp_path / "ab" / "ab.json").read_text())
    base, head = record["base"], record["head"]
    assert base["kind"] == head["kind"] == "environment" and base["commit"] == head["commit"]
    assert base["environment"]["packages"] == {"benchprobe": "1.0", "numpy": numpy}
    assert head["environment"]["packages"] == {"benchprobe": "2.0"}
    assert head["environment"]["sha256"] == hashlib.sha256((tmp_path / "b.txt").read_bytes()).hexdigest()
    assert f"head: env:{tmp_path / 'b.txt'} (environment on commit {head['commit']}" in "\n".join(
        changed.lines())
    installed = {path.name for path in (tmp_path / "cache" / ENVS).glob("*/lib/*/site-packages/*")}
    assert "benchprobe.py" in installed and "numpy" not in installed  # numpy came from this environment

    same = run_ab(tmp_path / "repo", refs["a.txt"], refs["a.txt"], runner,
                  AbSettings(**{**settings.__dict__, "out": tmp_path / "aa"}))
    assert not same.accuracy.changed and set(same.accuracy.outcomes.values()) == {"identical"}
    assert same.lines()[-1].startswith("accuracy: same") and same.exit_code == 0
    assert len([path for path in (tmp_path / "cache" / ENVS).iterdir() if path.is_dir()]) == 2  # reused
    drifted = dataclasses.replace(refs["a.txt"].environment, pins=(("numpy", "==1.0"), ("benchprobe", "")))
    with pytest.raises(SideFailed, match="no longer meets the file: numpy .* against ==1.0. The environment"):
        pinned_versions(drifted, same.base.setup.python)


@pytest.mark.slow
def test_an_environment_pip_cannot_install_is_a_failed_side_quoting_pip(tmp_path, monkeypatch):
    monkeypatch.setenv("PIP_CACHE_DIR", str(tmp_path / "pip-cache"))
    (tmp_path / "missing.txt").write_text(f"--no-index\n--find-links {tmp_path}\nbenchprobe==9.0\n")
    environment = read_environment_file(tmp_path / "missing.txt")
    with pytest.raises(SideFailed, match=r"(?s)pip install -r .*missing.txt.* status 1 .*benchprobe==9.0"):
        environment_python(environment, tmp_path / "cache")
    envs = tmp_path / "cache" / ENVS
    assert [path.name for path in envs.iterdir()] == [f"{environment.key}-build.log"]  # no environment left
