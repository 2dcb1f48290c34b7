"""Threads of the pipeline: a bounded look-ahead decode pool and the single writer thread."""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

from app.core.progress import CancelToken

T = TypeVar("T")
R = TypeVar("R")


def prefetch(
    pool: ThreadPoolExecutor, fn: Callable[[T], R], items: Iterable[T], lookahead: int, cancel: CancelToken
) -> Iterator[R]:
    """``map(fn, items)`` on the pool, in order, with at most ``lookahead`` items in flight.

    The bound keeps decoded images from piling up in memory when the model is the slower stage
    (rclip's LOOKAHEAD_BATCHES idea).
    """
    pending: deque[Future[R]] = deque()
    it = iter(items)
    try:
        for item in it:
            pending.append(pool.submit(fn, item))
            if len(pending) >= lookahead:
                yield pending.popleft().result()
            if cancel.is_cancelled:
                return
        while pending:
            yield pending.popleft().result()
            if cancel.is_cancelled:
                return
    finally:
        for fut in pending:
            fut.cancel()


class BatchWriter(Generic[T]):
    """The single writer: commits batches in order on its own thread, so models never wait on disk.

    An exception in ``write`` is kept and re-raised by ``submit``/``close`` in the caller's thread.
    """

    _STOP = object()

    def __init__(self, write: Callable[[list[T]], None], depth: int = 2, name: str = "shoebox-writer") -> None:
        self._write = write
        self._queue: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            batch = self._queue.get()
            if batch is self._STOP:
                return
            if self._error is None:
                try:
                    self._write(batch)  # type: ignore[arg-type]
                except BaseException as exc:  # re-raised in the caller's thread
                    self._error = exc

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def submit(self, batch: list[T]) -> None:
        self._raise()
        if batch:
            self._queue.put(batch)

    def close(self) -> None:
        """Wait until every submitted batch is committed."""
        self._queue.put(self._STOP)
        self._thread.join()
        self._raise()
