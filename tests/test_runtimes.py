"""The network runtimes (``bench.runtimes``): ONNX Runtime and OpenVINO run our exported model as PyTorch
does, behind the one pipeline; the export is cached by its key; int8 is a quantized variant judged
against float32; a runtime that cannot run here is exit status 2 before any work.

Offline, on the bundled sample at input size 128 (raw outputs) or 192 (poses: at 128 these weights'
heatmaps are too weak to find people). Faithfulness is held with the calibrated synthetic weights
(plausible heatmaps and tags, so grouping does real work).
int8 uses the fan-in weights: the calibrated weights reach activations of 1e11 that their output layers
scale back by 1e-12, which no int8 (or float16) network can hold, while the fan-in weights' activations
are O(1), as a trained network's are.
"""

from __future__ import annotations

import dataclasses
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import TinyPoseNet, profile_record
from torch import nn

from bench.__main__ import main
from bench.accuracy import predict
from bench.accuracy.judge import QUANTIZED_AP_RATIO, quantized_status
from bench.accuracy.reproduce import run_reproduction
from bench.accuracy.settings import ReproduceConfig
from bench.data.dataset import DataConfig, load_dataset
from bench.data.images import read_image
from bench.data.sample import SAMPLE_DIR, SAMPLE_GT, sample_images
from bench.devicecheck.cases import load_matrix
from bench.devicecheck.consistency import reproduce_arguments, reproduce_plan
from bench.devicecheck.poses import pose_differences
from bench.devicecheck.settings import CASES_FILE
from bench.errors import BenchError
from bench.evaluation.bootstrap import BootstrapSettings
from bench.evaluation.results import people_to_results
from bench.reports.compare import LoadedReport
from bench.reports.environment import fingerprint_id
from bench.reports.results_page import system_names, systems_table
from bench.reports.rows import VariantCheck
from bench.reports.schema import load_report
from bench.reports.writing import new_report, report_stem
from bench.runtimes import export
from bench.runtimes.available import check_runtime
from bench.runtimes.build import build_network
from bench.runtimes.export import INPUT_NAME, OPSET, exported_network
from bench.runtimes.names import (
    CUDA_BUILDS,
    TENSORRT_INDEX,
    TENSORRT_LIBRARIES,
    cuda_runtime_requirements,
)
from bench.runtimes.onnxruntime_network import onnxruntime_network, run_bound
from bench.runtimes.openvino_network import openvino_network
from bench.weights import Weights
from reference.pipeline import Predictor, pipeline_config, preprocess_image

pytestmark = pytest.mark.runtime_libraries  # loads ONNX Runtime and OpenVINO into this process: run last

RUNTIMES = ("onnxruntime", "openvino")
RAW_INPUT_SIZE = 128
INPUT_SIZE = 192
SCALES = ((2.0, 1.0), (1.0,))
RELATIVE = 1e-4
"""Raw outputs: within 1e-4 of the largest value of PyTorch's output."""
JOINT_PX = 0.05
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("networks")


@pytest.fixture(scope="module")
def calibrated():
    weights = Weights.synthetic("calibrated")
    return weights, weights.build_model()


@pytest.fixture(scope="module")
def networks(calibrated, cache) -> dict[str, nn.Module]:
    """PyTorch's model and each runtime's adapter of its one exported file, at float32."""
    weights, model = calibrated
    built = {runtime: build_network(model, weights.cache_id, pipeline_config(runtime=runtime), CPU, cache)
             for runtime in RUNTIMES}
    return {"torch": model, **{runtime: network.module for runtime, network in built.items()}}


@pytest.fixture(scope="module")
def images() -> list[np.ndarray]:
    return [read_image(path) for path in sample_images()[0]]


@pytest.fixture(scope="module")
def pytorch_outputs(networks, images) -> list[tuple[torch.Tensor, list[torch.Tensor]]]:
    """Per sample image and scale (2, then 1): the input [2, 3, h, w] as the forward stage feeds it, with
    its mirror, and PyTorch's outputs."""
    inputs = [torch.from_numpy(np.stack([x, x[:, :, ::-1]]))
              for image in images for x in preprocess_image(image, RAW_INPUT_SIZE, (2, 1)).inputs]
    with torch.inference_mode():
        return [(x, networks["torch"](x)) for x in inputs]


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_raw_outputs_equal_pytorch_on_the_sample_at_both_scales(networks, pytorch_outputs, runtime):
    for x, expected in pytorch_outputs:
        for ours, theirs in zip(networks[runtime](x), expected, strict=True):
            torch.testing.assert_close(ours, theirs, rtol=RELATIVE, atol=RELATIVE * float(theirs.abs().max()))


