"""Shared test fixtures: paths to the bundled data (in the repository, so a fresh clone has them)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

DATA_DIR = Path(__file__).parent / "data"
SAMPLE_DIR = Path(__file__).parents[1] / "bench" / "assets" / "crowdpose_sample"
MMPOSE_FIXTURES = DATA_DIR / "mmpose_v0.29.0"


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
