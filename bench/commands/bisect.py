"""``python -m bench bisect --good REF --bad REF (--speed STAGE | --accuracy)``: the first commit that
made a stage slower or changed the predictions, by a binary search with ``ab`` as its test; with
``--package NAME`` the first released version of that dependency that did."""

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
                    "reason. Prints `first bad commit: SHA` with the evidence. With --package NAME, --good "
                    "and --bad are versions of that package and the search is over its released versions "
                    "between them on the index pip is configured with (final releases with a wheel for this "
                    "interpreter, or only an sdist), each run on the HEAD commit in an environment that "
                    "pins NAME==V over this one; it prints `first bad version: NAME==V`. Exit status 0: "
                    "found; 1: not narrowed to one (skips), or bad is not bad; 2: bad input.")
    parser.add_argument("--good", required=True, metavar="REF", help="a commit without the change (with "
                        "--package: a version)")
    parser.add_argument("--bad", required=True, metavar="REF", help="a later commit with it (with --package: "
                        "a later version)")
    parser.add_argument("--package", metavar="NAME", help="bisect the released versions of this dependency "
                        "from --good to --bad (e.g. --package opencv-python-headless --good 4.10.0.84 --bad "
                        "4.12.0.88) instead of commits")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--speed", metavar="STAGE", help="bad: this profile stage is slower than good's "
                        "(e.g. forward, group, end_to_end)")
    target.add_argument("--accuracy", action="store_true", help="bad: a prediction differs from good's")
    add_moved_arguments(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from bench.commands.moved_arguments import moved_settings, options_digest, passed_options
    from bench.moved.bisection import commit_candidates, run_bisect
    from bench.moved.revisions import repository_root
    from bench.moved.runner import subprocess_runner
    from bench.moved.versions import released_versions, version_candidates

    options = passed_options(args.options)
    repo = repository_root(Path.cwd())
    target = ({"stages": (args.speed,)} if args.speed else
              {"accuracy": True, "max_rounds": 0, "predictions_key": options_digest(options["reproduce"])})
    if args.package:
        versions = released_versions(args.package, args.good, args.bad)
        labels = [f"{args.package}-{version}" for version in (versions[0], versions[-1])]
        settings = moved_settings(args, "bisect", labels, **target)
        candidates = version_candidates(repo, args.package, versions, settings.cache)
    else:
        candidates = commit_candidates(repo, args.good, args.bad)
        labels = [candidates.good.label, candidates.refs[-1].label]
        settings = moved_settings(args, "bisect", labels, **target)
    result = run_bisect(repo, candidates, subprocess_runner(options["profile"], options["reproduce"]),
                        settings, args.speed)
    print("\n".join(result.lines()))
    return result.exit_code
