"""``python -m bench ab --base REF --head REF``: two commits of this repository measured in the same
job, interleaved, with a verdict per stage (same, faster, slower or inconclusive) and on the predictions."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.commands import COMMANDS
from bench.commands.moved_arguments import add_moved_arguments


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "ab", help=COMMANDS["ab"],
        description="Measure two commits of this repository (run it from the repository's root) in the "
                    "same job: each round runs a short `bench profile` of each side, in random order, "
                    "until every stage is same, faster or slower, or the budget is spent; with --accuracy "
                    "(or reproduce options) each side's `bench reproduce` predictions are compared image by "
                    "image. Both sides run with this interpreter and the commit's files first on "
                    "PYTHONPATH. Exit status 0: every stage same (or inconclusive at the budget, as "
                    "printed) and the predictions the same; 1: a stage slower or a prediction changed; "
                    "2: bad input (unknown REF, no git repository, bad options) or a side that does not run.")
    parser.add_argument("--base", required=True, metavar="REF", help="the commit compared against (a git "
                        "revision: branch, tag, sha, HEAD~3, ...)")
    parser.add_argument("--head", required=True, metavar="REF", help="the commit measured against the base")
    parser.add_argument("--accuracy", action="store_true",
                        help="also compare both sides' predictions on the bundled sample (or on the data "
                             "the reproduce options name)")
    add_moved_arguments(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from bench.commands.moved_arguments import moved_settings, options_digest, passed_options
    from bench.moved.ab import run_ab
    from bench.moved.revisions import repository_root, resolve
    from bench.moved.runner import subprocess_runner

    options = passed_options(args.options)
    repo = repository_root(Path.cwd())
    base, head = resolve(repo, args.base), resolve(repo, args.head)
    settings = moved_settings(args, "ab", (base, head), accuracy=args.accuracy or bool(options["reproduce"]),
                              predictions_key=options_digest(options["reproduce"]))
    result = run_ab(repo, base, head, subprocess_runner(options["profile"], options["reproduce"]), settings)
    print("\n".join(result.lines()))
    return result.exit_code
