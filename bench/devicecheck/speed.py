"""Steps: profile the case matrix through `bench profile`'s Python API on the overlapped schedule (the one
`bench reproduce` runs), one step per precision and one per runtime case, reduced to each case's
throughput and its network / post-processing split; then judge the throughput goals of the cases file on
those rows."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.devicecheck.cases import Goal
from bench.devicecheck.outcome import StepOutcome
from bench.reports.schema import Report
from bench.reports.stats import END_TO_END
from bench.schedule import READ_IMAGE
from bench.speed.profile import ProfileConfig, run_profile
from reference.pipeline import PREPROCESS, TO_DEVICE, forward_stage

PREPARATION = (READ_IMAGE, PREPROCESS, TO_DEVICE)


def profile_step(name: str, configs: Sequence[ProfileConfig]) -> StepOutcome:
    """Profile every case of ``configs`` (a precision of the matrix, or a runtime case), one report each,
    and reduce each to its speed row (``data["speed"]``)."""
    written = [case for config in configs for case in run_profile(config)]
    rows = [speed_row(report, paths["json"]) for report, paths in written]
    return StepOutcome(name, True, f"{len(rows)} cases profiled",
                       reports=tuple(paths["json"] for _, paths in written), data={"speed": rows})


def speed_row(report: Report, path: Path) -> dict[str, Any]:
    """One case: images/s, and the mean ms per batch of the network (every forward pass) and of the
    post-processing (aggregation, grouping, mapping back: every pipeline stage after the network),
    and post-processing relative to the network. On the overlapped schedule the stages run beside
    each other, so their times are work per batch, not shares of the wall time."""
    timings = report.timings
    forwards = {forward_stage(scale) for scale in report.config.scales}
    network = sum(stats.mean_ms for stage, stats in timings.items() if stage in forwards)
    post = sum(stats.mean_ms for stage, stats in timings.items()
               if stats.in_iteration and stage not in forwards | {END_TO_END, *PREPARATION})
    return {"case": report.config.label, "precision": report.config.precision, "batch": report.config.batch,
            "runtime": report.config.runtime,
            "schedule": report.config.schedule, "images_per_s": report.throughput.images_per_s,
            "end_to_end_ms": timings[END_TO_END].mean_ms, "network_ms": network, "postprocess_ms": post,
            "postprocess_vs_network": post / network if network else None, "report": path.name}


def judge_goals(goals: tuple[Goal, ...], speed_rows: list[dict[str, Any]]) -> StepOutcome:
    """Each goal against the speed row of its case on its runtime and precision (and, for a relative goal,
    the row of the same case it is relative to): met, not met, or not measured."""
    if not goals:
        return StepOutcome("goals", True, "no throughput goals in this matrix", data={"goals": []})
    judged = [{**goal.describe(*(_speed_of(speed_rows, goal.label, *pair) for pair in goal.workloads)),
               "goal": goal.label, "runtime": goal.runtime, "precision": goal.precision} for goal in goals]
    missed = [entry for entry in judged if entry["status"] != "met"]
    detail = "; ".join(f"{entry['goal']} {entry['runtime']} {entry['precision']}: {entry['status']} "
                       f"({entry['detail']})" for entry in judged)
    return StepOutcome("goals", not missed, detail,
                       f"{len(missed)} of {len(judged)} goals not met" if missed else None,
                       data={"goals": judged})


def _speed_of(speed_rows: list[dict[str, Any]], case: str, runtime: str,
              precision: str) -> dict[str, Any] | None:
    """The speed row of ``case`` on ``runtime`` at ``precision``, or None where it was not profiled."""
    return next((row for row in speed_rows
                 if (row["case"], row["runtime"], row["precision"]) == (case, runtime, precision)), None)
