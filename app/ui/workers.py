"""The one worker mechanism of the window: turning core callbacks into Qt signals.

Two kinds of background work, as in Picard and Vorta:
- ``TaskRunner.run(fn, on_done, on_error)``: short calls (listings, opening the library, loading an
  image) on a small thread pool; the callbacks run on the UI thread (queued signal).
- ``IndexController``: the library's single writer, one long-lived ``QThread`` with an ``IndexWorker``
  that runs ``Library.index`` and every other write (removing a folder), one after another.

Widgets are only touched on the UI thread. Every thread and pool made here is registered in
``LIVE_THREADS``/``LIVE_POOLS`` so tests can check that none outlives its window.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from app.core.errors import ShoeboxError
from app.core.models import IndexStats
from app.core.progress import CancelToken, Progress

log = logging.getLogger(__name__)

LIVE_THREADS: weakref.WeakSet[QThread | threading.Thread] = weakref.WeakSet()
LIVE_POOLS: weakref.WeakSet[ThreadPoolExecutor] = weakref.WeakSet()


def running_threads() -> list[str]:
    """Names of the window's threads still running (tests assert this is empty after closing)."""
    names = []
    for t in list(LIVE_THREADS):
        if t.isRunning() if isinstance(t, QThread) else t.is_alive():
            names.append(t.objectName() if isinstance(t, QThread) else t.name)
    for pool in list(LIVE_POOLS):
        names.extend(t.name for t in getattr(pool, "_threads", ()) if t.is_alive())
    return names


