"""pytest-benchmark plumbing: stamp every saved benchmark run with this machine's fingerprint.

The fingerprint (bench.reports.environment) is what `bench compare` uses to decide which measurements may be
compared for regressions, so benchmark JSON files carry the same id and the full description.
"""

from __future__ import annotations

from bench.reports.environment import fingerprint


def pytest_benchmark_update_machine_info(config, machine_info: dict) -> None:
    environment = fingerprint()
    machine_info["fingerprint_id"] = environment["fingerprint_id"]
    machine_info["bench_environment"] = environment
