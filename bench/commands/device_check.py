"""``python -m bench device-check``: check a CUDA machine end to end in a few minutes, one summary."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.commands import COMMANDS
from bench.commands.arguments import add_runtime_arguments
from bench.commands.config_file import config_argument, read_config
from bench.devicecheck.settings import CASES_FILE, DEVICES, DeviceCheckConfig

CONFIG_KEYS = {"tests": str, "cases": str, "network_cache_dir": str}
"""The [device-check] table of a --config file: the tests folder whose gpu-marked tests run (default:
this checkout's), a case-matrix file laid out as bench/devicecheck/cases.toml (default: that one), and
the folder of exported networks and TensorRT engines (default: the user's cache)."""


def register(subparsers: argparse._SubParsersAction) -> None:
    defaults = DeviceCheckConfig()
    parser = subparsers.add_parser(
        "device-check", help=COMMANDS["device-check"],
        description="Run the gpu-marked tests, profile batches x precisions on the bundled sample and "
                    "synthetic sizes, compare the sample's poses on the device with a CPU run, and check "
                    "that torchrun with 2 processes gives the single-process metrics (NCCL on 2 GPUs, "
                    "else gloo on the CPU). Every report goes into --out, with one summary (images/s and "
                    "the network / post-processing split per case). Exit status 1 if a step failed, 2 "
                    "without CUDA (unless --device cpu).")
    parser.add_argument("--device", choices=DEVICES, default=defaults.device,
                        help="cuda, or cpu for a dry run of every step (default: %(default)s)")
    parser.add_argument("--quick", action="store_true",
                        help="the [quick] matrix of the cases file: fewest cases that exercise every step")
    parser.add_argument("--out", type=Path, default=defaults.out, metavar="DIR",
                        help="folder for every report and the summary (default: %(default)s)")
    parser.add_argument("--checkpoint", metavar="PATH",
                        help="real weights, a local file (default: synthetic weights, nothing downloaded)")
    add_runtime_arguments(parser, calibration=False)
    config_argument(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from bench.devicecheck.check import run_device_check

    table, _ = read_config(args.config, "device-check", CONFIG_KEYS)
    config = DeviceCheckConfig(device=args.device, quick=args.quick, out=args.out, checkpoint=args.checkpoint,
                               tests_dir=Path(table.get("tests", DeviceCheckConfig.tests_dir)),
                               cases_file=Path(table.get("cases", CASES_FILE)), runtime=args.runtime,
                               network_cache_dir=table.get("network_cache_dir"))
    result = run_device_check(config)
    print(result.text)
    return result.exit_code
