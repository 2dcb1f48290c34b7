"""``watch``: keep the index current until SIGINT/SIGTERM (headless live folders)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable

from app.cli.common import overrides
from app.core.models import WatchStatus
from app.services import Library


def register(
    sub: argparse._SubParsersAction, common: argparse.ArgumentParser
) -> dict[str, Callable[[argparse.Namespace], int]]:
    p = sub.add_parser("watch", parents=[common], help="watch the library's folders and keep the index current")
    p.add_argument(
        "--poll",
        action="append",
        default=[],
        metavar="FOLDER",
        help="poll this library folder instead of relying on file-system events (repeatable)",
    )
    p.add_argument("--poll-interval", type=float, metavar="S", help="seconds between polls (default 30)")
    p.add_argument("--quiet", type=float, default=1.0, metavar="S", help="debounce: seconds without events (1)")
    return {"watch": _cmd_watch}


def status_lines(st: WatchStatus) -> list[str]:
    lines = [
        f"[watch] {st.state}: queue {st.queue_length}; {st.indexed} indexed, {st.moved} moved, "
        f"{st.removed} removed, {st.failed} failed"
    ]
    for r in st.roots:
        lines.append(f"[watch]   {r.mode:<8} {r.path} ({r.photos} photos){' - ' + r.reason if r.reason else ''}")
    if st.error:
        lines.append(f"[watch] error: {st.error}")
    return lines


class _Printer:
    """Prints the status when it changes (not on every batch of a burst: at most once a second)."""

    def __init__(self) -> None:
        self._last: tuple | None = None
        self._lock = threading.Lock()

    def __call__(self, st: WatchStatus) -> None:
        key = (st.state == "idle", st.roots, st.indexed, st.moved, st.removed, st.failed, st.error)
        with self._lock:
            if key == self._last or st.state not in ("idle", "stopped"):
                return
            self._last = key
            sys.stderr.write("\n".join(status_lines(st)) + "\n")
            sys.stderr.flush()


def _cmd_watch(args: argparse.Namespace) -> int:
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        sys.stderr.write(f"\n[watch] {signal.Signals(signum).name}: stopping after the current batch\n")
        stop.set()

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with Library.open(args.library, overrides=overrides(args)) as lib:
            if not lib.folders():
                print(
                    "shoebox: error: the library has no folders: add one with 'shoebox index FOLDER'", file=sys.stderr
                )
                return 1
            lib.start_watching(_Printer(), poll=args.poll, poll_interval_s=args.poll_interval, quiet_s=args.quiet)
            while not stop.wait(3600):
                pass
            lib.stop_watching()  # the printer shows the final status
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
    return 0
