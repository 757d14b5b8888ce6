"""The checkpoint registry in ``bench/published.toml``: the known checkpoints' URLs and hashes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from bench import atomic
from bench.checkpoint.hashing import check_full_sha256, hash_prefix_in_name
from bench.errors import BenchError
from bench.reading import read_toml

PUBLISHED_DATA = Path(__file__).parents[1] / "published.toml"
"""The package's published data: the checkpoint registry and the expected-metrics table."""

ENTRY_FIELDS = ("url", "sha256_prefix", "sha256")

@dataclass(frozen=True)
class RegistryEntry:
    """One known checkpoint; ``sha256`` is None until the full digest is pinned."""

    file_name: str
    url: str
    sha256_prefix: str
    sha256: str | None

    def matches(self, sha256: str) -> bool:
        """Whether a file with this sha256 is this checkpoint: the full digest once pinned, else the
        32-bit prefix (which anyone can forge in about an hour of CPU; ``verification`` says which)."""
        return sha256 == self.sha256 if self.sha256 else sha256.startswith(self.sha256_prefix)

    @property
    def verification(self) -> str:
        """How strongly ``matches`` identifies the file, as reports and summaries state it."""
        if self.sha256:
            return "full sha256 matched (pinned in the package registry)"
        return (f"prefix-verified ({4 * len(self.sha256_prefix)} bits; full digest not pinned: "
                "`python -m bench fetch` prints the line to pin)")


def file_name_of(url: str) -> str:
    """The file name a URL downloads to: its last path segment, percent-decoded. BenchError when that is
    no safe file name (see :func:`is_safe_file_name`): it would name the cache folder, its parent or a
    path elsewhere."""
    name = unquote(urlsplit(url).path.rpartition("/")[2])
    if not is_safe_file_name(name):
        raise BenchError(f"cannot tell a file name from the URL {url!r}: its last path segment decodes to "
                         f"{name!r}, which is not a usable file name; the URL must end in the file name")
    return name


def is_safe_file_name(name: str) -> bool:
    """Whether ``name`` names a file inside a folder: not empty, ``.`` or ``..``, without ``/`` or NUL,
    and short enough for its ``.part.json`` companion to fit common file systems' 255-byte limit."""
    return (name not in ("", ".", "..") and "/" not in name and "\0" not in name
            and len(name.encode()) <= atomic.MAX_NAME_BYTES)


def parse_entries(data: Mapping[str, Any], path: Path) -> dict[str, RegistryEntry]:
    """The ``[checkpoints."<file name>"]`` tables of a parsed data file, each checked."""
    tables = data.get("checkpoints", {})
    if not isinstance(tables, Mapping):
        raise BenchError(f"{path}: [checkpoints] must be a table of checkpoint tables")
    return {name: parse_entry(name, fields, path) for name, fields in tables.items()}


def parse_entry(name: str, fields: Any, path: Path) -> RegistryEntry:
    """Check one ``[checkpoints."<file name>"]`` table for completeness and consistency."""
    where = f"{path}: checkpoint {name!r}"
    missing = [field for field in ENTRY_FIELDS if not isinstance(fields, Mapping)
               or not isinstance(fields.get(field), str)]
    if missing:
        raise BenchError(f"{where} lacks string field(s) {', '.join(missing)}")
    if file_name_of(fields["url"]) != name:
        raise BenchError(f"{where}: the url must end in the file name, got {fields['url']!r}")
    if hash_prefix_in_name(name) != fields["sha256_prefix"]:
        raise BenchError(f"{where}: sha256_prefix {fields['sha256_prefix']!r} differs from the file name's")
    sha256 = fields["sha256"] and check_full_sha256(fields["sha256"], where)
    if sha256 and not sha256.startswith(fields["sha256_prefix"]):
        raise BenchError(f"{where}: sha256 does not start with sha256_prefix {fields['sha256_prefix']}")
    return RegistryEntry(name, fields["url"], fields["sha256_prefix"], sha256 or None)


@cache
def load_registry(path: Path = PUBLISHED_DATA) -> tuple[dict[str, RegistryEntry], str]:
    """All entries keyed by file name, and the file name of the published checkpoint (the one the
    expected table names); validated on load."""
    data = read_toml(path, "published data")
    entries = parse_entries(data, path)
    table = data.get("expected")
    default = table.get("checkpoint") if isinstance(table, Mapping) else None
    if default not in entries:
        raise BenchError(f"{path}: [expected] checkpoint must name one of the [checkpoints] entries, "
                         f"got {default!r}")
    return entries, default


def registry_entry(file_name: str) -> RegistryEntry | None:
    """The registry entry for a checkpoint file name, or None if it is not a known checkpoint."""
    return load_registry()[0].get(file_name)


def default_checkpoint() -> RegistryEntry:
    """The checkpoint that ``fetch`` and ``reproduce`` use when none is given."""
    entries, default = load_registry()
    return entries[default]
