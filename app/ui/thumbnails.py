"""Thumbnails for the grid: read off the UI thread, newest request first, kept in a small LRU.

The indexer already wrote a JPEG thumbnail per photo into the library (the on-disk cache); a worker
reads it into a ``QImage`` (safe off the UI thread) scaled to the cell, and the UI thread turns it into
a ``QPixmap``. A photo without a cached thumbnail is decoded from the original, also off the UI thread.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

from PySide6.QtCore import QObject, QSize, Qt, Signal, Slot
from PySide6.QtGui import QImage, QImageReader, QPixmap

from app.ui.workers import LIVE_THREADS

WANTED_LIMIT = 400  # requests older than this many are dropped: the user has scrolled past them


def read_scaled(path: str, size: int) -> QImage:
    """Read an image with EXIF orientation applied, decoded at about ``size`` px (JPEG scaling)."""
    reader = QImageReader(path)
    reader.setAutoTransform(True)
    full = reader.size()
    if full.isValid() and max(full.width(), full.height()) > 2 * size:
        reader.setScaledSize(full.scaled(QSize(2 * size, 2 * size), Qt.AspectRatioMode.KeepAspectRatio))
    image = reader.read()
    if image.isNull():
        return image
    return image.scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)


class _Relay(QObject):
    image_read = Signal(object, object)  # key, QImage (null if unreadable); queued to the UI thread


class ThumbnailLoader(QObject):
    """``pixmap(key, paths)`` returns the cached pixmap or None and schedules a read; ``loaded`` follows."""

    loaded = Signal(int)  # photo id

    def __init__(self, size: int, threads: int = 2, cache_limit: int = 1500, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.size = size
        self._threads: list[threading.Thread] = []
        self._n_threads = threads
        self._queue: list[tuple[tuple[int, str], tuple[str, ...]]] = []  # a stack: newest request first
        self._cond = threading.Condition()
        self._closed = False
        self._relay = _Relay(self)
        self._relay.image_read.connect(self._on_image_read)
        self._cache: OrderedDict[tuple[int, str], QPixmap] = OrderedDict()
        self._cache_limit = cache_limit
        self._wanted: OrderedDict[tuple[int, str], None] = OrderedDict()
        self._failed: set[tuple[int, str]] = set()
        self._lock = threading.Lock()

    def pixmap(self, key: tuple[int, str], paths: tuple[str, ...]) -> QPixmap | None:
        pix = self._cache.get(key)
        if pix is not None:
            self._cache.move_to_end(key)
            return pix
        if key in self._failed:
            return None
        with self._lock:
            if key in self._wanted:
                self._wanted.move_to_end(key)
                return None
            self._wanted[key] = None
            while len(self._wanted) > WANTED_LIMIT:
                self._wanted.popitem(last=False)
        with self._cond:
            # Newest first: the cells painted last are the ones on screen now.
            self._queue.append((key, paths))
            if len(self._queue) > WANTED_LIMIT:
                del self._queue[: len(self._queue) - WANTED_LIMIT]
            if len(self._threads) < self._n_threads:
                t = threading.Thread(target=self._work, name="shoebox-thumbnails", daemon=True)
                self._threads.append(t)
                LIVE_THREADS.add(t)
                t.start()
            self._cond.notify()
        return None

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                key, paths = self._queue.pop()
            if not self.is_wanted(key):
                continue
            image = QImage()
            for path in paths:
                if path and Path(path).is_file():
                    image = read_scaled(path, self.size)
                    if not image.isNull():
                        break
            self._relay.image_read.emit(key, image)

    def is_wanted(self, key: tuple[int, str]) -> bool:
        with self._lock:
            return key in self._wanted

    @Slot(object, object)
    def _on_image_read(self, key: tuple[int, str], image: QImage) -> None:
        with self._lock:
            self._wanted.pop(key, None)
        if image.isNull():
            self._failed.add(key)
        else:
            self._cache[key] = QPixmap.fromImage(image)
            while len(self._cache) > self._cache_limit:
                self._cache.popitem(last=False)
        self.loaded.emit(key[0])

    def forget(self) -> None:
        self._cache.clear()
        self._failed.clear()

    def close(self) -> None:
        with self._lock:
            self._wanted.clear()
        with self._cond:
            self._closed = True
            self._queue.clear()
            self._cond.notify_all()
        for t in self._threads:
            t.join()