class _Upsampling(nn.Module):
    """The ops that differ most between runtimes, as the model has them: the 8x nearest upsampling of
    HRNet's fusion (1/32 to 1/4; Resize in ONNX) and the head's transposed convolution (with its batch
    norm and ReLU). The model upsamples by nearest neighbour only: the bilinear resizing of the maps is
    aggregation, which stays PyTorch's in every runtime."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.fuse = model.backbone.stage4[-1].fuse_layers[0][3]
        self.deconv = model.keypoint_head.deconv_layers[0][0]

    def forward(self, coarse: torch.Tensor) -> list[torch.Tensor]:
        fused = self.fuse(coarse)  # [B, 32, 8h, 8w]
        return [fused, self.deconv(torch.cat((fused, fused[:, :28]), dim=1))]  # [B, 32, 16h, 16w]


def test_upsampling_and_transposed_convolution_agree_on_a_ramp(calibrated, tmp_path):
    module = _Upsampling(calibrated[1]).eval()
    path = tmp_path / "upsampling.onnx"
    with pytest.warns(DeprecationWarning):  # the exporter bench.runtimes.export chose, with its opset
        torch.onnx.export(module, (torch.zeros(1, 256, 2, 2),), str(path), dynamo=False, opset_version=OPSET,
                          input_names=[INPUT_NAME], dynamic_axes={INPUT_NAME: {0: "b", 2: "h", 3: "w"}})
    runtimes = [onnxruntime_network(path, "onnxruntime", "float32", CPU, tmp_path),
                openvino_network(path, "float32")]
    for height, width in ((3, 5), (4, 2)):  # one file, any size
        ramp = torch.linspace(-1, 1, 256 * height * width).reshape(1, 256, height, width)
        with torch.inference_mode():
            expected = module(ramp)
        for network in runtimes:
            for ours, theirs in zip(network(ramp), expected, strict=True):
                torch.testing.assert_close(ours, theirs, rtol=RELATIVE,
                                           atol=RELATIVE * float(theirs.abs().max()))


@pytest.fixture(scope="module")
def detections(networks, images) -> dict[tuple[str, tuple[float, ...]], list[dict]]:
    """Per (runtime, scales) the sample's people (results format): one [2, 1] forward per image and
    runtime, decoded as [2, 1] and as [1] (the [1] row's own poses: ``reference.pipeline``)."""
    ids = sample_images()[1]
    found = {}
    for runtime, network in networks.items():
        configs = {scales: pipeline_config(scales, input_size=INPUT_SIZE, runtime=runtime)
                   for scales in SCALES}
        predictor = Predictor.from_config(network, configs[SCALES[0]])
        outputs = [predictor.run_network([image]) for image in images]
        for scales, variant in configs.items():
            poses = [predictor.decode(image_outputs, variant=variant)[0] for image_outputs in outputs]
            found[runtime, scales] = [entry for (keypoints, scores), image_id in zip(poses, ids, strict=True)
                                      for entry in people_to_results(image_id, keypoints, scores)]
    return found


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("scales", SCALES, ids=["s2+1", "s1"])
def test_poses_on_the_sample_match_pytorch_s(detections, runtime, scales):
    expected = detections["torch", scales]
    assert len(expected) > 0  # grouping did real work
    assert pose_differences(detections[runtime, scales], expected, JOINT_PX) == []


def test_the_export_is_cached_by_its_key(calibrated, cache, monkeypatch):
    weights, model = calibrated
    first = exported_network(model, weights.cache_id, cache)  # exported by the fixtures, or now
    monkeypatch.setattr(export, "export_onnx", lambda *args: pytest.fail("exported again"))
    again = exported_network(model, weights.cache_id, cache)
    assert again.cached and again.path == first.path
    monkeypatch.setattr(export, "export_onnx", lambda *args: b"exported")
    other = exported_network(model, "other-weights", cache)
    assert not other.cached and other.path != first.path and other.path.read_bytes() == b"exported"
    assert other.path.with_suffix(".json").is_file()  # its key, for people


def _reproduce(tmp_path, *flags: str) -> list[str]:
    out = tmp_path / "out"
    return ["reproduce", "--ann-file", str(SAMPLE_GT), "--img-dir", str(SAMPLE_DIR), "--out", str(out),
            *flags]


@pytest.fixture
def no_work(monkeypatch):
    monkeypatch.setattr(predict, "predict_images", lambda *args, **kwargs: pytest.fail("work started"))


@pytest.mark.parametrize(("flags", "message"), [
    (["--precision", "int8"], "--runtime torch does not run --precision int8"),
    (["--runtime", "onnxruntime", "--precision", "int8"], "(int8: --runtime openvino)"),
    (["--runtime", "onnxruntime", "--precision", "float16", "--device", "cpu"], "needs a CUDA device"),
    (["--runtime", "tensorrt", "--device", "cpu"], "--runtime tensorrt --precision float32 needs a CUDA"),
    (["--runtime", "openvino", "--calibration-images", "0"], "--calibration-images must be >= 1"),
])
def test_an_unsupported_runtime_and_precision_is_exit_2_before_any_work(tmp_path, capsys, no_work, flags,
                                                                        message):
    assert main(_reproduce(tmp_path, *flags)) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("runtime", "package"), [("openvino", "openvino"), ("onnxruntime", "onnxruntime"),
                                                  ("openvino", "onnx")])
