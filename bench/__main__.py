"""``python -m bench <subcommand>``: the only place that turns outcomes into exit codes."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from bench.commands import COMMANDS
from bench.errors import BenchError

DESCRIPTION = ("The benchmark and reproducibility harness of HigherHRNet-W32 + AE on CrowdPose. "
               "`python -m bench COMMAND --help` shows a command's options.")


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser, with the full options of the command that ``argv`` names; the other commands are
    listed by name and help only, so their modules (and what they import) are not loaded: the list of
    commands is instant, and a command's help loads that command alone."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=DESCRIPTION)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    chosen = next((arg for arg in (sys.argv[1:] if argv is None else argv) if not arg.startswith("-")), None)
    for name, summary in COMMANDS.items():
        if chosen == name:
            importlib.import_module(f"bench.commands.{name.replace('-', '_')}").register(subparsers)
        else:
            subparsers.add_parser(name, help=summary)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser(argv).parse_args(argv)
    try:
        return int(args.run(args))
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
