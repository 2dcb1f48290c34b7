"""The ``shoebox`` command: the window when no sub-command is given, else the CLI.

It sits above ``app.ui`` and ``app.cli`` (which may not import each other) and imports neither until it
knows which one is wanted, so the window starts without loading the CLI's imports and vice versa.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

_VALUE_FLAGS = {"--library", "--clip-model", "--clip-pretrained", "--detector"}


def wants_cli(argv: Sequence[str]) -> bool:
    """True when ``argv`` names a sub-command (or asks for help): anything positional that is not a flag value."""
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in _VALUE_FLAGS:
            skip = True
        elif arg in ("-h", "--help") or not arg.startswith("-"):
            return True
    return False


def main(argv: Sequence[str] | None = None) -> int:
    import multiprocessing

    # A PyInstaller bundle starts the model process (app/ml/host.py) by running itself again: this turns
    # that run into the child instead of a second window. A no-op when not frozen.
    multiprocessing.freeze_support()
    args = list(sys.argv[1:] if argv is None else argv)
    if wants_cli(args):
        from app.cli import main as cli_main

        return cli_main(args)
    from app.ui import run

    return run(args)


if __name__ == "__main__":
    raise SystemExit(main())
