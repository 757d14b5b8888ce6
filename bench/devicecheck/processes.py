"""Running a child process (pytest, bench reproduce, torchrun) with a time bound that ends all of it."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Sequence


def run_bounded(command: Sequence[str], timeout_s: float) -> subprocess.CompletedProcess:
    """Run ``command`` in its own process group with captured text output; past ``timeout_s`` the
    whole group (torchrun's ranks too) is killed and a TimeoutError names the command."""
    process = subprocess.Popen(list(command), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise TimeoutError(f"{' '.join(command[:6])} ... ran past {timeout_s:g} s and was killed") from None
    return subprocess.CompletedProcess(list(command), process.returncode, stdout, stderr)


def tail(text: str, lines: int = 5) -> str:
    """The last ``lines`` non-empty lines of ``text``, joined by ' / ' (for a one-line error)."""
    return " / ".join([line for line in text.splitlines() if line.strip()][-lines:])
