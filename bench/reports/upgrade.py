"""Rewriting reports of older schema versions into the current one, so committed reports stay readable.

Schema 1 (reports written up to 2026-11) kept ``config`` as a free-form dict, with the profiler's own
names for precision (``fp32``, ``bf16``, ...) and weights (``real`` for a checkpoint). Schema 2 types
``config`` per run kind (``bench.reports.records``) in one vocabulary; the upgrade maps the old names
onto it and keeps the whole schema-1 config under ``settings``.

Schema 3 keeps every stage's raw samples (``samples_ms``) and reports a percentile only where the
sample count supports it (``bench.reports.stats.PERCENTILE_MIN_SAMPLES``); profile configs record
``min_time_s``. Schema-2 reports hold summaries only: the upgrade nulls their unsupported percentiles
and leaves the samples absent (so ``bench compare`` calls them "too few samples"), and records the
``min_time_s`` they ran with, 0 (only ``--iters`` existed).

Schema 4 splits each row into what it measured (``result``) and how it was judged (``verdict``), names
the evaluator by protocol and implementation (one implementation scores since; older rows keep the
backend that scored them as their implementation), and types ``throughput`` and ``memory`` (a reproduce
report's throughput is one record per forward, no longer keys built from row names).

Schema 5 gives every stage its coefficient of variation (``cv``), names the machine (``environment.host
.machine``, as asv does: ``--machine`` or the host name) and records a profile's ``stability`` (load
averages, CPU clock, and why a case is unstable). The upgrade derives ``cv`` from each stage's summary,
names the machine by its host name and leaves ``stability`` absent (it was not measured).

Schema 6 names the network runtime: ``config.runtime`` (and a reproduce row's ``pipeline.runtime``),
``environment.software.runtime`` with its version where it is not torch, and how a runtime built its
network (a profile's ``config.network``, a reproduce forward's ``network``). Every earlier report ran on
torch: the upgrade says so.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from bench.evaluation import OFFICIAL_PROTOCOL
from bench.reports.stats import PERCENTILE_MIN_SAMPLES, coefficient_of_variation

SCHEMA_1_PRECISIONS = {"fp32": "float32", "tf32": "tf32", "bf16": "bfloat16", "fp16": "float16"}
SCHEMA_1_WEIGHT_KINDS = {"real": "checkpoint", "checkpoint": "checkpoint", "synthetic": "synthetic",
                         "provided": "provided"}


def _schema_1_weights(config: Mapping[str, Any]) -> dict[str, Any]:
    described = dict(config.get("checkpoint") or {})
    kind = SCHEMA_1_WEIGHT_KINDS[str(config.get("weights", described.get("kind", "synthetic")))]
    return {**described, "kind": kind}


def _profile_config_from_schema_1(config: Mapping[str, Any]) -> dict[str, Any]:
    kept = ("label", "device", "device_name", "inputs", "images", "image_size", "batch", "scales", "flip",
            "iters", "warmup", "cudnn_benchmark", "postprocess_input", "evaluation", "trace", "pipeline")
    return {**{name: config.get(name) for name in kept},
            "precision": SCHEMA_1_PRECISIONS[str(config["precision"])],
            "weights": _schema_1_weights(config), "settings": dict(config)}


def _reproduce_config_from_schema_1(config: Mapping[str, Any]) -> dict[str, Any]:
    return {"label": str(config.get("label", "")), "device": str(config["device"]),
            "precision": str(config["precision"]), "weights": _schema_1_weights(config),
            "expected_table": str(config.get("expected_table", config.get("expected", ""))),
            "settings": dict(config)}


def schema_1_to_2(data: dict[str, Any]) -> dict[str, Any]:
    """A schema-1 report dict as schema 2 (its ``config`` typed by kind)."""
    upgrade = {"profile": _profile_config_from_schema_1,
               "reproduce": _reproduce_config_from_schema_1}.get(data.get("kind"))
    if upgrade is None or not isinstance(data.get("config"), Mapping):
        raise ValueError(f"a schema-1 report of kind {data.get('kind')!r} with a config object is expected")
    return {**data, "config": upgrade(data["config"])}


def _stats_to_schema_3(stats: Mapping[str, Any]) -> dict[str, Any]:
    count = int(stats["count"])
    return {**stats, "samples_ms": None,
            **{name: None for name, minimum in PERCENTILE_MIN_SAMPLES.items() if count < minimum}}


def schema_2_to_3(data: dict[str, Any]) -> dict[str, Any]:
    """A schema-2 report dict as schema 3: unsupported percentiles null, no samples, ``min_time_s`` 0."""
    rows = [{**row, "decode_ms": row.get("decode_ms") and _stats_to_schema_3(row["decode_ms"])}
            for row in data.get("rows", [])]
    timings = {stage: _stats_to_schema_3(stats) for stage, stats in data.get("timings", {}).items()}
    config = {**data["config"], "min_time_s": 0.0} if data.get("kind") == "profile" else data["config"]
    return {**data, "rows": rows, "timings": timings, "config": config}


SMOKE_PREFIX = "sample: "
"""How the smoke rows of a schema-3 report were named: the published row's name after this prefix."""
_THROUGHPUT_KEYS = (": images/s", ": images from cache")


