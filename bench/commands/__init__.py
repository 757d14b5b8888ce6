"""One module per ``python -m bench`` subcommand.

Each module defines ``register(subparsers)``: it adds its parser and sets ``run`` to a function
``run(args) -> int`` that builds a typed config from ``args`` and calls one library function. Only the
module of the command being run is imported (``bench.__main__``), and a command module imports at its
top only what its options need (torch-free modules of defaults and choices): what ``run`` calls is
imported inside ``run``, so every ``--help`` is instant and a light command such as ``compare`` never
loads torch or OpenCV (``tests/test_runtime_imports.py`` checks both).
A command with a '-' in its name lives in the module with '_' instead (``device-check``: ``device_check``).
"""

COMMANDS = {
    "evaluate": "score a results file on CrowdPose GT (official protocol)",
    "reproduce": "rerun the published CrowdPose rows and check their metrics",
    "profile": "per-stage latency profile on this machine",
    "compare": "compare reports across machines and flag speed regressions",
    "diff": "compare two runs on the same images: AP deltas with intervals, per-image changes",
    "publish": "copy chosen reports into the committed results/ and rebuild its tables and page",
    "fetch": "download and verify a checkpoint",
    "device-check": "check a CUDA machine end to end: gpu tests, profile matrix, poses vs CPU, torchrun",
    "ab": "measure two commits or environments in one job, interleaved: per-stage same/faster/slower, "
          "predictions compared",
    "bisect": "find the first commit (or version of a dependency) that made a stage slower or changed the "
              "predictions",
    "golden": "record a golden file (per-image predictions, settings, metrics) from a full reproduce run",
    "gate": "rerun a stratified subset of a golden's images and compare them image by image",
    "matrix": "run the sample under several library versions and tabulate what changed against the pins",
}
"""Subcommand name -> one-line help, in the order ``--help`` lists them."""
