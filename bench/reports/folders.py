"""Where reports go: the folder runs write into and the committed showcase they are published to (a
module of its own, importing nothing, so that command lines show the defaults without loading the
libraries that write reports)."""

from pathlib import Path

DEFAULT_OUT = Path("runs")
"""Where runs write their reports unless ``--out`` says otherwise: a folder git ignores, so running the
documented commands never touches the committed showcase in ``results/`` (``python -m bench publish``
copies chosen reports there)."""

SHOWCASE = Path("results")
"""The committed folder of published reports, their tables (``compare/``) and page (``index.html``)."""
