"""Speed results a reader can trust: profiles record how steady the machine was and warn when it was not,
the default profile gives `bench compare` samples enough, machines have names, a report records a command
that reruns it, and `bench compare` prints a short summary.

Reports are built from seeded samples (no timing here); the profiles that run are tiny (a 1x1-conv
network on 64-pixel inputs) and check fields, never speed.
"""

from __future__ import annotations

import dataclasses
import json
import re
import socket
from pathlib import Path

import numpy as np
import pytest
from helpers import TinyPoseNet, profile_record

from bench import atomic
from bench.__main__ import main
from bench.errors import BenchError
from bench.reports.compare import CompareConfig, compare, comparison_summary
from bench.reports.machine import this_environment
from bench.reports.schema import SCHEMA_VERSION, Stability, Throughput, load_report, report_from_dict
from bench.reports.speed_verdicts import MIN_BLOCK_SAMPLES, VerdictRule, min_samples, stats_verdict
from bench.reports.stats import (
    CV_LIMIT,
    END_TO_END,
    PERCENTILE_MIN_SAMPLES,
    StageStats,
    steadiness,
    unstable_stages,
)
from bench.reports.writing import new_report
from bench.speed import profile
from bench.speed.options import DEFAULT_ITERS, DEFAULT_MIN_TIME_S
from bench.speed.profile import (
    ProfileConfig,
    load_warnings,
    run_profile,
    stability_of,
    stability_warnings,
)

STEADY = 0.02
"""Log-normal sigma of a quiet machine's durations: a 2% spread."""


def durations(median_ms: float, count: int = 30, spread: float = STEADY, seed: int = 0) -> list[float]:
    return list(median_ms * np.exp(np.random.default_rng(seed).normal(0.0, spread, size=count)))


def unsteady(median_ms: float, count: int = 30, seed: int = 0) -> list[float]:
    """Durations of a run on a machine whose load came and went: every third batch 2x slower (CV ~45%)."""
    values = durations(median_ms, count, seed=seed)
    return [value * (2.0 if index % 3 == 0 else 1.0) for index, value in enumerate(values)]


def write(folder: Path, environment, day: int, stages: dict[str, list[float]],
          fingerprint: str = "aaaa00000000", machine: str = "box", stability: Stability | None = None,
          name: str | None = None, cores: int = 8, cpu: str = "Test CPU 3000") -> Path:
    """A profile report of 2025-01-``day`` holding ``stages`` (end_to_end their sum), written as JSON."""
    samples = {**stages, END_TO_END: list(np.sum(list(stages.values()), axis=0))}
    timings = {stage: StageStats.from_samples(values) for stage, values in samples.items()}
    env = dataclasses.replace(
        environment, fingerprint_id=fingerprint,
        hardware=dataclasses.replace(environment.hardware, usable_cores=cores, cpu_model=cpu, gpus=()),
        host=dataclasses.replace(environment.host, machine=machine))
    report = new_report("profile", profile_record(), command=["python", "-m", "bench", "profile"],
                        environment=env, timings=timings, stability=stability,
                        throughput=Throughput(images_per_s=1.0))
    report = dataclasses.replace(report, created=f"2025-01-{day:02d}T00:00:00+00:00")
    return atomic.write_json(folder / (name or f"{fingerprint}-{day:02d}.json"), report.to_dict())


def steady_stability(**changes) -> Stability:
    record = Stability(load_start=(0.2, 0.2, 0.2), load_before=(0.3, 0.2, 0.2), load_after=(1.2, 0.5, 0.3),
                       wall_s=60.0, own_cores=1.5, cpu_mhz_before=2400.0, cpu_mhz_after=2400.0,
                       usable_cores=8, cv_limit=CV_LIMIT)
    return dataclasses.replace(record, **changes)


def run_compare(*paths: Path, **options):
    return compare(CompareConfig(paths=tuple(paths), **options))


# 1. instability is recorded, warned about, and never judged


def test_every_stage_carries_its_coefficient_of_variation():
    stats = StageStats.from_samples([90.0, 100.0, 110.0])
    assert stats.cv == pytest.approx(10.0 / 100.0)
    assert StageStats.from_samples([5.0]).cv is None and StageStats.from_samples([0.0, 0.0]).cv is None
    data = stats.to_dict()
    assert data["cv"] == pytest.approx(0.1)
    assert StageStats.from_dict({key: value for key, value in data.items() if key != "cv"}) == stats
    with pytest.raises(ValueError, match="cv is 0.01"):
        StageStats.from_dict({**data, "cv": 0.01})  # a file cannot hide an unsteady stage


