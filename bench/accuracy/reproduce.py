"""`bench reproduce`: rerun the published CrowdPose rows and say, row by row, what reproduced.

Five steps, one module each, in the order a run takes them: ``plan`` (which rows, weights and images;
bad input stops here), ``predict`` (the network once per shared forward, cached and resumable),
``score`` (every row's numbers from one matching of its images), ``judge`` (each row's verdict, a pure
function of its result and the expected table) and ``write`` (the report and the summary). When a
published row is skipped (no checkpoint or data, a subset, another checkpoint), the bundled 2-image
sample runs the rows end to end as *smoke* rows, never compared, with the checkpoint if there is one,
else with deterministic synthetic weights calibrated to give plausible heatmaps and tags. Under
torchrun the images are sharded over ranks and rank 0 scores, judges and writes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from bench.accuracy import distributed
from bench.accuracy.expected import ExpectedTable, load_expected
from bench.accuracy.judge import exit_code, verdict
from bench.accuracy.plan import DataRun, make_plan, smoke_run
from bench.accuracy.predict import Site, predict_rows
from bench.accuracy.score import not_run, score_rows
from bench.accuracy.settings import ReproduceConfig
from bench.accuracy.write import reproduce_report, write
from bench.devices import resolve_device
from bench.errors import DiskFull, is_disk_full
from bench.reports.machine import this_environment
from bench.reports.rows import Row
from bench.reports.schema import ForwardThroughput, Report
from bench.runtimes.available import check_runtime


@dataclass(frozen=True)
class ReproductionResult:
    """The report (None on ranks other than 0), the files written, the summary table, the exit code."""

    report: Report | None
    paths: dict[str, Path]
    summary: str
    exit_code: int


def run_reproduction(config: ReproduceConfig, model: nn.Module | None = None) -> ReproductionResult:
    """Plan, predict, score, judge and write the rows of ``config`` (and the sample's smoke rows when a
    published row is skipped). ``model``, if given, replaces the checkpoint: its weights are
    "provided", so published rows are measured, never compared."""
    table = load_expected(config.expected)
    device = resolve_device(config.device)
    runtime = check_runtime(config.runtime, config.precision, device)  # a runtime that cannot run: exit 2
    if device.type == "cpu":  # the same count in every process: CPU float results depend on it
        torch.set_num_threads(config.threads or os.cpu_count() or 1)
    topology = distributed.init_from_env(device.type)
    if topology.distributed and device.type == "cuda":
        device = torch.device("cuda", topology.local_rank)
    try:
        with disk_full_explained(config):
            return _run(config, table, device, topology, model, runtime)
    finally:
        distributed.shutdown(topology)


def _run(config: ReproduceConfig, table: ExpectedTable, device: torch.device,
         topology: distributed.Topology, model: nn.Module | None, runtime: str | None) -> ReproductionResult:
    """The five steps (see the module docstring); the smoke rows when a published row is skipped.
    ``runtime``: the network runtime's name and version (None: torch)."""
    plan = make_plan(config, table, topology, model)
    site = Site(device, topology, this_environment(runtime=runtime).fingerprint_id)
    if plan.run is not None:
        rows, forwards = run_rows(plan.run, config, site, table)
    else:
        rows, forwards = [Row(result, verdict(result, table)) for result in not_run(plan)], []
    # rank 0 holds the verdicts (the other ranks hold none), so it decides for all
    skipped = any(row.verdict.status == "skipped" for row in rows)
    if distributed.broadcast_from_main(config.sample and skipped, topology):
        smoke_rows, smoke_forwards = run_rows(smoke_run(plan), config, site, table)
        rows, forwards = rows + smoke_rows, forwards + smoke_forwards
    if not topology.is_main:
        return ReproductionResult(None, {}, "", distributed.broadcast_from_main(0, topology))
    report = reproduce_report(config, plan, device, rows, forwards, runtime)
    paths, summary = write(report, config.out)
    return ReproductionResult(report, paths, summary,
                              distributed.broadcast_from_main(exit_code(rows, config.strict), topology))


@contextmanager
def disk_full_explained(config: ReproduceConfig) -> Iterator[None]:
    """Turn the disk filling up into a DiskFull that says what was kept and how to resume."""
    try:
        yield
    except OSError as error:
        if not is_disk_full(error):
            raise
        raise DiskFull(f"the disk is full (writing {error.filename or 'a file'}). Kept: every image "
                       f"predicted so far, in the prediction cache {config.cache_dir}; no partial report was "
                       f"left in {config.out} (reports are written whole or not at all). Free some space and "
                       "rerun the same command: it resumes from the cache") from None


def run_rows(run: DataRun, config: ReproduceConfig, site: Site,
             table: ExpectedTable) -> tuple[list[Row], list[ForwardThroughput]]:
    """Predict, score and judge the rows of one data run (no rows on ranks other than 0)."""
    predicted = predict_rows(run, config, site)
    if predicted is None:
        return [], []
    return ([Row(result, verdict(result, table)) for result in score_rows(run, predicted, config.bootstrap)],
            list(predicted.forwards))