def error_text(exc: BaseException) -> str:
    """One line for the user: our own errors carry their message, anything else its type too."""
    if isinstance(exc, ShoeboxError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


class _Relay(QObject):
    """Lives on the UI thread; signals emitted from pool threads reach it queued."""

    finished = Signal(object, object, bool)  # callback, result or exception, ok


class TaskRunner(QObject):
    """Runs short library calls off the UI thread, delivering results on it (Picard's ``run_task``).

    A plain ``ThreadPoolExecutor`` whose threads emit a queued signal: simpler to shut down than a
    ``QThreadPool`` of Python ``QRunnable``s, and the same marshalling onto the UI thread.
    """

    def __init__(self, max_threads: int = 2, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = ThreadPoolExecutor(max_threads, thread_name_prefix="shoebox-task")
        LIVE_POOLS.add(self._pool)
        self._relay = _Relay(self)
        self._relay.finished.connect(self._deliver)
        self._closed = False

    def run(
        self,
        fn: Callable[[], Any],
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        if not self._closed:
            self._pool.submit(self._call, fn, on_done, on_error)

    def _call(self, fn: Callable[[], Any], on_done: Callable | None, on_error: Callable | None) -> None:
        try:
            result = fn()
        except Exception as exc:
            log.debug("background task failed", exc_info=True)
            self._relay.finished.emit(on_error, exc, False)
        else:
            self._relay.finished.emit(on_done, result, True)

    @Slot(object, object, bool)
    def _deliver(self, callback: Callable | None, value: object, ok: bool) -> None:
        if self._closed:
            return
        if callback is not None:
            callback(value)
        elif not ok:
            log.warning("background task failed: %s", error_text(value))  # type: ignore[arg-type]

    def close(self) -> None:
        """Wait for running tasks; their callbacks are dropped (the widgets are going away)."""
        self._closed = True
        self._pool.shutdown(wait=True, cancel_futures=True)


class PauseGate:
    """Pausing without touching the pipeline: the progress callback blocks while paused.

    Progress is reported by the indexer's writer thread after each committed batch; while it waits
    here, the writer's queue fills, the model thread blocks on it, and the bounded decode look-ahead
    stops too. So a pause takes effect within one batch, and nothing half-written is left behind.
    """

    def __init__(self) -> None:
        self._running = threading.Event()
        self._running.set()

    @property
    def is_paused(self) -> bool:
        return not self._running.is_set()

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def wait(self, cancel: CancelToken) -> None:
        while not self._running.wait(0.05):
            if cancel.is_cancelled:
                return


class IndexWorker(QObject):
    """Runs on the indexer thread. Signals are past-tense facts and reach the UI queued."""

    progressed = Signal(object)  # Progress
    indexing_started = Signal(object)  # list of paths, or None for all folders
    indexing_finished = Signal(object)  # IndexStats
    indexing_failed = Signal(str)
    call_finished = Signal(object, object, bool)  # callback, result or exception, ok

    def __init__(self, library: Any) -> None:
        super().__init__()
        self.library = library
        self.cancel = CancelToken()
        self.gate = PauseGate()

    def _on_progress(self, p: Progress) -> None:
        self.progressed.emit(p)
        self.gate.wait(self.cancel)

    @Slot(object)
    def run_index(self, paths: Sequence[str] | None) -> None:
        self.cancel = CancelToken()
        self.gate.resume()
        self.indexing_started.emit(paths)
        try:
            stats = self.library.index(list(paths) if paths else None, self._on_progress, self.cancel)
        except Exception as exc:
            log.warning("indexing failed", exc_info=True)
            self.indexing_failed.emit(error_text(exc))
        else:
            self.indexing_finished.emit(stats)

    @Slot(object, object, object)
    def run_call(self, fn: Callable[[], Any], on_done: Callable | None, on_error: Callable | None) -> None:
        try:
            result = fn()
        except Exception as exc:
            self.call_finished.emit(on_error, exc, False)
        else:
            self.call_finished.emit(on_done, result, True)


class IndexController(QObject):
    """Owns the indexer thread: start, pause, resume, cancel, and serialised writes."""

    progressed = Signal(object)
    indexing_started = Signal()
    indexing_finished = Signal(object)  # IndexStats
    indexing_failed = Signal(str)
    _index_requested = Signal(object)
    _call_requested = Signal(object, object, object)

    def __init__(self, library: Any, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread = QThread()
        self._thread.setObjectName("shoebox-indexer")
        LIVE_THREADS.add(self._thread)
        self._worker = IndexWorker(library)
        self._worker.moveToThread(self._thread)
        self._index_requested.connect(self._worker.run_index)
        self._call_requested.connect(self._worker.run_call)
        self._worker.progressed.connect(self.progressed)
        self._worker.indexing_started.connect(self._on_started)
        self._worker.indexing_finished.connect(self._on_finished)
        self._worker.indexing_failed.connect(self._on_failed)
        self._worker.call_finished.connect(self._deliver)
        self._queued = 0
        self.is_indexing = False
        self.current_paths: list[str] | None = None  # folders of the run in flight (None: all of them)
        self.last_stats: IndexStats | None = None
        self._thread.start()

    @property
    def is_paused(self) -> bool:
        return self._worker.gate.is_paused

    def index(self, paths: Sequence[str | Path] | None = None) -> None:
        """Queue an indexing run of ``paths`` (added as folders), or of every folder when None."""
        self._queued += 1
        self._index_requested.emit([str(p) for p in paths] if paths else None)

    def call(self, fn: Callable[[], Any], on_done: Callable | None = None, on_error: Callable | None = None) -> None:
        """Run a write on the indexer thread, after the run in flight (the single-writer rule)."""
        self._call_requested.emit(fn, on_done, on_error)

    def pause(self) -> None:
        self._worker.gate.pause()

    def resume(self) -> None:
        self._worker.gate.resume()

    def cancel(self) -> None:
        """Stop the run in flight after its current batch; what is committed stays."""
        self._worker.cancel.cancel()
        self._worker.gate.resume()

    def stop(self) -> None:
        """Cancel, then end the thread (blocks until the batch in flight is committed)."""
        self.cancel()
        self._thread.quit()
        self._thread.wait()

    @Slot(object)
    def _on_started(self, paths: list[str] | None) -> None:
        self._queued = max(0, self._queued - 1)
        self.is_indexing = True
        self.current_paths = [str(Path(p).expanduser().resolve()) for p in paths] if paths else None
        self.indexing_started.emit()

    @Slot(object)
    def _on_finished(self, stats: IndexStats) -> None:
        self.is_indexing = False
        self.last_stats = stats
        self.indexing_finished.emit(stats)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self.is_indexing = False
        self.indexing_failed.emit(message)

    @Slot(object, object, bool)
    def _deliver(self, callback: Callable | None, value: object, ok: bool) -> None:
        if callback is not None:
            callback(value)
        elif not ok:
            self.indexing_failed.emit(error_text(value))  # type: ignore[arg-type]