def test_reports_of_schema_4_upgrade_with_cv_and_the_host_name_as_machine(environment):
    report = new_report("profile", profile_record(), command=["x"], environment=environment,
                        timings={"forward": StageStats.from_samples([90.0, 100.0, 110.0])})
    old = report.to_dict()
    old["schema_version"] = 4
    del old["timings"]["forward"]["cv"], old["stability"], old["environment"]["host"]["machine"]
    upgraded = report_from_dict(old, "v4.json")
    assert upgraded.schema_version == SCHEMA_VERSION
    assert upgraded.timings["forward"].cv == pytest.approx(0.1)
    assert upgraded.environment.host.machine == environment.host.hostname
    assert upgraded.stability is None


def test_a_busy_machine_or_a_load_that_changes_during_the_case_is_named():
    quiet = load_warnings((0.5, 0.5, 0.5), (0.5, 0.5, 0.5), (1.5, 0.8, 0.6), 60.0, 2.0, usable_cores=4)
    assert quiet == []  # the profile's own 2 cores raise the 1-minute average to about 1.45
    (busy,) = load_warnings((6.0, 5.0, 5.0), (6.0, 5.0, 5.0), (6.8, 5.5, 5.1), 60.0, 2.0, usable_cores=4)
    assert "busy: load average 6.00 before the profile started, above its 4 usable cores" in busy
    (rose,) = load_warnings((0.5, 0.5, 0.5), (0.5, 0.5, 0.5), (4.0, 1.5, 0.8), 60.0, 2.0, usable_cores=4)
    assert "the load rose during the case: load average 0.50 -> 4.00 over 60 s" in rose
    assert "other work started: about 3." in rose
    # the next case of one profile: the first case's own load fades, nothing started
    assert load_warnings((0.5,) * 3, (3.5, 2.0, 1.0), (2.6, 2.0, 1.0), 60.0, 2.0, usable_cores=4) == []
    assert load_warnings(None, None, None, 60.0, None, usable_cores=4) == []  # no load average: no claim
    # a short case moves the 1-minute average little: only its reading noise, no warning
    assert load_warnings((0.5,) * 3, (0.5,) * 3, (0.9, 0.5, 0.5), 3.0, 1.0, usable_cores=2) == []


def test_stability_names_the_unsteady_stages_and_the_whole_case():
    timings = {"forward": StageStats.from_samples(durations(100.0)),
               "to_device": StageStats.from_samples(unsteady(0.1)),
               END_TO_END: StageStats.from_samples(unsteady(100.0))}
    stability = stability_of(timings, load_start=(0.1,) * 3, load_before=(0.1,) * 3, load_after=(0.1,) * 3,
                             wall_s=0.0, own_cores=None, usable_cores=4)
    assert stability.unstable_stages == ("to_device", END_TO_END) and stability.unstable
    assert stability.warnings == ()  # the load was steady
    report = new_report("profile", profile_record(), command=["x"], timings=timings, stability=stability)
    lines = stability_warnings(report)
    assert any(re.fullmatch(r"unstable measurement: whole batches \(end_to_end\) vary by \d\d% of their mean "
                            r"\(coefficient of variation\), above 10%", line) for line in lines)
    assert any(re.search(r"to_device \d\d%; `bench compare` will not judge them", line) for line in lines)
    assert any("will call this profile unstable" in line for line in lines)
    steady = dataclasses.replace(stability, unstable_stages=())
    assert stability_warnings(dataclasses.replace(report, stability=steady)) == []


