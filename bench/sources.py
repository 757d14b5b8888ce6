"""Digests of source code, so that a record can name exactly which code computed it."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path


@functools.cache
def source_digest(package_dir: Path) -> str:
    """sha256 over the ``*.py`` files below ``package_dir`` (names and contents, sorted by path)."""
    digest = hashlib.sha256()
    for path in sorted(package_dir.rglob("*.py")):
        digest.update(str(path.relative_to(package_dir)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()
