"""Checkpoints: the pinned registry, verified resumable download into the cache, and loading.

Public entry points: :func:`fetch`, :func:`resolve_checkpoint` and :func:`default_checkpoint` here,
and ``bench.checkpoint.loading`` (``load_state_dict``, ``load_into``), which alone needs torch: finding
and verifying a file does not.
"""

from bench.checkpoint.download import default_cache_dir, fetch, fetch_verified
from bench.checkpoint.hashing import hash_prefix_in_name, sha256_of
from bench.checkpoint.registry import RegistryEntry, default_checkpoint, registry_entry
from bench.checkpoint.resolve import ResolvedCheckpoint, resolve_checkpoint

__all__ = [
    "RegistryEntry", "ResolvedCheckpoint", "default_cache_dir", "default_checkpoint", "fetch",
    "fetch_verified", "hash_prefix_in_name", "registry_entry",
    "resolve_checkpoint", "sha256_of",
]
