"""User-facing errors and the exit statuses of ``python -m bench``.

A command's exit status tells CI what happened without reading its output:

====  =====================================================================================
0     done; every verdict passed (or there was nothing to judge)
1     a verdict failed: a row did not reproduce, a stage is slower, a prediction changed (ab), a
      device-check step failed, no single first bad commit (bisect)
2     bad input or a bad setting, found before any work (nothing was written)
3     an internal error: a bug in the harness; one line names the file holding the traceback
4     the disk filled up while writing; what was written completely was kept, rerun to resume
130   interrupted (Ctrl-C); a rerun resumes from the prediction cache
====  =====================================================================================
"""

import errno

EXIT_PASSED = 0
EXIT_FAILED_VERDICT = 1
EXIT_BAD_INPUT = 2
EXIT_BUG = 3
EXIT_DISK_FULL = 4
EXIT_INTERRUPTED = 130

DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
"""``OSError`` numbers meaning the file system has no room left (for everyone, or for this user)."""


class BenchError(Exception):
    """A problem the user can fix (bad input, missing file, no network); printed without traceback."""


class DiskFull(BenchError):
    """The disk filled up while writing; the message says what was kept and how to resume."""


def is_disk_full(error: BaseException) -> bool:
    """Whether ``error`` is the file system saying it has no room left."""
    return isinstance(error, OSError) and error.errno in DISK_FULL_ERRNOS
