"""The ``shoebox`` command (contract: DESIGN.md §6). Talks to ``services.Library`` only.

Each group of sub-commands lives in its own module with a ``register`` function.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence

from app.cli import dupes_cmd, library_cmds, search_cmd, tags_cmd, watch_cmd, words_cmd
from app.cli.common import model_flags
from app.core.errors import ShoeboxError

Handler = Callable[[argparse.Namespace], int]
_MODULES = (library_cmds, search_cmd, words_cmd, tags_cmd, dupes_cmd, watch_cmd)


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, Handler]]:
    parser = argparse.ArgumentParser(prog="shoebox", description="Find anything in your photos.")
    model_flags(parser, None)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    # Flags are accepted after the sub-command too; SUPPRESS keeps them from overwriting earlier ones.
    common = argparse.ArgumentParser(add_help=False)
    model_flags(common, argparse.SUPPRESS)
    handlers: dict[str, Handler] = {}
    for module in _MODULES:
        handlers.update(module.register(sub, common))
    return parser, handlers


def main(argv: Sequence[str] | None = None) -> int:
    parser, handlers = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return handlers[args.command](args)
    except ShoeboxError as exc:
        print(f"shoebox: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("shoebox: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Output piped into `head` and the like: the reader is gone, which is not an error of ours.
        # Point stdout at devnull so the interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
