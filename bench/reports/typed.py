"""Frozen dataclasses to and from JSON data, by their type hints: how every report record is read.

``from_data(Record, data)`` builds ``Record`` from a parsed JSON object field by field, following the
hints: nested records, ``X | None``, ``tuple[T, ...]`` (from lists), ``dict[str, T]``, and the plain
types (an int is accepted where a float is due, never a bool where a number is). A missing field
without a default, an unknown field, a value of another type or a record's own check failing raises
``ValueError`` naming the path of the entry and what was found (``report.timings.forward.samples_ms[3]:
expected a number, got 'abc'``), so a hand-edited or hostile file is refused with a message, never a
``TypeError`` from deep inside a reader. ``to_data`` is the inverse: tuples become lists.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import types
import typing
from typing import Any, TypeVar

T = TypeVar("T")

EXPECTED = {float: "a number", int: "an integer", str: "a string", bool: "bool (true or false)",
            type(None): "null"}
"""How a message names each plain type, in JSON's words."""


def to_data(record: Any) -> Any:
    """A record (or any value holding records) as JSON data: dicts, lists and plain values."""
    value = dataclasses.asdict(record) if dataclasses.is_dataclass(record) else record
    return json.loads(json.dumps(value, default=str))


def from_data(cls: type[T], data: Any, path: str = "") -> T:
    """``cls`` (a dataclass) built from ``data``; ValueError naming the entry when it does not fit."""
    return _convert(cls, data, path or cls.__name__)


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _record(cls: type, data: Any, path: str) -> Any:
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected an object, got {type(data).__name__}")
    fields = {field.name: field for field in dataclasses.fields(cls) if field.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValueError(f"{path}: unknown field(s) {', '.join(map(str, unknown))}")
    missing = [name for name, field in fields.items() if name not in data
               and field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING]
    if missing:
        raise ValueError(f"{path}: missing field(s) {', '.join(missing)}")
    hints = _hints(cls)
    values = {name: _convert(hints[name], value, f"{path}.{name}") for name, value in data.items()}
    try:
        return cls(**values)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path}: {error}") from None


def _convert(hint: Any, value: Any, path: str) -> Any:
    origin, arguments = typing.get_origin(hint), typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        return _record(hint, value, path)
    if origin in (types.UnionType, typing.Union):
        if value is None and type(None) in arguments:
            return None
        options = [argument for argument in arguments if argument is not type(None)]
        problems = []
        for option in options:
            try:
                return _convert(option, value, path)
            except ValueError as error:
                problems.append(str(error))
        if len(problems) == 1:
            raise ValueError(problems[0])
        raise ValueError(f"{path}: {value!r:.60} fits none of its types")
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ValueError(f"{path}: expected a list, got {type(value).__name__}")
        if len(arguments) == 2 and arguments[1] is Ellipsis:
            return tuple(_convert(arguments[0], item, f"{path}[{index}]") for index, item in enumerate(value))
        if len(arguments) != len(value):
            raise ValueError(f"{path}: expected {len(arguments)} values, got {len(value)}")
        return tuple(_convert(argument, item, f"{path}[{index}]")
                     for index, (argument, item) in enumerate(zip(arguments, value, strict=True)))
    if origin is dict:
        if not isinstance(value, dict):
            raise ValueError(f"{path}: expected an object, got {type(value).__name__}")
        key_hint, value_hint = arguments or (str, Any)
        return {_convert(key_hint, key, path): _convert(value_hint, item, f"{path}.{key}")
                for key, item in value.items()}
    return _plain(hint, value, path)


def _plain(hint: Any, value: Any, path: str) -> Any:
    if hint is Any:
        return value
    if hint is float and isinstance(value, int | float) and not isinstance(value, bool):
        return _float(value, path)
    if hint is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if hint in (str, bool) and type(value) is hint:
        return value
    if hint is type(None) and value is None:
        return None
    expected = EXPECTED.get(hint, getattr(hint, "__name__", str(hint)))
    raise ValueError(f"{path}: expected {expected}, got {value!r:.60}")


def _float(value: int | float, path: str) -> float:
    """``value`` as a float; an integer beyond the float range (JSON has no bound) is refused."""
    try:
        return float(value)
    except OverflowError:
        raise ValueError(f"{path}: the integer {value!r:.20}... is beyond the range of a number") from None