def test_a_missing_runtime_package_is_exit_2_naming_it(tmp_path, capsys, monkeypatch, no_work, runtime,
                                                       package):
    monkeypatch.setitem(sys.modules, package, None)  # what an environment without it imports
    assert main(_reproduce(tmp_path, "--runtime", runtime, "--device", "cpu")) == 2
    error = capsys.readouterr().err
    assert f"needs the Python package {package}" in error and "-e .[runtimes]" in error
    assert not (tmp_path / "out").exists()


def test_the_torch_pipeline_refuses_int8_and_other_runtimes_refuse_torch_settings():
    with pytest.raises(ValueError, match="int8 needs a runtime that quantizes"):
        pipeline_config(precision="int8")
    with pytest.raises(ValueError, match="channels_last apply to the torch runtime only"):
        pipeline_config(runtime="openvino", channels_last=True)


@pytest.fixture(scope="module")
def fan_in() -> nn.Module:
    return Weights.synthetic("fan-in").build_model()


@pytest.mark.slow  # NNCF's quantization of HigherHRNet takes 15 s on 2 cores
def test_int8_runs_and_is_reported_against_float32(fan_in, cache, tmp_path):
    config = ReproduceConfig(
        data=DataConfig(ann_file=str(SAMPLE_GT), img_dir=str(SAMPLE_DIR)), scales=((1.0,),), device="cpu",
        runtime="openvino", precision="int8", pipeline_options={"input_size": INPUT_SIZE}, sample=False,
        workers=0, bootstrap=BootstrapSettings(resamples=0), cache_dir=str(tmp_path / "predictions"),
        network_cache_dir=str(cache), out=str(tmp_path / "out"))
    report = run_reproduction(config, model=fan_in).report
    (row,) = report.rows
    variant = row.result.behaviour.variant_vs_float32
    assert variant is not None and "AP" in variant.float32_metrics  # int8 against its float32 run
    assert row.verdict.status != "reproduced" and report.config.runtime == "openvino"
    network = next(forward.network for forward in report.throughput.forwards if forward.network)
    assert network.quantizer.startswith("nncf") and network.calibration_images == 2
    assert "openvino" in report_stem(report) and "int8" in report_stem(report)

    # the raw outputs agree with float32's, without being equal: the cached int8 network of the run
    sample = load_dataset(ann_file=SAMPLE_GT, img_dir=SAMPLE_DIR)
    calibration = [path for _, path in predict.calibration(sample, config.calibration_images)]
    int8 = build_network(fan_in, Weights.provided(fan_in).cache_id, pipeline_config(
        input_size=INPUT_SIZE, runtime="openvino", precision="int8"), CPU, cache, calibration)
    assert int8.build.quantize_cached
    x = torch.from_numpy(preprocess_image(read_image(calibration[0]), INPUT_SIZE).inputs[0][None])
    with torch.inference_mode():
        expected = fan_in(x)
    for ours, theirs in zip(int8.module(x), expected, strict=True):
        correlation = np.corrcoef(ours.flatten(), theirs.flatten())[0, 1]
        assert 0.99 < correlation < 1 and not torch.equal(ours, theirs), correlation


