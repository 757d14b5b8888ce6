"""`bench ab` and `bench bisect` on generated git repositories whose commits change one small module,
`pipeline.py` (each stage's duration, a grouping constant that moves some poses), run by a runner the
tests inject: no commit runs the real network. One test runs the real subprocess runner on a tiny
fake `bench` package."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import runpy
import subprocess
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from bench.__main__ import main
from bench.commands.moved_arguments import passed_options
from bench.evaluation.bootstrap import BootstrapSettings
from bench.evaluation.image_diff import TOLERANCE_PX
from bench.moved.ab import AbSettings, compare_sides, round_minimums, run_ab
from bench.moved.bisection import commit_candidates, run_bisect, search
from bench.moved.checkouts import source_tree
from bench.moved.revisions import first_parent_commits, resolve
from bench.moved.runner import Runner, Setup, SideFailed, subprocess_runner
from bench.moved.sides import Ref, Side, prepare_side
from bench.moved.speed import holm, rounds_to_reach
from bench.testing.synthetic_data import DetectionSpec, GroundTruthSpec, make_detections, make_ground_truth

STAGES_MS = {"read": 10.0, "forward": 40.0, "group": 20.0}
SHIFTED_IMAGES = 3


def pipeline_source(stages_ms: dict[str, float] = STAGES_MS, shift_px: float = 0.0) -> str:
    return f"STAGES_MS = {stages_ms!r}\nSHIFT_PX = {shift_px!r}\n"


def make_repo(folder: Path, sources: list[str], files: dict[str, str] | None = None) -> list[str]:
    """A git repository with one commit per source of `pipeline.py` (the first commit with ``files``
    too, path -> text); the commits' full shas."""
    folder.mkdir()
    for path, text in (files or {}).items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_text(text)

    def git(*arguments: str) -> str:
        return subprocess.run(["git", "-C", str(folder), "-c", "user.name=t", "-c", "user.email=t@t",
                               "-c", "commit.gpgsign=false", *arguments], check=True, capture_output=True,
                              text=True).stdout.strip()

    git("init", "-q")
    shas = []
    for number, source in enumerate(sources, start=1):
        (folder / "pipeline.py").write_text(source)
        git("add", "-A")
        git("commit", "-q", "--allow-empty", "-m", f"commit {number}")
        shas.append(git("rev-parse", "HEAD"))
    return shas


@dataclasses.dataclass
class FakeRunner:
    """Runs a tree's `pipeline.py`: stage times from STAGES_MS (with seeded noise, or measured around
    real sleeps), predictions of generated detections with SHIFT_PX added to a few images."""

    gt_path: Path
    detections: list
    sleep: bool = False
    noise: np.random.Generator = dataclasses.field(default_factory=lambda: np.random.default_rng(0))
    calls: Counter = dataclasses.field(default_factory=Counter)

    def runner(self) -> Runner:
        return Runner(check=self.settings, profile_round=self.profile_round, predictions=self.predictions)

    def settings(self, setup: Setup) -> dict:
        try:
            return runpy.run_path(str(setup.tree / "pipeline.py"))
        except SyntaxError as error:
            raise SideFailed(f"pipeline.py does not build: {error}") from None

    def profile_round(self, setup: Setup, out: Path) -> dict[str, list[float]]:
        self.calls["profile"] += 1
        stages = self.settings(setup)["STAGES_MS"]
        return {stage: [self.duration(ms) for _ in range(3)] for stage, ms in stages.items()}

    def duration(self, ms: float) -> float:
        if not self.sleep:
            return ms * math.exp(self.noise.normal(0.0, 0.03))
        start = time.perf_counter()
        time.sleep(ms / 1000)
        return 1000 * (time.perf_counter() - start)

    def predictions(self, setup: Setup, out: Path) -> Path:
        self.calls["predictions"] += 1
        shift = self.settings(setup)["SHIFT_PX"]
        moved = sorted({det["image_id"] for det in self.detections})[:SHIFTED_IMAGES]
        results = [dict(det, keypoints=[value + shift * (det["image_id"] in moved and index % 3 != 2)
                                        for index, value in enumerate(det["keypoints"])])
                   for det in self.detections]
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.json").write_text(json.dumps(results))
        return out / "results.json"


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> tuple[Path, list]:
    folder = tmp_path_factory.mktemp("gt")
    gt = make_ground_truth(GroundTruthSpec(num_images=12, seed=5, edge_cases=False, min_size=200,
                                           max_size=300))
    (folder / "gt.json").write_text(json.dumps(gt))
    return folder / "gt.json", make_detections(gt, DetectionSpec(seed=6, edge_cases=False))


