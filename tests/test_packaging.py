"""The package works when installed (not only from a checkout): its data files are inside the wheel."""

from __future__ import annotations

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


@pytest.mark.slow
def test_wheel_holds_the_published_data_the_sample_and_every_package(tmp_path):
    source = tmp_path / "source"  # a copy, so the build leaves no build/ or egg-info in the checkout
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
        ".git", ".nox", ".benchmarks", "build", "results", "*.egg-info", "__pycache__"))
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                            "--wheel-dir", str(tmp_path / "dist"), str(source)],
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("hhrnet_crowdpose_bench-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert set(PACKAGE_DATA) <= names
    packages = {str(path.relative_to(REPO)) for root in ("bench", "reference")
                for path in (REPO / root).rglob("*.py")}
    assert packages <= names, sorted(packages - names)