@pytest.mark.parametrize(("ratio", "status"), [(1.0, "measured"), (QUANTIZED_AP_RATIO, "measured"),
                                               (0.985, "failed")])
def test_int8_needs_99_percent_of_the_float32_ap_and_is_never_a_reproduction(ratio, status):
    found, reason = quantized_status({"AP": 0.6 * ratio}, VariantCheck({"AP": 0.6}, 0.6 * ratio - 0.6))
    assert found == status and "99%" in reason


def test_reports_of_two_runtimes_are_two_workloads(environment):
    torch_report, openvino = (new_report("profile", profile_record(runtime=runtime), environment=environment)
                              for runtime in ("torch", "openvino"))
    workloads = {LoadedReport(None, report).workload for report in (torch_report, openvino)}
    assert workloads == {"profile/synthetic-512x512-b1-s1-flip/torch float32/synthetic/overlapped",
                         "profile/synthetic-512x512-b1-s1-flip/openvino float32/synthetic/overlapped"}
    assert "-openvino-float32-" in report_stem(openvino) and "torch" not in report_stem(torch_report)


def test_the_results_page_has_a_system_row_per_runtime_and_precision(environment):
    """Systems against workloads: one machine measured on three networks is three rows, each naming its
    runtime (with the version the environment records) and precision."""
    networks = (("torch", "float32", None), ("openvino", "float32", "openvino 2026.4.1"),
                ("openvino", "int8", "openvino 2026.4.1 + nncf 3.4.0"))
    reports = [new_report("profile", profile_record(runtime=runtime, precision=precision),
                          environment=dataclasses.replace(environment, software=dataclasses.replace(
                              environment.software, runtime=version)))
               for runtime, precision, version in networks]
    frame, _, _ = systems_table([(f"report-{index}", report) for index, report in enumerate(reports)],
                                system_names(reports))
    assert sorted(zip(frame["runtime"].str.split(",").str[0], frame["precision"], strict=True)) == [
        ("openvino 2026.4.1", "float32"), ("openvino 2026.4.1 + nncf 3.4.0", "int8"),
        (f"torch {torch.__version__} / cpu", "float32")]


def test_the_runtime_enters_the_fingerprint_only_where_it_is_not_torch(environment):
    software = environment.software
    assert software.runtime is None
    with_runtime = dataclasses.replace(software, runtime="openvino 2026.4.1")
    changed = fingerprint_id(environment.hardware, with_runtime, environment.numerics)
    assert changed != environment.fingerprint_id


def test_int8_without_calibration_images_is_refused(fan_in, cache):
    with pytest.raises(BenchError, match="at least one calibration image"):
        build_network(fan_in, "any", pipeline_config(runtime="openvino", precision="int8"), CPU, cache)


@pytest.mark.parametrize(("runtime", "on_cpu"), [("openvino", "openvino"), ("tensorrt", "torch")])
def test_device_check_runs_the_runtime_where_it_can_and_torch_as_the_cpu_reference_of_a_cuda_one(
        tmp_path, runtime, on_cpu):
    plan = reproduce_plan(load_matrix(CASES_FILE, quick=True), tmp_path, tmp_path, None, runtime)
    arguments = reproduce_arguments(plan, "cpu", "cpu")
    assert arguments[arguments.index("--runtime") + 1] == on_cpu


@pytest.fixture(scope="module")
def tiny_networks(cache) -> dict[tuple[str, str], nn.Module]:
    """Per (runtime, shape policy) a network of the tiny stand-in model (the network's interface, two
    convolutions: fast to compile), built as runs build theirs."""
    return {(runtime, shapes): build_network(TinyPoseNet(), "tiny", pipeline_config(runtime=runtime), CPU,
                                             cache, shapes=shapes)
            for runtime in RUNTIMES for shapes in ("dynamic", "static")}


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_static_shapes_compile_one_network_per_input_shape_giving_the_dynamic_outputs(tiny_networks, runtime):
    dynamic, static = tiny_networks[runtime, "dynamic"], tiny_networks[runtime, "static"]
    assert "per input shape" in static.build.shapes and "per input shape" not in dynamic.build.shapes
    for height, width in ((64, 96), (128, 64), (64, 96)):
        x = torch.linspace(-1, 1, 2 * 3 * height * width).reshape(2, 3, height, width)
        for ours, theirs in zip(static.module(x), dynamic.module(x), strict=True):
            torch.testing.assert_close(ours, theirs, rtol=RELATIVE, atol=RELATIVE * float(theirs.abs().max()))
    compiled = getattr(static.module, "session_for", None) or static.module.request_for
    assert compiled.cache_info().currsize == 2 + (runtime == "onnxruntime")  # (+ the dynamic session)


