"""``python -m bench compare PATHS...``: cross-hardware tables and the speed-regression check.

The terminal gets a summary of at most 120 columns (one line per checked pair: its verdict and its worst
stage); the full tables and every stage's verdict go only into ``--out`` (Markdown, CSV, plot) and
``--html``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench import atomic
from bench.commands import COMMANDS
from bench.reports.stats import MIN_RELATIVE_CHANGE


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "compare",
        help=COMMANDS["compare"],
        description="Load report JSON files (or every *.json under given folders), check the newest report "
                    "of each machine and configuration against the previous one (or the --baseline file) "
                    "on the raw samples of every stage (a two-sided Mann-Whitney U test at alpha 0.05 plus "
                    "a minimum change of the median, --threshold), and print one line per checked pair; "
                    "--out and --html get the cross-hardware tables of metrics and per-stage speed. A pair "
                    "measured on an unsteady machine is 'unstable', one with too few samples "
                    "'inconclusive': neither is judged. Exits 1 when end to end or a stage is 'slower'.",
    )
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="report files or folders")
    parser.add_argument("--baseline", metavar="FINGERPRINT_OR_FILE",
                        help="baseline machine for time ratios: a fingerprint id (or unique prefix), a "
                             "machine name, or a report file, which then is also the regression reference "
                             "for its machine (default: the machine of the oldest report)")
    parser.add_argument("--threshold", type=float, default=MIN_RELATIVE_CHANGE,
                        help="smallest relative change of a stage's median that counts as slower or faster, "
                             "when the rank test also finds it (default: %(default)s)")
    parser.add_argument("--out", type=Path, metavar="DIR",
                        help="also write comparison.md, CSV tables and stages.png into DIR")
    parser.add_argument("--html", type=Path, metavar="OUT.html",
                        help="also write the comparison as one self-contained, sortable HTML page")
    parser.add_argument("--history", type=Path, metavar="FILE.csv",
                        help="append every compared report's figures (stage p50s, AP rows) to this history "
                             "CSV, once per report (created if missing; `bench publish` keeps "
                             "results/history.csv), and add each series with its change points to --html")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from bench.reports.compare import (
        CompareConfig,
        compare,
        comparison_page,
        comparison_summary,
        write_comparison,
    )

    config = CompareConfig(paths=tuple(args.paths), baseline=args.baseline, threshold=args.threshold,
                           out_dir=args.out, html=args.html, history=args.history)
    comparison = compare(config)
    written = None if config.out_dir is None else write_comparison(comparison, config.out_dir)
    page = None if config.html is None else atomic.write_text(config.html, comparison_page(comparison))
    print(comparison_summary(comparison, written, page))
    if comparison.history is not None:
        print(f"history: {comparison.history.path} ({comparison.history.new_reports} new report(s), "
              f"{comparison.history.new_rows} row(s) added)")
    for message in comparison.skipped:
        print(f"warning: {message}", file=sys.stderr)
    return 1 if comparison.regressed else 0
