"""A stratified random subset of a test set: N images drawn at random within the crowd-index splits.

The strata are the protocol's splits (easy, medium, hard: crowdIndex < 0.2, < 0.8 and the rest, a
crowd index above 1 being hard), so a subset holds each split in the set's proportions and every split
metric is measured on it. Each stratum gets its share of N by the largest remainder (shares of equal
remainder go to the earlier split), then its images are drawn without replacement from one seeded
generator: the same set, size and seed always give the same images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.evaluation import protocol

STRATA = ("easy", "medium", "hard")
"""The strata, in the order of :func:`bench.evaluation.protocol.split_masks`."""


@dataclass(frozen=True)
class Stratum:
    """One split of a draw: its name, how many images of the set it holds and how many were drawn."""

    name: str
    images: int
    drawn: int


@dataclass(frozen=True)
class SubsetDraw:
    """How a stratified subset was drawn: its ``size``, the generator ``seed`` and the ``strata``; the
    drawn image ids are the row's ``behaviour.image_ids`` in a report."""

    size: int
    seed: int
    strata: tuple[Stratum, ...]

    def describe(self) -> str:
        """One phrase: "a stratified random subset of 200 images (seed 0; easy/medium/hard 40/90/70)"."""
        counts = "/".join(str(stratum.drawn) for stratum in self.strata)
        return (f"a stratified random subset of {self.size} images (seed {self.seed}; "
                f"{'/'.join(STRATA)} {counts})")

    @property
    def scales(self) -> np.ndarray:
        """[3] images of the set each drawn image of a stratum stands for (0 where none was drawn)."""
        return np.array([stratum.images / stratum.drawn if stratum.drawn else 0.0 for stratum in self.strata])


def strata_of(crowd_index: np.ndarray) -> np.ndarray:
    """[I] the stratum (position in :data:`STRATA`) of each image."""
    easy, medium, _ = protocol.split_masks(np.asarray(crowd_index, dtype=np.float64))
    return np.where(easy, 0, np.where(medium, 1, 2))


def allocation(sizes: np.ndarray, size: int) -> np.ndarray:
    """[3] images to draw per stratum: ``size`` shared in proportion to ``sizes`` [3] (largest remainder)."""
    quota = size * sizes / sizes.sum()
    shares = np.floor(quota).astype(np.int64)
    order = np.argsort(-(quota - shares), kind="stable")
    shares[order[:size - shares.sum()]] += 1
    return shares


def draw_subset(image_ids: np.ndarray, crowd_index: np.ndarray, size: int,
                seed: int) -> tuple[np.ndarray, SubsetDraw]:
    """``size`` of the ``image_ids`` (sorted) drawn at random within the strata of their ``crowd_index``,
    and the draw's record.

    Raises:
        ValueError: ``size`` is not between 1 and the number of images less one (the whole set is no
            subset).
    """
    order = np.argsort(image_ids, kind="stable")
    image_ids, crowd_index = np.asarray(image_ids)[order], np.asarray(crowd_index)[order]
    if not 1 <= size < len(image_ids):
        raise ValueError(f"a subset draws from 1 to {len(image_ids) - 1} of the {len(image_ids)} images, "
                         f"not {size}")
    strata = strata_of(crowd_index)
    sizes = np.bincount(strata, minlength=len(STRATA))
    shares = allocation(sizes, size)
    generator = np.random.default_rng(seed)
    drawn = [generator.choice(image_ids[strata == h], shares[h], replace=False) for h in range(len(STRATA))]
    record = SubsetDraw(size, seed, tuple(Stratum(name, int(images), int(share))
                                          for name, images, share in zip(STRATA, sizes, shares, strict=True)))
    return np.sort(np.concatenate(drawn)), record
