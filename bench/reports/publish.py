"""Publishing: copy chosen reports, with the Markdown and plots rendered from them, into the committed
showcase (``results/``) and rebuild its cross-hardware tables and page from everything it holds,
appending every report's figures to its history (``history.csv``, ``bench.reports.history``).

Runs write into :data:`bench.reports.folders.DEFAULT_OUT`, which git ignores; nothing reaches
``results/`` unless it is published, so running the documented commands leaves the committed files as
they are. Every report is loaded (validated) before anything is copied, and a file of the same name
with other contents is never overwritten.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench import atomic
from bench.errors import BenchError
from bench.reading import read_bytes
from bench.reports.compare import CompareConfig, compare, comparison_page, write_comparison
from bench.reports.folders import SHOWCASE
from bench.reports.history import HISTORY_NAME, read_history
from bench.reports.rows import predictions_name
from bench.reports.schema import load_report


@dataclass(frozen=True)
class Published:
    """What publishing wrote: the copied files, and the rebuilt tables and page."""

    copied: tuple[Path, ...]
    tables: tuple[Path, ...]
    page: Path


def publish(reports: Sequence[Path], into: Path = SHOWCASE) -> Published:
    """Copy ``reports`` (and their renderings) into ``into``, append every report there to
    ``into/history.csv``, then rebuild ``into/compare`` and ``into/index.html`` from them. BenchError,
    before anything is copied, when a report does not load, a file of its name there holds other bytes
    or the history there is not one."""
    files = [(path, into / path.name) for report in reports for path in rendered_files(Path(report))]
    contents = {source: read_bytes(source, "report file") for source, _ in files}
    clashes = [str(target) for source, target in files
               if target.exists() and target.resolve() != source.resolve()
               and read_bytes(target, "published file") != contents[source]]
    if clashes:
        raise BenchError(f"{into} already holds other files of these names, left unchanged: "
                         f"{', '.join(clashes)}")
    atomic.check_writable_folder(into, "the publishing folder")
    read_history(into / HISTORY_NAME)  # a file there that is no history stops it before any copy
    copied = tuple(atomic.write_bytes(target, contents[source]) for source, target in files)
    comparison = compare(CompareConfig(paths=(into,), history=into / HISTORY_NAME))
    tables = tuple(write_comparison(comparison, into / "compare").values())
    page = atomic.write_text(into / "index.html", comparison_page(comparison))
    return Published(copied, tables, page)


def rendered_files(report: Path) -> list[Path]:
    """The report JSON (checked by loading it), what was rendered from it beside it (``<stem>.md``,
    ``<stem>-*.png``) and its rows' predictions beside it (``predictions_name``), so a published report
    can be diffed without the cache that made it."""
    rows = load_report(report).rows
    stem = report.name.removesuffix(".json")
    beside = [report.with_name(f"{stem}.md"),
              *(report.with_name(predictions_name(row.result.behaviour.results_sha256)) for row in rows
                if row.result.behaviour is not None and row.result.behaviour.results_sha256)]
    return [report, *dict.fromkeys(path for path in beside if path.is_file()),
            *sorted(report.parent.glob(f"{stem}-*.png"))]
