"""``python -m bench fetch [URL]``: download (or locate) a checkpoint, verify it, print path and sha256."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.checkpoint import default_checkpoint, registry_entry, resolve_checkpoint
from bench.commands import COMMANDS


@dataclass(frozen=True)
class FetchConfig:
    """What to fetch (URL or local path; None = the registry's default) and where to cache it."""

    checkpoint: str | None
    cache_dir: Path | None


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
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    config = FetchConfig(args.checkpoint, args.cache_dir)
    resolved = resolve_checkpoint(config.checkpoint or default_checkpoint().url, config.cache_dir,
                                  progress=sys.stderr.isatty())
    print(resolved.path)
    print(f"sha256 {resolved.sha256}")
    entry = registry_entry(resolved.path.name)
    if entry is not None and entry.sha256 is None:
        print(f'to pin the full digest, set under [checkpoints."{entry.file_name}"] in '
              f'bench/published.toml:\nsha256 = "{resolved.sha256}"')
    return 0
