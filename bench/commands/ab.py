"""``python -m bench ab --base REF --head REF``: two commits of this repository, or two environments
(``env:FILE``), measured in the same job, interleaved, with a verdict per stage (same, faster, slower
or inconclusive) and on the predictions."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.commands import COMMANDS
from bench.commands.moved_arguments import add_moved_arguments


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "ab", help=COMMANDS["ab"],
        description="Measure two commits of this repository (run it from the repository's root), or two "
                    "environments, in the same job: each round runs a short `bench profile` of each side, "
                    "in random order, until every stage is same, faster or slower, or the budget is spent; "
                    "with --accuracy (or reproduce options) each side's `bench reproduce` predictions are "
                    "compared image by image. A commit runs with this interpreter and the commit's files "
                    "first on PYTHONPATH; an environment (env:FILE, a pip requirements or constraints file)"
                    " runs the HEAD commit's files in a virtual environment built once on top of this one "
                    "with `pip install -r FILE -c FILE` (cached under --cache). Exit status 0: every stage "
                    "same (or inconclusive at the budget, as printed) and the predictions the same; 1: a "
                    "stage slower or a prediction changed; 2: bad input (unknown REF, unreadable "
                    "environment file, no git repository, bad options) or a side that does not run or "
                    "install.")
    parser.add_argument("--base", required=True, metavar="REF", help="the side compared against: a git "
                        "revision (branch, tag, sha, HEAD~3, ...) or env:FILE, an environment made by a pip "
                        "requirements/constraints file (e.g. env:constraints.txt)")
    parser.add_argument("--head", required=True, metavar="REF", help="the side measured against the base "
                        "(a revision or env:FILE, e.g. env:/tmp/opencv-4.10.txt)")
    parser.add_argument("--accuracy", action="store_true",
                        help="also compare both sides' predictions on the bundled sample (or on the data "
                             "the reproduce options name)")
    add_moved_arguments(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from bench.commands.moved_arguments import moved_settings, options_digest, passed_options
    from bench.moved.ab import run_ab
    from bench.moved.revisions import repository_root
    from bench.moved.runner import subprocess_runner
    from bench.moved.sides import resolve_ref

    options = passed_options(args.options)
    repo = repository_root(Path.cwd())
    base, head = resolve_ref(repo, args.base), resolve_ref(repo, args.head)
    settings = moved_settings(args, "ab", (base.label, head.label),
                              accuracy=args.accuracy or bool(options["reproduce"]),
                              predictions_key=options_digest(options["reproduce"]))
    result = run_ab(repo, base, head, subprocess_runner(options["profile"], options["reproduce"]), settings)
    print("\n".join(result.lines()))
    return result.exit_code