@pytest.fixture
def fake(data) -> FakeRunner:
    return FakeRunner(*data)


def settings(tmp_path: Path, fake: FakeRunner, **fields) -> AbSettings:
    return AbSettings(**{"out": tmp_path / "out", "cache": tmp_path / "cache", "gt": fake.gt_path,
                         "bootstrap": BootstrapSettings(resamples=100), **fields})


def commit(sha: str) -> Ref:
    return Ref(sha, sha)


def commit_sides(tmp_path: Path, base: str, head: str) -> list:
    return [prepare_side(name, commit(sha), tmp_path / "repo", tmp_path / "cache")
            for name, sha in (("base", base), ("head", head))]


def test_holm_adjusts_the_smallest_p_value_most_and_keeps_the_order():
    adjusted = holm([0.01, 0.04, 0.03, 0.005])
    assert adjusted == pytest.approx([0.03, 0.06, 0.06, 0.02])
    multitest = pytest.importorskip("statsmodels.stats.multitest")
    p_values = np.random.default_rng(1).uniform(0, 0.2, size=9)
    assert holm(p_values.tolist()) == pytest.approx(multitest.multipletests(p_values, method="holm")[1])


def test_the_signed_rank_test_needs_more_rounds_the_more_stages_it_judges():
    assert rounds_to_reach(0.05, 1) == 6 and rounds_to_reach(0.05, 3) == 7 and rounds_to_reach(0.05, 13) == 10


def test_an_a_a_pair_is_never_different(tmp_path, fake):
    sha, = make_repo(tmp_path / "repo", [pipeline_source()])
    result = run_ab(tmp_path / "repo", commit(sha), commit(sha), fake.runner(),
                    settings(tmp_path, fake, accuracy=True))
    assert {verdict.verdict for verdict in result.speed} == {"same"}
    assert result.rounds == 5 and result.exit_code == 0
    assert all(0.9 < verdict.ci_low <= verdict.ratio <= verdict.ci_high < 1.1 for verdict in result.speed)
    assert set(result.accuracy.outcomes.values()) == {"identical"} and not result.accuracy.changed
    record = json.loads((tmp_path / "out" / "ab.json").read_text())
    assert record["exit_status"] == 0 and record["base"] == record["head"]
    assert record["base"]["kind"] == "commit" and record["base"]["commit"] == sha
    assert record["accuracy"]["tolerance"] == {"px": TOLERANCE_PX, "score": 1e-4}
    assert fake.calls["predictions"] == 1  # the same REF twice: predicted once


def test_a_round_keeps_each_stage_fastest_sample_so_a_burst_does_not_move_it():
    """Interference only adds time: a burst that slows 5 of a round's 8 samples (as one did on the
    2-core CPU, 14 ms to 21 ms) would move the round's median, not its minimum."""
    side = Side("base", Ref("main", "0" * 40), Setup(Path(".")))
    samples = {"refine": [14.3, 14.6, 15.3, 21.2, 20.7, 21.1, 21.1, 21.1], "adjust": [0.7, 0.9]}
    assert round_minimums(samples, None, side) == {"refine": 14.3, "adjust": 0.7}
    assert round_minimums(samples, ("refine",), side) == {"refine": 14.3}
    assert np.median(samples["refine"]) > 20


def test_an_a_a_pair_of_real_sleeps_is_never_different(tmp_path, fake):
    sha, = make_repo(tmp_path / "repo", [pipeline_source({"read": 2.0, "group": 3.0})])
    fake.sleep = True
    result = run_ab(tmp_path / "repo", commit(sha), commit(sha), fake.runner(),
                    settings(tmp_path, fake, max_rounds=8))
    assert {verdict.verdict for verdict in result.speed} <= {"same", "inconclusive"}
    assert result.exit_code == 0


