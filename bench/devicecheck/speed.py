"""Step: profile the case matrix through `bench profile`'s Python API, one step per precision, and
reduce each case's report to its throughput and its network / post-processing split."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.devicecheck.outcome import StepOutcome
from bench.devicecheck.settings import CaseMatrix
from bench.reports.schema import Report
from bench.reports.stats import END_TO_END
from bench.speed.profile import ProfileConfig, run_profile
from reference.pipeline import PREPROCESS, TO_DEVICE, forward_stage

DECODE = "decode"  # `bench profile`'s own stage: reading the JPEG files
PREPARATION = (DECODE, PREPROCESS, TO_DEVICE)


def profile_precision(matrix: CaseMatrix, precision: str, device: str, out: Path,
                      checkpoint: str | None) -> StepOutcome:
    """Profile every batch on the bundled sample and on the synthetic sizes at ``precision``."""
    common = dict(device=device, batch_sizes=matrix.batches, iters=matrix.iters, warmup=matrix.warmup,
                  precision=precision, input_size=matrix.profile_input_size, checkpoint=checkpoint,
                  out_dir=out)
    written = (run_profile(ProfileConfig(inputs="sample", **common))
               + run_profile(ProfileConfig(inputs="synthetic", sizes=matrix.sizes, **common)))
    rows = [speed_row(report, paths["json"]) for report, paths in written]
    return StepOutcome(f"profile {precision}", True, f"{len(rows)} cases profiled",
                       reports=tuple(paths["json"] for _, paths in written), data={"speed": rows})


def speed_row(report: Report, path: Path) -> dict[str, Any]:
    """One case: images/s, mean ms per iteration of the network (every forward pass) and of the
    post-processing (aggregation, grouping, mapping back: every other pipeline stage after the
    network), their shares of end to end, and post-processing relative to the network."""
    timings = report.timings
    forwards = {forward_stage(scale) for scale in report.config.scales}
    network = sum(stats.mean_ms for stage, stats in timings.items() if stage in forwards)
    post = sum(stats.mean_ms for stage, stats in timings.items()
               if stats.in_iteration and stage not in forwards | {END_TO_END, *PREPARATION})
    end_to_end = timings[END_TO_END].mean_ms
    return {"case": report.config.label, "precision": report.config.precision, "batch": report.config.batch,
            "images_per_s": report.throughput["images_per_s"], "end_to_end_ms": end_to_end,
            "network_ms": network, "postprocess_ms": post, "network_share": network / end_to_end,
            "postprocess_share": post / end_to_end,
            "postprocess_vs_network": post / network if network else None, "report": path.name}
