"""The test-time pipeline of HigherHRNet + AE on CrowdPose, and the ``Predictor`` that runs it.

The stages (``reference.stages``) run in one code path, in two halves per network batch:
``Predictor.run_network`` (preprocess, to_device, forward per scale) and ``Predictor.decode``
(aggregate, the grouping stages, to_image). ``predict_batch`` chains the two; a runner that overlaps
decoding with the next batch's forward calls the halves itself. Every call takes an optional
``StageObserver`` that is told when each stage starts and stops, so a profiler times this very path
from outside. With flip test the input and its mirror go through the network in one call per
scale; on CUDA the inputs are pinned and copied on a copy stream, overlapping the running forward; the
grouping runs batched over the batch's images on the maps' device. ``replace_maps`` is the one
injection point: it hands the grouping other maps than the network's (a profiler's rendered maps when
the weights are untrained).

One forward, many decoders: ``decode`` takes a ``variant``, another ``PipelineConfig`` that differs
only after the network (a subset of the scales with the same smallest scale, flip off, stage
aggregation, grouping settings). Its poses are bit-identical to a ``Predictor`` built with that
config, since it reads the very network outputs such a predictor would compute (``check_variant``
refuses anything else, naming the setting); the one exception is flip off decoded from a flip
forward: it reads the original half of a [2B] call, its own predictor a [B] call, equal up to the
float32 rounding a convolution may change with the batch size; ``shared_forward`` gives the one
forward that serves several variants.
Defaults follow mmpose 0.29.0's ``higherhrnet_w32_crowdpose_512x512`` test config; every choice that
changes numbers is a ``PipelineConfig`` field, and ``PipelineConfig.to_dict`` records them.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from reference.aggregate import STAGE_AGGREGATIONS, ScaleOutputs, aggregate_outputs
from reference.crowdpose import FLIP_INDEX, NUM_JOINTS
from reference.grouping import GroupingConfig, group_batch
from reference.precisions import PRECISIONS, QUANTIZED, TORCH_RUNTIME
from reference.preprocess import (
    DEFAULT_LIMITS,
    ImageError,
    ImageFrame,
    InputLimits,
    PreparedImage,
    check_image,
    check_resize_settings,
    image_frame,
    input_limit_problem,
    input_sizes,
    preprocess_image,
)
from reference.stages import (
    AGGREGATE,
    NO_OBSERVER,
    PREPROCESS,
    TO_DEVICE,
    TO_IMAGE,
    StageObserver,
    forward_stage,
    observed,
)
from reference.transforms import to_image_coords

_AUTOCAST_DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16}
MAX_INPUT_SIZE = 4096
"""Largest ``input_size`` (the short side of the scale-1 network input, in pixels): 8x the published
512, and above the short side of any CrowdPose image."""
MIN_SCALE = 0.5
"""Smallest test scale (HigherHRNet's own smallest). The maps are aggregated at the scale-1 size,
1 / (smallest scale) times the smallest input per side: a scale of 0.001 alone asks for maps a million
times the input's pixels."""
MAX_SCALE = 4.0
"""Largest test scale: twice HigherHRNet's largest (2); the input limits bound the pixels it asks for."""
MAX_NUM_SCALES = 8
"""Most test scales of one run: each one is a network pass per image."""
MAX_NUM_PEOPLE = 1000
"""Largest ``max_num_people`` (candidates per joint, people per image): 33x mmpose's 30. The grouping's
memory grows with it (100,000 took 21.6 GB)."""
MAX_NMS_KERNEL = 31
"""Largest ``nms_kernel`` (the odd side of the NMS window on the maps, mmpose: 5): the window mask grows
with its square (99,999 took 10.7 GB), and 31 already spans a person's whole joint neighbourhood."""

Poses = tuple[np.ndarray, np.ndarray]
"""(keypoints [N, K, 3] float64: x, y in image pixels and the heatmap value; scores [N] float64)."""


@dataclass(frozen=True)
class PipelineConfig:
    """Test-time settings. ``scales`` are the test scale factors (tags come from scale 1, so several
    scales must include 1); ``precision`` "float32" runs the network with TF32 off, "tf32" with TF32
    on, "bfloat16"/"float16" under ``torch.autocast`` (aggregation and grouping stay float32).
    ``runtime`` names what runs the network: "torch" runs the model itself as just said; any other name
    is a runtime whose adapter module (the ``model`` a Predictor is given) runs a compiled copy of the
    network and applies the precision itself, "int8" included; torch's own settings (channels_last,
    compile) are then refused."""

    input_size: int = 512
    scales: tuple[float, ...] = (1,)
    flip: bool = True
    stage_aggregation: str = "mmpose-0.29"
    grouping: GroupingConfig = field(default_factory=GroupingConfig)
    precision: str = "float32"
    channels_last: bool = False
    compile: bool = False
    runtime: str = TORCH_RUNTIME

    def __post_init__(self) -> None:
        check_resize_settings(self.input_size, self.scales)
        object.__setattr__(self, "scales", tuple(self.scales))
        if len(self.scales) > 1 and 1 not in self.scales:
            raise ValueError(f"scales {self.scales} must include 1: the tags come from the scale-1 pass")
        outside = [scale for scale in self.scales if not MIN_SCALE <= scale <= MAX_SCALE]
        if outside:
            raise ValueError(f"scale {outside[0]:g} is outside the limits [{MIN_SCALE:g}, {MAX_SCALE:g}]")
        if self.stage_aggregation not in STAGE_AGGREGATIONS:
            raise ValueError(
                f"stage_aggregation must be one of {STAGE_AGGREGATIONS}, got {self.stage_aggregation!r}"
            )
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if not isinstance(self.grouping, GroupingConfig):
            raise TypeError(f"grouping must be a GroupingConfig, got {type(self.grouping).__name__}")
        self._check_limits()
        self._check_runtime()
        for name in ("flip", "channels_last", "compile"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be a bool, got {getattr(self, name)!r}")

    def _check_limits(self) -> None:
        """ValueError naming the setting, its value and its limit, where the work a setting asks for is
        out of bounds, or ``joint_order`` does not order the 14 CrowdPose joints (the grouping would
        only find out after the network ran)."""
        for name, value, limit in (("input_size", self.input_size, MAX_INPUT_SIZE),
                                   ("the number of scales", len(self.scales), MAX_NUM_SCALES),
                                   ("max_num_people", self.grouping.max_num_people, MAX_NUM_PEOPLE),
                                   ("nms_kernel", self.grouping.nms_kernel, MAX_NMS_KERNEL)):
            if value > limit:
                raise ValueError(f"{name} {value} is above the limit of {limit}")
        order = self.grouping.joint_order
        if order is not None and len(order) != NUM_JOINTS:
            raise ValueError(f"joint_order has {len(order)} joints; it must be a permutation of the "
                             f"{NUM_JOINTS} CrowdPose joints 0..{NUM_JOINTS - 1}")

    def _check_runtime(self) -> None:
        """TypeError for a runtime that is not a name; ValueError where the precision or a torch setting
        does not fit the runtime."""
        if not isinstance(self.runtime, str) or not self.runtime:
            raise TypeError(f"runtime must be a runtime's name, got {self.runtime!r}")
        if self.runtime == TORCH_RUNTIME and self.precision in QUANTIZED:
            raise ValueError(f"precision {self.precision} needs a runtime that quantizes the network (such "
                             f"as openvino); the {TORCH_RUNTIME} runtime runs "
                             f"{', '.join(p for p in PRECISIONS if p not in QUANTIZED)}")
        torch_only = [name for name in ("channels_last", "compile") if getattr(self, name)]
        if self.runtime != TORCH_RUNTIME and torch_only:
            raise ValueError(f"{' and '.join(torch_only)} apply to the {TORCH_RUNTIME} runtime only; the "
                             f"{self.runtime} runtime runs a compiled network of its own")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings (nested grouping settings included) for reports."""
        settings = dataclasses.asdict(self)
        settings["scales"] = [float(s) for s in self.scales]
        return settings


def pipeline_config(scales: Sequence[float] = (1,), flip: bool = True, **options: Any) -> PipelineConfig:
    """A ``PipelineConfig`` from flat keyword options: its own fields and ``GroupingConfig`` fields
    (e.g. ``matcher="munkres"``) side by side. Unknown names raise TypeError."""
    own = {f.name for f in dataclasses.fields(PipelineConfig)}
    grouping_names = {f.name for f in dataclasses.fields(GroupingConfig)}
    unknown = sorted(set(options) - own - grouping_names)
    if unknown:
        raise TypeError(f"unknown pipeline option(s): {', '.join(unknown)}")
    grouping_options = {name: value for name, value in options.items() if name in grouping_names}
    settings = {name: value for name, value in options.items() if name in own}
    base_grouping = settings.pop("grouping", None) or GroupingConfig()
    if not isinstance(base_grouping, GroupingConfig):
        raise TypeError(f"grouping must be a GroupingConfig, got {type(base_grouping).__name__}")
    grouping = dataclasses.replace(base_grouping, **grouping_options)
    return PipelineConfig(scales=tuple(scales), flip=flip, grouping=grouping, **settings)


@dataclass(frozen=True)
class Batch:
    """Images that share one network input size per scale.

    inputs: one float32 [B, 3, h_s, w_s] tensor per scale (largest scale first). scales: those scales.
    frames: per image, where it sits in the scale-1 input (all share ``base_size``).
    """

    inputs: tuple[torch.Tensor, ...]
    scales: tuple[float, ...]
    frames: tuple[ImageFrame, ...]

    @property
    def base_size(self) -> tuple[int, int]:
        """(W, H) of the scale-1 input, which is the size of the aggregated maps."""
        return self.frames[0].base_size

    def __len__(self) -> int:
        return len(self.frames)


@dataclass(frozen=True)
class ForwardOutputs:
    """What the network half hands the decoding half for one network batch: the raw outputs per scale
    (largest first; with flip test also of the mirrored input) and the ``batch`` they came from."""

    outputs: tuple[ScaleOutputs, ...]
    batch: Batch


@dataclass(frozen=True)
class NetworkMaps:
    """The aggregated maps of one network batch: heatmaps [B, K, H, W] and tags [B, K, H, W, L] at the
    base size (float32, on the device; L = 2 with flip test, else 1) and the ``batch`` they came from
    (its frames map people back to image pixels)."""

    heatmaps: torch.Tensor
    tags: torch.Tensor
    batch: Batch


MapsReplacement = Callable[[NetworkMaps], NetworkMaps]
"""Takes the network's aggregated maps of one batch and returns the maps to group instead (same batch)."""

NETWORK_SETTINGS = ("input_size", "precision", "channels_last", "compile", "runtime")
"""``PipelineConfig`` fields that change the network's inputs or arithmetic: a decoding variant keeps them."""


def check_variant(forward: PipelineConfig, variant: PipelineConfig) -> None:
    """Raise ValueError, naming the setting, unless ``variant`` can be decoded from the network outputs
    of ``forward``: the same network settings, scales a subset of the forward's with the same smallest
    scale (it fixes the resize geometry), and flip only where the forward flipped."""
    for name in NETWORK_SETTINGS:
        if getattr(variant, name) != getattr(forward, name):
            raise ValueError(f"{name}={getattr(variant, name)!r} changes the network (the forward runs with "
                             f"{name}={getattr(forward, name)!r}); run it as a forward of its own")
    if not set(variant.scales) <= set(forward.scales):
        raise ValueError(f"scales {list(variant.scales)} are not a subset of the forward scales "
                         f"{list(forward.scales)}")
    if min(variant.scales) != min(forward.scales):
        raise ValueError(f"scales {list(variant.scales)}: the smallest scale sets the resize geometry and "
                         f"must be the forward's smallest, {min(forward.scales):g}")
    if variant.flip and not forward.flip:
        raise ValueError("flip=True needs the mirrored pass, which a forward without flip test lacks")


def shared_forward(variants: Sequence[PipelineConfig]) -> PipelineConfig:
    """The one forward all ``variants`` can be decoded from: the union of their scales, flip test if
    any flips, their shared network settings (decoding settings: the first variant's). Raises
    ValueError, naming the variant and the setting, where no single forward serves them all."""
    if not variants:
        raise ValueError("shared_forward needs at least one variant")
    scales = tuple(sorted({scale for variant in variants for scale in variant.scales}, reverse=True))
    forward = dataclasses.replace(variants[0], scales=scales, flip=any(variant.flip for variant in variants))
    for index, variant in enumerate(variants):
        try:
            check_variant(forward, variant)
        except ValueError as error:
            raise ValueError(f"variant {index} (scales {list(variant.scales)}): {error}") from None
    return forward


def collate(prepared: Sequence[PreparedImage], scales: Sequence[float], pin_memory: bool = False) -> Batch:
    """Stack prepared images (from ``preprocess_image`` with these ``scales``) into one CPU ``Batch``,
    in page-locked memory with ``pin_memory`` (so that a copy to a CUDA device can run asynchronously).

    Raises ValueError if there are none or their input sizes differ (nothing is padded or resized).
    """
    if not prepared:
        raise ValueError("a batch needs at least one image")
    shapes = [tuple(array.shape for array in item.inputs) for item in prepared]
    if len(set(shapes)) != 1:
        raise ValueError(
            f"all images in a batch must share the resize-aligned input sizes, got {sorted(set(shapes))}"
        )
    if len(shapes[0]) != len(scales):
        raise ValueError(f"prepared images have {len(shapes[0])} inputs but {len(scales)} scales were given")
    inputs = tuple(
        torch.from_numpy(np.stack([item.inputs[index] for item in prepared]))
        for index in range(len(scales))
    )
    if pin_memory:
        inputs = tuple(x.pin_memory() for x in inputs)
    return Batch(inputs=inputs, scales=tuple(sorted(scales, reverse=True)),
                 frames=tuple(item.frame for item in prepared))


@contextmanager
def network_precision(precision: str, device_type: str) -> Iterator[None]:
    """Run the enclosed network forward at ``precision`` (see ``PipelineConfig``); restores the TF32 flags."""
    matmul, conv = torch.backends.cuda.matmul, torch.backends.cudnn.conv
    saved = (matmul.fp32_precision, conv.fp32_precision)
    matmul.fp32_precision = conv.fp32_precision = "tf32" if precision == "tf32" else "ieee"
    autocast = (
        torch.autocast(device_type, dtype=_AUTOCAST_DTYPES[precision])
        if precision in _AUTOCAST_DTYPES else nullcontext()
    )
    try:
        with autocast:
            yield
    finally:
        matmul.fp32_precision, conv.fp32_precision = saved


def _check_image_sequence(images: Sequence[np.ndarray]) -> None:
    """Raise ``ImageError`` for a lone image (or other non-sequence) where a sequence of images is due."""
    if isinstance(images, np.ndarray) and images.ndim != 4:
        raise ImageError(f"images must be a sequence of RGB [H, W, 3] images, got one array of shape "
                         f"{images.shape}; wrap a single image in a list")
    if not isinstance(images, Sequence | np.ndarray):
        raise ImageError(f"images must be a sequence of RGB [H, W, 3] images, got {type(images).__name__}")


class Predictor:
    """Multi-person poses from RGB uint8 [H, W, 3] images with a HigherHRNet-style ``model``.

    ``model(x [B, 3, h, w])`` must return ``[low [B, 2K, h/4, w/4] (K heatmaps, K tags), high [B, K,
    h/2, w/2]]`` with K = 14 CrowdPose joints. ``options`` are other ``PipelineConfig`` fields or
    ``GroupingConfig`` fields, flat (``stage_aggregation="2020"``, ``matcher="munkres"``). Images of
    different sizes are batched by their resize-aligned input size, at most ``batch_size`` at a time.
    An image whose network input would exceed ``input_limits`` is refused (ImageError) before any
    work; the limits bound the work, they do not change any result.
    """

    def __init__(
        self,
        model: nn.Module,
        scales: Sequence[float] = (1,),
        flip: bool = True,
        device: str | torch.device = "cpu",
        batch_size: int = 8,
        input_limits: InputLimits = DEFAULT_LIMITS,
        **options: Any,
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        self.config = pipeline_config(scales, flip, **options)
        self.input_limits = input_limits
        self.device = torch.device(device)
        self.batch_size = batch_size
        # inputs cross to a CUDA device on a stream of their own, so a copy overlaps the running forward
        self._copy_stream = torch.cuda.Stream(self.device) if self.device.type == "cuda" else None
        model = model.to(self.device).eval()
        if self.config.channels_last:  # on a copy: Module.to converts in place, and others may share it
            model = copy.deepcopy(model).to(memory_format=torch.channels_last)
        self.model = torch.compile(model) if self.config.compile else model

    @classmethod
    def from_config(
        cls, model: nn.Module, config: PipelineConfig, device: str | torch.device = "cpu",
        batch_size: int = 8, input_limits: InputLimits = DEFAULT_LIMITS,
    ) -> Predictor:
        """A Predictor with the settings of ``config``."""
        settings = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
        return cls(model, device=device, batch_size=batch_size, input_limits=input_limits, **settings)

    def __call__(self, image: np.ndarray) -> Poses:
        """Poses of one RGB uint8 [H, W, 3] image: keypoints [N, 14, 3] in image pixels, scores [N]."""
        check_image(image)
        return self.predict_batch([image])[0]

    def predict_batch(
        self, images: Sequence[np.ndarray], observer: StageObserver = NO_OBSERVER,
        replace_maps: MapsReplacement | None = None,
    ) -> list[Poses]:
        """Poses of each image (any sizes), in input order: per network batch, `run_network` then
        `decode`. Equal to calling the predictor per image, up to what batching changes in the
        network's own float arithmetic (nothing is padded or resized)."""
        results: list[Poses | None] = [None] * len(images)
        for chunk in self.network_batches(images):
            outputs = self.run_network([images[i] for i in chunk], observer)
            for index, image_poses in zip(chunk, self.decode(outputs, observer, replace_maps), strict=True):
                results[index] = image_poses
        return results

    def network_batches(self, images: Sequence[np.ndarray]) -> list[list[int]]:
        """Indices of ``images`` per network batch: images that share one resize-aligned input size, in
        order of first appearance, at most ``batch_size`` per batch. Checks every image."""
        _check_image_sequence(images)
        buckets: dict[tuple[tuple[int, int], ...], list[int]] = {}
        for index, image in enumerate(images):
            try:
                check_image(image)
                self.check_input_size(*image.shape[:2])
            except ImageError as error:
                raise ImageError(f"images[{index}]: {error}") from None
            key = input_sizes(image.shape[0], image.shape[1], self.config.input_size, self.config.scales)
            buckets.setdefault(key, []).append(index)
        return [indices[start:start + self.batch_size]
                for indices in buckets.values() for start in range(0, len(indices), self.batch_size)]

    def input_problem(self, height: int, width: int) -> str | None:
        """Why a ``height`` x ``width`` image is over this predictor's input limits, or None."""
        config = self.config
        return input_limit_problem(height, width, config.input_size, config.scales, self.input_limits)

    def check_input_size(self, height: int, width: int) -> None:
        """Raise ImageError if a ``height`` x ``width`` image is over the input limits."""
        problem = self.input_problem(height, width)
        if problem is not None:
            raise ImageError(f"{problem} (raise the limits with input_limits=InputLimits(...))")

    def map_size(self, height: int, width: int) -> tuple[int, int]:
        """(W, H) of the aggregated maps for an image of ``height`` x ``width`` pixels."""
        return image_frame(height, width, self.config.input_size, self.config.scales).base_size

    def run_network(
        self, images: Sequence[np.ndarray], observer: StageObserver = NO_OBSERVER
    ) -> ForwardOutputs:
        """The network half for images that share one resize-aligned size (one of `network_batches`):
        preprocess, to_device, the network at each scale (largest first; with flip test also on the
        mirrored input)."""
        with observed(observer, PREPROCESS):
            batch = self._preprocess(images)
        with observed(observer, TO_DEVICE):
            batch = self._to_device(batch)
        outputs = []
        for scale, x in zip(batch.scales, batch.inputs, strict=True):
            with observed(observer, forward_stage(scale)):
                outputs.append(self._forward(scale, x))
        return ForwardOutputs(tuple(outputs), batch)

    def decode(
        self, outputs: ForwardOutputs, observer: StageObserver = NO_OBSERVER,
        replace_maps: MapsReplacement | None = None, variant: PipelineConfig | None = None,
    ) -> list[Poses]:
        """The decoding half, with this predictor's settings or those of ``variant`` (see `check_variant`):
        aggregate, ``replace_maps`` if given, the grouping stages (`reference.grouping.group_batch`),
        to_image."""
        config = self.config if variant is None else variant
        if variant is not None:
            check_variant(self.config, variant)
        selected = [dataclasses.replace(item, flipped=item.flipped if config.flip else None)
                    for item in outputs.outputs if item.scale in config.scales]
        with observed(observer, AGGREGATE), torch.inference_mode():
            heatmaps, tags = aggregate_outputs(selected, outputs.batch.base_size, FLIP_INDEX,
                                               config.stage_aggregation)
        maps = NetworkMaps(heatmaps, tags, outputs.batch)
        if replace_maps is not None:
            maps = replace_maps(maps)
        with torch.inference_mode():
            grouped = group_batch(maps.heatmaps, maps.tags, config.grouping, observer)
        with observed(observer, TO_IMAGE):
            return self._to_image(grouped, maps.batch)

    def _preprocess(self, images: Sequence[np.ndarray]) -> Batch:
        """CPU ``Batch`` of images that share one resize-aligned size (else ValueError)."""
        _check_image_sequence(images)
        prepared = [preprocess_image(image, self.config.input_size, self.config.scales) for image in images]
        return collate(prepared, self.config.scales, pin_memory=self._copy_stream is not None)

    @property
    def _memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.config.channels_last else torch.contiguous_format

    def _to_device(self, batch: Batch) -> Batch:
        """``batch`` with its inputs on the predictor's device (channels-last if configured).

        On CUDA the (pinned) inputs are copied without blocking on the copy stream, and the compute stream
        waits for the copy there, not the host: the next batch's copy overlaps the current forward."""
        if self._copy_stream is None:
            inputs = tuple(x.to(self.device).contiguous(memory_format=self._memory_format)
                           for x in batch.inputs)
            return dataclasses.replace(batch, inputs=inputs)
        compute = torch.cuda.current_stream(self.device)
        with torch.cuda.stream(self._copy_stream):
            inputs = tuple(x.to(self.device, non_blocking=True).contiguous(memory_format=self._memory_format)
                           for x in batch.inputs)
        compute.wait_stream(self._copy_stream)
        for x in inputs:
            x.record_stream(compute)  # allocated on the copy stream, used on the compute stream
        return dataclasses.replace(batch, inputs=inputs)

    def _forward(self, scale: float, x: torch.Tensor) -> ScaleOutputs:
        """Raw network outputs at one scale for the input x [B, 3, h, w] and, with flip test, for it
        mirrored along its width (outputs not yet flipped back). With flip test both go through the
        network in one call, as one [2B, 3, h, w] batch (original first), split again afterwards."""
        precision = (network_precision(self.config.precision, self.device.type)
                     if self.config.runtime == TORCH_RUNTIME else nullcontext())  # other runtimes: their own
        with torch.inference_mode(), precision:
            if not self.config.flip:
                return ScaleOutputs(scale=scale, original=tuple(self.model(x)), flipped=None)
            both = torch.cat((x, torch.flip(x, [3]))).contiguous(memory_format=self._memory_format)
            outputs = tuple(self.model(both))
        size = len(x)
        return ScaleOutputs(scale=scale, original=tuple(output[:size] for output in outputs),
                            flipped=tuple(output[size:] for output in outputs))

    def _to_image(self, grouped: Sequence[tuple[np.ndarray, np.ndarray]], batch: Batch) -> list[Poses]:
        """Grouped people mapped from the aggregated maps back to each image's pixels."""
        results = []
        for (people, scores), frame in zip(grouped, batch.frames, strict=True):
            keypoints = np.asarray(people)[..., :3]
            results.append((to_image_coords(keypoints, frame.center, frame.scale, batch.base_size),
                            np.asarray(scores, dtype=np.float64)))
        return results
