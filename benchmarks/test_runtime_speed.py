"""The network on each runtime, side by side (group ``runtimes-cpu``): the forward with flip of one
CrowdPose-sized image (batch 2: the input and its mirror, 3x512x704, as the pipeline batches it) and
`bench reproduce` of the bundled sample end to end (both published rows, one [2, 1] forward).

Every runtime is built as the harness builds it (``bench.runtimes.build.build_network``: export once,
cached; int8 calibrated on the sample's network inputs) with the fan-in synthetic weights (speed does
not depend on the weights; they keep int8's activations in a trained network's range). The rounds are
interleaved, each in a new random order, so that a machine slowing down during the run slows every
runtime alike; the medians and the ratios to PyTorch eager float32 go into ``extra_info`` and are
printed. Goals (issue: the network on other runtimes), on a 2-core CPU: the fastest faithful runtime
at least 1.8x PyTorch eager on the forward and 1.6x on `reproduce`; OpenVINO int8 at least 4x on the
forward. Run on a quiet machine: ``nox -s benchmark -- benchmarks/test_runtime_speed.py -s``.

``test_dynamic_axes_against_static_shapes`` measures the two shape policies of a runtime other than torch
(``bench.runtimes.names.SHAPE_POLICIES``) side by side, interleaved, on the network inputs (batch 2: with
flip) the pipeline feeds for the bundled sample and for a CrowdPose-sized image (640x480: 704x512 at
scale 1) at scales 1 and 2, and the memory each policy's network holds as it meets them (each policy in
a fresh process); the faster sets ``SHAPE_POLICY``, unless its memory is out of bounds. One runtime:
``nox -s benchmark -- benchmarks/test_runtime_speed.py -s -k "shapes and openvino"``.
"""

from __future__ import annotations

import copy
import itertools
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from bench.data.images import read_image
from bench.data.sample import sample_images
from bench.runtimes.build import build_network
from bench.runtimes.names import SHAPE_POLICIES
from bench.speed.network_maps import BROAD_FILL, BROAD_SEED
from bench.weights import Weights
from reference.pipeline import pipeline_config, preprocess_image

pytest.importorskip("onnxruntime", reason="needs the runtimes extra: pip install -e .[runtimes]")
pytest.importorskip("openvino", reason="needs the runtimes extra: pip install -e .[runtimes]")

GROUP = "runtimes-cpu"
ROUNDS = 5
INPUT_SHAPE = (2, 3, 512, 704)
FORWARD_CASES = {  # name: (runtime, precision, channels_last)
    "torch float32": ("torch", "float32", False),
    "torch float32 channels_last": ("torch", "float32", True),
    "onnxruntime float32": ("onnxruntime", "float32", False),
    "openvino float32": ("openvino", "float32", False),
    "openvino int8": ("openvino", "int8", False),
}
FAITHFUL = 1e-4
"""Largest difference from PyTorch's float32 outputs, relative to their largest value, of a runtime
counted faithful (int8 is a reduced-precision variant, never counted)."""
REPRODUCE_RUNTIMES = ("torch", "onnxruntime", "openvino")
SHAPES_INPUT_SIZE = int(os.environ.get("BENCH_SHAPES_INPUT_SIZE", "512"))
"""Network input size of the shape-policy benchmark: the pipeline's (512). A small one (e.g. 64) only
checks that the benchmark runs; its numbers mean nothing."""
CROWDPOSE_SIZED = (480, 640)
"""Height and width of a CrowdPose-sized image: its network input is 512x704 at scale 1."""


def interleaved_medians(cases: dict, rounds: int, seed: int = 0) -> dict[str, float]:
    """Median seconds per call of each case's callable over ``rounds`` rounds, every round calling each
    case once in a new random order."""
    order, times = list(cases), {name: [] for name in cases}
    rng = random.Random(seed)
    for _ in range(rounds):
        rng.shuffle(order)
        for name in order:
            start = time.perf_counter()
            cases[name]()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def report(benchmark, title: str, medians: dict[str, float], baseline: str, **extra) -> None:
    """Medians and speed-ups over ``baseline`` into the benchmark's ``extra_info``, and printed."""
    speedups = {name: medians[baseline] / value for name, value in medians.items()}
    benchmark.extra_info.update(medians_s=medians, speedup_vs_torch_eager=speedups, rounds=ROUNDS, **extra)
    lines = [f"{title} (median of {ROUNDS} interleaved rounds, {torch.get_num_threads()} threads)"]
    lines += [f"  {name:<30} {medians[name]:8.3f} s  {speedups[name]:5.2f}x" for name in medians]
    print("\n".join(lines))


