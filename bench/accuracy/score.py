"""Step 3 of `bench reproduce`: score. Every row's numbers from one matching of its images.

Each row's predictions are matched once (``bench.evaluation.evaluate``; rows with the same predictions
and protocol share it), and everything else is read off those matches: the nine metrics, the
bootstrap intervals (all rows on the same resampled images), a sweep variant's paired difference to
the first variant, and a speed variant's AP difference to its float32 run (its interval paired on the
same resampled images). The result is one typed ``RowResult`` per row, not yet judged.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from bench.accuracy.plan import DataRun, Plan, RowSpec
from bench.accuracy.predict import Predicted, RowPrediction
from bench.evaluation import IMPLEMENTATION, Evaluation, evaluate, implementation_version
from bench.evaluation.bootstrap import BootstrapSettings, bootstrap_distributions, intervals, paired_deltas
from bench.evaluation.inputs import GroundTruth, load_ground_truth
from bench.evaluation.subset import strata_of
from bench.reports.rows import Evaluator, RowBehaviour, RowResult, Subset, VariantCheck
from bench.reports.stats import StageStats


@dataclass(frozen=True)
class _Scorer:
    """Scores predictions on one ground truth, each (results, protocol) once."""

    gt: GroundTruth
    done: dict[tuple[str, str], Evaluation]

    def __call__(self, prediction: RowPrediction, protocol: str) -> Evaluation:
        key = (prediction.results_sha256, protocol)
        if key not in self.done:
            self.done[key] = evaluate(self.gt, prediction.detections, protocol)
        return self.done[key]


def score_rows(run: DataRun, predicted: Predicted, bootstrap: BootstrapSettings) -> list[RowResult]:
    """Every row of ``run`` with its metrics, evaluator, behaviour, decoding time and intervals."""
    score = _Scorer(load_ground_truth(run.dataset.ground_truth()), {})
    evaluations = [score(prediction, spec.protocol) for spec, prediction in zip(run.specs, predicted.rows,
                                                                                 strict=True)]
    references = [reference and score(reference, spec.protocol)
                  for spec, reference in zip(run.specs, predicted.references, strict=True)]
    results = [_result(spec, run, prediction, evaluation, reference and _variant_check(evaluation, reference))
               for spec, prediction, evaluation, reference in zip(run.specs, predicted.rows, evaluations,
                                                                  references, strict=True)]
    if not bootstrap.resamples:
        return results
    # the float32 references after the rows: resampled with them, so each variant's AP change is paired
    matches = [evaluation.matches for evaluation in evaluations + [ref for ref in references if ref]]
    strata = strata_of(matches[0].crowd_index) if run.stratified else None
    samples = bootstrap_distributions(matches, bootstrap, strata)
    reference_columns = iter(range(len(evaluations), len(matches)))
    first = results[0]
    with_intervals = []
    for position, (result, reference) in enumerate(zip(results, references, strict=True)):
        paired = position > 0 and result.role == "sweep"
        behaviour = result.behaviour
        if reference:
            column = next(reference_columns)
            interval = paired_deltas(reference.metrics, result.metrics, samples[:, column],
                                     samples[:, position], bootstrap)["AP"].ci95
            behaviour = dataclasses.replace(behaviour, variant_vs_float32=dataclasses.replace(
                behaviour.variant_vs_float32, ap_delta_ci95=interval))
        with_intervals.append(dataclasses.replace(
            result, ci95=intervals(samples[:, position], bootstrap),
            bootstrap=bootstrap.to_dict(run.stratified), behaviour=behaviour,
            paired_delta=paired_deltas(first.metrics, result.metrics, samples[:, 0], samples[:, position],
                                       bootstrap) if paired else None,
            baseline_row=first.name if paired else None))
    return with_intervals


def not_run(plan: Plan) -> list[RowResult]:
    """The plan's rows, which could not run: each says what was missing (the plan's problems)."""
    missing = " and ".join(problem.split(":", 1)[0] for problem in plan.problems)
    return [RowResult(spec.name, spec.role, spec.config.scales, spec.config.flip, Subset("", 0, False),
                      published_row=spec.published and spec.published.name,
                      not_run=f"not run: no usable {missing} (see below)") for spec in plan.specs]


def _result(spec: RowSpec, run: DataRun, prediction: RowPrediction, evaluation: Evaluation,
            variant: VariantCheck | None) -> RowResult:
    behaviour = RowBehaviour(
        pipeline=spec.config.to_dict(), forward=prediction.forward.to_dict(), weights=run.weights.to_record(),
        results_json=str(prediction.results_path), results_sha256=prediction.results_sha256,
        image_ids=_selection(run), variant_vs_float32=variant)
    evaluator = Evaluator(evaluation.protocol, IMPLEMENTATION, implementation_version(), evaluation.inputs)
    decode_ms = (StageStats.from_samples(list(prediction.decode_ms), in_iteration=False)
                 if prediction.decode_ms else None)
    return RowResult(spec.name, spec.role, spec.config.scales, spec.config.flip, run.subset,
                     published_row=spec.published and spec.published.name, metrics=dict(evaluation.metrics),
                     evaluator=evaluator, behaviour=behaviour, decode_ms=decode_ms)


def _variant_check(variant: Evaluation, float32: Evaluation) -> VariantCheck:
    return VariantCheck(dict(float32.metrics), variant.metrics["AP"] - float32.metrics["AP"])


def _selection(run: DataRun) -> tuple[int, ...] | None:
    """The evaluated image ids when they are not all the annotation file's (None: all of them), so a
    row's results JSON can be rescored on the same images (``bench diff``)."""
    dataset = run.dataset
    return None if len(dataset) == len(dataset.gt["images"]) else tuple(dataset.image_ids)
