"""Options of the reproduction suites: check a report, or rerun the reproduction first.

    pytest suites --report results/reproduce-....json        # check a report written by `bench reproduce`
    pytest suites --data-root $CROWDPOSE_ROOT [--checkpoint PATH|URL] [--device cuda] [--limit N]
    pytest suites ... --gate                                  # any skipped row fails (CI gates)
    pytest suites ... --baseline-report OLD.json              # regression gate against our own report
"""

from __future__ import annotations

import pytest

REPORTS = pytest.StashKey[dict]()
CHECKED = pytest.StashKey[object]()
"""The report the suites checked (given or rerun), for the terminal summary."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("reproduction suites")
    group.addoption("--report", help="a reproduce report (JSON) to check instead of rerunning")
    group.addoption("--checkpoint", help="checkpoint path or URL for a rerun (default: the published URL)")
    group.addoption("--data-root", help="CrowdPose root for a rerun (default: $CROWDPOSE_ROOT)")
    group.addoption("--device", default="auto", help="device for a rerun: auto, cpu, cuda")
    group.addoption("--limit", type=int, help="rerun on the first N test images only (labelled as a subset)")
    group.addoption("--out", default="runs", help="where a rerun writes its report (default: runs)")
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


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    """What the checked report says is missing (no checkpoint, no data), once, after the skipped rows
    that it explains."""
    report = config.stash.get(CHECKED, None)
    if report is not None and report.errors:
        terminalreporter.write_sep("-", "what the report says is missing, and how to supply it")
        for problem in report.errors:
            terminalreporter.write_line(f"- {problem}")


@pytest.fixture(scope="session")
def gate(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--gate"))


@pytest.fixture(scope="session")
def report(request: pytest.FixtureRequest):
    """The reproduce report to check (``bench.reports.schema.Report``): the one given with --report, or a
    fresh rerun's."""
    given = request.config.stash[REPORTS].get("--report")
    request.config.stash[CHECKED] = given or _rerun(request.config)
    return request.config.stash[CHECKED]


def _rerun(config: pytest.Config):
    """A fresh reproduction with the suites' options; its report."""
    from bench.accuracy.reproduce import run_reproduction
    from bench.accuracy.settings import ReproduceConfig
    from bench.data.dataset import DataConfig

    settings = ReproduceConfig(
        checkpoint=config.getoption("--checkpoint"),
        data=DataConfig(data_root=config.getoption("--data-root"), limit=config.getoption("--limit")),
        device=config.getoption("--device"),
        out=config.getoption("--out"),
    )
    return run_reproduction(settings).report


@pytest.fixture(scope="session")
def baseline_report(request: pytest.FixtureRequest):
    return request.config.stash[REPORTS].get("--baseline-report")