def test_a_profile_records_its_conditions_and_warns_on_stderr(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(profile, "load_average", lambda: (64.0, 64.0, 64.0))  # a machine busy with others
    config = ProfileConfig(device="cpu", iters=2, warmup=0, input_size=64, inputs="synthetic",
                           sizes=((64, 64),), schedule="serial", out_dir=tmp_path)
    ((report, written),) = run_profile(config, model=TinyPoseNet())
    stability = report.stability
    assert stability.load_start == stability.load_before == stability.load_after == (64.0, 64.0, 64.0)
    assert stability.wall_s > 0 and stability.own_cores >= 0
    assert stability.usable_cores == report.environment.hardware.usable_cores
    assert stability.cpu_mhz_before is None or stability.cpu_mhz_before > 0
    assert stability.unstable and "the machine was busy: load average 64.00" in stability.warnings[0]
    assert all(stats.cv is None or stats.cv >= 0 for stats in report.timings.values())
    assert load_report(written["json"]) == report
    err = capsys.readouterr().err
    assert "warning: synthetic-64x64-b1-s1-flip: unstable measurement: the machine was busy" in err
    assert f"only 2 measured batch(es): `bench compare` needs at least {min_samples()}" in err


def test_a_busy_run_against_a_quiet_one_is_unstable_not_faster(tmp_path, environment, capsys):
    """The user study: the same commit on one machine, 14.7 s per batch under load then 3.6 s."""
    write(tmp_path, environment, 1, {"forward": unsteady(14700.0, seed=1)})
    write(tmp_path, environment, 2, {"forward": durations(3600.0, seed=2)})
    (check,) = run_compare(tmp_path).checks
    assert check.status == "unstable" and not check.regressed
    assert {verdict.verdict for verdict in check.verdicts} == {"unstable"}
    forward = check.verdicts[0]
    assert forward.p_value < 1e-6 and forward.ratio < 0.5  # the samples alone would say "faster"
    assert "the samples alone would say faster" in forward.note
    assert "reference: whole batches (end_to_end) vary by" in check.why()
    assert main(["compare", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "UNSTABLE" in out and "faster" not in out and "not slower" not in out


def test_a_load_warning_recorded_by_the_profile_makes_the_pair_unstable(tmp_path, environment):
    busy = steady_stability(warnings=("the machine was busy: load average 9.00 before the profile started",))
    write(tmp_path, environment, 1, {"forward": durations(100.0, seed=1)}, stability=steady_stability())
    write(tmp_path, environment, 2, {"forward": durations(150.0, seed=2)}, stability=busy)
    (check,) = run_compare(tmp_path).checks
    assert check.status == "unstable" and not check.regressed
    assert check.unstable_reasons == ("candidate: the machine was busy: load average 9.00 before the profile "
                                      "started",)


def test_one_unsteady_stage_is_left_undecided_and_the_others_are_judged(tmp_path, environment):
    for day, forward, to_device in ((1, durations(100.0, seed=1), durations(0.1, seed=3)),
                                    (2, durations(130.0, seed=2), unsteady(0.1, seed=4))):
        write(tmp_path, environment, day, {"forward": forward, "to_device": to_device})
    (check,) = run_compare(tmp_path).checks
    verdicts = {verdict.stage: verdict.verdict for verdict in check.verdicts}
    assert verdicts == {"forward": "slower", "to_device": "unstable", END_TO_END: "slower"}
    assert check.status == "slower" and "unstable, not judged: to_device" in check.headline()
    unsteady_side = stats_verdict("to_device", StageStats.from_samples(unsteady(0.1)),
                                  StageStats.from_samples(durations(0.1)), VerdictRule())
    assert unsteady_side.verdict == "unstable"
    assert re.match(r"baseline varies by \d\d% of its mean, above 10%", unsteady_side.note)


def test_inputs_of_different_sizes_are_not_instability(tmp_path, environment):
    """A profile of the bundled sample alternates two images, one twice the other's cost: the spread
    between them is the workload, the spread within each is the machine's."""
    alternating = [ms * (2.0 if index % 2 else 1.0) for index, ms in enumerate(durations(100.0))]
    stats = StageStats.from_samples(alternating)
    assert stats.cv > 0.3 and steadiness(stats, 2) < 0.03 and steadiness(stats, 1) == stats.cv
    assert unstable_stages({END_TO_END: stats}, cycle=2) == {}
    assert steadiness(StageStats.from_samples(alternating, in_iteration=False), 2) == stats.cv
    for day, seed in ((1, 1), (2, 2)):
        path = write(tmp_path, environment, day, {"forward": [ms * (2.0 if index % 2 else 1.0) for index, ms
                                                              in enumerate(durations(100.0, seed=seed))]})
        data = json.loads(path.read_text())
        data["config"]["images"] = ["a.jpg", "b.jpg"]  # no stability record: the images give the cycle
        atomic.write_json(path, data)
    (check,) = run_compare(tmp_path).checks
    assert check.status == "not slower" and check.unstable_reasons == ()


# 2. the default profile gives samples enough; too few are inconclusive, never a pass


def test_the_default_profile_is_calibrated_for_a_verdict():
    assert DEFAULT_ITERS >= max(min_samples(), MIN_BLOCK_SAMPLES, PERCENTILE_MIN_SAMPLES["p90_ms"])
    assert DEFAULT_MIN_TIME_S >= 1.0
    assert min_samples() == 4 and min_samples(0.01) == 5


def run_cli_without_profiling(monkeypatch, arguments: list[str]) -> ProfileConfig:
    """The config `bench profile ARGUMENTS` would profile with (nothing is measured)."""
    seen = {}

    def record(config):
        seen.update(config=config)
        return []

    monkeypatch.setattr("bench.speed.profile.run_profile", record)
    assert main(["profile", *arguments]) == 0
    return seen["config"]


def test_iters_and_min_time_default_to_the_calibration_and_can_be_overridden(tmp_path, monkeypatch):
    config = run_cli_without_profiling(monkeypatch, ["--out", str(tmp_path)])
    assert (config.iters, config.min_time_s) == (DEFAULT_ITERS, DEFAULT_MIN_TIME_S)
    toml = tmp_path / "profile.toml"
    toml.write_text("[profile]\niters = 40\nmin_time_s = 2.5\nmachine = \"from-file\"\n")
    config = run_cli_without_profiling(monkeypatch, ["--config", str(toml)])
    assert (config.iters, config.min_time_s, config.machine) == (40, 2.5, "from-file")
    given = ["--config", str(toml), "--iters", "5", "--min-time", "0", "--machine", "given"]
    config = run_cli_without_profiling(monkeypatch, given)
    assert (config.iters, config.min_time_s, config.machine) == (5, 0.0, "given")  # the command line wins


def test_runs_with_too_few_samples_are_inconclusive_never_not_slower(tmp_path, environment, capsys):
    write(tmp_path, environment, 1, {"forward": durations(100.0, count=3, seed=1)})
    write(tmp_path, environment, 2, {"forward": durations(1200.0, count=3, seed=2)})  # 12x apart
    comparison = run_compare(tmp_path)
    (check,) = comparison.checks
    assert check.status == "inconclusive" and not comparison.regressed
    assert check.headline() == "INCONCLUSIVE, not judged: too few samples: 3 against 3, at least 4 a side"
    assert main(["compare", str(tmp_path), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "INCONCLUSIVE" in out and "at least 4 a side" in out and "not slower" not in out
    assert "not slower" not in (tmp_path / "out" / "comparison.md").read_text()


# 3. machines have names; the baseline is chosen by age, ratios point one way


def test_a_profile_names_its_machine(tmp_path, environment):
    assert environment.host.machine == socket.gethostname()
    config = ProfileConfig(device="cpu", iters=1, warmup=0, input_size=64, inputs="synthetic",
                           sizes=((64, 64),), schedule="serial", out_dir=tmp_path, machine="lab-gpu-2")
    ((report, _),) = run_profile(config, model=TinyPoseNet())
    assert report.environment.host.machine == report.environment.machine_name == "lab-gpu-2"
    named, other = this_environment(machine="lab-gpu-2"), this_environment(machine="another name")
    assert named.fingerprint_id == other.fingerprint_id  # a name is not part of the fingerprint
    for bad in ("", "   ", "x" * 65, "tab\there"):
        with pytest.raises(BenchError, match="--machine must be 1 to 64 printable characters"):
            ProfileConfig(machine=bad)


def test_compare_shows_machine_names_cores_and_models(tmp_path, environment):
    write(tmp_path, environment, 1, {"forward": durations(100.0)}, machine="alpha", cores=16, cpu="Xeon 8480")
    write(tmp_path, environment, 2, {"forward": durations(50.0)}, fingerprint="bbbb00000000", machine="beta",
          cores=4, cpu="EPYC 7B13")
    comparison = run_compare(tmp_path)
    rows = comparison.speed.set_index("fingerprint")
    assert rows.loc["aaaa00000000", ["machine", "cores", "cpu/gpu"]].tolist() == ["alpha", 16, "Xeon 8480"]
    assert rows.loc["bbbb00000000", ["machine", "cores", "cpu/gpu"]].tolist() == ["beta", 4, "EPYC 7B13"]
    assert list(comparison.ratios["machine"]) == ["alpha", "beta"]
    assert run_compare(tmp_path, baseline="beta").baseline_fingerprint == "bbbb00000000"


def test_the_default_baseline_is_the_oldest_reports_machine_whatever_the_file_names(tmp_path, environment):
    for names in (("a.json", "z.json"), ("z.json", "a.json")):
        folder = tmp_path / names[0].removesuffix(".json")
        folder.mkdir()
        write(folder, environment, 2, {"forward": durations(100.0)}, name=names[0])
        write(folder, environment, 1, {"forward": durations(50.0)}, fingerprint="bbbb00000000", name=names[1],
              machine="older")
        comparison = run_compare(folder)
        assert comparison.baseline_fingerprint == "bbbb00000000"
        assert "baseline machine older [bbbb00000000]: the machine of the oldest report (2025-01-01T00:00)" \
            in comparison_summary(comparison)


def test_time_ratios_and_verdict_ratios_point_the_same_way(tmp_path, environment, capsys):
    write(tmp_path, environment, 1, {"forward": durations(100.0, seed=1)})
    write(tmp_path, environment, 2, {"forward": durations(200.0, seed=2)})  # the candidate: 2x the time
    write(tmp_path, environment, 1, {"forward": durations(200.0, seed=3)}, fingerprint="bbbb00000000",
          machine="slow-box")  # a machine taking 2x the baseline's time
    comparison = run_compare(tmp_path, baseline="aaaa")
    (check,) = comparison.checks
    assert check.verdicts[0].ratio == pytest.approx(2.0, rel=0.05) and check.status == "slower"
    ratios = dict(zip(comparison.ratios["machine"], comparison.ratios["time ratio"], strict=True))
    assert ratios["slow-box"] == pytest.approx(1.0, rel=0.05)  # against the baseline's newest report
    assert "speedup" not in comparison.ratios
    assert main(["compare", str(tmp_path), "--out", str(tmp_path / "out")]) == 1
    markdown = (tmp_path / "out" / "comparison.md").read_text()
    assert "`time ratio` = this machine's end-to-end p50 / the baseline machine's (above 1: slower" \
        in markdown
    assert "x = candidate / reference time (above 1: slower)" in capsys.readouterr().out


# 4. the report records a command that reruns it


# 5. compare prints a short summary; the full tables go into files


def test_compare_prints_a_summary_that_fits_120_columns(tmp_path, environment, capsys):
    long_label = "x" * 110
    for fingerprint, machine, ms in (("aaaa00000000", "alpha", 130.0), ("bbbb00000000", "beta", 100.0)):
        for day, forward in ((1, durations(100.0, seed=1)), (2, durations(ms, seed=2))):
            write(tmp_path, environment, day, {"forward": forward, "match": durations(5.0, seed=4 + day)},
                  fingerprint=fingerprint, machine=machine)
    for day in (1, 2):  # one workload with a long label
        path = tmp_path / f"bbbb00000000-0{day}.json"
        data = json.loads(path.read_text())
        data["config"]["label"] = long_label
        atomic.write_json(path, data)
    out_dir, page = tmp_path / "out", tmp_path / "page.html"
    assert main(["compare", str(tmp_path), "--out", str(out_dir), "--html", str(page)]) == 1
    lines = capsys.readouterr().out.splitlines()
    paths = ("full comparison", "page:", "  and")  # paths are never clipped
    assert all(len(line) <= 120 for line in lines if not line.startswith(paths))
    assert len(lines) <= 10 and not any(line.startswith("|") for line in lines)
    (slower,) = [line for line in lines if line.startswith("SLOWER")]
    assert "alpha" in slower and "end_to_end x1.2" in slower and "worst forward x1.3" in slower
    (same,) = [line for line in lines if line.startswith("NOT SLOWER")]
    assert same.startswith("NOT SLOWER   beta xxxx") and same.endswith("...") and len(same) == 120
    assert f"full comparison (tables, every stage's verdict): {out_dir / 'comparison.md'}" in lines
    assert f"page: {page}" in lines
    assert "| stage | verdict |" in (out_dir / "comparison.md").read_text()
