"""The ``shoebox`` command (contract: DESIGN.md §6). Talks to ``services.Library`` only."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict

from app.core.errors import ShoeboxError
from app.core.progress import CancelToken, Progress
from app.services import Library


def _model_flags(p: argparse.ArgumentParser, default: object) -> None:
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="shoebox", description="Find anything in your photos.")
    _model_flags(parser, None)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    # Flags are accepted after the sub-command too; SUPPRESS keeps them from overwriting earlier ones.
    common = argparse.ArgumentParser(add_help=False)
    _model_flags(common, argparse.SUPPRESS)

    p = sub.add_parser("index", parents=[common], help="add folders and index them to completion")
    p.add_argument("paths", nargs="*", metavar="PATH", help="photo folders (default: the library's folders)")
    p.add_argument("--fast-only", action="store_true", help="skip the region pass (objects and tiles)")
    p.add_argument("--json", action="store_true", help="print the run's statistics as JSON on stdout")

    p = sub.add_parser("status", parents=[common], help="what the library holds")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("models", parents=[common], help="which models are usable; download missing weights")
    p.add_argument("--download", action="store_true", help="download missing weights now (needs the network)")
    return parser


def _overrides(args: argparse.Namespace) -> dict[str, object]:
    return {"clip_model": args.clip_model, "clip_pretrained": args.clip_pretrained, "detector": args.detector}


class _ProgressPrinter:
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
        eta = f" ETA {_duration(p.eta_s)}" if p.eta_s and not finished else ""
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


def _duration(s: float) -> str:
    s = int(s)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def _cmd_index(args: argparse.Namespace) -> int:
    cancel = CancelToken()

    # First Ctrl+C stops cleanly after the current batch (committed work is kept); a second one kills.
    def on_signal(signum: int, _frame: object) -> None:
        if cancel.is_cancelled:
            raise KeyboardInterrupt
        sys.stderr.write("\nstopping after the current batch (Ctrl+C again to abort)\n")
        cancel.cancel()

    Library.check_folders(args.paths)  # before the library is created or touched
    old = signal.signal(signal.SIGINT, on_signal)
    try:
        with Library.open(args.library, create=True, overrides=_overrides(args), persist_overrides=True) as lib:
            stats = lib.index(args.paths or None, _ProgressPrinter(), cancel, regions=not args.fast_only)
    finally:
        signal.signal(signal.SIGINT, old)
    for note in stats.notes:
        print(f"note: {note}", file=sys.stderr)
    for path, error in stats.failures[:20]:
        print(f"failed: {path}: {error}", file=sys.stderr)
    if len(stats.failures) > 20:
        print(f"failed: ... and {len(stats.failures) - 20} more ('shoebox status --json' lists them)", file=sys.stderr)
    if not stats.scanned and not args.paths:
        print("nothing to index: add a folder with 'shoebox index FOLDER'", file=sys.stderr)
    print(
        f"{'cancelled' if stats.cancelled else 'done'}: {stats.scanned} photos scanned ({stats.new} new, "
        f"{stats.changed} changed, {stats.unchanged} unchanged); {stats.indexed} indexed, {stats.moved} moved, "
        f"{stats.removed} removed, {stats.failed} failed",
        file=sys.stderr,
    )
    for name, n, secs, fwd in (
        ("fast pass", stats.indexed, stats.fast_seconds, stats.fast_forward_seconds),
        ("region pass", stats.regions_done, stats.regions_seconds, stats.regions_forward_seconds),
    ):
        if n and secs:
            print(
                f"{name}: {n} photos in {secs:.1f} s ({n / secs:.1f} photos/s), "
                f"{fwd / secs:.0%} of it in model forwards",
                file=sys.stderr,
            )
    if args.json:
        print(json.dumps(asdict(stats), indent=2))
    return 130 if stats.cancelled else 0


def _cmd_status(args: argparse.Namespace) -> int:
    with Library.open(args.library, overrides=_overrides(args)) as lib:
        st = lib.status()
        failures = lib.failures()
    models = {
        name: {"model": m.model_id, "available": m.available, "random_init": m.random_init, "message": m.message}
        for name, m in st.models.items()
    }
    if args.json:
        out = {
            "library": st.library,
            "photos": st.photos,
            "indexed": st.indexed,
            "failed": st.failed,
            "pending": st.pending,
            "regions": {"done": st.regions_done, "pending": st.regions_pending, "count": st.regions},
            "vectors": st.vectors,
            "folders": st.folders,
            "models": models,
            "failures": [{"path": p, "error": e} for p, e in failures],
        }
        print(json.dumps(out, indent=2))
        return 0
    print(f"library   {st.library}")
    print(f"photos    {st.photos} ({st.indexed} indexed, {st.pending} pending, {st.failed} failed)")
    print(f"regions   {st.regions} regions; region pass done for {st.regions_done}, pending {st.regions_pending}")
    print(f"vectors   {st.vectors}")
    for f in st.folders:
        print(f"folder    {f}")
    for name, m in st.models.items():
        state = "ready" + (" (random init)" if m.random_init else "") if m.available else "off"
        print(f"{name:<9} {m.model_id or '-'}: {state}{' - ' + m.message if m.message else ''}")
    for path, error in failures[:20]:
        print(f"failed    {path}: {error}")
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    with Library.open(args.library, create=True, overrides=_overrides(args)) as lib:
        statuses = lib.download_models() if args.download else lib.model_status()
    missing = False
    for name, m in statuses.items():
        state = ("ready" + (" (random init)" if m.random_init else "")) if m.available else "missing"
        print(f"{name:<9} {m.model_id or '-'}: {state} - {m.message}")
        missing |= not m.available
    if missing and not args.download:
        print(
            "semantic search stays off until the weights are there: put the files where it says, or run "
            "'shoebox models --download' while online",
            file=sys.stderr,
        )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    if args.command is None:
        parser.print_help()
        return 0
    handlers = {"index": _cmd_index, "status": _cmd_status, "models": _cmd_models}
    try:
        return handlers[args.command](args)
    except ShoeboxError as exc:
        print(f"shoebox: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("shoebox: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
