"""Qt-free progress reporting and cooperative cancellation (dupeGuru's ``Job`` idea)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from app.core.errors import Cancelled


@dataclass(frozen=True, slots=True)
class Progress:
    """One progress report. ``phase`` is a short word ("scan", "fast", "regions")."""

    phase: str
    done: int
    total: int
    current: str = ""
    eta_s: float | None = None
    rate: float | None = None  # items per second in this phase

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0


ProgressCallback = Callable[[Progress], None]


def no_progress(_: Progress) -> None:
    """A callback that ignores reports."""


class CancelToken:
    """Set from any thread; checked by the worker between batches."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def is_cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        """Raise :class:`Cancelled` if cancellation was requested."""
        if self._event.is_set():
            raise Cancelled("cancelled")


class PhaseMeter:
    """Counts work in one phase and turns it into throttled :class:`Progress` reports with an ETA."""

    def __init__(self, phase: str, total: int, callback: ProgressCallback, min_interval_s: float = 0.1) -> None:
        self.phase, self.total, self.done = phase, total, 0
        self._callback, self._min_interval = callback, min_interval_s
        self._start = time.monotonic()
        self._last_emit = 0.0

    def advance(self, n: int = 1, current: str = "", force: bool = False) -> None:
        self.done += n
        now = time.monotonic()
        if not force and (self.done < self.total or not self.total) and now - self._last_emit < self._min_interval:
            return
        self._last_emit = now
        elapsed = now - self._start
        rate = self.done / elapsed if elapsed > 0 and self.done else None
        eta = (self.total - self.done) / rate if rate and self.total else None
        self._callback(Progress(self.phase, self.done, self.total, current, eta, rate))

    def start(self) -> None:
        self._callback(Progress(self.phase, 0, self.total))
