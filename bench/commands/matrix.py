"""``python -m bench matrix run|measure|table``: the environment matrix (``nox -s matrix`` runs one
``run`` per declared environment, then ``table``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.commands import COMMANDS
from bench.data.dataset import DataConfig, add_data_arguments
from bench.reports.folders import DEFAULT_OUT, SHOWCASE

DEFAULT_MATRIX_OUT = DEFAULT_OUT / "matrix"
DEFAULT_CACHE = Path(".nox/matrix")
"""The environments' folder: beside nox's shared environment, keyed by their pins and interpreter."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "matrix", help=COMMANDS["matrix"],
        description="The environment matrix (bench/matrix/environments.toml): `run NAME` measures one "
                    "environment in an interpreter with its pins, `table` compares every environment with "
                    "the pinned one and writes matrix.md and matrix.csv. `nox -s matrix` runs them all.")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    run = actions.add_parser("run", help="build (or reuse) an environment's interpreter and measure it there",
                             description="Build or reuse the environment's interpreter (the shared one with "
                                         "its pins installed on top), then measure it there: the stage "
                                         "goldens and `bench reproduce` of the bundled sample (or the data "
                                         "given). Exit status 1 when it could not be installed or measured "
                                         "(its entry says why).")
    run.add_argument("--cache", type=Path, default=DEFAULT_CACHE, metavar="DIR",
                     help="folder of the environments (default: %(default)s)")
    measure = actions.add_parser("measure", help="measure the environment this interpreter is (run calls it)",
                                 description="Measure with this interpreter: the stage goldens against the "
                                             "committed record, `bench reproduce`, then the entry.")
    for action in (run, measure):
        action.add_argument("environment", metavar="NAME", help="an environment of the declared matrix")
        action.add_argument("--checkpoint", help="checkpoint path or URL (default: calibrated synthetic "
                                                 "weights, the same file for every environment)")
        add_data_arguments(action)
        action.add_argument("--out", type=Path, default=DEFAULT_MATRIX_OUT, metavar="DIR",
                            help="the matrix folder: an entry and a report per environment (default: "
                                 "%(default)s)")
        action.add_argument("--goldens", type=Path, help="stage-golden record (default: the committed one)")
        action.set_defaults(run=run_action)
    table = actions.add_parser("table", help="compare every environment with the pinned one: matrix.md, .csv",
                               description="Read every declared environment's entry and write matrix.md and "
                                           "matrix.csv: per environment and row, images identical / within "
                                           "tolerance / changed against the pinned environment, the first "
                                           "stage that differs and the AP change with its interval.")
    table.add_argument("--entries", type=Path, default=DEFAULT_MATRIX_OUT, metavar="DIR",
                       help="the matrix folder the runs wrote (default: %(default)s)")
    table.add_argument("--out", type=Path, default=SHOWCASE, metavar="DIR",
                       help="folder for matrix.md and matrix.csv (default: %(default)s)")
    table.set_defaults(run=run_table)


def run_action(args: argparse.Namespace) -> int:
    from bench.matrix.declared import find_environment, load_environments
    from bench.matrix.measure import STAGE_GOLDENS, MeasureConfig, measure
    from bench.matrix.run import run_environment

    given = any(value is not None for value in (args.data_root, args.ann_file, args.img_dir, args.limit,
                                                  args.subset))
    data = DataConfig(data_root=args.data_root, ann_file=args.ann_file, img_dir=args.img_dir,
                      limit=args.limit, subset=args.subset, subset_seed=args.subset_seed) if given else None
    config = MeasureConfig(find_environment(load_environments(), args.environment), args.out.absolute(),
                           args.checkpoint, data, args.goldens or STAGE_GOLDENS)
    return run_environment(config, args.cache.absolute()) if args.action == "run" else measure(config)


def run_table(args: argparse.Namespace) -> int:
    from bench import atomic
    from bench.matrix.declared import load_environments, reference_environment
    from bench.matrix.measure import read_entry
    from bench.matrix.table import TableSettings, matrix_frame, matrix_markdown, write_matrix

    atomic.check_writable_folder(args.out, "--out")
    environments = load_environments()
    entries = {environment.name: read_entry(args.entries, environment.name) for environment in environments}
    settings = TableSettings(scratch=args.entries)
    frame = matrix_frame(environments, entries, settings)
    markdown = matrix_markdown(frame, entries, reference_environment(environments).name, settings)
    print(markdown)
    for path in write_matrix(frame, markdown, args.out).values():
        print(f"wrote {path}")
    return 0
