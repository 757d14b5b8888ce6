"""``python -m bench compare PATHS...``: cross-hardware tables and the speed-regression check."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench import atomic
from bench.commands import COMMANDS
from bench.reports.compare import (
    DEFAULT_THRESHOLD,
    CompareConfig,
    compare,
    comparison_markdown,
    comparison_page,
    write_comparison,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "compare",
        help=COMMANDS["compare"],
        description="Load report JSON files (or every *.json under given folders), print cross-hardware "
                    "tables of metrics and per-stage speed, and check the newest report of each machine "
                    "and configuration against the previous one (or the --baseline file) on the raw "
                    "samples of every stage: a two-sided Mann-Whitney U test at alpha 0.05 plus a "
                    "minimum change of the median (--threshold). Exits 1 when end to end or a stage "
                    "is 'slower'.",
    )
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="report files or folders")
    parser.add_argument("--baseline", metavar="FINGERPRINT_OR_FILE",
                        help="baseline machine for speed ratios: a fingerprint id (or unique prefix) or a "
                             "report file, which then is also the regression reference for its machine "
                             "(default: the machine of the first report)")
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD,
                        help="smallest relative change of a stage's median that counts as slower or faster, "
                             "when the rank test also finds it (default: %(default)s)")
    parser.add_argument("--out", type=Path, metavar="DIR",
                        help="also write comparison.md, CSV tables and stages.png into DIR")
    parser.add_argument("--html", type=Path, metavar="OUT.html",
                        help="also write the comparison as one self-contained, sortable HTML page")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    config = CompareConfig(paths=tuple(args.paths), baseline=args.baseline, threshold=args.threshold,
                           out_dir=args.out, html=args.html)
    comparison = compare(config)
    print(comparison_markdown(comparison))
    if config.out_dir is not None:
        for path in write_comparison(comparison, config.out_dir).values():
            print(f"wrote {path}", file=sys.stderr)
    if config.html is not None:
        print(f"wrote {atomic.write_text(config.html, comparison_page(comparison))}", file=sys.stderr)
    for message in comparison.skipped:
        print(f"warning: {message}", file=sys.stderr)
    return 1 if comparison.regressed else 0
