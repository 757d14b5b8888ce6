"""The package works when installed (not only from a checkout): its data files are inside the wheel,
and an installed copy says that its git commit is unknown instead of borrowing one."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).parents[1]
PACKAGE_DATA = (
    "bench/published.toml",
    "bench/accuracy/semantics.toml",
    "bench/devicecheck/cases.toml",
    "bench/assets/crowdpose_sample/test_crowdpose.json",
    "bench/assets/crowdpose_sample/test_crowdpose_det_AP_40.json",
    "bench/assets/crowdpose_sample/103319.jpg",
    "bench/assets/crowdpose_sample/106848.jpg",
)
BUILD_INPUTS = ("pyproject.toml", "README.md", "bench", "reference")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built from a copy of what the build reads, so no build/ or egg-info lands in the checkout."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    source.mkdir()
    for name in BUILD_INPUTS:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(REPO / name, source / name)
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                            "--wheel-dir", str(work / "dist"), str(source)],
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    (path,) = (work / "dist").glob("hhrnet_crowdpose_bench-*.whl")
    return path


@pytest.mark.slow
def test_wheel_holds_the_published_data_the_sample_and_every_package(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert set(PACKAGE_DATA) <= names
    packages = {str(path.relative_to(REPO)) for root in ("bench", "reference")
                for path in (REPO / root).rglob("*.py")}
    assert packages <= names, sorted(packages - names)


@pytest.mark.slow
def test_an_installed_copy_records_that_its_commit_is_unknown(wheel, tmp_path):
    """Installed from the wheel (not editable), the code is no checkout: no commit is recorded, and the
    record says why. The interpreter runs without site-packages, so only the installed copy is seen."""
    target = tmp_path / "site"
    installed = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index",
                                "--target", str(target), str(wheel)], capture_output=True, text=True,
                               timeout=300)
    assert installed.returncode == 0, installed.stderr
    script = ("import json; from bench.reports.provenance import code_provenance, PACKAGE_ROOT; "
              "print(json.dumps([str(PACKAGE_ROOT), code_provenance()]))")
    finished = subprocess.run([sys.executable, "-S", "-c", script], capture_output=True, text=True,
                              cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(target)}, timeout=60)
    assert finished.returncode == 0, finished.stderr
    root, provenance = json.loads(finished.stdout)
    assert Path(root) == target.resolve()
    assert provenance["git_commit"] is None and provenance["git_dirty"] is None
    assert "not a git checkout" in provenance["code_source"] and "commit unknown" in provenance["code_source"]
