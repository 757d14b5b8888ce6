"""Report schema: round trip, validation messages, upgrades, file names, rendering, environment."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest
from helpers import SYNTHETIC, profile_record, reproduce_record

from bench import atomic
from bench.errors import BenchError
from bench.evaluation.bootstrap import PairedDelta
from bench.reports.environment import Environment, fingerprint_id
from bench.reports.markdown import render_markdown
from bench.reports.records import WEIGHT_KINDS
from bench.reports.rows import Check, Evaluator, Row, RowBehaviour, RowResult, Subset, Verdict
from bench.reports.schema import SCHEMA_VERSION, Memory, Report, Throughput, load_report, report_from_dict
from bench.reports.stats import END_TO_END, StageStats
from bench.reports.writing import new_report, report_stem, write_report
from reference.precisions import PRECISIONS

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def reproduce_row(status: str = "failed") -> Row:
    expected = {"AP": 0.655, "AP50": 0.859}
    metrics = {"AP": 0.650, "AP50": 0.861, "AR": 0.7, "AP_easy": -1.0}
    result = RowResult(
        name="scales=[1], flip", role="published", scales=(1.0,), flip=True,
        subset=Subset(dataset="crowdpose_sample", num_images=2, full=False), published_row="scales=[1], flip",
        metrics=metrics, evaluator=Evaluator(protocol="crowdpose", implementation="bench.evaluation",
                                             version="0123456789ab"),
        behaviour=RowBehaviour(pipeline={"stage_aggregation": "mmpose-0.29"}, forward={"scales": [1.0]},
                               weights=SYNTHETIC, results_json="results.json", results_sha256="c" * 64))
    verdict = Verdict(status=status, reason="AP off by 0.005", expected=expected,
                      tolerance={"AP": 0.003, "AP50": 0.003},
                      checks=(Check("AP", 0.655, 0.650, 0.003, False),
                              Check("AP50", 0.859, 0.861, 0.003, True)))
    return Row(result, verdict)


def sample_report(environment: Environment, kind: str = "reproduce") -> Report:
    timings = {
        "preprocess": StageStats.from_samples([3.0, 4.0, 5.0]),
        "forward": StageStats.from_samples([40.0, 42.0, 41.0]),
        END_TO_END: StageStats.from_samples([45.0, 47.0, 46.5]),
        "evaluate": StageStats.from_samples([9.0], in_iteration=False),
    }
    return new_report(
        kind, (reproduce_record(label="sample-b1-s1-flip") if kind == "reproduce"
               else profile_record(label="sample-b1-s1-flip")),
        command=["python", "-m", "bench", kind], environment=environment,
        rows=(reproduce_row(),) if kind == "reproduce" else (), timings=timings,
        throughput=Throughput(images_per_s=21.5), memory=Memory("peak RSS", 123456789),
        errors=("one row failed",),
    )


def test_round_trip_through_json(environment):
    report = sample_report(environment)
    restored = report_from_dict(json.loads(json.dumps(report.to_dict())), "memory")
    assert restored == report
    assert restored.to_dict()["schema_version"] == SCHEMA_VERSION


def test_write_report_writes_json_markdown_and_plots(tmp_path, environment):
    report = sample_report(environment)
    written = write_report(report, tmp_path)
    assert set(written) == {"json", "md", "stages_png", "metrics_png"}
    assert load_report(written["json"]) == report
    for role in ("stages_png", "metrics_png"):
        data = written[role].read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 1000
    markdown = written["md"].read_text()
    for heading in ("## Environment", "## Configuration", "## Rows", "## Per-stage latency (ms)",
                    "## Failed checks", "## Errors"):
        assert heading in markdown
    assert environment.fingerprint_id in markdown
    assert "evaluate (separate)" in markdown
    assert written["stages_png"].name in markdown
    assert not list(tmp_path.glob(".*.tmp"))


def test_profile_report_has_no_metrics_plot(tmp_path, environment):
    written = write_report(sample_report(environment, kind="profile"), tmp_path, stem="custom")
    assert set(written) == {"json", "md", "stages_png"}
    assert written["json"].name == "custom.json"


def test_stem_names_kind_device_precision_torch_cores_and_time(environment):
    report = dataclasses.replace(sample_report(environment, "profile"), created="2025-01-02T03:04:05+00:00")
    cores = environment.hardware.usable_cores
    torch_minor = ".".join(environment.software.torch.split(".")[:2])
    expected = f"profile-cpu-float32-pt{torch_minor}-{cores}core-sample-b1-s1-flip-20250102T030405Z"
    assert report_stem(report) == expected


def _report_dict(environment: dict) -> dict:
    return sample_report(environment).to_dict()


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("config"), "lacks the field"),
        (lambda d: d.update(kind="train"), "kind 'train'"),
        (lambda d: d.update(schema_version=SCHEMA_VERSION + 1), "newer than this bench"),
        (lambda d: d.update(schema_version=0), "older than this bench reads.*cannot be upgraded"),
        (lambda d: d.update(schema_version="1"), "must be an integer"),
        (lambda d: d["rows"][0]["verdict"].pop("status"),
         r"report.rows\[0\].verdict: missing field\(s\) status"),
        (lambda d: d["rows"][0]["verdict"].update(status="great"), "status 'great'"),
        (lambda d: d["timings"]["forward"].pop("p50_ms"), "p50_ms"),
        (lambda d: d["environment"].pop("fingerprint_id"), "fingerprint_id"),
        (lambda d: d["rows"][0]["result"]["subset"].update(extra=1), r"subset: unknown field\(s\) extra"),
        (lambda d: d["rows"][0]["result"]["subset"].update(full="yes"), r"subset.full: expected bool"),
        (lambda d: d["throughput"].update(images_per_s="fast"), r"throughput.images_per_s"),
        (lambda d: d["environment"]["hardware"].update(gpus={"name": 1}), r"hardware.gpus: expected a list"),
    ],
    ids=["missing-config", "unknown-kind", "newer-schema", "older-schema", "string-version",
         "row-without-status", "bad-status", "stats-without-p50", "no-fingerprint", "bad-subset",
         "wrong-type", "throughput-type", "gpus-type"],
)
def test_invalid_reports_give_clear_errors(tmp_path, environment, mutate, message):
    data = _report_dict(environment)
    mutate(data)
    path = atomic.write_json(tmp_path / "report.json", data)
    with pytest.raises(BenchError, match=message) as error:
        load_report(path)
    assert str(path) in str(error.value)


@pytest.mark.parametrize(
    ("content", "message"),
    [("{not json", "not valid JSON"), ("[1, 2]", "not a bench report"),
     ('{"AP": 0.5}', "not a bench report")],
)
def test_non_report_files_are_named(tmp_path, content, message):
    path = tmp_path / "other.json"
    path.write_text(content)
    with pytest.raises(BenchError, match=message) as error:
        load_report(path)
    assert "other.json" in str(error.value)


def test_missing_report_file(tmp_path):
    with pytest.raises(BenchError, match="report .*absent.json does not exist"):
        load_report(tmp_path / "absent.json")


def test_older_schema_is_upgraded_when_a_step_exists(environment):
    old = _report_dict(environment)
    old["schema_version"] = SCHEMA_VERSION - 1
    old["environ"] = old.pop("environment")

    def rename_environ(data: dict) -> dict:
        data["environment"] = data.pop("environ")
        return data

    report = report_from_dict(old, "old.json", upgrade_steps={SCHEMA_VERSION - 1: rename_environ})
    assert report.schema_version == SCHEMA_VERSION
    assert report.environment == environment


def test_fingerprint_ignores_host_but_not_hardware(environment):
    def fingerprint(changed: Environment) -> str:
        return fingerprint_id(changed.hardware, changed.software, changed.numerics)

    assert fingerprint(environment) == environment.fingerprint_id
    moved = dataclasses.replace(environment.host, hostname="elsewhere", git_commit="0" * 40)
    assert fingerprint(dataclasses.replace(environment, host=moved)) == environment.fingerprint_id
    other_cpu = dataclasses.replace(environment.hardware, cpu_model="Other CPU")
    assert fingerprint(dataclasses.replace(environment, hardware=other_cpu)) != environment.fingerprint_id
    more_threads = dataclasses.replace(environment.numerics, torch_threads=99)
    assert fingerprint(dataclasses.replace(environment, numerics=more_threads)) != environment.fingerprint_id


def test_environment_records_versions_and_flags(environment):
    software, numerics = environment.software, environment.numerics
    assert software.torch and software.python
    assert software.packages["numpy"] and software.packages["munkres"]
    assert numerics.torch_threads >= 1 and numerics.cudnn_benchmark is not None
    assert environment.hardware.usable_cores >= 1
    assert re.fullmatch(r"[0-9a-f]{12}", environment.fingerprint_id)


def test_typed_environments_keep_the_fingerprint_ids_of_committed_reports():
    """Typing the environment (schema 4) keeps the id of a machine: the same sections hash the same way
    (a report of schema 3 read back gives its own id again)."""
    committed = [json.loads(path.read_text()) for path in sorted(COMMITTED_RESULTS.glob("*.json"))]
    for data in committed:
        environment_data = data["environment"]
        typed = load_report_data(data).environment
        assert (fingerprint_id(typed.hardware, typed.software, typed.numerics)
                == environment_data["fingerprint_id"])


COMMITTED_RESULTS = Path(__file__).parents[1] / "results"
SCHEMA_2_REPORT = "reproduce-cpu-float32-pt2.13-2core-sweep-semantics-20261201T203153Z.json"


@pytest.mark.parametrize("path", sorted(COMMITTED_RESULTS.glob("*.json")), ids=lambda path: path.name[:40])
def test_committed_reports_load_in_the_current_schema(path):
    raw = json.loads(path.read_text())
    report = load_report(path)
    assert report.schema_version == SCHEMA_VERSION and report.kind == raw["kind"]
    assert report.config.precision in PRECISIONS
    assert report.config.weights.kind in WEIGHT_KINDS
    assert load_report_data(report.to_dict()) == report  # the upgraded report round-trips
    if raw["schema_version"] == 1:
        assert report.config.settings == raw["config"]  # the whole schema-1 config is kept


def load_report_data(data: dict) -> Report:
    return report_from_dict(json.loads(json.dumps(data)), "memory")


def test_schema_2_reports_lose_unsupported_percentiles_and_have_no_samples(environment):
    """Schema 2 kept summaries only, with every percentile a number whatever the sample count."""
    old = sample_report(environment, "profile").to_dict()
    old["schema_version"] = 2
    del old["config"]["min_time_s"]
    many = StageStats.from_samples([float(ms) for ms in range(200)]).to_dict()
    old["timings"] = {"forward": {**old["timings"]["forward"], "p90_ms": 41.8, "p99_ms": 41.98},
                      "match": many}
    for stats in old["timings"].values():
        del stats["samples_ms"]
    report = report_from_dict(old, "v2.json")
    forward, match = report.timings["forward"], report.timings["match"]
    assert (forward.p50_ms, forward.p90_ms, forward.p99_ms, forward.samples_ms) == (41.0, None, None, None)
    assert (match.p90_ms, match.p99_ms) == (many["p90_ms"], many["p99_ms"]) and match.samples_ms is None
    assert report.config.min_time_s == 0.0
    reproduce = json.loads((COMMITTED_RESULTS / SCHEMA_2_REPORT).read_text())
    assert reproduce["schema_version"] == 2
    reproduce["rows"][0]["decode_ms"] = {**old["timings"]["forward"], "p90_ms": 41.8, "p99_ms": 41.98}
    row = report_from_dict(reproduce, "v2.json").rows[0]
    assert (row.result.decode_ms.p90_ms, row.result.decode_ms.samples_ms) == (None, None)


def test_profile_markdown_says_which_percentiles_are_not_reported(tmp_path, environment):
    markdown = write_report(sample_report(environment, kind="profile"), tmp_path)["md"].read_text()
    assert "| n=3 < 10 | n=3 < 100 |" in markdown
    assert "| n=1 < 10 | n=1 < 100 |" in markdown  # evaluate, timed once


def test_schema_1_profile_names_map_onto_the_one_vocabulary(environment):
    old = sample_report(environment, "profile").to_dict()
    old["schema_version"] = 1
    old["config"] = {**old["config"], "precision": "bf16", "weights": "real",
                     "checkpoint": {"kind": "real", "path": "/c.pth", "sha256": "ab" * 32, "source": "c"}}
    del old["config"]["settings"]
    report = report_from_dict(old, "v1.json")
    assert (report.config.precision, report.config.weights.kind) == ("bfloat16", "checkpoint")
    assert report.config.weights.sha256 == "ab" * 32


def test_reports_of_the_same_second_get_distinct_names(tmp_path, environment):
    from concurrent.futures import ThreadPoolExecutor

    from helpers import profile_record

    from bench.reports.writing import new_report, report_stem, write_report

    report = new_report("profile", profile_record(), command=["test"], environment=environment)
    with ThreadPoolExecutor(max_workers=4) as pool:
        written = list(pool.map(lambda _: write_report(report, tmp_path)["json"], range(4)))
    assert all(path.stat().st_size > 0 for path in written)
    stem = report_stem(report)
    names = [f"{stem}.json"] + [f"{stem}-{n}.json" for n in (2, 3, 4)]
    assert sorted(path.name for path in written) == sorted(names)


def test_interval_fields_round_trip_render_and_are_optional(environment):
    """Rows with bootstrap intervals and paired differences survive JSON and render with the note;
    rows without them load with them None."""
    row = reproduce_row("measured")
    result = dataclasses.replace(
        row.result, role="sweep", ci95={"AP": (0.64, 0.66), "AP_easy": None}, baseline_row="default",
        bootstrap={"resamples": 1000, "seed": 0, "confidence": 0.95, "method": "percentile",
                   "resampled": "images"},
        paired_delta={"AP": PairedDelta(-0.01, (-0.02, 0.0)), "AP_easy": PairedDelta(None, None)})
    report = dataclasses.replace(sample_report(environment), rows=(Row(result, row.verdict),))
    data = json.loads(json.dumps(report.to_dict()))
    assert report_from_dict(data, "memory") == report
    for key in ("ci95", "bootstrap", "paired_delta", "baseline_row"):
        del data["rows"][0]["result"][key]
    assert report_from_dict(data, "memory").rows[0].result == dataclasses.replace(row.result, role="sweep")
    markdown = render_markdown(report)
    assert "| scales=[1], flip | [0.6400, 0.6600] | - |" in markdown
    assert "test-set sampling noise" in markdown and "not the gate width" in markdown
    assert "Paired differences to 'default'" in markdown and "| -0.0100 [-0.0200, 0.0000] | - -" in markdown


def test_schema_3_rows_become_results_and_verdicts():
    """The schema-3 smoke report (both rows skipped, both smoke rows scored by faster-coco-eval): roles,
    not-run reasons, the evaluator named by its protocol and the backend that scored it, and one
    throughput record per forward instead of keys built from row names."""
    report = load_report(COMMITTED_RESULTS / "reproduce-cpu-float32-pt2.13-2core-20261202T003218Z.json")
    skipped, smoke = report.rows[0], report.rows[2]
    assert ((skipped.result.role, skipped.verdict.status, skipped.result.metrics)
            == ("published", "skipped", None))
    assert skipped.result.not_run.startswith("not run: no usable checkpoint")
    assert (smoke.result.role, smoke.result.published_row) == ("smoke", "scales=[1], flip")
    assert (smoke.result.evaluator.protocol, smoke.result.evaluator.implementation) == ("crowdpose",
                                                                                        "faster-coco-eval")
    (forward,) = report.throughput.forwards
    assert forward.rows == ("sample: scales=[1], flip", "sample: scales=[2, 1], flip")
    assert forward.from_cache == 0 and forward.images_per_s > 0
