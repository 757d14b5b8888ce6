"""One environment of the matrix, measured by that environment's own interpreter: the stage goldens
against the committed record (the first stage that differs, and why), then ``bench reproduce`` of the
bundled sample (or the data given) into the environment's folder, and the entry that says what ran:
the versions imported, the goldens' outcome and where the report is (``OUT/NAME/entry.json``, written
atomically). An environment that fails (a library that does not import, a pipeline that raises) gets
an entry saying so, for the table: the matrix exists to find such environments."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import atomic
from bench.data.dataset import DataConfig
from bench.data.sample import SAMPLE_DIR, SAMPLE_GT
from bench.errors import BenchError
from bench.matrix.declared import Environment
from bench.reading import read_json

STAGE_GOLDENS = Path(__file__).parents[2] / "tests" / "data" / "stage_goldens.json"
"""The committed stage-golden record (``tests/test_stage_goldens.py`` keeps it)."""
ENTRY = "entry.json"
SYNTHETIC_CHECKPOINT = "calibrated-synthetic.pth"
"""The matrix folder's checkpoint when none is given: ``calibrated_state_dict``, written once, so every
environment loads the same file."""
MEASURED, NOT_INSTALLED, FAILED = "measured", "not installed", "failed"


@dataclass(frozen=True)
class MeasureConfig:
    """What one environment runs: the matrix folder ``out`` (this environment's files go into
    ``out/NAME``), the ``checkpoint`` (a path or URL; None: the synthetic one, ``synthetic_checkpoint``),
    the ``data`` (None: the bundled sample) and the stage-golden record to compare with."""

    environment: Environment
    out: Path
    checkpoint: str | None = None
    data: DataConfig | None = None
    goldens: Path = STAGE_GOLDENS


def entry_path(out: Path, name: str) -> Path:
    """Where the entry of environment ``name`` lies in the matrix folder ``out``."""
    return Path(out) / name / ENTRY


def write_entry(out: Path, environment: Environment, status: str, **fields: Any) -> Path:
    """Write the entry of ``environment`` (its name, pins and ``status``, then ``fields``) atomically."""
    entry = {"environment": environment.name, "pins": dict(environment.pins), "status": status, **fields}
    return atomic.write_json(entry_path(out, environment.name), entry)


def read_entry(out: Path, name: str) -> dict[str, Any] | None:
    """The entry of environment ``name``, None when it has none yet."""
    path = entry_path(out, name)
    return read_json(path, "matrix entry") if path.exists() else None


def synthetic_checkpoint(out: Path) -> Path:
    """The matrix folder's synthetic checkpoint (``SYNTHETIC_CHECKPOINT``), written if absent: the
    calibrated deterministic weights in mmpose's layout, plausible heatmaps and tags without the real one.
    ``bench matrix run`` writes it with the shared interpreter before any environment loads it."""
    path = Path(out) / SYNTHETIC_CHECKPOINT
    if not path.exists():
        from bench.testing.synthetic_weights import calibrated_state_dict, save_mmpose_checkpoint

        save_mmpose_checkpoint(calibrated_state_dict(), path, meta={"note": "bench matrix"})
    return path


def measure(config: MeasureConfig) -> int:
    """Measure the environment and write its entry: 0 when it ran, 1 when it failed (the entry says how)."""
    try:
        fields = _measured(config)
    except BenchError:
        raise
    except Exception as error:  # noqa: BLE001 - an environment that breaks is what the matrix reports
        reason = f"{type(error).__name__}: {error}"
        print(f"error: {config.environment.name}: {reason}", file=sys.stderr)
        write_entry(config.out, config.environment, FAILED, reason=reason)
        return 1
    write_entry(config.out, config.environment, MEASURED, **fields)
    return 0


def _measured(config: MeasureConfig) -> dict[str, Any]:
    """The versions imported, the stage goldens' outcome and the reproduce run's report and rows."""
    from bench.testing.stage_goldens import versions

    weights = (f"checkpoint {config.checkpoint}" if config.checkpoint else
               f"calibrated synthetic weights (bench.testing.synthetic_weights), {SYNTHETIC_CHECKPOINT}")
    return {"versions": versions(), "python": sys.executable, "weights": weights,
            "stage_goldens": stage_golden_outcome(config.goldens), **_reproduced(config)}


def stage_golden_outcome(goldens: Path) -> dict[str, str | None]:
    """The first stage whose goldens differ from the record at ``goldens`` (None: none differs) and the
    message that explains it (``bench.testing.golden_check.mismatch_message``)."""
    from bench.data.images import read_image
    from bench.data.sample import sample_images
    from bench.testing.golden_check import mismatch_message, stage_differences
    from bench.testing.golden_file import read_golden
    from bench.testing.stage_goldens import GoldenSettings, golden_model, golden_record

    settings = GoldenSettings()
    images = {path.name: read_image(path) for path in sample_images()[0]}
    recorded, now = read_golden(goldens), golden_record(golden_model(settings), images, settings)
    differences = stage_differences(recorded, now)
    return {"first_stage": differences[0].stage if differences else None,
            "message": mismatch_message(recorded, now)}


def _reproduced(config: MeasureConfig) -> dict[str, Any]:
    """``bench reproduce`` on the CPU without its smoke run, into ``out/NAME``: the report, the images and
    annotation file its rows ran on, and per row with predictions the report to compare (``rows``)."""
    from bench.accuracy.reproduce import run_reproduction
    from bench.accuracy.settings import ReproduceConfig

    data = config.data or DataConfig(ann_file=SAMPLE_GT, img_dir=SAMPLE_DIR)
    folder = Path(config.out) / config.environment.name
    checkpoint = config.checkpoint or str(synthetic_checkpoint(config.out))
    result = run_reproduction(ReproduceConfig(checkpoint=checkpoint, data=data, device="cpu",
                                              out=str(folder), sample=False))
    print(result.summary)
    report = result.paths["json"]
    rows = [row.result for row in result.report.rows if row.result.metrics and row.result.behaviour]
    if not rows:
        raise RuntimeError(f"the reproduce report {report} has no row with predictions")
    return {"report": str(report), "annotations": rows[0].subset.dataset, "images": rows[0].subset.num_images,
            "rows": {row.name: {"predictions": str(report), "gt": None} for row in rows}}
