"""``python -m bench golden record REPORT --out GOLDEN``: a golden file from a full reproduce run, the
reference ``bench gate`` compares a subset of its images with."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.commands import COMMANDS
from bench.data.dataset import add_data_arguments


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "golden", help=COMMANDS["golden"],
        description="Golden files for `bench gate`: `golden record` makes one from a reproduce report.")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    record = actions.add_parser(
        "record", help="write a golden file from a reproduce report",
        description="Write a golden file from a reproduce report whose rows scored every image of their "
                    "annotation file (their predictions kept beside the report): per image its id and "
                    "the sha256 of its file, each row's predictions, the checkpoint sha256, the pipeline "
                    "settings, the environment fingerprint and the full-set metrics, as a compressed .npz "
                    "that records the sha256 of its own content. The images are read again to fingerprint "
                    "them: from the data options, else where the report's settings found them. Exits 2 "
                    "for a report that cannot make one.")
    record.add_argument("report", type=Path, metavar="REPORT", help="a reproduce report (JSON)")
    record.add_argument("--out", type=Path, required=True, metavar="GOLDEN", help="the golden file to write")
    add_data_arguments(record, selection=False)
    record.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from bench import atomic
    from bench.data.dataset import DataConfig
    from bench.gate.golden import golden_from_report
    from bench.gate.golden_file import write_golden

    atomic.check_writable_file(args.out, "--out")
    located = any((args.data_root, args.ann_file, args.img_dir))
    data = DataConfig(data_root=args.data_root, ann_file=args.ann_file, img_dir=args.img_dir)
    golden = golden_from_report(args.report, data if located else None)
    digest = write_golden(golden, args.out)
    rows = ", ".join(row.name for row in golden.header.rows)
    print(f"wrote golden {args.out}: {len(golden.image_ids)} images, rows {rows}; "
          f"{args.out.stat().st_size:,} bytes, content sha256 {digest}")
    return 0
