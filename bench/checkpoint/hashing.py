"""sha256 of checkpoint files, and the checks against the hash in their name and the pinned registry."""

from __future__ import annotations

import re

from bench.errors import BenchError
from bench.reading import sha256_of

HASH_IN_NAME = re.compile(r"-(?P<hash>[0-9a-f]{8,64})(?:_\d+)?\.[A-Za-z0-9]+$")
"""``name-<hex>.pth`` (torch hub) or ``name-<hex>_<date>.pth`` (mmpose); at least 8 hex digits."""

FULL_SHA256 = re.compile(r"[0-9a-f]{64}")

__all__ = ["check_full_sha256", "hash_prefix_in_name", "hash_problem", "sha256_of"]


def hash_prefix_in_name(file_name: str) -> str | None:
    """The sha256 prefix that a file name carries by convention, or None if it carries none."""
    match = HASH_IN_NAME.search(file_name)
    return match["hash"] if match else None


def check_full_sha256(value: str, what: str) -> str:
    """Return ``value`` if it is 64 lowercase hex digits, else raise a BenchError naming ``what``."""
    if not FULL_SHA256.fullmatch(value):
        raise BenchError(f"{what}: expected a sha256 of 64 lowercase hex digits, got {value!r}")
    return value


def hash_problem(file_name: str, digest: str, pinned: str | None) -> str | None:
    """Why ``digest`` fails the ``pinned`` full sha256 or ``file_name``'s hash prefix; None if it passes."""
    if pinned and digest != pinned:
        return f"expected sha256 {pinned} (pinned), got {digest}"
    prefix = hash_prefix_in_name(file_name)
    if prefix and not digest.startswith(prefix):
        return f"expected a sha256 starting with {prefix} (from the file name), got {digest}"
    return None