@pytest.fixture(scope="module")
def networks(tmp_path_factory) -> dict:
    weights = Weights.synthetic(BROAD_FILL, seed=BROAD_SEED)
    model = weights.build_model().eval()
    cache = tmp_path_factory.mktemp("networks")
    calibration = sample_images()[0]
    built = {}
    for name, (runtime, precision, channels_last) in FORWARD_CASES.items():
        config = pipeline_config((1,), runtime=runtime, precision=precision, channels_last=channels_last)
        network = build_network(model, weights.cache_id, config, torch.device("cpu"), cache, calibration)
        module = network.module
        if channels_last:  # as the Predictor does: a converted copy
            module = copy.deepcopy(model).to(memory_format=torch.channels_last)
        built[name] = (module, channels_last, network.seconds)
    return built


def test_forward_with_flip_per_runtime(benchmark, networks):
    torch.manual_seed(0)
    images = torch.randn(*INPUT_SHAPE)
    inputs = {name: images.contiguous(memory_format=torch.channels_last) if channels_last else images
              for name, (_, channels_last, _) in networks.items()}

    def call(name: str):
        with torch.inference_mode():
            return networks[name][0](inputs[name])

    reference = call("torch float32")
    faithful = {}
    for name in networks:
        outputs = call(name)
        faithful[name] = max(float((found - expected).abs().max() / expected.abs().max())
                             for found, expected in zip(outputs, reference, strict=True))
    benchmark.group = GROUP
    cases = {name: lambda name=name: call(name) for name in networks}
    medians = benchmark.pedantic(interleaved_medians, args=(cases, ROUNDS), rounds=1, iterations=1)
    report(benchmark, f"forward with flip, batch {INPUT_SHAPE}", medians, "torch float32",
           relative_difference=faithful, build_s={name: entry[2] for name, entry in networks.items()})
    assert all(faithful[name] <= FAITHFUL for name in networks if "int8" not in name), faithful


def test_reproduce_the_sample_per_runtime(benchmark, tmp_path):
    """`python -m bench reproduce --runtime R` on the bundled sample, each run with a fresh prediction
    cache and the network cache warmed by a first run (export and compilation are reported apart)."""
    networks = tmp_path / "networks"
    runs = iter(range(10_000))

    def reproduce(runtime: str) -> None:
        folder = tmp_path / f"run-{next(runs)}"
        config = folder / "config.toml"
        folder.mkdir()
        config.write_text(f"[reproduce]\ncache_dir = {json.dumps(str(folder / 'cache'))}\n"
                          f"network_cache_dir = {json.dumps(str(networks))}\n")
        subprocess.run([sys.executable, "-m", "bench", "reproduce", "--runtime", runtime, "--config",
                        str(config), "--out", str(folder / "out")], check=True, capture_output=True,
                       cwd=Path(__file__).parents[1])

    for runtime in REPRODUCE_RUNTIMES:
        reproduce(runtime)  # exports once into the shared network cache
    benchmark.group = GROUP
    cases = {runtime: lambda runtime=runtime: reproduce(runtime) for runtime in REPRODUCE_RUNTIMES}
    medians = benchmark.pedantic(interleaved_medians, args=(cases, ROUNDS), rounds=1, iterations=1)
    report(benchmark, "reproduce of the bundled sample, end to end", medians, "torch")


def pipeline_input_shapes(input_size: int) -> list[tuple[int, ...]]:
    """The network input shapes [2, 3, h, w] (batch 2: the input and its mirror) that the pipeline feeds
    at scales 2 and 1 for the bundled sample's images and a CrowdPose-sized one, each shape once."""
    images = [read_image(path) for path in sample_images()[0]]
    images.append(np.full((*CROWDPOSE_SIZED, 3), 128, np.uint8))
    shapes = {(2, *x.shape) for image in images for x in preprocess_image(image, input_size, (2, 1)).inputs}
    return sorted(shapes, key=lambda shape: shape[2] * shape[3])


