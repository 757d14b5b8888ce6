"""`python -m bench reproduce`: rerun the published CrowdPose rows; summary table, report, exit status."""

from __future__ import annotations

import argparse
import json

from bench.accuracy.expected import DEFAULT_EXPECTED
from bench.accuracy.reproduce import ReproduceConfig, run_reproduction
from bench.accuracy.sweep import BUNDLED_SWEEP, load_sweep
from bench.commands import COMMANDS
from bench.commands.arguments import parse_scales
from bench.data.dataset import DataConfig, add_data_arguments
from bench.errors import BenchError
from bench.evaluation.bootstrap import BootstrapSettings
from reference.pipeline import PRECISIONS, InputLimits


def parse_options(text: str) -> dict:
    try:
        options = json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"--pipeline-options must be a JSON object: {error}") from None
    if not isinstance(options, dict):
        raise argparse.ArgumentTypeError("--pipeline-options must be a JSON object")
    return options


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "reproduce", help=COMMANDS["reproduce"],
        description="Rerun CrowdPose test evaluation of the published checkpoint for the published rows "
                    "(scales [1] and [2, 1], flip), check the metrics, write a report. Runs what it can "
                    "when the checkpoint or dataset is missing, and says what is missing.")
    parser.add_argument("--checkpoint", help="checkpoint URL or local path (default: the published URL)")
    parser.add_argument("--scales", type=parse_scales, action="append",
                        help="run only the row with these test scales, e.g. 1 or 2,1 (repeatable)")
    parser.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda, cuda:N")
    parser.add_argument("--out", default="results", help="report folder (default: results)")
    parser.add_argument("--strict", action="store_true", help="gate mode: a skipped row is a failure")
    parser.add_argument("--backend", help="evaluation backend (default: faster-coco-eval)")
    parser.add_argument("--batch-size", type=int, default=1, help="images per forward pass")
    parser.add_argument("--workers", type=int, default=2, help="image decoding worker processes")
    parser.add_argument("--threads", type=int, help="CPU threads per process (default: all cores, also "
                                                    "per torchrun rank, so results match one process)")
    parser.add_argument("--precision", default="float32", choices=PRECISIONS)
    parser.add_argument("--pipeline-options", type=parse_options, default={},
                        help='extra Predictor options as JSON, e.g. \'{"stage_aggregation": "2020"}\'')
    parser.add_argument("--cache-dir", help="prediction cache (default: ~/.cache/hhrnet-crowdpose-bench)")
    parser.add_argument("--checkpoint-cache-dir", help="checkpoint download cache (default: torch hub's)")
    parser.add_argument("--expected", default=str(DEFAULT_EXPECTED),
                        help="expected-metrics table laid out as bench/published.toml (default: that one)")
    parser.add_argument("--sweep", metavar="SWEEP.toml",
                        help="decode one forward with every [[variant]] of this file instead of the "
                             f"published rows (bundled: {BUNDLED_SWEEP.name} in bench/accuracy)")
    parser.add_argument("--max-input-pixels", type=int, default=InputLimits().max_pixels,
                        help="refuse images whose largest network input would exceed this many pixels "
                             "(default: %(default)s)")
    parser.add_argument("--max-aspect-ratio", type=float, default=InputLimits().max_aspect_ratio,
                        help="refuse images whose long side exceeds this multiple of the short side "
                             "(default: %(default)s)")
    parser.add_argument("--bootstrap-resamples", type=int, default=BootstrapSettings().resamples,
                        help="image-bootstrap resamples for each row's 95%% intervals of AP, AP50, AP75, "
                             "AP(E/M/H) (0: no intervals; default: %(default)s)")
    parser.add_argument("--bootstrap-seed", type=int, default=BootstrapSettings().seed,
                        help="seed of the bootstrap draws (default: %(default)s)")
    parser.add_argument("--no-sample", dest="sample", action="store_false",
                        help="do not run the bundled sample when published rows are skipped")
    add_data_arguments(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    sweep = args.sweep and load_sweep(args.sweep, args.precision, args.pipeline_options)
    try:
        limits = InputLimits(args.max_input_pixels, args.max_aspect_ratio)
    except ValueError as error:
        raise BenchError(f"--max-input-pixels / --max-aspect-ratio: {error}") from None
    try:
        bootstrap = BootstrapSettings(resamples=args.bootstrap_resamples, seed=args.bootstrap_seed)
    except ValueError as error:
        raise BenchError(f"--bootstrap-resamples / --bootstrap-seed: {error}") from None
    config = ReproduceConfig(
        checkpoint=args.checkpoint, data=DataConfig.from_args(args),
        scales=tuple(args.scales) if args.scales else None, device=args.device, out=args.out,
        strict=args.strict, backend=args.backend,
        batch_size=args.batch_size, workers=args.workers, threads=args.threads, precision=args.precision,
        pipeline_options=args.pipeline_options, cache_dir=args.cache_dir,
        checkpoint_cache_dir=args.checkpoint_cache_dir, expected=args.expected, sample=args.sample,
        sweep=sweep or None, input_limits=limits, bootstrap=bootstrap)
    result = run_reproduction(config)
    if result.summary:
        print(result.summary)
    return result.exit_code
