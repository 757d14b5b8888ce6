"""The options ``ab`` and ``bisect`` share: the budget of rounds, the folders, and the options passed
through to each side's ``profile`` and ``reproduce`` (after ``--``), checked with those commands' own
parsers before any work."""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import atomic
from bench.errors import BenchError
from bench.reports.folders import DEFAULT_OUT

if TYPE_CHECKING:
    from bench.moved.ab import AbSettings

PASSED_TO = ("profile", "reproduce")
"""The commands each side runs, which the words after ``--`` are grouped under."""

DEFAULT_CACHE = Path("~/.cache/hhrnet-crowdpose-bench/ab")
DEFAULT_MAX_ROUNDS = 20
DEFAULT_MAX_MINUTES = 60.0


def add_moved_arguments(parser: argparse.ArgumentParser) -> None:
    """The budget, seed, folders and pass-through options of ``ab`` and ``bisect``."""
    parser.add_argument("--max-rounds", type=int, default=DEFAULT_MAX_ROUNDS, metavar="N",
                        help="most rounds (one short profile of each side per round) while a stage is "
                             "inconclusive; 0: no speed measured (default: %(default)s)")
    parser.add_argument("--max-minutes", type=float, default=DEFAULT_MAX_MINUTES, metavar="M",
                        help="no new round after M minutes of rounds (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of each round's random order and of the bootstrap (default: %(default)s)")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, metavar="DIR",
                        help="extracted commits (by full sha), environments (by file and interpreter) and "
                             "each side's predictions, kept between runs (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, metavar="DIR",
                        help="folder for a new subfolder holding each round's reports, the diff files and "
                             "the JSON record (default: %(default)s)")
    parser.add_argument("options", nargs="*", metavar="-- profile|reproduce OPTION",
                        help="after --, options for each side's runs, grouped under the command they go to, "
                             "e.g. -- profile --batch-size 2 reproduce --limit 20 (reproduce options imply "
                             "--accuracy; --out is chosen here)")


def passed_options(words: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """The words after ``--`` grouped by the command they go to, each group checked by that command's
    parser; BenchError for a word before any command name, an unknown or bad option, or ``--out``."""
    if words and words[0] not in PASSED_TO:
        raise BenchError(f"the options after -- start with the command they go to "
                         f"({' or '.join(PASSED_TO)}), got {words[0]!r}")
    groups: dict[str, list[str]] = {command: [] for command in PASSED_TO}
    current = None
    for word in words:
        if word in PASSED_TO:
            current = word
        else:
            groups[current].append(word)
    for command, options in groups.items():
        check_options(command, options)
    return {command: tuple(options) for command, options in groups.items()}


def check_options(command: str, options: Sequence[str]) -> None:
    """BenchError unless ``python -m bench COMMAND OPTIONS`` would parse (``--out`` excluded: each
    side's output folder is chosen by ab)."""
    subparsers = argparse.ArgumentParser(prog="python -m bench").add_subparsers()
    importlib.import_module(f"bench.commands.{command}").register(subparsers)
    parser = subparsers.choices[command]
    parser.exit_on_error = False
    try:
        parsed, unknown = parser.parse_known_args(list(options))
    except (argparse.ArgumentError, SystemExit) as error:
        raise BenchError(f"options after -- for {command}: {error}") from None
    if unknown:
        raise BenchError(f"options after -- for {command}: unknown {' '.join(unknown)}")
    if str(parsed.out) != str(parser.get_default("out")):
        raise BenchError(f"options after -- for {command}: --out is chosen by ab and bisect (their own "
                         "--out)")


def options_digest(options: Sequence[str]) -> str:
    """What a side's cached predictions depend on besides its REF: a digest of the reproduce options (a
    changed data set under the same options needs another --cache)."""
    return hashlib.sha256(json.dumps(list(options)).encode()).hexdigest()[:16]


def moved_settings(args: argparse.Namespace, command: str, labels: Sequence[str],
                   **fields: Any) -> AbSettings:
    """The settings of an ab comparison (of each of bisect's) from the shared options and ``fields``
    (which win), with a new folder for this run, ``OUT/COMMAND-UTCTIME-LABEL-LABEL`` (a label: a short
    sha, ``env-`` and a file's stem, a package and version); BenchError for values out of range or an
    ``--out`` that cannot be written, before the folder is made."""
    from bench.moved.ab import AbSettings
    from bench.reports.speed_verdicts import VerdictRule

    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out = Path(args.out) / "-".join([command, stamp, *labels])
    try:
        settings = AbSettings(**{"out": out, "cache": args.cache.expanduser(), "max_rounds": args.max_rounds,
                                 "max_minutes": args.max_minutes, "seed": args.seed,
                                 "rule": VerdictRule(seed=args.seed), **fields})
    except ValueError as error:
        raise BenchError(str(error)) from None
    atomic.check_writable_folder(args.out, "--out")
    out.mkdir(parents=True, exist_ok=True)
    return settings
