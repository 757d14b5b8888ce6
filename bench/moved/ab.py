"""``bench ab``: two sides (commits, or environments: ``bench.moved.sides``) measured in the same job,
in alternating rounds, and their predictions compared once.

Each round runs one short profile of each side, in an order drawn anew each round from a generator
seeded with ``AbSettings.seed`` (so neither side always runs first, after the other has warmed the
machine), and keeps each stage's fastest sample of that round, its minimum (``round_minimums``).
After every round the stages are judged on the rounds so far (``bench.moved.speed``); rounds go on
while any stage is inconclusive, up to ``max_rounds`` rounds or ``max_minutes`` minutes, and a stage
still inconclusive then is reported as such, at the budget. Both sides' predictions (``bench
reproduce``, once per side and cached by commit and environment) are compared image by image
(``bench.moved.accuracy``).

Unlike ``bench compare --baseline``, which judges reports stored at different times, both sides here
share the same minutes of the same machine: a machine that drifts (thermal state, other jobs, a
slower spell) moves both sides of a round alike, and pairing by round takes it out.
"""

from __future__ import annotations

import dataclasses
import random
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench import atomic
from bench.errors import EXIT_FAILED_VERDICT, EXIT_PASSED, BenchError
from bench.evaluation.bootstrap import BootstrapSettings
from bench.moved.accuracy import AccuracyComparison, compare_predictions
from bench.moved.runner import Runner, SideFailed
from bench.moved.sides import Ref, Side, prepare_side
from bench.moved.speed import INCONCLUSIVE, MIN_ROUNDS, round_verdicts
from bench.reading import read_json
from bench.reports.speed_verdicts import StageVerdict, VerdictRule

PREDICTIONS = "predictions"
"""The cache's subfolder of each side's predictions, one folder per REF key and option digest."""


@dataclass(frozen=True)
class AbSettings:
    """What a comparison measures and how long it may run.

    ``out``: this comparison's folder (each round's reports, the diff files, ``ab.json``); ``cache``:
    the extracted commits, the environments and each side's predictions, kept between runs.
    ``stages``: the stages judged (None: all a profile times); ``accuracy``: compare predictions too;
    ``gt``: the annotation file of results-file predictions (a report names its own);
    ``predictions_key``: what the predictions depend on besides the REF (a digest of the reproduce
    options).
    """

    out: Path
    cache: Path
    max_rounds: int = 20
    max_minutes: float = 60.0
    seed: int = 0
    accuracy: bool = False
    stages: tuple[str, ...] | None = None
    gt: Path | None = None
    predictions_key: str = "default"
    rule: VerdictRule = VerdictRule()
    bootstrap: BootstrapSettings = field(default_factory=BootstrapSettings)

    def __post_init__(self) -> None:
        if self.max_rounds < 0 or not self.max_minutes > 0:
            raise ValueError(f"--max-rounds must be at least 0 and --max-minutes above 0, got "
                             f"{self.max_rounds} and {self.max_minutes:g}")
        if self.max_rounds == 0 and not self.accuracy:
            raise ValueError("--max-rounds 0 measures no speed: compare the predictions (--accuracy) then")


@dataclass(frozen=True, eq=False)
class AbResult:
    """The outcome: the sides, the rounds run with each stage's per-round minimums, the verdicts, why
    rounds stopped with a stage undecided (None: they did not), and the accuracy comparison."""

    base: Side
    head: Side
    minimums: dict[str, list[dict[str, float]]]
    speed: tuple[StageVerdict, ...]
    at_budget: str | None
    accuracy: AccuracyComparison | None
    settings: AbSettings

    @property
    def rounds(self) -> int:
        return len(self.minimums["base"])

    @property
    def exit_code(self) -> int:
        """1 when a stage is slower or a prediction changed, else 0."""
        slower = any(verdict.verdict == "slower" for verdict in self.speed)
        changed = self.accuracy is not None and self.accuracy.changed
        return EXIT_FAILED_VERDICT if slower or changed else EXIT_PASSED

    def lines(self) -> list[str]:
        """What ``bench ab`` prints: what was compared and how, then one line per stage and one for
        the accuracy (the last lines)."""
        rule = self.settings.rule
        head = [f"ab: base {self.base.ref.text} against head {self.head.ref.text}", self.base.describe(),
                self.head.describe()]
        if self.settings.max_rounds:
            head.append(f"speed: {self.rounds} rounds, each side once per round in random order (seed "
                        f"{self.settings.seed}); per stage, each round's minimum paired by round: Wilcoxon "
                        f"signed-rank test of log(head/base), p-values Holm-adjusted over the "
                        f"{len(self.speed)} stage(s), alpha {rule.alpha:g}; ratio head/base of their medians "
                        f"with a {rule.confidence:.0%} paired-bootstrap interval; slower/faster from "
                        f"{rule.threshold:.0%}, same when the interval lies within +-{rule.threshold:.0%}")
        if self.at_budget:
            head.append(f"inconclusive stages remain at the budget: {self.at_budget}")
        stages = [verdict.describe() for verdict in self.speed] or ["speed: not measured (--max-rounds 0)"]
        accuracy = (self.accuracy.line() if self.accuracy is not None
                    else "accuracy: not compared (pass --accuracy, or reproduce options after --)")
        return [*head, *stages, accuracy]

    def to_dict(self) -> dict[str, Any]:
        return {"base": self.base.to_dict(), "head": self.head.to_dict(), "seed": self.settings.seed,
                "rule": dataclasses.asdict(self.settings.rule), "rounds": self.rounds,
                "at_budget": self.at_budget, "round_minimums_ms": self.minimums,
                "speed": [dataclasses.asdict(verdict) for verdict in self.speed],
                "accuracy": None if self.accuracy is None else self.accuracy.to_dict(),
                "exit_status": self.exit_code}


