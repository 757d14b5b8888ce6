"""The one check of a bounded integer setting, in any layer: every count, size and seed a user gives is
held to a documented limit before any work (the limits themselves live beside the settings they bound,
and the README lists them)."""

from __future__ import annotations

import numbers

LARGEST_INTEGER = 2**63 - 1
"""The largest integer a TOML file holds (signed 64 bits): the bound of an integer setting that has no
smaller natural one (the bootstrap seed, image ids)."""


def integer_problem(name: str, value: object, low: int, high: int) -> str | None:
    """Why ``value`` is not an integer in [``low``, ``high``], or None: the one check of every bounded
    integer setting, in any layer (a bool is not an integer). The message names the setting, the value
    and the bound it breaks."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        return f"{name} must be an integer, got {value!r}"
    if value < low:
        return f"{name} must be >= {low}, got {value}"
    if value > high:
        return f"{name} {value} is above the limit of {high}"
    return None