def test_a_commit_that_sleeps_longer_in_one_stage_is_slower_on_that_stage(tmp_path, fake, capsys):
    base, head = make_repo(tmp_path / "repo", [pipeline_source({"read": 2.0, "forward": 3.0, "group": 2.0}),
                                               pipeline_source({"read": 2.0, "forward": 12.0, "group": 2.0})])
    fake.sleep = True
    result = run_ab(tmp_path / "repo", commit(base), commit(head), fake.runner(),
                    settings(tmp_path, fake, max_rounds=10))
    verdicts = {verdict.stage: verdict for verdict in result.speed}
    assert verdicts["forward"].verdict == "slower" and verdicts["forward"].ci_low > 2
    assert {verdicts[stage].verdict for stage in ("read", "group")} <= {"same", "inconclusive"}
    assert result.rounds >= rounds_to_reach(0.05, 3) and result.exit_code == 1
    lines = result.lines()
    assert [line.split(":")[0] for line in lines[-4:]] == ["read", "forward", "group", "accuracy"]
    assert "Holm-adjusted over the 3 stage(s)" in "\n".join(lines)
    assert "round 1: " in capsys.readouterr().err


def test_the_rounds_stop_at_the_budget_and_say_so(tmp_path, fake):
    base, head = make_repo(tmp_path / "repo", [pipeline_source(),
                                               pipeline_source({**STAGES_MS, "group": 21.5})])
    result = run_ab(tmp_path / "repo", commit(base), commit(head), fake.runner(),
                    settings(tmp_path, fake, max_rounds=3))
    assert result.rounds == 3 and {verdict.verdict for verdict in result.speed} == {"inconclusive"}
    assert result.exit_code == 0 and "; at the budget)" in result.lines()[-2]
    assert "3 rounds" in result.at_budget


def test_no_round_starts_after_the_minutes_of_the_budget(tmp_path, fake):
    base, head = make_repo(tmp_path / "repo", [pipeline_source(),
                                               pipeline_source({**STAGES_MS, "group": 21.5})])
    sides = commit_sides(tmp_path, base, head)
    half_hours = itertools.count(0, 1800).__next__  # each reading of the clock is 30 minutes later
    result = compare_sides(*sides, fake.runner(), settings(tmp_path, fake, max_minutes=60), clock=half_hours)
    assert result.rounds == 2 and result.at_budget.startswith("2 rounds in 90.0 min")


def test_a_changed_grouping_constant_changes_the_predictions(tmp_path, fake):
    base, nudged, shifted = make_repo(tmp_path / "repo", [pipeline_source(),
                                                          pipeline_source(shift_px=TOLERANCE_PX / 2),
                                                          pipeline_source(shift_px=25.0)])
    only_accuracy = settings(tmp_path, fake, accuracy=True, max_rounds=0)
    within = run_ab(tmp_path / "repo", commit(base), commit(nudged), fake.runner(), only_accuracy)
    assert Counter(within.accuracy.outcomes.values())["within tolerance"] == SHIFTED_IMAGES
    assert within.exit_code == 0 and within.lines()[-1].startswith("accuracy: same: 0 of 12 images changed")
    changed = run_ab(tmp_path / "repo", commit(base), commit(shifted), fake.runner(),
                     dataclasses.replace(only_accuracy, out=tmp_path / "shifted"))
    moved = sorted({det["image_id"] for det in fake.detections})[:SHIFTED_IMAGES]
    assert sorted(changed.accuracy.changed_images) == moved and changed.exit_code == 1
    assert changed.accuracy.diff.deltas["AP"].delta < 0
    assert changed.lines()[-1].startswith(f"accuracy: changed: {SHIFTED_IMAGES} of 12 images changed")
    assert (tmp_path / "shifted" / "accuracy" / "images.csv").is_file()
    assert fake.calls["predictions"] == 3  # base's predictions came from the cache the second time


def sixteen_commits(tmp_path: Path, changed: int, source: str) -> list[str]:
    """Commits 1..16 of `pipeline.py`, commit ``changed`` onwards with ``source``."""
    return make_repo(tmp_path / "repo", [pipeline_source() if number < changed else source
                                         for number in range(1, 17)])


