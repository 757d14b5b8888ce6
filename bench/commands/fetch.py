"""``python -m bench fetch [URL]``: download (or locate) a checkpoint, verify it, print path and sha256."""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.checkpoint import RegistryEntry, default_checkpoint, registry_entry, resolve_checkpoint
from bench.checkpoint.download import DEADLINE_S, TIMEOUT_S
from bench.commands import COMMANDS


@dataclass(frozen=True)
class FetchConfig:
    """What to fetch (URL or local path; None = the registry's default), where to cache it, and how many
    seconds the download may take."""

    checkpoint: str | None
    cache_dir: Path | None
    deadline: float


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "fetch", help=COMMANDS["fetch"],
        description="Download a checkpoint into the cache (resuming an interrupted download), verify its "
                    "sha256, and print its path and sha256. A local path is verified only.")
    parser.add_argument("checkpoint", nargs="?", metavar="URL",
                        help="checkpoint URL or local path (default: the published HigherHRNet-W32 "
                             "CrowdPose checkpoint of bench/published.toml)")
    parser.add_argument("--cache-dir", type=Path,
                        help="download folder (default: torch hub's checkpoints folder)")
    parser.add_argument("--deadline", type=positive_seconds, default=DEADLINE_S, metavar="SECONDS",
                        help=f"give up a download still running after this many seconds (default "
                             f"{DEADLINE_S:g}; checked between reads, each of which waits at most "
                             f"{TIMEOUT_S:g} s); the partial file is kept, and running the same command "
                             "again resumes it")
    parser.set_defaults(run=run)


def positive_seconds(text: str) -> float:
    """A ``--deadline`` value: a positive, finite number of seconds."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def run(args: argparse.Namespace) -> int:
    config = FetchConfig(args.checkpoint, args.cache_dir, args.deadline)
    resolved = resolve_checkpoint(config.checkpoint or default_checkpoint().url, config.cache_dir,
                                  progress=sys.stderr.isatty(), deadline=config.deadline)
    print(resolved.path)
    print(f"sha256 {resolved.sha256}")
    entry = registry_entry(resolved.path.name)
    if entry is not None and entry.sha256 is None and may_pin_from(entry, resolved.source):
        print(f'to pin the full digest, set under [checkpoints."{entry.file_name}"] in '
              f'bench/published.toml:\nsha256 = "{resolved.sha256}"')
    return 0


def may_pin_from(entry: RegistryEntry, source: str) -> bool:
    """Whether a file from ``source`` may be offered as ``entry``'s digest to pin: a local file or the
    registry's own URL, never another URL that merely ends in the same file name."""
    return "://" not in source or source == entry.url
