"""`python -m bench reproduce`: rerun the published CrowdPose rows; summary table, report, exit status."""

from __future__ import annotations

import argparse
import sys

from bench.commands import COMMANDS
from bench.commands.arguments import add_runtime_arguments, parse_scales
from bench.commands.config_file import config_argument, read_config
from bench.data.dataset import DataConfig, add_data_arguments
from bench.errors import BenchError
from bench.evaluation.bootstrap import BootstrapSettings
from bench.reports.folders import DEFAULT_OUT
from reference.precisions import PRECISIONS

CONFIG_KEYS = {
    "workers": int, "threads": int, "cache_dir": str, "checkpoint_cache_dir": str, "expected": str,
    "sample": bool, "image_ids": list, "pipeline": dict, "machine": str, "network_cache_dir": str,
    "bootstrap": {"resamples": int, "seed": int},
    "limits": {"max_pixels": int, "max_aspect_ratio": float},
}
"""The [reproduce] table of a --config file (see the README): settings few runs change."""
PLAIN_KEYS = ("workers", "threads", "cache_dir", "checkpoint_cache_dir", "expected", "sample", "machine",
              "network_cache_dir")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "reproduce", help=COMMANDS["reproduce"],
        description="Rerun CrowdPose test evaluation of the published checkpoint for the published rows "
                    "(scales [1] and [2, 1], flip), check the metrics, write a report. Runs what it can "
                    "when the checkpoint or dataset is missing, and says what is missing.")
    parser.add_argument("--checkpoint", help="checkpoint URL or local path (default: the published URL)")
    add_data_arguments(parser)
    parser.add_argument("--scales", type=parse_scales, action="append",
                        help="run only the row with these test scales, e.g. 1 or 2,1 (repeatable)")
    parser.add_argument("--sweep", metavar="SWEEP.toml",
                        help="decode one forward with every [[variant]] of this file instead of the "
                             "published rows (bundled: bench/accuracy/semantics.toml)")
    parser.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda, cuda:N")
    parser.add_argument("--batch-size", type=int, default=1, help="images per forward pass (default: 1)")
    parser.add_argument("--precision", default="float32", choices=PRECISIONS)
    add_runtime_arguments(parser)
    parser.add_argument("--out", default=str(DEFAULT_OUT),
                        help="report folder (default: %(default)s, which git ignores; `python -m bench "
                             "publish` copies a report into results/)")
    parser.add_argument("--strict", action="store_true", help="gate mode: a skipped row is a failure")
    parser.add_argument("--machine", metavar="NAME",
                        help="the machine's name in the report, shown by `bench compare` (default: the host "
                             "name; wins over `machine` in --config)")
    config_argument(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from bench.accuracy.judge import exit_reason
    from bench.accuracy.reproduce import run_reproduction
    from bench.accuracy.settings import ReproduceConfig
    from bench.accuracy.sweep import load_sweep
    from reference.pipeline import InputLimits

    table, config_file = read_config(args.config, "reproduce", CONFIG_KEYS)
    where = f"{args.config}: [reproduce]"
    sweep = args.sweep and load_sweep(args.sweep, args.precision,
                                      {**table.get("pipeline", {}), "runtime": args.runtime})
    try:
        limits = InputLimits(**table.get("limits", {}))
        bootstrap = BootstrapSettings(**table.get("bootstrap", {}))
    except ValueError as error:
        raise BenchError(f"{where}: {error}") from None
    image_ids = table.get("image_ids")
    data = DataConfig(data_root=args.data_root, ann_file=args.ann_file, img_dir=args.img_dir,
                      limit=args.limit, image_ids=tuple(image_ids) if image_ids is not None else None,
                      subset=args.subset, subset_seed=args.subset_seed)
    config = ReproduceConfig(
        checkpoint=args.checkpoint, data=data, scales=tuple(args.scales) if args.scales else None,
        device=args.device, out=args.out, strict=args.strict, batch_size=args.batch_size,
        precision=args.precision, runtime=args.runtime, calibration_images=args.calibration_images,
        pipeline_options=table.get("pipeline", {}), sweep=sweep or None,
        input_limits=limits, bootstrap=bootstrap, config_file=config_file,
        **{**{key: table[key] for key in PLAIN_KEYS if key in table},
           **({"machine": args.machine} if args.machine else {})})
    result = run_reproduction(config)
    if result.summary:
        print(result.summary)
    reason = exit_reason(result.report.rows, config.strict) if result.report is not None else None
    if reason:
        print(f"exit status {result.exit_code}: {reason}", file=sys.stderr)
    return result.exit_code
