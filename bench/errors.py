"""User-facing errors: the message says what is wrong, with which file, and what to do."""


class BenchError(Exception):
    """A problem the user can fix (bad input, missing file, no network); printed without traceback."""
