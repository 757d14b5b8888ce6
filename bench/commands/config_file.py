"""``--config FILE.toml``: the settings few runs change, as data, one table per command.

One file can serve every command: ``[reproduce]``, ``[profile]``, ``[diff]`` and ``[device-check]``
each hold that command's keys (a nested table is a group of them, e.g. ``[reproduce.bootstrap]``).
Every key is checked here, where the file enters: an unknown key or a value of the wrong type is an
error naming the file, the table and the key (exit status 2), before any work. The table is recorded
verbatim in the run's report, with the file's path and sha256.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.reading import read_toml, sha256_of
from bench.reports.records import ConfigFile

Schema = Mapping[str, "type | tuple[type, ...] | Schema"]
"""Allowed keys of a table: a key's type (int, float, str, bool, list, or a tuple of them), or the
schema of a nested table."""


def read_config(path: Path | None, command: str, schema: Schema) -> tuple[dict[str, Any], ConfigFile | None]:
    """The ``[command]`` table of the file at ``path`` checked against ``schema`` (empty without a
    file or without the table), and the record of the file."""
    if path is None:
        return {}, None
    data = read_toml(Path(path), "config file")
    unknown = sorted(set(data) - {"reproduce", "profile", "diff", "device-check"})
    if unknown:
        raise BenchError(f"{path}: unknown table(s) {unknown}; a config file has [reproduce], [profile], "
                         "[diff] and [device-check]")
    table = data.get(command, {})
    _check(table, schema, f"{path}: [{command}]")
    return table, ConfigFile(str(path), sha256_of(path, "config file"), dict(table))


def _check(table: Any, schema: Schema, where: str) -> None:
    if not isinstance(table, Mapping):
        raise BenchError(f"{where} must be a table, got {table!r}")
    unknown = sorted(set(table) - set(schema))
    if unknown:
        raise BenchError(f"{where}: unknown key(s) {unknown}; known: {', '.join(sorted(schema))}")
    for key, value in table.items():
        expected = schema[key]
        if isinstance(expected, Mapping):
            _check(value, expected, f"{where}.{key}")
        elif not _fits(value, expected):
            kinds = expected if isinstance(expected, tuple) else (expected,)
            names = " or ".join(kind.__name__ for kind in kinds)
            raise BenchError(f"{where}: {key} must be {names}, got {value!r}")


def _fits(value: Any, expected: type | tuple[type, ...]) -> bool:
    kinds = expected if isinstance(expected, tuple) else (expected,)
    if isinstance(value, bool):
        return bool in kinds
    return isinstance(value, kinds) or (float in kinds and isinstance(value, int))


def config_argument(parser) -> None:
    """The ``--config`` option of a command."""
    parser.add_argument("--config", type=Path, metavar="FILE.toml",
                        help="settings few runs change (a [<command>] table; see the README), recorded in "
                             "the report")
