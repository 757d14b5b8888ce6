"""Options of the reproduction suites: check a report, or rerun the reproduction first.

    pytest suites --report results/reproduce-....json        # check a report written by `bench reproduce`
    pytest suites --data-root $CROWDPOSE_ROOT [--checkpoint PATH|URL] [--device cuda] [--limit N]
    pytest suites ... --gate                                  # any skipped row fails (CI gates)
    pytest suites ... --baseline-report OLD.json              # regression gate against our own report
"""

from __future__ import annotations

import pytest

REPORTS = pytest.StashKey[dict]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("reproduction suites")
    group.addoption("--report", help="a reproduce report (JSON) to check instead of rerunning")
    group.addoption("--checkpoint", help="checkpoint path or URL for a rerun (default: the published URL)")
    group.addoption("--data-root", help="CrowdPose root for a rerun (default: $CROWDPOSE_ROOT)")
    group.addoption("--device", default="auto", help="device for a rerun: auto, cpu, cuda")
    group.addoption("--limit", type=int, help="rerun on the first N test images only (labelled as a subset)")
    group.addoption("--out", default="results", help="where a rerun writes its report")
    group.addoption("--gate", action="store_true", help="a skipped row fails instead of skipping")
    group.addoption("--baseline-report", help="an earlier report of ours to match within 1e-4")


def pytest_sessionstart(session: pytest.Session) -> None:
    """Read the given reports once, through the package's own loader: a corrupt report, or one that is
    not a reproduce report, stops the session with one clear message instead of an error per test."""
    from bench.errors import BenchError
    from bench.reports.schema import load_report

    loaded = {}
    for option in ("--report", "--baseline-report"):
        path = session.config.getoption(option)
        if not path:
            continue
        try:
            report = load_report(path)
        except BenchError as error:
            raise pytest.UsageError(f"{option}: {error}") from None
        if report.kind != "reproduce":
            raise pytest.UsageError(f"{option} {path} is a {report.kind} report, not a reproduce report")
        loaded[option] = report
    session.config.stash[REPORTS] = loaded


@pytest.fixture(scope="session")
def gate(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--gate"))


@pytest.fixture(scope="session")
def report(request: pytest.FixtureRequest):
    """The reproduce report to check (``bench.reports.schema.Report``): the one given with --report, or a
    fresh rerun's."""
    from bench.accuracy.reproduce import run_reproduction
    from bench.accuracy.settings import ReproduceConfig
    from bench.data.dataset import DataConfig

    given = request.config.stash[REPORTS].get("--report")
    if given:
        return given
    config = ReproduceConfig(
        checkpoint=request.config.getoption("--checkpoint"),
        data=DataConfig(data_root=request.config.getoption("--data-root"),
                        limit=request.config.getoption("--limit")),
        device=request.config.getoption("--device"),
        out=request.config.getoption("--out"),
    )
    return run_reproduction(config).report


@pytest.fixture(scope="session")
def baseline_report(request: pytest.FixtureRequest):
    return request.config.stash[REPORTS].get("--baseline-report")
