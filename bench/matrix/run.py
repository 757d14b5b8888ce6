"""``bench matrix run NAME``, from the shared interpreter: the synthetic checkpoint written once (by the
pinned torch), the environment's interpreter built or reused (``bench.matrix.environment``), then
``bench matrix measure NAME`` run by that interpreter, which writes the entry. An environment pip cannot
build gets an entry "not installed" quoting pip, and one whose measurement dies before writing its entry
gets an entry "failed": every declared environment ends with an entry."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench.matrix.environment import matrix_python
from bench.matrix.measure import (
    FAILED,
    NOT_INSTALLED,
    MeasureConfig,
    entry_path,
    synthetic_checkpoint,
    write_entry,
)
from bench.moved.runner import SideFailed


def run_environment(config: MeasureConfig, cache: Path) -> int:
    """Measure ``config.environment`` in its own interpreter (see the module); 0 when it was measured,
    1 when its entry says it was not."""
    environment = config.environment
    if config.checkpoint is None:
        synthetic_checkpoint(config.out)
    entry = entry_path(config.out, environment.name)
    entry.unlink(missing_ok=True)
    try:
        python = matrix_python(environment, cache)
    except SideFailed as error:
        print(f"error: {environment.name}: {error}", file=sys.stderr)
        write_entry(config.out, environment, NOT_INSTALLED, reason=str(error))
        return 1
    code = subprocess.run(measure_command(python, config), check=False).returncode
    if not entry.exists():
        write_entry(config.out, environment, FAILED,
                    reason=f"`bench matrix measure` in {python} exited with status {code} before writing its "
                           "entry (its output is in the session's log)")
    return 0 if code == 0 else 1


def measure_command(python: Path, config: MeasureConfig) -> list[str]:
    """The command line that measures ``config`` with ``python``, the options it was given passed on."""
    data = config.data
    options = {"--out": config.out, "--goldens": config.goldens, "--checkpoint": config.checkpoint}
    if data is not None:
        options |= {"--data-root": data.data_root, "--ann-file": data.ann_file, "--img-dir": data.img_dir,
                    "--limit": data.limit, "--subset": data.subset, "--subset-seed": data.subset_seed}
    given = [str(word) for flag, value in options.items() if value is not None for word in (flag, value)]
    return [str(python), "-m", "bench", "matrix", "measure", config.environment.name, *given]
