"""``python -m bench evaluate GT.json DT.json``: the nine CrowdPose numbers of a saved results file."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.commands import COMMANDS
from bench.evaluation import OFFICIAL_PROTOCOL, PROTOCOLS


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate", help=COMMANDS["evaluate"],
        description="Score a results JSON (image_id, category_id, 42 keypoint values, score per detection) "
                    "against a CrowdPose GT file with crowdIndex: AP, AP50, AP75, AR, AR50, AR75 and "
                    "AP easy/medium/hard, at most 20 detections per image.")
    parser.add_argument("gt_file", type=Path, metavar="GT.json",
                        help="CrowdPose GT with crowdIndex, e.g. crowdpose_test.json")
    parser.add_argument("results_file", type=Path, metavar="DT.json", help="detections to score")
    parser.add_argument("--protocol", choices=PROTOCOLS, default=OFFICIAL_PROTOCOL,
                        help="crowdpose (official, default) or xtcocotools (its keypoints_crowd, which "
                             "mmpose reported with: drops all-zero-score detections, GT id 0 matches)")
    parser.add_argument("--json", dest="json_out", type=Path, metavar="OUT.json",
                        help="also write the metrics, protocol, implementation and input report here")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from bench.evaluation.files import EvaluateConfig, evaluate_files, format_result

    config = EvaluateConfig(gt_file=args.gt_file, results_file=args.results_file, json_out=args.json_out,
                            protocol=args.protocol)
    print(format_result(evaluate_files(config)))
    return 0
