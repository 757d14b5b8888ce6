"""``bench bisect``: the first commit between a good and a bad one that moved a number, found by a
binary search whose test is ``ab`` (the good commit against the commit tested).

The commits searched are the first-parent commits after good up to bad (``git rev-list
--first-parent``), so a merged branch counts as the one commit that merged it. A commit is "bad" when
``ab`` finds the chosen stage slower (``--speed STAGE``) or a prediction changed (``--accuracy``),
"good" otherwise, and "skipped" when it does not run (it fails to import or its command fails) or
stays inconclusive at the budget of rounds, which ``ab`` spends before giving up. The good commit is
measured again beside every commit tested (its predictions come from the cache after the first), and
each commit's predictions are cached by commit, so a second search over the same range reruns none.

The search tests the untested commit nearest the middle of the range still open, so it needs about
log2(N) tests plus one per skipped commit; bad is tested only when no other commit was bad. Skips
next to the boundary can leave several candidates: all are reported, with the reason each was skipped.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.errors import EXIT_FAILED_VERDICT, EXIT_PASSED, BenchError
from bench.moved.ab import AbResult, AbSettings, Side, compare_sides
from bench.moved.checkouts import source_tree
from bench.moved.revisions import subject
from bench.moved.runner import Runner, SideFailed


@dataclass(frozen=True, eq=False)
class Step:
    """One commit tested: its sha and subject, the outcome, the evidence (the stage's verdict or the
    accuracy line) or why it was skipped, and the ``ab`` result behind it."""

    sha: str
    subject: str
    outcome: str
    evidence: str
    result: AbResult | None = None


@dataclass(frozen=True, eq=False)
class BisectResult:
    """The search: the range, every step in order, and the candidates left for the first bad commit
    (one when it was found; several when skipped commits stand next to it; none when bad was not bad)."""

    good: str
    bad: str
    commits: int
    steps: tuple[Step, ...]
    candidates: tuple[str, ...]

    @property
    def first_bad(self) -> Step | None:
        """The step of the first bad commit, where the search narrowed to one tested bad commit."""
        bad_steps = [step for step in self.steps if step.outcome == "bad" and (step.sha,) == self.candidates]
        return bad_steps[0] if bad_steps else None

    @property
    def exit_code(self) -> int:
        """0 when the first bad commit was found, 1 when it could not be narrowed to one."""
        return EXIT_PASSED if self.first_bad is not None else EXIT_FAILED_VERDICT

    def lines(self) -> list[str]:
        """What ``bench bisect`` prints: the range, one line per step, the first bad commit (its full
        sha on a line of its own) and its evidence."""
        lines = [f"bisect: {self.commits} first-parent commits after good {self.good} up to bad {self.bad}"]
        lines += [f"step {number}: {step.sha[:12]} {step.subject}: {step.outcome}: {step.evidence}"
                  for number, step in enumerate(self.steps, start=1)]
        found = self.first_bad
        if found is not None:
            return [*lines, f"first bad commit: {found.sha}", f"  {found.subject}",
                    f"  evidence: {found.evidence}",
                    f"  its comparison with good (ab.json, accuracy/diff.md): {found.result.settings.out}"]
        if not self.candidates:
            return [*lines, f"no first bad commit: bad {self.bad[:12]} is not bad against good"]
        return [*lines, "the first bad commit is one of (skipped commits next to the first bad one):",
                *self.candidates]


def search(count: int, outcome_of: Callable[[int], str]) -> tuple[int, int, frozenset[int]]:
    """Binary search over commits 0..count-1 whose last is taken as bad and whose predecessor (-1) is
    good: the last good index, the first bad index, and the indices skipped between them. Each test
    is of the untested commit nearest the middle of the open range (lower on a tie); ``outcome_of``
    says "good", "bad" or "skipped"."""
    good, bad, skipped = -1, count - 1, set()
    while True:
        untested = [index for index in range(good + 1, bad) if index not in skipped]
        if not untested:
            return good, bad, frozenset(index for index in skipped if good < index < bad)
        middle = (good + bad) / 2
        index = min(untested, key=lambda candidate: (abs(candidate - middle), candidate))
        outcome = outcome_of(index)
        if outcome == "bad":
            bad = index
        elif outcome == "good":
            good = index
        else:
            skipped.add(index)


def judge(result: AbResult, stage: str | None) -> tuple[str, str]:
    """A tested commit's outcome and evidence: on ``stage`` (slower: bad; inconclusive at the budget:
    skipped; else good), or on the predictions when ``stage`` is None (changed: bad)."""
    if stage is None:
        return ("bad" if result.accuracy.changed else "good"), result.accuracy.line()
    verdict = next(verdict for verdict in result.speed if verdict.stage == stage)
    return {"slower": "bad", "inconclusive": "skipped"}.get(verdict.verdict, "good"), verdict.describe()


def run_bisect(repo: Path, good: str, commits: list[str], runner: Runner, settings: AbSettings,
               stage: str | None) -> BisectResult:
    """Find the first of ``commits`` (``first_parent_commits`` after ``good``, oldest first, the last
    one bad) whose ``stage`` is slower than good's (or, with ``stage`` None, whose predictions differ
    from good's); each tested commit's ``ab`` goes into its own folder under ``settings.out``."""
    base = Side("base", good, source_tree(repo, good, settings.cache))
    try:
        runner.check(base.tree)
    except SideFailed as error:
        raise BenchError(f"the good commit {good[:12]} does not run, so nothing can be compared with it: "
                         f"{error}") from None
    steps: dict[int, Step] = {}

    def outcome_of(index: int) -> str:
        sha = commits[index]
        out = settings.out / f"{index + 1:03d}-{sha[:12]}"
        try:
            head = Side("head", sha, source_tree(repo, sha, settings.cache))
            result = compare_sides(base, head, runner, dataclasses.replace(settings, out=out))
        except SideFailed as error:
            steps[index] = Step(sha, subject(repo, sha), "skipped", f"does not run: {error}")
            return "skipped"
        outcome, evidence = judge(result, stage)
        steps[index] = Step(sha, subject(repo, sha), outcome, evidence, result)
        return outcome

    _, first, skipped = search(len(commits), outcome_of)
    if first == len(commits) - 1 and first not in steps:  # nothing before bad was bad: is bad bad?
        outcome_of(first)
    bad_is_good = steps[first].outcome == "good"
    candidates = [] if bad_is_good else [*(commits[index] for index in sorted(skipped)), commits[first]]
    return BisectResult(good, commits[-1], len(commits), tuple(steps.values()), tuple(candidates))