def test_io_binding_gives_the_session_outputs(tiny_networks):
    """The CUDA path binds torch tensors to the session by pointer; on the CPU provider the same binding
    must give what ``session.run`` gives (the CPU forward itself runs on NumPy, unchanged)."""
    network = tiny_networks["onnxruntime", "dynamic"].module
    x = torch.linspace(-1, 1, 2 * 3 * 64 * 96).reshape(2, 3, 64, 96)
    bound = run_bound(network.session, x, network.input_dtype)
    for ours, theirs in zip(bound, network(x), strict=True):
        assert ours.dtype == torch.float32 and torch.equal(ours, theirs)


def test_the_cuda_environment_takes_onnxruntime_gpu_and_tensorrt_pinned():
    """What `nox -s device` installs where CUDA is: the runtimes extra with ONNX Runtime's CUDA build in
    place of its CPU build (never both: one module), TensorRT's libraries, each pinned in constraints.txt."""
    root = Path(__file__).parents[1]
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    extra = project["optional-dependencies"]["runtimes"]
    requirements = cuda_runtime_requirements(extra)
    (cpu_build,) = [wanted for wanted in extra if wanted.startswith("onnxruntime")]
    assert [found for found in requirements if found.startswith("onnxruntime")] == [
        cpu_build.replace("onnxruntime", "onnxruntime-gpu")]
    assert requirements[-1] == TENSORRT_LIBRARIES and len(requirements) == len(extra) + 1
    assert TENSORRT_INDEX.startswith("https://")
    pinned = dict(line.split("==") for line in (root / "constraints.txt").read_text().splitlines()
                  if "==" in line and not line.startswith("#"))
    assert {*CUDA_BUILDS.values(), TENSORRT_LIBRARIES} <= set(pinned)
    assert cuda_runtime_requirements(["onnxruntime>=1.18", "onnx"]) == ["onnxruntime-gpu>=1.18", "onnx",
                                                                        TENSORRT_LIBRARIES]


def test_tensorrt_without_its_libraries_is_refused_naming_the_wheel(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt_libs", None)
    wanted = f"tensorrt_libs.*pip install {TENSORRT_LIBRARIES} --extra-index-url"
    with pytest.raises(BenchError, match=wanted):
        check_runtime("tensorrt", "float16", torch.device("cuda"))


def test_a_runtime_row_has_its_paired_ap_change_against_pytorch_and_diffs_against_a_torch_report(tmp_path,
                                                                                                 capsys):
    """On real data (here the sample given as the data set) a runtime row carries its AP change against
    the float32 PyTorch run on the same images with a paired bootstrap interval, and `bench diff` takes a
    torch report and an onnxruntime report of the same images."""
    def reproduce(runtime: str) -> Path:
        config = ReproduceConfig(
            data=DataConfig(ann_file=str(SAMPLE_GT), img_dir=str(SAMPLE_DIR)), scales=((1.0,),), device="cpu",
            runtime=runtime, pipeline_options={"input_size": 64}, sample=False, workers=0,
            bootstrap=BootstrapSettings(resamples=50), cache_dir=str(tmp_path / runtime / "predictions"),
            network_cache_dir=str(tmp_path / "networks"), out=str(tmp_path / runtime / "out"))
        return run_reproduction(config, model=TinyPoseNet()).paths["json"]

    torch_report, onnx_report = reproduce("torch"), reproduce("onnxruntime")
    (row,) = load_report(onnx_report).rows
    variant = row.result.behaviour.variant_vs_float32
    low, high = variant.ap_delta_ci95
    assert low <= variant.ap_delta <= high
    assert load_report(torch_report).rows[0].result.behaviour.variant_vs_float32 is None
    capsys.readouterr()
    assert main(["diff", str(torch_report), str(onnx_report), "--out", str(tmp_path / "diff")]) == 0
    assert "AP" in capsys.readouterr().out and (tmp_path / "diff" / "diff.md").is_file()
