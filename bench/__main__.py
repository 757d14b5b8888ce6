"""``python -m bench <subcommand>``: the only place that turns outcomes into exit codes
(``bench.errors`` lists them)."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

from bench.commands import COMMANDS
from bench.errors import (
    EXIT_BAD_INPUT,
    EXIT_BUG,
    EXIT_DISK_FULL,
    EXIT_INTERRUPTED,
    BenchError,
    DiskFull,
    is_disk_full,
)

DESCRIPTION = ("The benchmark and reproducibility harness of HigherHRNet-W32 + AE on CrowdPose. "
               "`python -m bench COMMAND --help` shows a command's options. Exit status: 0 passed, "
               "1 a verdict failed, 2 bad input (before any work), 3 a bug in the harness, 4 disk full, "
               "130 interrupted.")

TRACEBACK_DIR_ENV_VAR = "BENCH_TRACEBACK_DIR"
"""Where the traceback of an internal error is written (default: the system's temporary folder)."""


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
    except DiskFull as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_DISK_FULL
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:  # noqa: BLE001 - every other exception is a bug, reported as one
        if is_disk_full(error):
            print(f"error: the disk is full ({error.filename or 'while writing'}): files are written whole "
                  "or not at all, so nothing partial was left; free some space and rerun the same command "
                  "(a run resumes from its prediction cache)", file=sys.stderr)
            return EXIT_DISK_FULL
        print(f"bug: `python -m bench {args.command}` failed with {type(error).__name__}: {error}; this is "
              f"a bug in the harness, not in your input; traceback written to {write_traceback(error)}",
              file=sys.stderr)
        return EXIT_BUG


def write_traceback(error: BaseException) -> Path | str:
    """Write ``error``'s traceback, with the command line, to a new file and return its path (or a note
    that it went to stderr when no file can be written)."""
    text = f"python -m bench {' '.join(sys.argv[1:])}\n\n" + "".join(traceback.format_exception(error))
    folder = os.environ.get(TRACEBACK_DIR_ENV_VAR) or tempfile.gettempdir()
    try:
        fd, path = tempfile.mkstemp(prefix=f"bench-bug-{time.strftime('%Y%m%dT%H%M%S')}-", suffix=".txt",
                                    dir=folder)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        return Path(path)
    except OSError:
        print(text, file=sys.stderr)
        return "stderr (above)"


if __name__ == "__main__":
    sys.exit(main())