POLICY_MEMORY_SCRIPT = """
import gc, json, os, sys
import torch
from bench.runtimes.build import build_network
from bench.speed.network_maps import BROAD_FILL, BROAD_SEED
from bench.weights import Weights
from reference.pipeline import pipeline_config
def resident():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
runtime, policy, cache, input_size, shapes = json.loads(sys.argv[1])
weights = Weights.synthetic(BROAD_FILL, seed=BROAD_SEED)
config = pipeline_config((1,), runtime=runtime, input_size=input_size)
network = build_network(weights.build_model().eval(), weights.cache_id, config, torch.device("cpu"),
                        cache, shapes=policy).module
gc.collect()
held = [resident()]
with torch.inference_mode():
    for shape in shapes:
        network(torch.zeros(*shape))
        gc.collect()
        held.append(resident())
print(json.dumps(held))
"""
"""A fresh process builds one policy's network from the cached ONNX file and calls it once per shape,
printing its resident memory (bytes, Linux's /proc/self/statm) after the build and after each shape."""


def policy_memory_mib(runtime: str, policy: str, cache: Path, shapes: list[tuple[int, ...]]) -> list[float]:
    """How much the resident memory of a fresh process grows (MiB) with each shape's first call under
    ``policy`` and stays grown: a static network's compiled copy of that shape, or a dynamic one's larger
    buffers (a peak would not show it: building the network peaks above any forward)."""
    argument = json.dumps([runtime, policy, str(cache), SHAPES_INPUT_SIZE, shapes])
    done = subprocess.run([sys.executable, "-c", POLICY_MEMORY_SCRIPT, argument], check=True, text=True,
                          capture_output=True, cwd=Path(__file__).parents[1])
    held = json.loads(done.stdout.splitlines()[-1])
    return [(after - before) / 2**20 for before, after in itertools.pairwise(held)]


@pytest.mark.skipif(sys.platform != "linux", reason="reads the resident memory from /proc/self/statm")
@pytest.mark.parametrize("runtime", ["onnxruntime", "openvino"])
def test_dynamic_axes_against_static_shapes(benchmark, tmp_path, runtime):
    """The forward with flip on every input shape of ``pipeline_input_shapes`` under each shape policy,
    interleaved; each network's first call of a shape (the static network's compilation) is timed apart,
    before the rounds; then the memory each policy's network grows by per shape, in a fresh process."""
    weights = Weights.synthetic(BROAD_FILL, seed=BROAD_SEED)
    model = weights.build_model().eval()
    config = pipeline_config((1,), runtime=runtime, input_size=SHAPES_INPUT_SIZE)
    networks = {policy: build_network(model, weights.cache_id, config, torch.device("cpu"), tmp_path,
                                      shapes=policy).module for policy in SHAPE_POLICIES}
    torch.manual_seed(0)
    inputs = {shape: torch.randn(*shape) for shape in pipeline_input_shapes(SHAPES_INPUT_SIZE)}

    def call(policy: str, shape: tuple[int, ...]) -> None:
        with torch.inference_mode():
            networks[policy](inputs[shape])

    first_call_s = {}
    for key in itertools.product(SHAPE_POLICIES, inputs):
        start = time.perf_counter()
        call(*key)
        first_call_s[key] = time.perf_counter() - start
    benchmark.group = f"{GROUP}-shapes"
    cases = {key: lambda key=key: call(*key) for key in first_call_s}
    medians = benchmark.pedantic(interleaved_medians, args=(cases, ROUNDS), rounds=1, iterations=1)
    growth = {policy: dict(zip(inputs, policy_memory_mib(runtime, policy, tmp_path, list(inputs)),
                               strict=True)) for policy in SHAPE_POLICIES}
    table = pd.DataFrame({"x".join(map(str, shape)): {
        **{f"{policy} s": medians[policy, shape] for policy in SHAPE_POLICIES},
        "static / dynamic": medians["static", shape] / medians["dynamic", shape],
        **{f"{policy} first call s": first_call_s[policy, shape] for policy in SHAPE_POLICIES},
        **{f"{policy} held +MiB": growth[policy][shape] for policy in SHAPE_POLICIES}}
        for shape in inputs}).T
    table.loc["all shapes"] = table.sum()
    table.loc["all shapes", "static / dynamic"] = table.loc["all shapes", "static s"] / table.loc[
        "all shapes", "dynamic s"]
    benchmark.extra_info.update(runtime=runtime, input_size=SHAPES_INPUT_SIZE, rounds=ROUNDS,
                                shapes=table.to_dict(orient="index"))
    print(f"\n{runtime}: forward with flip per network input, dynamic axes against static shapes (median "
          f"of {ROUNDS} interleaved rounds, {torch.get_num_threads()} threads; first call: the static "
          f"network's compilation, the dynamic one's warm-up; held +MiB: how much a fresh process's "
          f"resident memory grows with the shape's first call and stays grown, so 'all shapes' is the "
          f"network's total)")
    print(table.to_string(float_format="{:.4f}".format))