def test_bisect_names_the_commit_that_changed_the_poses(tmp_path, fake):
    shas = sixteen_commits(tmp_path, 11, pipeline_source(shift_px=25.0))
    commits = commit_candidates(tmp_path / "repo", shas[0], shas[-1])
    bisect = settings(tmp_path, fake, accuracy=True, max_rounds=0)
    result = run_bisect(tmp_path / "repo", commits, fake.runner(), bisect, None)
    assert result.first_bad.ref.commit == shas[10] and result.exit_code == 0
    assert len(result.steps) <= math.ceil(math.log2(15))
    assert f"first bad commit: {shas[10]}" in result.lines()
    assert fake.calls["predictions"] == 1 + len(result.steps)  # good predicted once
    again = run_bisect(tmp_path / "repo", commits, fake.runner(),
                       dataclasses.replace(bisect, out=tmp_path / "again"), None)
    assert again.first_bad.ref.commit == shas[10] and fake.calls["predictions"] == 1 + len(result.steps)


def test_bisect_names_the_commit_that_made_a_stage_30_percent_slower(tmp_path, fake):
    shas = sixteen_commits(tmp_path, 6, pipeline_source({**STAGES_MS, "forward": 52.0}))
    commits = commit_candidates(tmp_path / "repo", shas[0], shas[-1])
    result = run_bisect(tmp_path / "repo", commits, fake.runner(),
                        settings(tmp_path, fake, stages=("forward",)), "forward")
    assert result.first_bad.ref.commit == shas[5] and len(result.steps) <= math.ceil(math.log2(15))
    assert result.first_bad.evidence.startswith("forward: slower")
    assert all([verdict.stage for verdict in step.result.speed] == ["forward"] for step in result.steps)


def test_bisect_skips_a_commit_that_does_not_build_and_still_finds_the_first_bad_one(tmp_path, fake):
    sources = [pipeline_source(shift_px=25.0 if number >= 11 else 0.0) for number in range(1, 17)]
    sources[7] = "STAGES_MS = {\n"  # commit 8, the first one tested, does not build
    shas = make_repo(tmp_path / "repo", sources)
    commits = commit_candidates(tmp_path / "repo", shas[0], shas[-1])
    result = run_bisect(tmp_path / "repo", commits, fake.runner(),
                        settings(tmp_path, fake, accuracy=True, max_rounds=0), None)
    assert result.first_bad.ref.commit == shas[10]
    skipped = [step for step in result.steps if step.outcome == "skipped"]
    assert [step.ref.commit for step in skipped] == [shas[7]] and "does not build" in skipped[0].evidence
    assert len(result.steps) <= math.ceil(math.log2(15)) + 1


def test_bisect_says_so_when_bad_is_not_bad(tmp_path, fake):
    shas = make_repo(tmp_path / "repo", [pipeline_source()] * 4)
    commits = commit_candidates(tmp_path / "repo", shas[0], shas[-1])
    result = run_bisect(tmp_path / "repo", commits, fake.runner(),
                        settings(tmp_path, fake, accuracy=True, max_rounds=0), None)
    assert result.first_bad is None and result.exit_code == 1
    assert result.lines()[-1].startswith("no first bad commit")


def test_the_search_tests_the_commit_nearest_the_middle_and_moves_past_skips():
    tested = []

    def outcome(index: int) -> str:
        tested.append(index)
        return "skipped" if index == 6 else ("bad" if index >= 9 else "good")

    assert search(15, outcome) == (8, 9, frozenset())
    assert tested == [6, 7, 10, 8, 9]
    assert search(4, lambda index: "skipped" if index == 2 else ("bad" if index >= 2 else "good")) == (
        1, 3, frozenset({2}))


def test_a_commit_is_extracted_once_and_the_first_parent_chain_leaves_merged_commits_out(tmp_path):
    shas = make_repo(tmp_path / "repo", [pipeline_source(), pipeline_source(shift_px=1.0)])
    repo = tmp_path / "repo"

    def git(*arguments: str) -> None:
        subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *arguments],
                       check=True, capture_output=True)

    git("checkout", "-q", "-b", "side", shas[0])
    (repo / "side.py").write_text("SIDE = 1\n")
    git("add", "side.py")
    git("commit", "-q", "-m", "side")
    git("checkout", "-q", "-")
    git("merge", "-q", "--no-ff", "-m", "merge side", "side")
    merge = resolve(repo, "HEAD")
    assert first_parent_commits(repo, shas[0], merge) == [shas[1], merge]
    tree = source_tree(repo, shas[0], tmp_path / "cache")
    assert tree.name == shas[0] and "SHIFT_PX = 0.0" in (tree / "pipeline.py").read_text()
    assert not (tree / ".git").exists() and not (tree / "side.py").exists()
    (tree / "marker").write_text("kept")
    assert source_tree(repo, shas[0], tmp_path / "cache") == tree and (tree / "marker").is_file()


