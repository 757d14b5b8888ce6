"""``python -m bench profile``: per-stage latency of the pipeline on this machine, written as reports.

By default each case is calibrated (``DEFAULT_ITERS`` batches and ``DEFAULT_MIN_TIME_S`` seconds at
least, enough for `bench compare` to judge it); ``--iters``/``--min-time`` (or ``iters``/``min_time_s``
in the ``[profile]`` table of ``--config``; the command line wins) override it. Each report records
the command line that reruns it and the machine's name (``--machine``, default:
the host name).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.commands import COMMANDS
from bench.commands.arguments import add_runtime_arguments, parse_scales
from bench.commands.config_file import config_argument, read_config
from bench.errors import BenchError
from bench.reports.folders import DEFAULT_OUT
from bench.reports.stats import END_TO_END
from bench.speed.options import (
    DEFAULT_ITERS,
    DEFAULT_MIN_TIME_S,
    DEFAULT_SIZES,
    INPUT_KINDS,
    MAX_ITERATIONS,
    MAX_MIN_TIME_S,
    SCHEDULES,
)
from reference.precisions import PRECISIONS

CONFIG_KEYS = {"iters": int, "min_time_s": float, "warmup": int, "maps": str, "cudnn_benchmark": bool,
               "flip": bool, "input_size": int, "workers": int, "machine": str, "network_cache_dir": str}
"""The [profile] table of a --config file (see the README): settings few runs change. ``iters``,
``min_time_s`` and ``machine`` are also options (``--iters``, ``--min-time``, ``--machine``), which win."""


def parse_sizes(text: str) -> tuple[tuple[int, int], ...]:
    """``"512x512,512x768"`` -> ((512, 512), (512, 768)) as (width, height)."""
    sizes = []
    for part in text.split(","):
        width, _, height = part.strip().lower().partition("x")
        if not (width.isdecimal() and height.isdecimal()):
            raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT sizes such as 512x768, got {part!r}")
        sizes.append((int(width), int(height)))
    return tuple(sizes)


def parse_batches(text: str) -> tuple[int, ...]:
    """``"2,4"`` -> (2, 4); ``--batch-size 1 2,4`` gives one tuple per word."""
    parts = [part.strip() for part in text.split(",")]
    if not all(part.isdecimal() and int(part) > 0 for part in parts):
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return tuple(int(part) for part in parts)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "profile",
        help=COMMANDS["profile"],
        description="Time every pipeline stage (image reading, preprocess, host-to-device copy, forward per "
                    "scale, aggregation, NMS/top-k, matching, adjust, refine, mapping back, end to end; "
                    "evaluation separately) on the schedule `bench reproduce` runs, after warm-up batches, "
                    "and write one report per input size and batch size. Without --checkpoint the network "
                    "has deterministic synthetic weights and the grouping stages run on realistic rendered "
                    "maps.",
    )
    parser.add_argument("--device", default="auto",
                        help="auto (CUDA when available, else CPU), cpu, cuda or cuda:N "
                             "(default: %(default)s)")
    parser.add_argument("--scales", type=parse_scales, default=(1.0,), metavar="S[,S...]",
                        help="test scales of one run, e.g. 1 or 2,1 (default: 1)")
    parser.add_argument("--batch-size", nargs="+", type=parse_batches, default=[(1,)], metavar="B",
                        help="batch sizes to profile, e.g. --batch-size 1 4 (default: 1)")
    parser.add_argument("--iters", type=int, metavar="N",
                        help=f"fewest measured batches per case (default: {DEFAULT_ITERS}, enough for `bench "
                             "compare` to judge a stage; fewer than 4 can never be judged)")
    parser.add_argument("--min-time", type=float, metavar="SECONDS",
                        help="least measured time per case: batches continue until --iters were made and "
                             "their end-to-end times add up to SECONDS (at most "
                             f"{MAX_MIN_TIME_S:g}; stops at {MAX_ITERATIONS} batches) "
                             f"(default: {DEFAULT_MIN_TIME_S:g})")
    parser.add_argument("--machine", metavar="NAME",
                        help="the machine's name in the reports, shown by `bench compare` (default: the "
                             "host name)")
    parser.add_argument("--schedule", choices=SCHEDULES, default="overlapped",
                        help="overlapped: as `bench reproduce` runs (images read ahead in workers, decoding "
                             "beside the next forward); serial: one stage at a time (default: %(default)s)")
    parser.add_argument("--inputs", choices=INPUT_KINDS, default="sample",
                        help="sample: the bundled CrowdPose images at natural size; synthetic: a sample "
                             "image resized to each of --sizes (default: %(default)s)")
    parser.add_argument("--sizes", type=parse_sizes, metavar="WxH[,WxH...]",
                        help="image sizes for --inputs synthetic (default: 512x512)")
    parser.add_argument("--checkpoint", metavar="PATH|URL", help="real weights (default: synthetic weights)")
    parser.add_argument("--precision", choices=PRECISIONS, default="float32",
                        help="network precision; float32 keeps TF32 off (default: %(default)s)")
    add_runtime_arguments(parser)
    parser.add_argument("--trace", type=Path, metavar="OUT.json",
                        help="also write a torch.profiler Chrome trace of a few batches of the first case")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, metavar="DIR",
                        help="folder for the reports (default: %(default)s, which git ignores; "
                             "`python -m bench publish` copies a report into results/)")
    config_argument(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from bench.speed.profile import ProfileConfig, run_profile

    if args.sizes is not None and args.inputs != "synthetic":
        raise BenchError("--sizes applies only to --inputs synthetic (sample images keep their natural size)")
    table, config_file = read_config(args.config, "profile", CONFIG_KEYS)
    given = {"iters": args.iters, "min_time_s": args.min_time, "machine": args.machine}
    settings = {"iters": DEFAULT_ITERS, "min_time_s": DEFAULT_MIN_TIME_S, **table,
                **{key: value for key, value in given.items() if value is not None}}
    config = ProfileConfig(
        device=args.device, scales=args.scales,
        batch_sizes=tuple(size for sizes in args.batch_size for size in sizes),
        inputs=args.inputs, sizes=args.sizes or DEFAULT_SIZES, checkpoint=args.checkpoint,
        precision=args.precision, runtime=args.runtime, calibration_images=args.calibration_images,
        trace=args.trace, out_dir=args.out, schedule=args.schedule, config_file=config_file, **settings)
    for report, written in run_profile(config):
        end_to_end = report.timings[END_TO_END]
        print(f"{report.config.label}: end to end p50 {end_to_end.p50_ms:.1f} ms over {end_to_end.count} "
              f"batches, {report.throughput.images_per_s:.2f} images/s -> {written['json']}", file=sys.stderr)
    return 0
