"""What the light commands load when they run, checked in a fresh interpreter: the import contracts of
pyproject.toml see the imports written in the code, this sees the ones that happen (a library that
imports another on its own, an import inside a function).

`bench evaluate`, `bench compare`, `bench diff` and `bench publish` read JSON and compute with numpy,
scipy and pandas: none of them may load torch, OpenCV or statsmodels, and matplotlib only where it draws
(diff's plot, compare's --out and --html, publish's tables and page).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import write_profile

from bench.data.sample import SAMPLE_GT

NEVER = {"torch", "cv2", "statsmodels", "arch"}
DRAWING = "matplotlib"


def loaded_by(arguments: list[str], cwd: Path) -> tuple[int, set[str]]:
    """The exit status of ``python -m bench ARGUMENTS`` run in a fresh interpreter, and the top-level
    packages loaded by the time it returned."""
    script = ("import json, sys\nfrom bench.__main__ import main\ncode = main(json.loads(sys.argv[1]))\n"
              "print(json.dumps([code, sorted({name.split('.')[0] for name in sys.modules})]))")
    finished = subprocess.run([sys.executable, "-c", script, json.dumps(arguments)], capture_output=True,
                              text=True, cwd=cwd, timeout=120)
    assert finished.returncode == 0, finished.stderr
    code, modules = json.loads(finished.stdout.splitlines()[-1])
    return code, set(modules)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, environment) -> Path:
    """A results file on the bundled sample's GT, and two profile reports of one machine."""
    folder = tmp_path_factory.mktemp("inputs")
    gt = json.loads(SAMPLE_GT.read_text())
    results = [{"image_id": ann["image_id"], "category_id": 1, "keypoints": ann["keypoints"], "score": 1.0}
               for ann in gt["annotations"] if ann["num_keypoints"]]
    (folder / "results.json").write_text(json.dumps(results))
    for day, forward_ms in ((1, 100.0), (2, 101.0)):
        write_profile(folder / "reports", environment, "aaaa00000000", day, {"forward": forward_ms})
    return folder


def test_evaluate_loads_nothing_heavy(inputs):
    code, modules = loaded_by(["evaluate", str(SAMPLE_GT), str(inputs / "results.json")], inputs)
    assert code == 0 and not modules & (NEVER | {DRAWING}), modules & (NEVER | {DRAWING})


def test_compare_loads_nothing_heavy_and_draws_only_when_asked(inputs, tmp_path):
    code, modules = loaded_by(["compare", str(inputs / "reports")], inputs)
    assert code == 0 and not modules & (NEVER | {DRAWING}), modules & (NEVER | {DRAWING})
    code, modules = loaded_by(["compare", str(inputs / "reports"), "--out", str(tmp_path / "out"),
                               "--html", str(tmp_path / "page.html")], inputs)
    assert code == 0 and DRAWING in modules and not modules & NEVER, modules & NEVER


def test_diff_loads_nothing_heavy_but_the_plotting_library(inputs, tmp_path):
    results = str(inputs / "results.json")
    code, modules = loaded_by(["diff", results, results, "--gt", str(SAMPLE_GT),
                               "--out", str(tmp_path)], inputs)
    assert code == 0 and not modules & NEVER, modules & NEVER
    assert (tmp_path / "mean_oks.png").is_file()


def test_the_command_list_is_shown_without_importing_any_command(inputs):
    finished = subprocess.run([sys.executable, "-c", "import sys\nfrom bench.__main__ import build_parser\n"
                               "build_parser([]).format_help()\nprint(sorted(sys.modules))"],
                              capture_output=True, text=True, cwd=inputs, timeout=120)
    assert finished.returncode == 0, finished.stderr
    assert "torch" not in finished.stdout and "bench.commands.reproduce" not in finished.stdout


HELP_NEVER = {"torch", "torchvision", "pandas", "scipy", "matplotlib", "statsmodels", "onnxruntime",
              "openvino"}
"""What no command's ``--help`` may load: help is instant (reproduce's data options load OpenCV, 0.1 s)."""


def test_every_command_help_loads_none_of_the_heavy_libraries(inputs):
    """One interpreter asks every command for its help in turn: what any of them loads is seen."""
    script = ("import contextlib, io, sys\nfrom bench.__main__ import build_parser\n"
              "from bench.commands import COMMANDS\nfor name in COMMANDS:\n"
              "    with contextlib.redirect_stdout(io.StringIO()) as text, contextlib.suppress(SystemExit):\n"
              "        build_parser([name]).parse_args([name, '--help'])\n"
              "    assert name in text.getvalue(), name\n"
              "print(sorted({module.split('.')[0] for module in sys.modules}))")
    finished = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=inputs,
                              timeout=120)
    assert finished.returncode == 0, finished.stderr
    loaded = set(json.loads(finished.stdout.replace("'", '"')))
    assert not loaded & HELP_NEVER, loaded & HELP_NEVER


def test_publish_loads_nothing_heavy_but_the_plotting_library(inputs, tmp_path):
    """`nox -s publish` installs no torch: publishing must not need it."""
    reports = sorted((inputs / "reports").glob("*.json"))
    code, modules = loaded_by(["publish", *map(str, reports), "--into", str(tmp_path / "results")], inputs)
    assert code == 0 and not modules & NEVER, modules & NEVER
