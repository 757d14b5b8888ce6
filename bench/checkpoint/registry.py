"""The pinned registry of known checkpoints (``bench/checkpoints.toml``): URL, hashes, model, sources."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

from bench.checkpoint.hashing import check_full_sha256, hash_prefix_in_name
from bench.errors import BenchError

REGISTRY_PATH = Path(__file__).parents[1] / "checkpoints.toml"
ENTRY_FIELDS = ("url", "sha256_prefix", "sha256", "model", "published_numbers")


@dataclass(frozen=True)
class RegistryEntry:
    """One known checkpoint; ``sha256`` is None until the full digest is pinned."""

    file_name: str
    url: str
    sha256_prefix: str
    sha256: str | None
    model: str
    published_numbers: str


def file_name_of(url: str) -> str:
    """The file name a URL downloads to (its last path segment, percent-decoded)."""
    name = PurePosixPath(unquote(urlsplit(url).path)).name
    if not name:
        raise BenchError(f"cannot tell a file name from the URL {url!r}: it must end in the file name")
    return name


@cache
def load_registry(path: Path = REGISTRY_PATH) -> tuple[dict[str, RegistryEntry], str]:
    """All entries keyed by file name, and the default entry's file name; validated on load."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise BenchError(f"cannot read the checkpoint registry {path}: {error}") from error
    entries = {name: parse_entry(name, fields, path) for name, fields in data.get("checkpoints", {}).items()}
    default = data.get("default")
    if default not in entries:
        raise BenchError(f"{path}: 'default' must name one of the [checkpoints] entries, got {default!r}")
    return entries, default


def parse_entry(name: str, fields: dict, path: Path) -> RegistryEntry:
    """Check one ``[checkpoints."<file name>"]`` table for completeness and consistency."""
    where = f"{path}: checkpoint {name!r}"
    missing = [field for field in ENTRY_FIELDS if not isinstance(fields.get(field), str)]
    if missing:
        raise BenchError(f"{where} lacks string field(s) {', '.join(missing)}")
    if file_name_of(fields["url"]) != name:
        raise BenchError(f"{where}: the url must end in the file name, got {fields['url']!r}")
    if hash_prefix_in_name(name) != fields["sha256_prefix"]:
        raise BenchError(f"{where}: sha256_prefix {fields['sha256_prefix']!r} differs from the file name's")
    sha256 = fields["sha256"] and check_full_sha256(fields["sha256"], where)
    if sha256 and not sha256.startswith(fields["sha256_prefix"]):
        raise BenchError(f"{where}: sha256 does not start with sha256_prefix {fields['sha256_prefix']}")
    return RegistryEntry(name, fields["url"], fields["sha256_prefix"], sha256 or None, fields["model"],
                         fields["published_numbers"])


def registry_entry(file_name: str) -> RegistryEntry | None:
    """The registry entry for a checkpoint file name, or None if it is not a known checkpoint."""
    return load_registry()[0].get(file_name)


def default_checkpoint() -> RegistryEntry:
    """The checkpoint that ``fetch`` and ``reproduce`` use when none is given."""
    entries, default = load_registry()
    return entries[default]
