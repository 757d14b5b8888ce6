"""``python -m bench diff A B``: AP deltas with paired intervals, per-image changes, ranked images."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.commands import COMMANDS
from bench.commands.config_file import config_argument, read_config
from bench.errors import BenchError
from bench.evaluation.bootstrap import BootstrapSettings

CONFIG_KEYS = {"bootstrap": {"resamples": int, "seed": int}}
"""The [diff] table of a --config file: the paired bootstrap's resamples and seed."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "diff", help=COMMANDS["diff"],
        description="Compare two runs on the same images: two reproduce reports (each row's recorded "
                    "results JSON) or two mmpose-format results files with --gt. Prints and writes "
                    "diff.md, images.csv (one row per image, most moved first) and mean_oks.png into "
                    "--out. Exits 2 when the runs are not on the same images.")
    parser.add_argument("a", type=Path, metavar="A", help="reproduce report or results file (the base)")
    parser.add_argument("b", type=Path, metavar="B", help="reproduce report or results file (compared)")
    parser.add_argument("--gt", type=Path, metavar="FILE",
                        help="CrowdPose annotation file; needed for results files, overrides a report's")
    parser.add_argument("--row", help="report row to compare (default: the first row with predictions)")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder for the files")
    config_argument(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from bench.accuracy.diff import DiffConfig, diff_markdown, run_diff, write_diff

    table, _ = read_config(args.config, "diff", CONFIG_KEYS)
    try:
        bootstrap = BootstrapSettings(**table.get("bootstrap", {}))
    except ValueError as error:
        raise BenchError(f"{args.config}: [diff]: {error}") from None
    config = DiffConfig(a=args.a, b=args.b, out_dir=args.out, gt=args.gt, row=args.row, bootstrap=bootstrap)
    diff = run_diff(config)
    print(diff_markdown(diff))
    for path in write_diff(diff, config.out_dir).values():
        print(f"wrote {path}", file=sys.stderr)
    return 0
