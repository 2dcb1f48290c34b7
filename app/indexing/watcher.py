"""Watch the library's folders and feed what changed into the :class:`ChangeQueue`.

One watchdog observer (inotify, FSEvents or ReadDirectoryChangesW) watches every local root
recursively; roots on network or FUSE file systems, forced ones, and roots whose watch could not be
set up (inotify watch limit) are polled instead. A supervisor thread notices roots that vanish
(an unmounted drive) or come back, and runs the polls. Nothing here opens the database or loads a
model: the single writer that drains the queue does all of that.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileAttribEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import ObservedWatch

from app.imaging.formats import is_photo_name
from app.indexing.job_queue import ChangeQueue
from app.indexing.polling import RootPoller, filesystem_type, needs_polling

log = logging.getLogger(__name__)

# Opened / closed-without-writing events are left out: the indexer's own reads would feed them back.
_EVENTS: list[type[FileSystemEvent]] = [
    FileCreatedEvent,
    FileModifiedEvent,
    FileClosedEvent,
    FileAttribEvent,
    FileDeletedEvent,
    FileMovedEvent,
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
]

WATCHED, POLLED, OFFLINE = "watched", "polled", "offline"


@dataclass(frozen=True, slots=True)
class RootWatch:
    path: str
    mode: str  # watched | polled | offline
    reason: str = ""  # why polled (file-system type, watch limit, asked for)


class _Root:
    def __init__(self, path: str) -> None:
        self.path = path
        self.mode = OFFLINE
        self.reason = ""
        self.watch: ObservedWatch | None = None
        self.poller: RootPoller | None = None
        self.was_mount = False
        self.next_poll = 0.0

    def present(self) -> bool:
        # An unmounted drive can leave its (empty) mount point behind: that is offline too.
        return os.path.isdir(self.path) and (not self.was_mount or os.path.ismount(self.path))


class _Handler(FileSystemEventHandler):
    def __init__(self, watcher: FolderWatcher) -> None:
        self._w = watcher

    def dispatch(self, event: FileSystemEvent) -> None:
        try:
            self._w._on_event(event)
        except Exception:  # an observer thread that dies stops all watching: log and go on
            log.exception("watch event %r not handled", event)


class _OverflowHook(logging.Handler):
    """watchdog only logs a kernel queue overflow (events lost); hear it and rescan every watched root."""

    def __init__(self, watcher: FolderWatcher) -> None:
        super().__init__(logging.WARNING)
        self._w = watcher

    def emit(self, record: logging.LogRecord) -> None:
        if "overflow" in record.getMessage().lower():
            self._w._on_overflow()


_OVERFLOW_LOGGERS = ("watchdog.observers.inotify_c", "watchdog.observers.inotify")


class FolderWatcher:
    """Watches (or polls) library roots. ``start``/``stop``/``set_excludes``/``roots`` are thread-safe."""

    def __init__(
        self,
        roots: Iterable[str],
        queue: ChangeQueue,
        *,
        excludes: Iterable[str] = (),
        extra_extensions: Iterable[str] = (),
        ignore: Iterable[str] = (),
        poll_interval_s: float = 30.0,
        force_poll: Iterable[str] = (),
        check_interval_s: float = 2.0,
        mounts: list[tuple[str, str]] | None = None,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.queue = queue
        self._roots = {os.path.abspath(r): _Root(os.path.abspath(r)) for r in roots}
        self._excludes = frozenset(excludes)
        self._extra = frozenset(e.lower() for e in extra_extensions)
        self._ignore = tuple(os.path.abspath(p) + os.sep for p in ignore)
        self.poll_interval_s, self.check_interval_s = poll_interval_s, check_interval_s
        self._force_poll = {os.path.abspath(p) for p in force_poll}
        self._mounts = mounts
        self._on_change = on_change or (lambda: None)
        self._lock = threading.RLock()
        self._observer: Observer | None = None  # type: ignore[valid-type]
        self._handler = _Handler(self)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._overflow_hook = _OverflowHook(self)
        self.overflows = 0

    # Lifecycle

    def start(self) -> None:
        """Set up every root (polled roots take their first snapshot here) and start the threads."""
        for name in _OVERFLOW_LOGGERS:
            logging.getLogger(name).addHandler(self._overflow_hook)
        with self._lock:
            self._observer = Observer()
            self._observer.daemon = True
            self._observer.start()
            for root in self._roots.values():
                self._attach(root)
            self._thread = threading.Thread(target=self._supervise, name="shoebox-watch", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        for name in _OVERFLOW_LOGGERS:
            logging.getLogger(name).removeHandler(self._overflow_hook)
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            if self._observer is not None:
                self._observer.stop()
                self._observer.join()
                self._observer = None

    def set_excludes(self, excludes: Iterable[str]) -> None:
        with self._lock:
            self._excludes = frozenset(excludes)
            for root in self._roots.values():
                if root.poller is not None:
                    root.poller.excludes = tuple(self._excludes)

    def roots(self) -> list[RootWatch]:
        with self._lock:
            return [RootWatch(r.path, r.mode, r.reason) for r in self._roots.values()]

    # Roots

    def _attach(self, root: _Root) -> None:
        """Watch or poll a root that is there; an absent one stays offline."""
        if not os.path.isdir(root.path):
            root.mode, root.reason = OFFLINE, "folder not found"
            return
        root.was_mount = os.path.ismount(root.path)
        fstype = filesystem_type(root.path, self._mounts)
        if root.path in self._force_poll:
            self._poll_root(root, "asked for")
        elif needs_polling(fstype):
            self._poll_root(root, f"{fstype} file system: events do not arrive")
        else:
            try:
                assert self._observer is not None
                root.watch = self._observer.schedule(self._handler, root.path, recursive=True, event_filter=_EVENTS)
                root.mode, root.reason = WATCHED, ""
            except OSError as exc:  # ENOSPC: the inotify watch limit (fs.inotify.max_user_watches)
                self._poll_root(root, f"cannot watch ({exc.strerror or exc}): polling")

    def _poll_root(self, root: _Root, reason: str) -> None:
        root.poller = RootPoller(root.path, tuple(self._excludes), self._extra)
        root.poller.poll()  # the snapshot later polls are diffed against
        root.mode, root.reason = POLLED, reason
        root.next_poll = time.monotonic() + self.poll_interval_s

    def _detach(self, root: _Root) -> None:
        if root.watch is not None and self._observer is not None:
            with contextlib.suppress(KeyError, ValueError, OSError):
                self._observer.unschedule(root.watch)
        root.watch, root.poller = None, None
        root.mode, root.reason = OFFLINE, "folder not found"

    def _supervise(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                polled = [r.next_poll for r in self._roots.values() if r.poller is not None]
            timeout = self.check_interval_s
            if polled:
                timeout = max(0.0, min(timeout, min(polled) - time.monotonic()))
            self._wake.wait(timeout)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self._check_roots()
            except Exception:
                log.exception("checking watched folders failed")

    def _check_roots(self) -> None:
        changed = False
        with self._lock:
            roots = list(self._roots.values())
        for root in roots:
            present = root.present()
            with self._lock:
                if root.mode != OFFLINE and not present:
                    self._detach(root)
                    self.queue.root_changed(root.path, online=False)
                    changed = True
                    continue
                if root.mode == OFFLINE and present:
                    self._attach(root)
                    self.queue.root_changed(root.path, online=True)
                    # Rescanned once quiet: a root that is still being filled must not be swept half-full.
                    self.queue.dir_changed(root.path)
                    changed = True
                    continue
                poller = root.poller if root.mode == POLLED and time.monotonic() >= root.next_poll else None
            if poller is not None:
                diff = poller.poll()
                for path in diff.added + diff.changed + diff.removed:
                    self.queue.file_changed(path)
                root.next_poll = time.monotonic() + self.poll_interval_s
                changed |= bool(diff)
        if changed:
            self._on_change()

    # Events (observer thread)

    def _on_overflow(self) -> None:
        self.overflows += 1
        with self._lock:
            watched = [r.path for r in self._roots.values() if r.mode == WATCHED]
        for path in watched:  # the size+mtime scan finds whatever the lost events were about
            self.queue.dir_changed(path)

    def _relevant(self, path: str, is_dir: bool) -> bool:
        if path.startswith(self._ignore):
            return False
        root = self._root_of(path)
        if root is None:
            return False
        rel = path[len(root) + 1 :]
        if rel:
            for part in rel.split(os.sep):
                if part.startswith(".") or part in self._excludes:
                    return False
        return is_dir or is_photo_name(os.path.basename(path), self._extra)

    def _root_of(self, path: str) -> str | None:
        for root in self._roots:
            if path == root or path.startswith(root + os.sep):
                return root
        return None

    def _on_event(self, event: FileSystemEvent) -> None:
        src = os.fsdecode(event.src_path)
        is_dir = event.is_directory
        if isinstance(event, (FileMovedEvent, DirMovedEvent)):
            dest = os.fsdecode(event.dest_path)
            keep_src, keep_dest = self._relevant(src, is_dir), self._relevant(dest, is_dir)
            if keep_src and keep_dest:
                self.queue.moved(src, dest, is_dir)
            elif keep_src or keep_dest:  # e.g. an editor's hidden temp file renamed over the photo
                self._changed(src if keep_src else dest, is_dir)
            return
        if is_dir and src in self._roots and isinstance(event, DirDeletedEvent):
            self._wake.set()  # the root itself went: the supervisor marks it offline now
            return
        if self._relevant(src, is_dir):
            self._changed(src, is_dir)

    def _changed(self, path: str, is_dir: bool) -> None:
        if is_dir:
            self.queue.dir_changed(path)
        else:
            self.queue.file_changed(path)
