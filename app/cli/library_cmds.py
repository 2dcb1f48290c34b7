"""``index``, ``status`` and ``models``: building the library and saying what it holds."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Callable
from dataclasses import asdict

from app.cli.common import ProgressPrinter, overrides
from app.core.progress import CancelToken
from app.services import Library


def register(
    sub: argparse._SubParsersAction, common: argparse.ArgumentParser
) -> dict[str, Callable[[argparse.Namespace], int]]:
    p = sub.add_parser("index", parents=[common], help="add folders and index them to completion")
    p.add_argument("paths", nargs="*", metavar="PATH", help="photo folders (default: the library's folders)")
    p.add_argument("--fast-only", action="store_true", help="skip the region pass (objects and tiles)")
    p.add_argument("--json", action="store_true", help="print the run's statistics as JSON on stdout")

    p = sub.add_parser("status", parents=[common], help="what the library holds")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("models", parents=[common], help="which models are usable; download missing weights")
    p.add_argument("--download", action="store_true", help="download missing weights now (needs the network)")
    return {"index": _cmd_index, "status": _cmd_status, "models": _cmd_models}


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
        with Library.open(args.library, create=True, overrides=overrides(args), persist_overrides=True) as lib:
            stats = lib.index(args.paths or None, ProgressPrinter(), cancel, regions=not args.fast_only)
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
    with Library.open(args.library, overrides=overrides(args)) as lib:
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
    with Library.open(args.library, create=True, overrides=overrides(args)) as lib:
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
