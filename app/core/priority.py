"""Queries first: background indexing steps aside while the user waits for an answer.

On a 2-core laptop the indexer's decode, SIFT, OCR and CLIP batches take both cores; a crop search that
runs beside them took twice as long in the window (0.59 s median, 0.99 s max on 500 photos, against
0.29 / 0.57 s with nothing indexing). Lowering the indexer's OS priority does not help here: the
indexer's threads share the window's process. So the indexing passes call :meth:`QueryFirst.wait_turn`
before each photo's decode and before each model step, and a search holds :meth:`QueryFirst.query`
while it runs. Work already started (one decode, one model call) finishes; nothing is left half-done.

A step waits at most ``max_hold_s`` per call, so a user typing one query after another slows indexing
down but never stops it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from app.core.progress import CancelToken

MAX_HOLD_S = 3.0  # a query takes well under 1 s; this bounds a burst of them


class QueryFirst:
    """Counts the searches running now; background steps wait while there is one."""

    def __init__(self, max_hold_s: float = MAX_HOLD_S) -> None:
        self.max_hold_s = max_hold_s
        self._running = 0
        self._idle = threading.Condition()
        self.waited_s = 0.0  # total time background steps stood aside (tests and benchmarks read it)

    @contextmanager
    def query(self) -> Iterator[None]:
        """Hold background work while the block runs (re-entrant, any thread)."""
        with self._idle:
            self._running += 1
        try:
            yield
        finally:
            with self._idle:
                self._running -= 1
                if not self._running:
                    self._idle.notify_all()

    def wait_turn(self, cancel: CancelToken | None = None) -> float:
        """Block while a query runs (at most ``max_hold_s``, less on cancel); the seconds waited."""
        if not self._running:
            return 0.0
        t0 = time.monotonic()
        deadline = t0 + self.max_hold_s
        with self._idle:
            while self._running and not (cancel is not None and cancel.is_cancelled):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._idle.wait(min(left, 0.05))  # polls so a cancel is seen within 50 ms
        waited = time.monotonic() - t0
        self.waited_s += waited
        return waited
