"""Argument types shared by several subcommands."""

from __future__ import annotations

import argparse


def parse_scales(text: str) -> tuple[float, ...]:
    """``"1"`` -> (1.0,), ``"2,1"`` -> (2.0, 1.0)."""
    try:
        return tuple(float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"scales must be numbers such as 1 or 2,1; got {text!r}") from None