def _result_of_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A schema-3 row's result: its role from the status, its behaviour and evaluator typed."""
    role = {"smoke": "smoke", "measured": "sweep"}.get(row["status"], "published")
    published = None if role == "sweep" else row["name"].removeprefix(SMOKE_PREFIX)
    behaviour = dict(row["behaviour"])
    evaluator = row["evaluator"]
    ran = bool(row["metrics"])
    if behaviour:
        variant = behaviour.get("variant_vs_float32")
        behaviour = {"pipeline": behaviour["pipeline"],
                     "forward": behaviour.get("forward", behaviour["pipeline"]),
                     "weights": behaviour["weights"], "results_json": behaviour["results_json"],
                     "results_sha256": None, "image_ids": behaviour.get("image_ids"),
                     "variant_vs_float32": variant and {
                         "float32_metrics": variant["float32_metrics"], "ap_delta": variant["AP_delta"]}}
    return {
        "name": row["name"], "role": role, "scales": row["scales"], "flip": row["flip"],
        "subset": row["subset"], "published_row": published,
        "metrics": dict(row["metrics"]) if ran else None, "not_run": None if ran else row["reason"],
        "evaluator": {"protocol": evaluator.get("protocol", OFFICIAL_PROTOCOL),
                      "implementation": evaluator["backend"],
                      "version": evaluator["version"],
                      "inputs": row["behaviour"].get("evaluation_inputs")} if ran else None,
        "behaviour": behaviour or None, "decode_ms": row.get("decode_ms"), "ci95": row.get("ci95"),
        "bootstrap": row.get("bootstrap"), "paired_delta": row.get("paired_delta"),
        "baseline_row": row.get("baseline_row")}


def _forwards(throughput: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A schema-3 reproduce report's throughput keys ('<rows> : images/s', '<rows>: images from
    cache', the row names joined by ' + ') as one record per forward."""
    labels = dict.fromkeys(key.removesuffix(suffix) for key in throughput for suffix in _THROUGHPUT_KEYS
                           if key.endswith(suffix))
    return [{"rows": label.split(" + "), "images_per_s": throughput.get(label + _THROUGHPUT_KEYS[0]),
             "from_cache": throughput.get(label + _THROUGHPUT_KEYS[1])} for label in labels]


def schema_3_to_4(data: dict[str, Any]) -> dict[str, Any]:
    """A schema-3 report dict as schema 4: rows split into result and verdict, the evaluator named by
    protocol and implementation, throughput and memory typed."""
    rows = [{"result": _result_of_row(row),
             "verdict": {"status": row["status"], "reason": row["reason"], "expected": row["expected"],
                         "tolerance": row["tolerance"], "checks": row["checks"]}}
            for row in data.get("rows", [])]
    throughput = data.get("throughput", {})
    if data.get("kind") == "reproduce":
        throughput = {"forwards": _forwards(throughput)}
    return {**data, "rows": rows, "throughput": throughput, "memory": data.get("memory") or None}


def _stats_to_schema_5(stats: Mapping[str, Any]) -> dict[str, Any]:
    return {**stats, "cv": coefficient_of_variation(int(stats["count"]), float(stats["mean_ms"]),
                                                    float(stats["std_ms"]))}


def schema_4_to_5(data: dict[str, Any]) -> dict[str, Any]:
    """A schema-4 report dict as schema 5: each stage's ``cv`` from its summary, the machine named by
    its host name, no ``stability`` record."""
    timings = {stage: _stats_to_schema_5(stats) for stage, stats in data.get("timings", {}).items()}
    rows = []
    for row in data.get("rows", []):
        result = row["result"]
        decode = result.get("decode_ms")
        rows.append({**row, "result": {**result, "decode_ms": decode and _stats_to_schema_5(decode)}})
    environment = dict(data["environment"])
    host = dict(environment.get("host") or {})
    environment["host"] = {**host, "machine": host.get("hostname")}
    return {**data, "timings": timings, "rows": rows, "environment": environment}


def schema_5_to_6(data: dict[str, Any]) -> dict[str, Any]:
    """A schema-5 report dict as schema 6: its network ran on torch (no runtime version, no build)."""
    return {**data, "config": {**data["config"], "runtime": "torch"}}


UPGRADE_STEPS: Mapping[int, Callable[[dict], dict]] = {1: schema_1_to_2, 2: schema_2_to_3, 3: schema_3_to_4,
                                                       4: schema_4_to_5, 5: schema_5_to_6}
"""Steps that rewrite a report dict of schema version v (the key) into version v + 1."""
