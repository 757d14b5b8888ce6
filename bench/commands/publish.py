"""``python -m bench publish REPORT...``: copy chosen reports into the committed results/ and rebuild
its tables and page."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.commands import COMMANDS
from bench.reports.folders import SHOWCASE


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "publish", help=COMMANDS["publish"],
        description="Copy report JSON files (with the Markdown and plots rendered beside them) into the "
                    "committed results folder, then rebuild its cross-hardware tables (compare/) and "
                    "page (index.html) from every report it holds. Runs write into runs/ (git ignores "
                    "it): nothing reaches results/ unless published. A report that does not load, or a "
                    "file of its name with other contents, stops it before anything is copied (exit 2).")
    parser.add_argument("reports", nargs="+", type=Path, metavar="REPORT.json", help="reports to publish")
    parser.add_argument("--into", type=Path, default=SHOWCASE, metavar="DIR",
                        help="the showcase folder (default: %(default)s)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from bench.reports.publish import publish

    published = publish(args.reports, args.into)
    print(f"published {len(published.copied)} file(s) into {args.into}; tables in {args.into / 'compare'}; "
          f"page {published.page}")
    return 0
