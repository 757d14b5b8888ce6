"""Shared test fixtures: paths to the bundled data (in the repository, so a fresh clone has them), and
the ``--accept`` option that regenerates golden files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

DATA_DIR = Path(__file__).parent / "data"
SAMPLE_DIR = Path(__file__).parents[1] / "bench" / "assets" / "crowdpose_sample"
MMPOSE_FIXTURES = DATA_DIR / "mmpose_v0.29.0"
ACCEPT_GOLDENS_ENV = "BENCH_ACCEPT_GOLDENS"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--accept", action="store_true",
                     help=f"regenerate the golden files in tests/data and print what changed "
                          f"(or {ACCEPT_GOLDENS_ENV}=1); run with -n 0 to see the changes")


@pytest.fixture(scope="session")
def accept_goldens(request: pytest.FixtureRequest) -> bool:
    """Whether tests with golden files rewrite them (``--accept`` or BENCH_ACCEPT_GOLDENS=1), as
    torchvision's EXPECTTEST_ACCEPT, instead of comparing against them."""
    return bool(request.config.getoption("--accept")) or os.environ.get(ACCEPT_GOLDENS_ENV) == "1"


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    """2 real CrowdPose test images with their GT (`test_crowdpose.json`)."""
    return SAMPLE_DIR


@pytest.fixture(scope="session")
def mmpose_fixtures() -> Path:
    """Reference outputs of mmpose 0.29.0 (see its README.md)."""
    return MMPOSE_FIXTURES


@pytest.fixture(scope="session")
def environment():
    """This machine's environment (``bench.reports.environment.Environment``), taken once."""
    from bench.reports.machine import this_environment

    return this_environment()
