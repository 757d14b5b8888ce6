"""Checkpoints: the pinned registry, verified resumable download into the cache, and loading.

Public entry points: :func:`fetch`, :func:`resolve_checkpoint`, :func:`load_state_dict`,
:func:`load_into` and :func:`default_checkpoint`.
"""

from bench.checkpoint.download import default_cache_dir, fetch, fetch_verified
from bench.checkpoint.hashing import hash_prefix_in_name, sha256_of
from bench.checkpoint.loading import load_into, load_state_dict
from bench.checkpoint.registry import RegistryEntry, default_checkpoint, registry_entry
from bench.checkpoint.resolve import ResolvedCheckpoint, resolve_checkpoint

__all__ = [
    "RegistryEntry", "ResolvedCheckpoint", "default_cache_dir", "default_checkpoint", "fetch",
    "fetch_verified", "hash_prefix_in_name", "load_into", "load_state_dict", "registry_entry",
    "resolve_checkpoint", "sha256_of",
]
