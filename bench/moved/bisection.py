"""``bench bisect``: the first commit (or version of a dependency) between a good and a bad one that
moved a number, found by a binary search whose test is ``ab`` (good against the candidate tested).

One search serves both kinds of candidates (``Candidates``): the first-parent commits after good up to
bad (``commit_candidates``; ``git rev-list --first-parent``, so a merged branch counts as the one
commit that merged it), or the released versions of one package (``bench.moved.versions``), each an
environment REF. A candidate is "bad" when ``ab`` finds the chosen stage slower (``--speed STAGE``)
or a prediction changed (``--accuracy``), "good" otherwise, and "skipped" when it does not run (it
fails to import, its environment does not install or its command fails) or stays inconclusive at
the budget of rounds, which ``ab`` spends before giving up. Good is measured again beside every
candidate tested (its predictions come from the cache after the first), and each candidate's
predictions are cached by its REF, so a second search over the same range reruns none.

The search tests the untested candidate nearest the middle of the range still open, so it needs about
log2(N) tests plus one per skipped candidate; bad is tested only when no other one was bad. Skips
next to the boundary can leave several suspects: all are reported, with the reason each was skipped.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.errors import EXIT_FAILED_VERDICT, EXIT_PASSED, BenchError
from bench.moved.ab import AbResult, AbSettings, compare_sides
from bench.moved.revisions import first_parent_commits, resolve, subject
from bench.moved.runner import Runner, SideFailed
from bench.moved.sides import Ref, Side, prepare_side


@dataclass(frozen=True)
class Candidates:
    """What bisect searches: ``good``, then ``refs`` (oldest first, the last one bad); ``noun`` says
    what one is ("commit", "version"), ``span`` describes the range and ``subject`` gives a line on
    one (a commit's subject; may be empty)."""

    good: Ref
    refs: tuple[Ref, ...]
    noun: str
    span: str
    subject: Callable[[Ref], str]


def commit_candidates(repo: Path, good: str, bad: str) -> Candidates:
    """The first-parent commits of ``repo`` after revision ``good`` up to ``bad``; BenchError for
    unknown revisions or good not an ancestor of bad."""
    good_sha = resolve(repo, good)
    commits = first_parent_commits(repo, good_sha, resolve(repo, bad))
    return Candidates(Ref(good_sha, good_sha), tuple(Ref(sha, sha) for sha in commits), "commit",
                      f"{len(commits)} first-parent commits after good {good_sha} up to bad {commits[-1]}",
                      lambda ref: subject(repo, ref.commit))


@dataclass(frozen=True, eq=False)
class Step:
    """One candidate tested: its REF and subject, the outcome, the evidence (the stage's verdict or the
    accuracy line) or why it was skipped, and the ``ab`` result behind it."""

    ref: Ref
    subject: str
    outcome: str
    evidence: str
    result: AbResult | None = None

    @property
    def title(self) -> str:
        return " ".join(filter(None, (self.ref.short, self.subject)))


@dataclass(frozen=True, eq=False)
class BisectResult:
    """The search: what was searched, every step in order, and the suspects left for the first bad
    candidate (one when it was found; several when skipped ones stand next to it; none when bad was
    not bad)."""

    candidates: Candidates
    steps: tuple[Step, ...]
    suspects: tuple[Ref, ...]

    @property
    def first_bad(self) -> Step | None:
        """The step of the first bad candidate, where the search narrowed to one tested bad one."""
        bad_steps = [step for step in self.steps if step.outcome == "bad" and (step.ref,) == self.suspects]
        return bad_steps[0] if bad_steps else None

    @property
    def exit_code(self) -> int:
        """0 when the first bad candidate was found, 1 when it could not be narrowed to one."""
        return EXIT_PASSED if self.first_bad is not None else EXIT_FAILED_VERDICT

    def lines(self) -> list[str]:
        """What ``bench bisect`` prints: the range, one line per step, the first bad candidate on a line
        of its own (``first bad commit: SHA``, ``first bad version: NAME==V``) and its evidence."""
        noun = self.candidates.noun
        lines = [f"bisect: {self.candidates.span}"]
        lines += [f"step {number}: {step.title}: {step.outcome}: {step.evidence}"
                  for number, step in enumerate(self.steps, start=1)]
        found = self.first_bad
        if found is not None:
            return [*lines, f"first bad {noun}: {found.ref.text}", *([f"  {found.subject}"] if found.subject
                                                                      else []),
                    f"  evidence: {found.evidence}",
                    f"  its comparison with good (ab.json, accuracy/diff.md): {found.result.settings.out}"]
        if not self.suspects:
            return [*lines, f"no first bad {noun}: bad {self.candidates.refs[-1].short} is not bad against "
                            "good"]
        return [*lines, f"the first bad {noun} is one of (skipped ones next to the first bad one):",
                *(ref.text for ref in self.suspects)]


def search(count: int, outcome_of: Callable[[int], str]) -> tuple[int, int, frozenset[int]]:
    """Binary search over candidates 0..count-1 whose last is taken as bad and whose predecessor (-1)
    is good: the last good index, the first bad index, and the indices skipped between them. Each test
    is of the untested candidate nearest the middle of the open range (lower on a tie); ``outcome_of``
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


def run_bisect(repo: Path, candidates: Candidates, runner: Runner, settings: AbSettings, stage: str | None,
               prepare: Callable[[str, Ref, Path, Path], Side] = prepare_side) -> BisectResult:
    """Find the first of ``candidates.refs`` whose ``stage`` is slower than good's (or, with ``stage``
    None, whose predictions differ from good's); each tested candidate's ``ab`` goes into its own
    folder under ``settings.out``. ``prepare(name, ref, repo, cache)`` makes a side of a REF (a test
    may replace it, as it replaces the runner, to search without building environments)."""
    refs, noun = candidates.refs, candidates.noun
    try:
        base = prepare("base", candidates.good, repo, settings.cache)
        runner.check(base.setup)
    except SideFailed as error:
        raise BenchError(f"the good {noun} {candidates.good.short} does not run, so nothing can be "
                         f"compared with it: {error}") from None
    steps: dict[int, Step] = {}

    def outcome_of(index: int) -> str:
        ref = refs[index]
        out = settings.out / f"{index + 1:03d}-{ref.label}"
        try:
            head = prepare("head", ref, repo, settings.cache)
            result = compare_sides(base, head, runner, dataclasses.replace(settings, out=out))
        except SideFailed as error:
            steps[index] = Step(ref, candidates.subject(ref), "skipped", f"does not run: {error}")
            return "skipped"
        outcome, evidence = judge(result, stage)
        steps[index] = Step(ref, candidates.subject(ref), outcome, evidence, result)
        return outcome

    _, first, skipped = search(len(refs), outcome_of)
    if first == len(refs) - 1 and first not in steps:  # nothing before bad was bad: is bad bad?
        outcome_of(first)
    bad_is_good = steps[first].outcome == "good"
    suspects = [] if bad_is_good else [*(refs[index] for index in sorted(skipped)), refs[first]]
    return BisectResult(candidates, tuple(steps.values()), tuple(suspects))
