"""``python -m bench device-check``: check a CUDA machine end to end in a few minutes, one summary."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.commands import COMMANDS
from bench.devicecheck.check import run_device_check
from bench.devicecheck.settings import CASES_FILE, DEVICES, DeviceCheckConfig


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
    parser.add_argument("--tests", type=Path, default=defaults.tests_dir, metavar="DIR",
                        help="the tests folder whose gpu-marked tests run (default: this checkout's)")
    parser.add_argument("--cases", type=Path, default=CASES_FILE, metavar="CASES.toml",
                        help=f"case matrices laid out as bench/devicecheck/{CASES_FILE.name} "
                             "(default: that one)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    config = DeviceCheckConfig(device=args.device, quick=args.quick, out=args.out, checkpoint=args.checkpoint,
                               tests_dir=args.tests, cases_file=args.cases)
    result = run_device_check(config)
    print(result.text)
    return result.exit_code
