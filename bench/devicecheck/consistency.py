"""Steps: the bundled sample through `bench reproduce` on the device and on the CPU (same poses?), and
under `torchrun` with 2 processes (same metrics as one process?).

Every run is a child `python -m bench reproduce` with the same arguments (``reproduce_arguments``), so
the single-process runs and the torchrun run differ only in the launcher. The sample is given as the
dataset (``--ann-file``/``--img-dir``, and ``sample = false`` in its config file), so each row runs on
it exactly once; the weights are a local checkpoint file (real ones if given, else the calibrated
synthetic weights written to a scratch file), so nothing is downloaded; each run has its own prediction
cache, so none reads another's predictions.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from bench import atomic
from bench.data.sample import SAMPLE_DIR, SAMPLE_GT
from bench.devicecheck.cases import CaseMatrix, PoseTolerance
from bench.devicecheck.outcome import StepOutcome
from bench.devicecheck.poses import pose_differences
from bench.devicecheck.processes import run_bounded, tail
from bench.reading import read_json
from bench.reports.rows import RowResult
from bench.reports.schema import load_report
from bench.runtimes.names import runtime_problem
from bench.testing.synthetic_weights import calibrated_state_dict, save_mmpose_checkpoint
from reference.precisions import TORCH_RUNTIME

TORCHRUN_PROCESSES = 2
SYNTHETIC_CHECKPOINT = "calibrated-synthetic-hrnet.pth"


@dataclass(frozen=True)
class ReproducePlan:
    """What every reproduce run of one check shares: the weights file (``synthetic``: the calibrated
    weights ``prepare_weights`` writes there), the matrix (rows, network input size, time bound of one
    run), the report folder, a scratch folder for the prediction caches, the network runtime, and the
    folder of exported networks (None: the user's cache)."""

    checkpoint: str
    synthetic: bool
    matrix: CaseMatrix
    out: Path
    scratch: Path
    runtime: str
    network_cache_dir: str | None = None

    def runtime_on(self, device: str) -> str:
        """The runtime of a run on ``device``: the plan's, or torch where the plan's cannot run there (the
        CPU reference of a CUDA-only runtime is PyTorch's)."""
        return self.runtime if runtime_problem(self.runtime, "float32", device) is None else TORCH_RUNTIME


def reproduce_plan(matrix: CaseMatrix, out: Path, scratch: Path, checkpoint: str | None,
                   runtime: str, network_cache_dir: str | None = None) -> ReproducePlan:
    """The plan; without a checkpoint, its weights file is the scratch file ``prepare_weights`` writes."""
    return ReproducePlan(checkpoint or str(scratch / SYNTHETIC_CHECKPOINT), checkpoint is None, matrix, out,
                         scratch, runtime, network_cache_dir)


def prepare_weights(plan: ReproducePlan) -> StepOutcome:
    """Save the calibrated synthetic weights (mmpose's checkpoint layout) where the plan expects them,
    unless the plan names a checkpoint of its own."""
    if not plan.synthetic:
        return StepOutcome("weights", True, f"checkpoint {plan.checkpoint}")
    save_mmpose_checkpoint(calibrated_state_dict(), plan.checkpoint, meta={"note": "bench device-check"})
    return StepOutcome("weights", True, "calibrated synthetic weights (bench.testing.synthetic_weights)")


def reproduce_arguments(plan: ReproducePlan, device: str, run_name: str) -> list[str]:
    """`bench reproduce` arguments of one run on ``device``, its prediction cache named by ``run_name``
    (in the config file this writes: no image-reading workers, no smoke run, the matrix's input size, the
    plan's network cache if it names one, and one CPU thread per process, so that two torchrun ranks share
    two cores without oversubscribing them and every run computes with the same thread count)."""
    scales = [arg for row in plan.matrix.reproduce_scales
              for arg in ("--scales", ",".join(f"{scale:g}" for scale in row))]
    cache = json.dumps(str(plan.scratch / f"cache-{run_name}"))  # a TOML basic string is a JSON string
    networks = (f"network_cache_dir = {json.dumps(plan.network_cache_dir)}\n"
                if plan.network_cache_dir is not None else "")
    config = atomic.write_text(plan.scratch / f"config-{run_name}.toml", (
        f"[reproduce]\nworkers = 0\nthreads = 1\nsample = false\ncache_dir = {cache}\n{networks}"
        f"[reproduce.pipeline]\ninput_size = {plan.matrix.reproduce_input_size}\n"))
    return ["reproduce", "--checkpoint", plan.checkpoint, "--ann-file", str(SAMPLE_GT), "--img-dir",
            str(SAMPLE_DIR), "--device", device, "--runtime", plan.runtime_on(device), *scales, "--out",
            str(plan.out), "--config", str(config)]


def run_reproduce(plan: ReproducePlan, device: str, run_name: str, weights: StepOutcome,
                  launcher: tuple[str, ...] = ()) -> StepOutcome:
    """One `bench reproduce` child (under ``launcher`` if given, e.g. torchrun); its report in ``data``."""
    needed = _failed_inputs(weights)
    if needed:
        return StepOutcome(f"reproduce {run_name}", False, "not run", needed)
    command = [sys.executable, *launcher, "-m", "bench", *reproduce_arguments(plan, device, run_name)]
    finished = run_bounded(command, plan.matrix.reproduce_timeout_s)
    written = [Path(line.removeprefix("report: ")) for line in finished.stdout.splitlines()
               if line.startswith("report: ") and line.endswith(".json")]
    if finished.returncode != 0 or not written:
        return StepOutcome(f"reproduce {run_name}", False, "no report",
                           f"exit status {finished.returncode}: {tail(finished.stderr or finished.stdout)}")
    report = load_report(written[-1])
    rows = ", ".join(f"{row.result.name} AP {(row.result.metrics or {}).get('AP', float('nan')):.4f}"
                     for row in report.rows)
    return StepOutcome(f"reproduce {run_name}", True, rows, reports=(written[-1],), data={"report": report})


def compare_poses(device_run: StepOutcome, cpu_run: StepOutcome, tolerance: PoseTolerance) -> StepOutcome:
    """The device's poses against the CPU's, row by row: passed when every difference is explained."""
    needed = _failed_inputs(device_run, cpu_run)
    if needed:
        return StepOutcome("poses vs cpu", False, "not compared", needed)
    lines, unexplained = [], 0
    for ours, theirs in _paired_rows(device_run, cpu_run):
        differences = pose_differences(_detections(ours), _detections(theirs), tolerance.joint_tolerance_px,
                                       tolerance.explained)
        unexplained += sum(difference.explanation is None for difference in differences)
        lines += [f"{ours.name}: image {d.image_id}: {d.description}"
                  + (f" (explained: {d.explanation})" if d.explanation else " (unexplained)")
                  for d in differences]
    people = sum(len(_detections(row)) for row, _ in _paired_rows(device_run, cpu_run))
    detail = (f"{people} people, same people and joints within {tolerance.joint_tolerance_px:g} px"
              if not lines else f"{len(lines)} differences, {unexplained} unexplained: " + "; ".join(lines))
    return StepOutcome("poses vs cpu", unexplained == 0, detail,
                       f"{unexplained} differences not explained in the cases file" if unexplained else None)


def torchrun_device(device: str) -> tuple[str, str]:
    """Where the torchrun ranks run and with which backend: one GPU each over NCCL where there are
    enough, else on the CPU over gloo (ranks cannot share one GPU under NCCL)."""
    if device == "cuda" and torch.cuda.device_count() >= TORCHRUN_PROCESSES:
        return "cuda", "nccl"
    return "cpu", "gloo"


def compare_torchrun(plan: ReproducePlan, rank_device: str, backend: str, single: StepOutcome,
                     weights: StepOutcome) -> StepOutcome:
    """`torchrun --nproc-per-node 2 -m bench reproduce` on ``rank_device``: passed when every row's
    metrics equal those of the single-process run ``single`` on the same device."""
    name = f"torchrun {TORCHRUN_PROCESSES} ranks"
    needed = _failed_inputs(single)
    if needed:
        return StepOutcome(name, False, "not run", needed)
    launcher = ("-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(TORCHRUN_PROCESSES))
    distributed = run_reproduce(plan, rank_device, f"torchrun-{rank_device}", weights, launcher)
    if not distributed.passed:
        return StepOutcome(name, False, distributed.detail, distributed.error)
    unequal = [ours.name for ours, theirs in _paired_rows(distributed, single)
               if ours.metrics != theirs.metrics]
    detail = (f"{backend} on {rank_device}: metrics of {len(distributed.data['report'].rows)} rows equal "
              "the single-process run")
    if unequal:
        return StepOutcome(name, False, f"{backend} on {rank_device}: metrics differ",
                           f"rows with other metrics than one process: {unequal}", distributed.reports)
    return StepOutcome(name, True, detail, reports=distributed.reports)


def _failed_inputs(*runs: StepOutcome) -> str | None:
    failed = [run.name for run in runs if not run.passed]
    return f"needs {' and '.join(failed)}, which failed" if failed else None


def _paired_rows(first: StepOutcome, second: StepOutcome) -> list[tuple[RowResult, RowResult]]:
    """The row results of two runs' reports paired by name; a row only one of them has is an error."""
    ours = {row.result.name: row.result for row in first.data["report"].rows}
    theirs = {row.result.name: row.result for row in second.data["report"].rows}
    if set(ours) != set(theirs):
        raise ValueError(f"{first.name} has rows {sorted(ours)}, {second.name} has {sorted(theirs)}")
    return [(ours[name], theirs[name]) for name in ours]


def _detections(row: RowResult) -> list[dict]:
    return read_json(row.behaviour.results_json, "results file")
