"""torch.distributed plumbing for `torchrun ... -m bench reproduce`: shard, gather, evaluate once.

Without torchrun (no WORLD_SIZE in the environment) everything runs in one process.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist

T = TypeVar("T")


@dataclass(frozen=True)
class Topology:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def init_from_env(device_type: str) -> Topology:
    """Join the process group torchrun set up (NCCL on CUDA, gloo on CPU); a no-op without torchrun."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return Topology()
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    backend = "nccl" if device_type == "cuda" else "gloo"
    if device_type == "cuda":
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return Topology(rank=rank, world_size=world_size, local_rank=local_rank, backend=backend)


def shard(items: list[T], topology: Topology) -> list[T]:
    """This rank's deterministic share: every world_size-th item, starting at its rank."""
    return items[topology.rank :: topology.world_size]


def gather_to_main(obj: Any, topology: Topology) -> list[Any] | None:
    """Every rank's ``obj`` on rank 0 (in rank order); None on the other ranks."""
    if not topology.distributed:
        return [obj]
    gathered: list[Any] | None = [None] * topology.world_size if topology.is_main else None
    dist.gather_object(obj, gathered, dst=0)
    return gathered


def broadcast_from_main(obj: Any, topology: Topology) -> Any:
    """Rank 0's ``obj`` on every rank (e.g. the exit status)."""
    if not topology.distributed:
        return obj
    holder = [obj]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]


@contextmanager
def main_first(topology: Topology) -> Iterator[None]:
    """Rank 0 runs the block first, the other ranks after it (e.g. a download into a shared cache).
    The block must not raise, or the ranks would wait for each other forever."""
    if topology.distributed and not topology.is_main:
        dist.barrier()
    yield
    if topology.distributed and topology.is_main:
        dist.barrier()


def shutdown(topology: Topology) -> None:
    if topology.distributed and dist.is_initialized():
        dist.destroy_process_group()
