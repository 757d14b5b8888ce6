"""Step 4 of `bench reproduce`: judge. A row's verdict is a pure function of its result and the table.

Only the table shipped in the package can be *reproduced*, and only with the published checkpoint (as
strongly as the registry pins it) on the whole test set, pinned data where pins exist, the recorded
pipeline behaviours, and a speed variant only within ``VARIANT_AP_TOLERANCE`` of its float32 run; a
custom table's rows can only be *matched*. A quantized (int8) row is never a reproduction: it is
judged as MLPerf judges a quantized model, *measured* where its AP is at least ``QUANTIZED_AP_RATIO``
of its float32 run's on the same images and *failed* below. Everything else is measured and labelled:
*skipped* with the reason, *measured* (a sweep variant) or *smoke* (the bundled sample). Because a
result holds everything its verdict depends on, the suites judge a stored report again (a report cannot
claim more than its contents show).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench.accuracy.expected import ExpectedRow, ExpectedTable, check_metrics
from bench.reports.rows import Row, RowResult, VariantCheck, Verdict
from reference.pipeline import pipeline_config
from reference.precisions import QUANTIZED

VARIANT_AP_TOLERANCE = 0.001
"""Largest |AP(variant) - AP(float32)| with which a speed variant may stand for the float32 run."""
QUANTIZED_AP_RATIO = 0.99
"""Least AP(quantized) / AP(float32) on the same images: MLPerf inference's accuracy target for a
quantized model (99% of its FP32 reference), one-sided."""
RECORDED_BEHAVIOURS = ("stage_aggregation", "group_limit", "ignore_too_much", "joint_order", "matcher",
                       "channels_last", "compile", "precision", "runtime")
"""Pipeline settings a compared row may change: the recorded mmpose-version behaviours and the speed
variants (whose AP is checked against float32)."""


def verdict(result: RowResult, table: ExpectedTable) -> Verdict:
    """The status and reason of ``result`` judged against ``table``, with its expected values and checks."""
    row = _published_row(result, table)
    expected = dict(row.expected) if row else {}
    tolerance = dict(row.tolerance) if row else {}
    status, reason = _status(result, row, table)
    judged = result.role == "published" and row is not None and result.metrics is not None
    checks = tuple(check_metrics(expected, tolerance, result.metrics)) if judged else ()
    return Verdict(status, reason, expected, tolerance, checks)


def exit_code(rows: Sequence[Row], strict: bool) -> int:
    """1 if a row failed, or (strict, for gates) if a published row was skipped; else 0."""
    return 1 if exit_reason(rows, strict) else 0


def exit_reason(rows: Sequence[Row], strict: bool) -> str | None:
    """Why the run exits 1 (the rows that failed, or under ``strict`` the rows skipped), or None."""
    failed = [row.result.name for row in rows if row.verdict.status == "failed"]
    if failed:
        return f"{len(failed)} row(s) failed: {', '.join(failed)}"
    skipped = [row.result.name for row in rows if row.verdict.status == "skipped"]
    if strict and skipped:
        return (f"--strict: {len(skipped)} published row(s) skipped ({', '.join(skipped)}); a gate passes "
                "only when every published row is reproduced")
    return None


def _published_row(result: RowResult, table: ExpectedTable) -> ExpectedRow | None:
    return next((row for row in table.rows if row.name == result.published_row), None)


def _status(result: RowResult, row: ExpectedRow | None, table: ExpectedTable) -> tuple[str, str]:
    behaviour = result.behaviour
    weights = behaviour.weights.label if behaviour else "no"
    if result.not_run is not None:
        return "skipped", result.not_run
    if result.role == "smoke":
        return "smoke", (f"pipeline smoke run on the bundled {result.subset.num_images}-image sample with "
                         f"{weights} weights; never compared with the published numbers")
    if result.role == "sweep":
        return "measured", (f"sweep variant on {result.subset.num_images} images with {weights} weights, "
                            "decoded from the sweep's shared forward; measured, never compared with the "
                            "published numbers")
    if row is None:
        return "skipped", f"row {result.published_row!r} is not in {table.path}; not compared"
    return _published_status(result, row, table)


def _published_status(result: RowResult, row: ExpectedRow, table: ExpectedTable) -> tuple[str, str]:
    behaviour, subset = result.behaviour, result.subset
    custom = "" if table.bundled else f"custom table {table.path} (sha256 {table.sha256[:12]}...)"
    sha256 = behaviour.weights.sha256 or ""
    if not table.checkpoint.matches(sha256):
        return "skipped", (f"measured with {behaviour.weights.label} weights, not the "
                           f"{'published ' if table.bundled else ''}{table.checkpoint.file_name}"
                           f"{' of ' + custom if custom else ''}; not compared")
    if not subset.full:
        images = subset.draw.describe() if subset.draw else f"{subset.num_images} images"
        return "skipped", (f"measured on {images}, not the whole {table.dataset_name} set "
                           f"({table.dataset_num_images} distinct images and files); not compared")
    if subset.data_pinned is False:
        return "skipped", (f"the {table.dataset_name} data differs from the fingerprints pinned in "
                           f"{table.path} (annotations sha256 {subset.annotations_sha256[:12]}..., images "
                           f"{subset.images_digest[:12]}...); not compared")
    changed = changed_settings(behaviour.pipeline, row)
    if changed:
        return "skipped", (f"pipeline settings {changed} change the published test configuration; measured, "
                           "not compared")
    variant = behaviour.variant_vs_float32
    if behaviour.pipeline.get("precision") in QUANTIZED:
        return quantized_status(result.metrics, variant)
    if variant and abs(variant.ap_delta) > VARIANT_AP_TOLERANCE:
        return "skipped", (f"speed variant: AP differs from the float32 run by {variant.ap_delta:+.4f} "
                           f"(more than {VARIANT_AP_TOLERANCE}); labelled, not accepted as a reproduction")
    checks = check_metrics(row.expected, row.tolerance, result.metrics)
    failed = [check for check in checks if not check.passed]
    if failed:
        against = f"against {custom}: " if custom else ""
        return "failed", against + "; ".join(check.describe() for check in failed)
    strength = (f"checkpoint {table.checkpoint.verification}; data "
                + ("pinned" if subset.data_pinned else "unpinned (fingerprints in the report, not pinned in "
                   "the package yet)"))
    if custom:
        return "matched", (f"matched {custom}; not the table shipped in the package, so not a reproduction "
                           f"of the published numbers ({strength})")
    return "reproduced", strength


def quantized_status(metrics: dict[str, float], variant: VariantCheck | None) -> tuple[str, str]:
    """A quantized row's status against its float32 run on the same images: "measured" at
    ``QUANTIZED_AP_RATIO`` of its AP or more, else "failed"; never a reproduction."""
    if variant is None:
        return "measured", "quantized variant without a float32 run on the same images; never a reproduction"
    ap, float32_ap = metrics["AP"], variant.float32_metrics["AP"]
    ratio = ap / float32_ap if float32_ap > 0 else 1.0  # a float32 AP of 0 has nothing to lose
    relation = "at least" if ratio >= QUANTIZED_AP_RATIO else "below"
    reason = (f"quantized variant: AP {ap:.4f} is {ratio:.2%} of its float32 run's {float32_ap:.4f}, "
              f"{relation} the {QUANTIZED_AP_RATIO:.0%} MLPerf asks of a quantized model")
    if ratio < QUANTIZED_AP_RATIO:
        return "failed", reason
    return "measured", reason + "; reduced precision, never a reproduction"


def changed_settings(pipeline: dict[str, Any], row: ExpectedRow) -> list[str]:
    """The pipeline settings (flat: the grouping's beside the pipeline's own) that differ from the
    published row's test configuration, other than the recorded behaviours."""
    default = pipeline_config(row.scales, row.flip).to_dict()
    ran, published = _flat(pipeline), _flat(default)
    return sorted(name for name in set(ran) | set(published)
                  if name not in RECORDED_BEHAVIOURS and _json(ran.get(name)) != _json(published.get(name)))


def _flat(settings: dict[str, Any]) -> dict[str, Any]:
    return {**{name: value for name, value in settings.items() if name != "grouping"},
            **settings.get("grouping", {})}


def _json(value: Any) -> Any:
    """Tuples as lists, as a report gives them back."""
    return list(map(_json, value)) if isinstance(value, list | tuple) else value
