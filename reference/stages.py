"""The stages of the test-time pipeline, in order, and the observer through which they are timed.

The pipeline (``reference.pipeline.Predictor``) runs, per network batch::

    preprocess -> to_device -> forward_x<scale> (one network call per scale, the flip test's mirrored
    input in the same call) -> aggregate -> nms_topk -> match -> adjust (person scores included)
    -> refine -> to_image

``preprocess`` ends with the batch's inputs collated (pinned when the device is CUDA); ``to_device``
issues their copy (on CUDA without blocking, on a copy stream the forward waits on); ``nms_topk`` ends
with the candidates on the host (one copy), ``match`` runs there, ``adjust`` sends the matched people
to the maps' device (one copy) and ``refine`` (or ``adjust``, with refine off) brings them back (one
copy).

Each stage runs between ``observer.start(name)`` and ``observer.stop(name)``. The default observer does
nothing; the harness passes a timer (wall clock on CPU, CUDA events on GPU), so that what it times is
exactly the code path that produces predictions.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Protocol

PREPROCESS = "preprocess"
TO_DEVICE = "to_device"
AGGREGATE = "aggregate"
NMS_TOPK = "nms_topk"
MATCH = "match"
ADJUST = "adjust"
REFINE = "refine"
TO_IMAGE = "to_image"



def forward_stage(scale: float) -> str:
    """Name of the network pass(es) at one test scale: ``forward_x1``, ``forward_x2``, ``forward_x0.5``."""
    return f"forward_x{scale:g}"


def stage_names(scales: Sequence[float]) -> tuple[str, ...]:
    """Every stage, in the order it runs, of a pipeline with these test scales (largest scale first)."""
    forwards = tuple(forward_stage(scale) for scale in sorted(scales, reverse=True))
    return (PREPROCESS, TO_DEVICE, *forwards, AGGREGATE, NMS_TOPK, MATCH, ADJUST, REFINE, TO_IMAGE)


class StageObserver(Protocol):
    """Told when each stage starts and stops (same thread, properly nested, never overlapping)."""

    def start(self, stage: str) -> None: ...

    def stop(self, stage: str) -> None: ...


class NoObserver:
    """The default observer: does nothing."""

    def start(self, stage: str) -> None:
        """Nothing to do."""

    def stop(self, stage: str) -> None:
        """Nothing to do."""


NO_OBSERVER = NoObserver()


@contextmanager
def observed(observer: StageObserver, stage: str) -> Iterator[None]:
    """Run the enclosed block as ``stage`` of ``observer`` (stopped also when the block raises)."""
    observer.start(stage)
    try:
        yield
    finally:
        observer.stop(stage)
