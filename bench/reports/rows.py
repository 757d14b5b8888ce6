"""The rows of a reproduce report: what each row measured (``RowResult``) and how it was judged (``Verdict``).

A row's result holds everything its verdict depends on (weights, data fingerprints, pipeline, metrics),
so the verdict can be computed again from a stored report (``bench.accuracy.judge.verdict``): a report
cannot claim more than its own contents show.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bench.evaluation import OFFICIAL_PROTOCOL, InputReport
from bench.evaluation.bootstrap import Interval, PairedDelta
from bench.evaluation.subset import SubsetDraw
from bench.reports.records import WeightsRecord
from bench.reports.stats import StageStats
from bench.reports.typed import to_data

ROW_ROLES = ("published", "sweep", "smoke")
"""published: a row of the expected table, judged against it; sweep: a variant of a sweep file,
measured and never compared; smoke: a published row run on the bundled sample, never compared."""
ROW_STATUSES = ("reproduced", "matched", "failed", "skipped", "measured", "smoke")
"""'matched': within tolerance of a custom expected table (never a reproduction of the published
numbers); 'measured': a sweep variant, or a quantized (int8) row within its accuracy target against its
float32 run, measured and never compared with the published numbers."""


@dataclass(frozen=True)
class Check:
    """One metric compared with its expected value; `passed` is False for a missing or non-finite value."""

    metric: str
    expected: float
    actual: float | None
    tolerance: float
    passed: bool

    def describe(self) -> str:
        actual = "missing" if self.actual is None else f"{self.actual:.4f}"
        verdict = "ok" if self.passed else "MISMATCH"
        expected = f"expected {self.expected:.4f} +/- {self.tolerance:g}"
        return f"{self.metric}: actual {actual}, {expected} ({verdict})"


@dataclass(frozen=True)
class Subset:
    """Which images a row was evaluated on: ``full`` means the whole test set (that many distinct
    image ids and files). ``annotations_sha256`` (of the annotation file) and ``images_digest`` (over
    the selected images' file names and contents) fingerprint the data; ``data_pinned`` says whether
    they equal fingerprints pinned in the package (None: none pinned, the data is unpinned). ``draw``:
    how a stratified random subset (``--subset``) was drawn, None for any other selection."""

    dataset: str
    num_images: int
    full: bool
    annotations_sha256: str | None = None
    images_digest: str | None = None
    data_pinned: bool | None = None
    draw: SubsetDraw | None = None


@dataclass(frozen=True)
class Evaluator:
    """What scored a row: the ``protocol`` ("crowdpose", the official one, or "xtcocotools", the
    keypoints_crowd mmpose reported with), the ``implementation`` and its ``version``, and facts
    about the inputs it scored (``inputs``)."""

    protocol: str
    implementation: str
    version: str | None
    inputs: InputReport | None = None

    @property
    def official(self) -> bool:
        """Whether the row was scored with the official CrowdPose protocol."""
        return self.protocol == OFFICIAL_PROTOCOL


@dataclass(frozen=True)
class VariantCheck:
    """A speed variant (another precision or runtime, channels_last, compile) against its float32 run on
    torch on the same images: the float32 metrics and the AP difference (variant - float32) with its
    paired bootstrap interval (both runs on the same resampled images as the row's intervals; None
    without resamples); the verdict says whether it is small enough for the variant to stand for the
    float32 run (a quantized one: its AP ratio, ``bench.accuracy.judge.QUANTIZED_AP_RATIO``)."""

    float32_metrics: dict[str, float]
    ap_delta: float
    ap_delta_ci95: tuple[float, float] | None = None


@dataclass(frozen=True)
class RowBehaviour:
    """How a row's predictions were made: its pipeline settings and the forward they were decoded from
    (``PipelineConfig.to_dict``), the weights, the results JSON (mmpose format, scored as is; its
    sha256 identifies it, None in reports upgraded from schema 3), the evaluated image ids (None: all
    of the annotation file) and, for a speed variant, its check against float32."""

    pipeline: dict[str, Any]
    forward: dict[str, Any]
    weights: WeightsRecord
    results_json: str
    results_sha256: str | None
    image_ids: tuple[int, ...] | None = None
    variant_vs_float32: VariantCheck | None = None

    def __post_init__(self) -> None:  # the settings as JSON gives them back, so a row equals itself read back
        for name in ("pipeline", "forward"):
            object.__setattr__(self, name, to_data(getattr(self, name)))


@dataclass(frozen=True)
class RowResult:
    """What one row measured, before any judgement.

    ``role`` is one of :data:`ROW_ROLES`; ``published_row`` names the expected table's row that a
    published or smoke row runs. ``not_run`` says why a row did not run (no checkpoint or data), and
    then it has no metrics, evaluator or behaviour. ``decode_ms``: decoding time per image (the half of
    the pipeline after the network, which the run's rows share), one sample per image run through the
    network here; None when all came from the cache. ``ci95``: {metric: [low, high]} image-bootstrap
    intervals of the AP metrics, the test-set sampling noise of this run (never the gate width), drawn
    with the ``bootstrap`` settings; for a sweep variant after the first, ``paired_delta`` {metric:
    {delta, ci95}} is its difference to ``baseline_row`` over the same resampled images.
    """

    name: str
    role: str
    scales: tuple[float, ...]
    flip: bool
    subset: Subset
    published_row: str | None = None
    metrics: dict[str, float] | None = None
    not_run: str | None = None
    evaluator: Evaluator | None = None
    behaviour: RowBehaviour | None = None
    decode_ms: StageStats | None = None
    ci95: dict[str, Interval | None] | None = None
    bootstrap: dict[str, Any] | None = None
    paired_delta: dict[str, PairedDelta] | None = None
    baseline_row: str | None = None

    def __post_init__(self) -> None:
        if self.role not in ROW_ROLES:
            raise ValueError(f"row {self.name!r}: role {self.role!r} is not one of {ROW_ROLES}")
        if (self.not_run is None) == (self.metrics is None):
            raise ValueError(f"row {self.name!r}: a row either ran (metrics) or says why not (not_run)")


@dataclass(frozen=True)
class Verdict:
    """How a row was judged: its status (one of :data:`ROW_STATUSES`) with the reason, the expected
    values and tolerances it was judged against, and one check per expected metric."""

    status: str
    reason: str | None
    expected: dict[str, float]
    tolerance: dict[str, float]
    checks: tuple[Check, ...] = ()

    def __post_init__(self) -> None:
        if self.status not in ROW_STATUSES:
            raise ValueError(f"status {self.status!r} is not one of {ROW_STATUSES}")


@dataclass(frozen=True)
class Row:
    """One row of a reproduce report: its result and its verdict."""

    result: RowResult
    verdict: Verdict


PREDICTIONS_NAME = re.compile(r"predictions-[0-9a-f]{16}\.json")


def is_predictions_name(name: str) -> bool:
    """Whether ``name`` is that of predictions kept beside a report (``predictions_name``)."""
    return PREDICTIONS_NAME.fullmatch(name) is not None


def predictions_name(sha256: str) -> str:
    """The name of a row's predictions (mmpose results JSON) beside its report: by content, so reports
    of the same predictions share one file and a file never changes under a report that names it."""
    return f"predictions-{sha256[:16]}.json"
