"""`bench device-check`: every step, in order, each failure reported and the rest still run."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from bench import atomic
from bench.devicecheck.cases import CaseMatrix, load_matrix, load_pose_tolerance
from bench.devicecheck.consistency import (
    TORCHRUN_PROCESSES,
    compare_poses,
    compare_torchrun,
    prepare_weights,
    reproduce_plan,
    run_reproduce,
    torchrun_device,
)
from bench.devicecheck.gpu_tests import run_gpu_tests
from bench.devicecheck.outcome import StepOutcome, run_step
from bench.devicecheck.settings import DEVICES, DeviceCheckConfig
from bench.devicecheck.speed import judge_goals, profile_step
from bench.devicecheck.summary import render_text, summary_record, write_summary
from bench.errors import BenchError
from bench.reports.machine import this_environment
from bench.runtimes.available import check_runtime
from bench.speed.profile import ProfileConfig


@dataclass(frozen=True)
class DeviceCheckResult:
    """The summary record (JSON data), its printed form, the summary files and the exit status."""

    record: dict[str, Any]
    text: str
    paths: dict[str, Path]
    exit_code: int


def validate(config: DeviceCheckConfig) -> None:
    """Reject a bad configuration, and CUDA where torch sees none, before any work (BenchError, exit 2)."""
    if config.device not in DEVICES:
        raise BenchError(f"--device must be one of {DEVICES}, got {config.device!r}")
    if config.device == "cuda" and not torch.cuda.is_available():
        raise BenchError(f"device-check needs a CUDA GPU, and torch {torch.__version__} sees none "
                         f"(built with CUDA {torch.version.cuda or 'none'}); for a dry run of every step on "
                         "the CPU use --device cpu --quick")
    if config.checkpoint is not None and not Path(config.checkpoint).is_file():
        raise BenchError(f"--checkpoint {config.checkpoint}: no such file (device-check downloads nothing)")
    if not (config.tests_dir / "conftest.py").is_file():
        raise BenchError(f"--tests {config.tests_dir}: not this project's tests folder (no conftest.py); "
                         "run device-check from a source checkout or name the folder")
    check_runtime(config.runtime, "float32", torch.device(config.device))
    atomic.check_writable_folder(config.out, "--out")


def unsupported(runtime: str, precision: str, device: str) -> str | None:
    """Why ``runtime`` cannot profile ``precision`` on ``device`` here (a package, execution provider or
    CUDA device missing: its step is skipped), or None."""
    try:
        check_runtime(runtime, precision, torch.device(device))
    except BenchError as error:
        return str(error)
    return None


def profile_steps(config: DeviceCheckConfig, matrix: CaseMatrix) -> list[StepOutcome]:
    """A profile step per precision of the matrix on the command's runtime, then one per runtime case on
    its own runtime; each profiles through the same code path, or is skipped with the reason."""
    where = {"device": config.device, "checkpoint": config.checkpoint, "out_dir": config.out,
             "network_cache_dir": config.network_cache_dir}
    steps = [(f"profile {precision}", config.runtime, precision,
              lambda precision=precision: matrix.profile_configs(precision=precision, runtime=config.runtime,
                                                                 **where))
             for precision in matrix.precisions]
    steps += [(f"profile {case.name}", case.runtime, case.precision,
               lambda case=case: [matrix.runtime_profile_config(case, **where)])
              for case in matrix.runtime_cases]
    return [profile_or_skip(name, runtime, precision, config.device, configs)
            for name, runtime, precision, configs in steps]


def profile_or_skip(name: str, runtime: str, precision: str, device: str,
                    configs: Callable[[], list[ProfileConfig]]) -> StepOutcome:
    """The step ``name`` profiling ``configs()``, or skipped where ``runtime`` cannot run ``precision`` here
    (a CPU dry run never fails for a CUDA-only runtime or a missing optional package)."""
    why = unsupported(runtime, precision, device)
    if why:
        return StepOutcome.skip(name, f"skipped: {why}")
    return run_step(name, lambda: profile_step(name, configs()))


def run_device_check(config: DeviceCheckConfig) -> DeviceCheckResult:
    """Check the configuration (BenchError before any work), run the gpu tests, the profile matrix,
    the device-against-CPU poses and the torchrun metrics, then write and return the summary."""
    validate(config)
    matrix = load_matrix(config.cases_file, config.quick)
    tolerance = load_pose_tolerance(config.cases_file)
    if config.device == "cpu":
        outcomes = [StepOutcome.skip("gpu tests", "skipped: the gpu-marked tests need a CUDA device")]
    else:
        outcomes = [run_step("gpu tests", lambda: run_gpu_tests(config.tests_dir, matrix.pytest_timeout_s))]
    profiles = profile_steps(config, matrix)
    speed = [row for outcome in profiles for row in outcome.data.get("speed", [])]
    outcomes += [*profiles, run_step("goals", lambda: judge_goals(matrix.goals, speed))]
    with tempfile.TemporaryDirectory(prefix="bench-device-check-") as scratch:
        plan = reproduce_plan(matrix, config.out, Path(scratch), config.checkpoint, config.runtime,
                              config.network_cache_dir)
        weights = run_step("weights", lambda: prepare_weights(plan))
        device_run = run_step(f"reproduce {config.device}",
                              lambda: run_reproduce(plan, config.device, config.device, weights))
        if config.device == "cpu":  # the run is its own CPU reference: nothing to compare
            cpu_run = device_run
            poses = StepOutcome.skip("poses cpu vs cpu",
                                     "skipped: the device is the CPU, the reference itself")
        else:
            cpu_run = run_step("reproduce cpu", lambda: run_reproduce(plan, "cpu", "cpu", weights))
            poses = run_step(f"poses {config.device} vs cpu",
                             lambda: compare_poses(device_run, cpu_run, tolerance))
        rank_device, backend = torchrun_device(config.device)
        single = device_run if rank_device == config.device else cpu_run
        outcomes += [weights, device_run, *([cpu_run] if cpu_run is not device_run else []), poses,
                     run_step(f"torchrun {TORCHRUN_PROCESSES} ranks",
                              lambda: compare_torchrun(plan, rank_device, backend, single, weights))]
    created = datetime.now(UTC).isoformat(timespec="seconds")
    record = summary_record(outcomes, config.device, config.quick, this_environment(), created)
    paths = write_summary(record, config.out)
    return DeviceCheckResult(record, render_text(record, paths), paths, record["exit_code"])
