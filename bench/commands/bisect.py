"""``python -m bench bisect --good REF --bad REF (--speed STAGE | --accuracy)``: the first commit that
made a stage slower or changed the predictions, by a binary search with ``ab`` as its test."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.commands import COMMANDS
from bench.commands.moved_arguments import add_moved_arguments


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bisect", help=COMMANDS["bisect"],
        description="Search the first-parent commits after --good up to --bad (run it from the repository's "
                    "root) for the first one that is bad: its STAGE slower than good's (--speed, by "
                    "`bench ab` rounds of good against it) or its predictions changed (--accuracy). A "
                    "commit that does not run, or stays inconclusive at the budget, is skipped with its "
                    "reason. Prints `first bad commit: SHA` with the evidence. Exit status 0: found; 1: "
                    "not narrowed to one commit (skips), or bad is not bad; 2: bad input.")
    parser.add_argument("--good", required=True, metavar="REF", help="a commit without the change")
    parser.add_argument("--bad", required=True, metavar="REF", help="a later commit with it")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--speed", metavar="STAGE", help="bad: this profile stage is slower than good's "
                        "(e.g. forward, group, end_to_end)")
    target.add_argument("--accuracy", action="store_true", help="bad: a prediction differs from good's")
    add_moved_arguments(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from bench.commands.moved_arguments import moved_settings, options_digest, passed_options
    from bench.moved.bisection import run_bisect
    from bench.moved.revisions import first_parent_commits, repository_root, resolve
    from bench.moved.runner import subprocess_runner

    options = passed_options(args.options)
    repo = repository_root(Path.cwd())
    good = resolve(repo, args.good)
    commits = first_parent_commits(repo, good, resolve(repo, args.bad))
    target = ({"stages": (args.speed,)} if args.speed else
              {"accuracy": True, "max_rounds": 0, "predictions_key": options_digest(options["reproduce"])})
    settings = moved_settings(args, "bisect", (good, commits[-1]), **target)
    result = run_bisect(repo, good, commits, subprocess_runner(options["profile"], options["reproduce"]),
                        settings, args.speed)
    print("\n".join(result.lines()))
    return result.exit_code
