"""Argument types, and arguments, shared by several subcommands."""

from __future__ import annotations

import argparse

from bench.runtimes.names import DEFAULT_CALIBRATION_IMAGES, RUNTIME_PRECISIONS, RUNTIMES
from reference.precisions import TORCH_RUNTIME


def parse_scales(text: str) -> tuple[float, ...]:
    """``"1"`` -> (1.0,), ``"2,1"`` -> (2.0, 1.0)."""
    try:
        return tuple(float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"scales must be numbers such as 1 or 2,1; got {text!r}") from None


def add_runtime_arguments(parser: argparse.ArgumentParser, calibration: bool = True,
                          default: str | None = TORCH_RUNTIME, default_text: str = "%(default)s") -> None:
    """``--runtime`` (what runs the network, ``bench.runtimes.names``; ``default``, which the help calls
    ``default_text``) and, with ``calibration``, ``--calibration-images`` (how many images int8
    calibrates on)."""
    precisions = "; ".join(f"{runtime} {', '.join(names)}" for runtime, names in RUNTIME_PRECISIONS.items())
    parser.add_argument("--runtime", choices=RUNTIMES, default=default,
                        help="what runs the network: torch itself, or our model exported to ONNX and run by "
                             "ONNX Runtime, OpenVINO (CPU) or TensorRT (ONNX Runtime's provider, CUDA); "
                             f"precisions: {precisions} (default: {default_text})")
    if calibration:
        parser.add_argument("--calibration-images", type=int, default=DEFAULT_CALIBRATION_IMAGES,
                            metavar="N",
                            help="int8: quantize with the first N images of the data set being evaluated "
                                 "(fewer when it has fewer; default: %(default)s)")
