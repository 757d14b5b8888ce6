"""``python -m bench gate --golden GOLDEN --subset N``: rerun N stratified images of a golden's set with
its settings and compare them image by image; ``--power`` and ``--coverage`` measure the gate itself."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.commands import COMMANDS
from bench.commands.arguments import add_runtime_arguments
from bench.commands.config_file import config_argument, read_config
from bench.data.dataset import add_data_arguments, add_subset_arguments
from bench.errors import BenchError
from bench.reports.folders import DEFAULT_OUT
from reference.precisions import PRECISIONS

CONFIG_KEYS = {
    "workers": int, "threads": int, "cache_dir": str, "checkpoint_cache_dir": str, "network_cache_dir": str,
    "machine": str, "bootstrap": {"resamples": int, "seed": int},
    "tolerance": {"joint_px": float, "score": float},
}
"""The [gate] table of a --config file: how the subset runs (none of it compared), the bootstrap of the
estimates and the tolerances."""
PLAIN_KEYS = ("workers", "threads", "cache_dir", "checkpoint_cache_dir", "network_cache_dir", "machine")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "gate", help=COMMANDS["gate"],
        description="Rerun N images of a golden's test set, drawn at random within the crowd-index splits, "
                    "with the golden's settings, and compare each with the golden: identical, within "
                    "0.05 px and 1e-4 in score, or changed. The device and the runtime are this "
                    "machine's choice (a float32 golden from torch on a GPU gates ONNX Runtime on a CPU); "
                    "the precision is the golden's. Exit 0 when none changed (with the exact "
                    "binomial bound on the share of the set that changes), 1 when some did (naming them, "
                    "with every published metric's estimated full-set change and its 95% interval), 2 "
                    "when the data, settings, precision or checkpoint differ from the golden's. A JSON "
                    "record of the run goes into --out (gate-*.json). --power prints the "
                    "gate's power and --coverage its intervals' coverage, by simulation on a generated set.")
    parser.add_argument("--golden", type=Path, metavar="GOLDEN",
                        help="the golden file (`bench golden record`)")
    data = add_data_arguments(parser, selection=False)
    add_subset_arguments(data)
    parser.add_argument("--checkpoint", help="checkpoint URL or local path (default: the published URL)")
    parser.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda, cuda:N")
    add_runtime_arguments(parser, calibration=False, default=None, default_text="the golden's")
    parser.add_argument("--precision", choices=PRECISIONS,
                        help="the golden's (default); any other is refused: a golden is gated at its own "
                             "precision")
    parser.add_argument("--channels-last", action="store_true",
                        help="torch: run the network in the channels_last memory layout, faster on CPUs; "
                             "its float rounding may differ and the tolerances decide, as for a runtime")
    parser.add_argument("--batch-size", type=int, default=1, help="images per forward pass (default: 1)")
    parser.add_argument("--out", default=str(DEFAULT_OUT),
                        help="folder of the subset's reproduce report and the gate's record (default: "
                             "%(default)s)")
    parser.add_argument("--power", action="store_true",
                        help="print the smallest share of the set, and the AP change, detected with 90%% "
                             "power at N = 100, 200, 500 (simulated on a generated 8,000-image set)")
    parser.add_argument("--coverage", action="store_true",
                        help="print how often the estimates' 95%% intervals hold the true full-set change "
                             "(200 seeded trials per case on a generated 8,000-image set; about an hour "
                             "on 2 cores)")
    config_argument(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.power or args.coverage:
        return simulate(args)
    if args.golden is None or args.subset is None:
        raise BenchError("give --golden GOLDEN and --subset N (or --power or --coverage)")
    from bench.data.dataset import DataConfig
    from bench.evaluation.bootstrap import BootstrapSettings
    from bench.gate.check import GateConfig, run_gate
    from bench.gate.record import write_gate_record
    from bench.gate.summary import gate_text

    table, _ = read_config(args.config, "gate", CONFIG_KEYS)
    tolerance = table.get("tolerance", {})
    try:
        bootstrap = BootstrapSettings(**table.get("bootstrap", {}))
    except ValueError as error:
        raise BenchError(f"{args.config}: [gate]: {error}") from None
    data = DataConfig(data_root=args.data_root, ann_file=args.ann_file, img_dir=args.img_dir)
    config = GateConfig(
        golden=args.golden, subset=args.subset, subset_seed=args.subset_seed, data=data,
        checkpoint=args.checkpoint, device=args.device, runtime=args.runtime, precision=args.precision,
        channels_last=args.channels_last, batch_size=args.batch_size, out=args.out,
        bootstrap=bootstrap, **{key: table[key] for key in PLAIN_KEYS if key in table},
        **({"tolerance_px": tolerance["joint_px"]} if "joint_px" in tolerance else {}),
        **({"tolerance_score": tolerance["score"]} if "score" in tolerance else {}))
    outcome = run_gate(config)
    print(gate_text(outcome))
    print(f"record: {write_gate_record(outcome, args.out)}")
    return outcome.exit_code


def simulate(args: argparse.Namespace) -> int:
    """--power and --coverage: the tables, with the simulated set and regression they were measured on."""
    from bench.gate.simulation import SIMULATED_IMAGES, coverage, power_table, simulated_set
    from bench.reports.markdown import markdown_table

    simulated = simulated_set()
    print(f"simulated on a generated set of {SIMULATED_IMAGES:,} images (bench.gate.simulation); a changed "
          f"image: {simulated.regression.describe()}", file=sys.stderr)
    if args.power:
        print("## Power: the fewest changed images `bench gate --subset N` detects in 90% of draws\n")
        print(markdown_table(power_table(simulated)))
    if args.coverage:
        print("## Coverage: the share of trials whose 95% interval holds the true full-set change\n")
        print(markdown_table(coverage(simulated)))
    return 0
