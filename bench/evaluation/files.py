"""Scoring saved files: GT and results JSON in, a table and an atomically written JSON record out."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bench import atomic
from bench.evaluation.api import (
    IMPLEMENTATION,
    OFFICIAL_PROTOCOL,
    Evaluation,
    evaluate,
    implementation_version,
)
from bench.evaluation.protocol import metric_text, no_ground_truth_note


@dataclass(frozen=True)
class EvaluateConfig:
    """What ``python -m bench evaluate`` scores, with which protocol, and where the JSON record goes."""

    gt_file: Path
    results_file: Path
    json_out: Path | None = None
    protocol: str = OFFICIAL_PROTOCOL


def evaluate_files(config: EvaluateConfig) -> Evaluation:
    """Score ``config.results_file`` against ``config.gt_file``; write the record to ``json_out`` if set."""
    if config.json_out is not None:
        atomic.check_writable_file(config.json_out, "--json")
    result = evaluate(config.gt_file, config.results_file, config.protocol)
    if config.json_out is not None:
        atomic.write_json(config.json_out, result.to_dict())
    return result


def format_result(result: Evaluation) -> str:
    """The nine metrics as a two-column table, then the protocol, the implementation and the inputs."""
    table = pd.Series({name: metric_text(value) for name, value in result.metrics.items()}, name="value")
    kind = "the official CrowdPose protocol" if result.official else f"the {result.protocol} protocol, " \
                                                                     "not the official one"
    return "\n".join([
        table.rename_axis("metric").to_frame().to_string(),
        *no_ground_truth_note(result.metrics.values()),
        f"{kind}, scored by {IMPLEMENTATION} {implementation_version()} in {result.seconds:.2f} s",
        f"inputs: {result.inputs.summary()}",
    ])
