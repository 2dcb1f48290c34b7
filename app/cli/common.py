"""Shared pieces of the ``shoebox`` sub-commands: model flags, opening the library, progress on stderr."""

from __future__ import annotations

import argparse
import sys
import time

from app.core.progress import Progress


def model_flags(p: argparse.ArgumentParser, default: object) -> None:
    p.add_argument(
        "--library",
        metavar="DIR",
        default=default,
        help="library folder (database, indexes, thumbnails); default: $SHOEBOX_LIBRARY or the user-data folder",
    )
    p.add_argument("--clip-model", default=default, help="open_clip architecture (default ViT-B-32)")
    p.add_argument(
        "--clip-pretrained",
        default=default,
        help="open_clip weights tag or file; 'none' = random init (tests/benchmarks only)",
    )
    p.add_argument(
        "--detector", default=default, help="ultralytics weights (.pt) or model config (.yaml = random init)"
    )
    p.add_argument("-v", "--verbose", action="store_true", default=default, help="log more")


def overrides(args: argparse.Namespace) -> dict[str, object]:
    return {"clip_model": args.clip_model, "clip_pretrained": args.clip_pretrained, "detector": args.detector}


class ProgressPrinter:
    """One status line on stderr: redrawn in place on a terminal, a line every few seconds otherwise."""

    def __init__(self) -> None:
        self._tty = sys.stderr.isatty()
        self._last = 0.0
        self._phase = ""

    def __call__(self, p: Progress) -> None:
        now = time.monotonic()
        finished = bool(p.total) and p.done >= p.total
        if p.phase == self._phase and not finished and now - self._last < (0.2 if self._tty else 5.0):
            return
        self._last, self._phase = now, p.phase
        rate = f" {p.rate:.1f}/s" if p.rate else ""
        eta = f" ETA {duration(p.eta_s)}" if p.eta_s and not finished else ""
        total = f"/{p.total}" if p.total else " files"
        line = f"[{p.phase}] {p.done}{total}{rate}{eta}"
        if self._tty:
            cur = p.current[-60:] if p.current else ""
            sys.stderr.write(f"\r\x1b[K{line}  {cur}")
            if finished:
                sys.stderr.write("\n")
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()


def duration(s: float) -> str:
    s = int(s)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"
