"""Compact stand-ins for arrays, as torchvision's model tests keep expected outputs: an exact digest where
results are bit-exact, summary statistics compared within a tolerance where float noise is expected.
A summary is a JSON-ready dict; `summary_differences` says in words which of its fields moved."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

NUM_SAMPLES = 4
"""Values sampled per summary, at evenly spaced flat indices (first and last included)."""
EXACT_FIELDS = ("shape", "dtype", "sha256")
"""Fields compared for equality whatever the tolerance."""
SIGNIFICANT_DIGITS = 8
"""Digits kept per statistic: float32 data carries about 7, so nothing a tolerance can see is lost."""

Array = np.ndarray | torch.Tensor
Summary = dict[str, Any]


@dataclass(frozen=True)
class Tolerance:
    """``|new - old| <= atol + rtol * |old|`` per statistic (numpy.isclose); shapes always match exactly."""

    rtol: float
    atol: float


def digest(array: Array) -> Summary:
    """Shape, dtype and sha256 of the array's bytes (C order): equal only for bit-identical arrays."""
    values = _numpy(array)
    return {"shape": list(values.shape), "dtype": str(values.dtype),
            "sha256": hashlib.sha256(np.ascontiguousarray(values).tobytes()).hexdigest()}


def summarize(array: Array) -> Summary:
    """Shape, then (unless empty) mean, std, min, max, sum of absolute values and ``NUM_SAMPLES`` values
    at fixed flat indices, each computed in float64 and rounded to ``SIGNIFICANT_DIGITS``."""
    values = _numpy(array).astype(np.float64)
    summary: Summary = {"shape": list(values.shape)}
    if values.size == 0:
        return summary
    flat = values.ravel()
    picked = flat[np.linspace(0, flat.size - 1, NUM_SAMPLES).round().astype(np.int64)]
    statistics = {"mean": flat.mean(), "std": flat.std(), "min": flat.min(), "max": flat.max(),
                  "abs_sum": np.abs(flat).sum()}
    summary.update({name: _rounded(value) for name, value in statistics.items()})
    summary["samples"] = [_rounded(value) for value in picked]
    return summary


def summary_differences(expected: Summary, actual: Summary, tolerance: Tolerance | None) -> list[str]:
    """What differs between two entries (`digest`, or `summarize` within ``tolerance``), one phrase per
    field such as "mean 0.25 -> 0.5" (recorded -> now) or "digest differs"; empty when they agree."""
    problems = []
    for name in [*expected, *(name for name in actual if name not in expected)]:
        old, new = expected.get(name), actual.get(name)
        if name in EXACT_FIELDS or tolerance is None or old is None or new is None:
            same = old == new
        else:
            same = bool(np.isclose(new, old, rtol=tolerance.rtol, atol=tolerance.atol).all())
        if not same:
            problems.append("digest differs" if name == "sha256" else f"{name} {old} -> {new}")
    return problems


def _numpy(array: Array) -> np.ndarray:
    return array.detach().cpu().numpy() if isinstance(array, torch.Tensor) else np.asarray(array)


def _rounded(value: float) -> float:
    return float(f"{value:.{SIGNIFICANT_DIGITS}g}")
