"""Scoring saved files: GT and results JSON in, a table and an atomically written JSON record out."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bench import atomic
from bench.evaluation.api import DEFAULT_BACKEND, OFFICIAL_PROTOCOL, EvaluationResult, evaluate_with_info


@dataclass(frozen=True)
class EvaluateConfig:
    """What ``python -m bench evaluate`` scores, with which backend, and where the JSON record goes."""

    gt_file: Path
    results_file: Path
    backend: str = DEFAULT_BACKEND
    json_out: Path | None = None
    protocol: str = OFFICIAL_PROTOCOL


def evaluate_files(config: EvaluateConfig) -> EvaluationResult:
    """Score ``config.results_file`` against ``config.gt_file``; write the record to ``json_out`` if set."""
    if config.json_out is not None:
        atomic.check_writable_file(config.json_out, "--json")
    result = evaluate_with_info(config.gt_file, config.results_file, config.backend, config.protocol)
    if config.json_out is not None:
        atomic.write_json(config.json_out, result.to_dict())
    return result


def format_result(result: EvaluationResult) -> str:
    """The nine metrics as a two-column table, then the backend and the input report."""
    table = pd.Series(result.metrics, name="value").rename_axis("metric").to_frame()
    if result.protocol != OFFICIAL_PROTOCOL:
        kind = f"{result.protocol} protocol, not the official one"
    else:
        kind = ("official CrowdPose API" if result.official
                else "unofficial, same protocol as the official API")
    return "\n".join([
        table.to_string(float_format=lambda value: f"{value:.4f}"),
        f"backend: {result.backend} {result.backend_version} ({kind}); {result.seconds:.2f} s",
        f"inputs: {result.input_report.summary()}",
    ])
