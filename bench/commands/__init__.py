"""One module per ``python -m bench`` subcommand.

Each module defines ``register(subparsers)``: it adds its parser and sets ``run`` to a function
``run(args) -> int`` that builds a typed config from ``args`` and calls one library function.
"""

COMMAND_MODULES = ("evaluate", "reproduce", "profile", "compare", "fetch")
