"""Sweep files: named decoding variants that all read one forward of the network (``--sweep FILE``).

A sweep is a TOML file of ``[[variant]]`` tables::

    [[variant]]
    name = "refine off"       # unique; names the report row
    scales = [1]              # a subset of the forward scales (their union)
    flip = true               # default true; false decodes the original pass alone
    options = { refine = false }   # pipeline options that act after the network only
    protocol = "crowdpose"    # or "xtcocotools" (scoring only)

Every variant must be decodable from the one forward the sweep implies
(``reference.pipeline.shared_forward``); an option that changes the network (input size, precision,
channels_last, compile) or a set of scales no single forward serves is refused, naming the file, the
variant and the option. ``semantics.toml`` in this package is the bundled sweep.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.evaluation import OFFICIAL_PROTOCOL, PROTOCOLS
from bench.reading import read_toml, sha256_of
from reference.pipeline import NETWORK_SETTINGS, PipelineConfig, pipeline_config, shared_forward

BUNDLED_SWEEP = Path(__file__).with_name("semantics.toml")
VARIANT_KEYS = ("name", "scales", "flip", "options", "protocol")
_OWN_FIELDS = ("scales", "flip")


@dataclass(frozen=True)
class SweepVariant:
    """One decoding variant: the settings after the network, and the protocol that scores it."""

    name: str
    scales: tuple[float, ...]
    flip: bool = True
    options: Mapping[str, Any] = field(default_factory=dict)
    protocol: str = OFFICIAL_PROTOCOL


@dataclass(frozen=True)
class Sweep:
    """The variants of a sweep file, with the file's path and sha256 (recorded in every report)."""

    path: str
    sha256: str
    variants: tuple[SweepVariant, ...]


def load_sweep(path: str | Path, precision: str = "float32",
               base_options: Mapping[str, Any] | None = None) -> Sweep:
    """Read and check a sweep file; every variant is checked to build a config (``variant_configs``)
    decodable from one forward at ``precision`` with ``base_options`` under its own options.
    BenchError names the file and the variant on any problem."""
    path = Path(path)
    data = read_toml(path, "sweep file")
    unknown = sorted(set(data) - {"variant"})
    if unknown:
        raise BenchError(f"{path}: unknown top-level key(s) {unknown}; a sweep is a list of [[variant]] "
                         "tables")
    tables = data.get("variant")
    if not isinstance(tables, list) or not tables:
        raise BenchError(f"{path}: no [[variant]] tables; a sweep needs at least one variant")
    variants = tuple(_variant(table, index, path) for index, table in enumerate(tables))
    names = [variant.name for variant in variants]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise BenchError(f"{path}: variant names must be unique, repeated: {repeated}")
    sweep = Sweep(str(path), sha256_of(path, "sweep file"), variants)
    variant_configs(sweep, precision, base_options or {})
    return sweep


def variant_configs(sweep: Sweep, precision: str, base_options: Mapping[str, Any]) -> list[PipelineConfig]:
    """The pipeline settings of each variant (``base_options`` overridden by the variant's options),
    checked to share one forward; BenchError naming the file, the variant and the setting otherwise."""
    configs = []
    for variant in sweep.variants:
        where = f"{sweep.path}: variant {variant.name!r}"
        changed = sorted(set(variant.options) & {*NETWORK_SETTINGS, *_OWN_FIELDS})
        if changed:
            raise BenchError(f"{where}: option {changed[0]!r} "
                             + ("is a variant key of its own, not an option" if changed[0] in _OWN_FIELDS
                                else "changes the network, which a sweep runs once for all its variants; "
                                     "run it as a separate reproduce (--precision, --pipeline-options)"))
        try:
            configs.append(pipeline_config(variant.scales, variant.flip, precision=precision,
                                           **{**base_options, **variant.options}))
        except (TypeError, ValueError) as error:
            raise BenchError(f"{where}: {error}") from None
    try:
        shared_forward(configs)
    except ValueError as error:
        raise BenchError(f"{sweep.path}: the variants cannot share one forward: {error}") from None
    return configs


def _variant(table: Any, index: int, path: Path) -> SweepVariant:
    """One [[variant]] table, checked key by key."""
    if not isinstance(table, Mapping):
        raise BenchError(f"{path}: variant {index} is not a table")
    where = f"{path}: variant {table.get('name', index)!r}"
    unknown = sorted(set(table) - set(VARIANT_KEYS))
    if unknown:
        raise BenchError(f"{where}: unknown key(s) {unknown}; a variant has {', '.join(VARIANT_KEYS)}")
    name, scales = table.get("name"), table.get("scales")
    if not isinstance(name, str) or not name.strip():
        raise BenchError(f"{path}: variant {index} needs a non-empty string 'name'")
    if not _is_number_list(scales):
        raise BenchError(f"{where}: 'scales' must be a non-empty list of numbers, got {scales!r}")
    flip, options = table.get("flip", True), table.get("options", {})
    protocol = table.get("protocol", OFFICIAL_PROTOCOL)
    if not isinstance(flip, bool):
        raise BenchError(f"{where}: 'flip' must be true or false, got {flip!r}")
    if not isinstance(options, Mapping):
        raise BenchError(f"{where}: 'options' must be a table, got {options!r}")
    if protocol not in PROTOCOLS:
        raise BenchError(f"{where}: 'protocol' must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    return SweepVariant(name=name, scales=tuple(float(scale) for scale in scales), flip=flip,
                        options=dict(options), protocol=protocol)


def _is_number_list(value: Any) -> bool:
    return (isinstance(value, Sequence) and not isinstance(value, str) and len(value) > 0
            and all(isinstance(item, int | float) and not isinstance(item, bool) for item in value))
