"""The stage-golden file: a record (``bench.testing.stage_goldens``) as JSON with one line per entry, so
that it stays small and a regenerated file diffs line by line; reading it, and accepting a new record
(torchvision's ``EXPECTTEST_ACCEPT``): rewrite the file and say what changed."""

from __future__ import annotations

import json
import os
from pathlib import Path

from bench import atomic
from bench.testing.golden_check import record_changes
from bench.testing.stage_goldens import Record


def golden_json(record: Record) -> str:
    """``record`` as JSON text: its top-level keys one per line, and under ``stages`` one line per stage
    entry (image and scale), each holding its arrays' summaries."""
    stages = ",\n".join(
        f'  {json.dumps(stage)}: {{\n'
        + ",\n".join(f"   {json.dumps(label)}: {json.dumps(entries)}" for label, entries in labels.items())
        + "\n  }"
        for stage, labels in record["stages"].items())
    heads = [f" {json.dumps(key)}: {json.dumps(value)}" for key, value in record.items() if key != "stages"]
    return "{\n" + ",\n".join([*heads, f' "stages": {{\n{stages}\n }}']) + "\n}\n"


def read_golden(path: str | os.PathLike) -> Record:
    """The record in the golden file at ``path``."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def accept(path: str | os.PathLike, record: Record) -> str:
    """Write ``record`` as the golden file at ``path`` (atomically) and return what changed, old against
    new, one line per changed entry (or that the file is new or unchanged)."""
    old = read_golden(path) if Path(path).exists() else None
    atomic.write_text(path, golden_json(record))
    if old is None:
        return f"{path}: new golden file"
    changes = record_changes(old, record)
    return "\n".join([f"{path}: {len(changes)} change(s)" if changes else f"{path}: unchanged", *changes])