FAKE_MAIN = """import shutil, sys
from pathlib import Path
if __name__ == "__main__":
    if Path(__file__).with_name("broken").exists():
        raise SystemExit("this commit's bench is broken")
    out = Path(sys.argv[sys.argv.index("--out") + 1])
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy(Path(__file__).with_name("report.json"), out / "profile-fake.json")
"""


def test_the_subprocess_runner_runs_the_trees_own_bench_and_reads_its_report(tmp_path):
    template = sorted((Path(__file__).parents[1] / "results").glob("profile-*.json"))
    if not template:
        pytest.skip("no committed profile report in results/ to serve as the fake bench's output")
    tree = tmp_path / "tree"
    (tree / "bench").mkdir(parents=True)
    (tree / "bench" / "__init__.py").write_text("")
    (tree / "bench" / "__main__.py").write_text(FAKE_MAIN)
    (tree / "bench" / "report.json").write_bytes(template[0].read_bytes())
    runner = subprocess_runner(profile_options=("--batch-size", "1"))
    runner.check(Setup(tree))
    samples = runner.profile_round(Setup(tree), tmp_path / "round")
    assert "end_to_end" in samples and all(values for values in samples.values())
    (tree / "bench" / "broken").write_text("")
    with pytest.raises(SideFailed, match="this commit's bench is broken"):
        runner.profile_round(Setup(tree), tmp_path / "round-2")


def test_the_sides_of_a_comparison_that_do_not_build_are_refused(tmp_path, fake):
    base, broken = make_repo(tmp_path / "repo", [pipeline_source(), "STAGES_MS = {\n"])
    sides = commit_sides(tmp_path, base, broken)
    with pytest.raises(SideFailed, match="does not build"):
        compare_sides(*sides, fake.runner(), settings(tmp_path, fake))


@pytest.mark.parametrize(("arguments", "message"), [
    (["ab", "--base", "no-such-ref", "--head", "HEAD"], "unknown revision 'no-such-ref'"),
    (["ab", "--base", "HEAD", "--head", "HEAD", "--", "profile", "--bogus"], "unknown --bogus"),
    (["ab", "--base", "HEAD", "--head", "HEAD", "--", "--iters", "3"], "start with the command"),
    (["ab", "--base", "HEAD", "--head", "HEAD", "--", "profile", "--out", "x"], "--out is chosen"),
    (["ab", "--base", "HEAD", "--head", "HEAD", "--", "reproduce", "--batch-size", "two"], "invalid int"),
    (["ab", "--base", "HEAD", "--head", "HEAD", "--max-rounds", "0"], "measures no speed"),
    (["bisect", "--good", "HEAD", "--bad", "HEAD~1", "--accuracy"], "is not an ancestor"),
    (["ab", "--base", "env:no-such-file.txt", "--head", "HEAD"], "environment file no-such-file.txt does"),
    (["bisect", "--package", "benchprobe", "--good", "one", "--bad", "2", "--accuracy"], "is not a version"),
    (["bisect", "--package", "../x", "--good", "1", "--bad", "2", "--accuracy"], "is not a package name"),
])
def test_bad_input_is_refused_before_any_work(tmp_path, monkeypatch, capsys, arguments, message):
    make_repo(tmp_path / "repo", [pipeline_source(), pipeline_source(shift_px=1.0)])
    monkeypatch.chdir(tmp_path / "repo")
    code = main([*arguments[:1], "--cache", str(tmp_path / "cache"), "--out", str(tmp_path / "out"),
                 *arguments[1:]])
    assert code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "cache").exists() and not (tmp_path / "out").exists()


def test_the_options_after_the_double_dash_are_grouped_by_the_command_they_go_to():
    assert passed_options(["profile", "--iters", "5", "reproduce", "--limit", "2", "profile", "--schedule",
                           "serial"]) == {"profile": ("--iters", "5", "--schedule", "serial"),
                                          "reproduce": ("--limit", "2")}
    assert passed_options([]) == {"profile": (), "reproduce": ()}


def test_outside_a_git_repository_ab_exits_2(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["ab", "--base", "HEAD", "--head", "HEAD", "--out", str(tmp_path / "out")]) == 2
    assert "not in a git repository" in capsys.readouterr().err