def run_ab(repo: Path, base: Ref, head: Ref, runner: Runner, settings: AbSettings) -> AbResult:
    """Compare ``head`` with ``base`` (REFs of ``repo``) and write ``ab.json``."""
    sides = [prepare_side(name, ref, repo, settings.cache) for name, ref in (("base", base), ("head", head))]
    return compare_sides(*sides, runner, settings)


def compare_sides(base: Side, head: Side, runner: Runner, settings: AbSettings,
                  clock: Callable[[], float] = time.monotonic) -> AbResult:
    """Check that both sides build, compare their predictions (``settings.accuracy``) and measure
    their speed in rounds; SideFailed when a side does not run."""
    for setup in dict.fromkeys((base.setup, head.setup)):
        runner.check(setup)
    accuracy = None
    if settings.accuracy:
        predictions = [side_predictions(side, runner, settings) for side in (base, head)]
        accuracy = compare_predictions(*predictions, settings.out / "accuracy", settings.bootstrap,
                                       settings.gt)
    minimums, speed, at_budget = measure_speed(base, head, runner, settings, clock)
    result = AbResult(base, head, minimums, tuple(speed), at_budget, accuracy, settings)
    atomic.write_json(settings.out / "ab.json", result.to_dict())
    return result


def side_predictions(side: Side, runner: Runner, settings: AbSettings) -> Path:
    """The side's predictions, made once per REF key (commit and environment) and ``predictions_key``
    and then taken from the cache (a folder is reused only once its run finished and recorded where
    its predictions are)."""
    folder = settings.cache / PREDICTIONS / f"{side.ref.key}-{settings.predictions_key}"
    done = folder / "done.json"
    if done.is_file():
        return Path(read_json(done, "cached predictions record")["predictions"])
    shutil.rmtree(folder, ignore_errors=True)  # an interrupted run's leftovers
    predictions = runner.predictions(side.setup, folder)
    atomic.write_json(done, {**side.to_dict(), "predictions": str(predictions)})
    return predictions


def measure_speed(base: Side, head: Side, runner: Runner, settings: AbSettings,
                  clock: Callable[[], float] = time.monotonic
                  ) -> tuple[dict[str, list[dict[str, float]]], list[StageVerdict], str | None]:
    """Rounds until no stage is inconclusive or the budget is spent: the per-round minimums of each
    side, the verdicts, and the budget that stopped the rounds with stages undecided (or None)."""
    minimums: dict[str, list[dict[str, float]]] = {"base": [], "head": []}
    order = random.Random(settings.seed)
    started, verdicts = clock(), []
    for number in range(1, settings.max_rounds + 1):
        sides = [base, head]
        order.shuffle(sides)
        for side in sides:
            samples = runner.profile_round(side.setup, settings.out / "rounds" / f"{number:03d}-{side.name}")
            minimums[side.name].append(round_minimums(samples, settings.stages, side))
        verdicts = round_verdicts(minimums["base"], minimums["head"], settings.rule)
        undecided = sum(verdict.verdict == INCONCLUSIVE for verdict in verdicts)
        print(f"round {number}: {' then '.join(side.name for side in sides)}; {undecided} of {len(verdicts)} "
              f"stages inconclusive", file=sys.stderr)
        if not undecided:
            return minimums, verdicts, None
        if clock() - started >= 60 * settings.max_minutes:
            break
    if not verdicts:
        return minimums, verdicts, None
    spent = (f"{len(minimums['base'])} rounds in {(clock() - started) / 60:.1f} min (--max-rounds "
             f"{settings.max_rounds}, --max-minutes {settings.max_minutes:g}; verdicts need at least "
             f"{MIN_ROUNDS} rounds)")
    return minimums, [dataclasses.replace(verdict, note=f"{verdict.note}; at the budget")
                     if verdict.verdict == INCONCLUSIVE else verdict for verdict in verdicts], spent


def round_minimums(samples: dict[str, list[float]], stages: tuple[str, ...] | None,
                   side: Side) -> dict[str, float]:
    """Each chosen stage's fastest sample of one round; BenchError (on the base) or SideFailed (on the
    head) when a chosen stage was not measured.

    The minimum, not the median: interference (another process, a descheduled thread, a cold cache)
    only ever adds time, and on the 2-core CPU it came in bursts that inflated more than half of a
    round's samples, which moves a median but not the minimum (Chen and Revels, "Robust benchmarking in
    noisy environments", 2016; BenchmarkTools.jl judges on it, and timeit advises it). Re-judged from
    the stored rounds of 5 A/A and 5 A/B runs (README), a refine stage 20% slower was "slower" in 5 of 5
    on minimums against 3 of 5 on medians, with no stage of an A/A run called different by either."""
    missing = sorted(set(stages or ()) - set(samples))
    if missing:
        message = (f"the {side.name} {side.ref.short} measures no stage {', '.join(missing)}; its stages: "
                   f"{', '.join(samples)}")
        raise BenchError(message) if side.name == "base" else SideFailed(message)
    return {stage: float(np.min(values)) for stage, values in samples.items()
            if stages is None or stage in stages}
