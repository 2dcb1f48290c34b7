"""The single writer of a watched library: drains the :class:`ChangeQueue` into the indexing passes.

Start-up runs a reconcile pass (a full mark-and-sweep scan) to catch what changed while nothing was
watching; after that, each ready :class:`ChangeSet` is planned from just the paths it names. The
region pass runs in small chunks between change sets, so a new photo waits at most one chunk.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import fields

from app.core.models import Folder, IndexStats
from app.core.progress import CancelToken, ProgressCallback, no_progress
from app.indexing.context import IndexContext
from app.indexing.indexer import Indexer
from app.indexing.job_queue import ChangeQueue, ChangeSet
from app.storage.watch_repo import WatchRepository

log = logging.getLogger(__name__)

_TOTALS = [f.name for f in fields(IndexStats) if f.type in ("int", int)]


class LiveIndexer:
    """Owns the writer thread while watching. ``stop`` commits the batch in flight and saves FAISS."""

    def __init__(
        self,
        make_context: Callable[[], IndexContext],
        queue: ChangeQueue,
        *,
        on_progress: ProgressCallback = no_progress,
        on_batch: Callable[[IndexStats], None] | None = None,
        on_state: Callable[[str], None] | None = None,
        reconcile: bool = True,
        region_chunk: int = 32,
        save_interval_s: float = 60.0,
    ) -> None:
        self._make_context, self.queue = make_context, queue
        self._on_progress = on_progress
        self._on_batch = on_batch or (lambda _s: None)
        self._on_state = on_state or (lambda _s: None)
        self._reconcile, self._region_chunk, self._save_interval = reconcile, region_chunk, save_interval_s
        self.totals = IndexStats()
        self.state = "starting"
        self.error: str | None = None
        self._stop = threading.Event()
        self._cancel = CancelToken()
        self._regions_waiting = True
        self._last_save = time.monotonic()
        self._ctx: IndexContext | None = None
        self._thread = threading.Thread(target=self._run, name="shoebox-live-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        self._stop.set()
        self._cancel.cancel()  # the fast pass stops after the batch in flight, which it commits
        self.queue.interrupt()
        self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _set_state(self, state: str) -> None:
        self.state = state
        self._on_state(state)

    # The thread

    def _run(self) -> None:
        try:
            if self._reconcile:
                self._set_state("reconciling")
                self._guarded(self._reconcile_all)
            while not self._stop.is_set():
                self._set_state("idle")
                changes = self.queue.wait(0 if self._regions_waiting else self._save_interval)
                if self._stop.is_set():
                    break
                if changes:
                    self._set_state("indexing")
                    self._guarded(lambda c=changes: self._apply(c))
                elif self._regions_waiting:
                    self._set_state("indexing")
                    self._guarded(self._region_chunk_pass)
                if time.monotonic() - self._last_save >= self._save_interval:
                    self._save()
        finally:
            for _fn, fut in self.queue.take(force=True).jobs:  # never leave a caller waiting
                if fut.set_running_or_notify_cancel():
                    fut.set_exception(RuntimeError("watching stopped before this ran"))
            self._save()
            self._set_state("stopped")

    def _guarded(self, fn: Callable[[], None]) -> None:
        """A failing batch is reported and skipped; watching goes on (the next scan retries it)."""
        try:
            fn()
            self.error = None
        except Exception as exc:
            log.exception("live indexing failed")
            self.error = f"{type(exc).__name__}: {exc}"

    def _save(self) -> None:
        self._last_save = time.monotonic()
        if self._ctx is not None:
            try:
                self._ctx.vectors.save()
            except OSError as exc:
                self.error = f"cannot save the vector index: {exc}"

    def _context(self) -> IndexContext:
        self._ctx = self._make_context()
        return self._ctx

    def _finish(self, ctx: IndexContext) -> None:
        s = ctx.stats
        for name in _TOTALS:
            setattr(self.totals, name, getattr(self.totals, name) + getattr(s, name))
        self.totals.failures.extend(s.failures)
        del self.totals.failures[:-100]
        if s.indexed:
            self._regions_waiting = True
        self._on_batch(s)

    def _reconcile_all(self) -> None:
        ctx = self._context()
        folders = ctx.repo.folders()
        present = self._sync_offline(ctx, folders, {f.path for f in folders if os.path.isdir(f.path)})
        indexer = Indexer(ctx)
        plan = indexer.scan(present, self._on_progress, self._cancel)
        indexer.apply(plan, self._on_progress, self._cancel)
        self._finish(ctx)

    def _sync_offline(self, ctx: IndexContext, folders: list[Folder], online: set[str]) -> list[Folder]:
        wrepo = WatchRepository(ctx.repo.engine)
        for f in folders:
            wrepo.set_offline(f.id, f.path not in online)
        return [f for f in folders if f.path in online]

    def _apply(self, changes: ChangeSet) -> None:
        for fn, fut in changes.jobs:
            if fut.set_running_or_notify_cancel():
                try:
                    fut.set_result(fn())
                except BaseException as exc:
                    fut.set_exception(exc)
        if not (changes.files or changes.dirs or changes.roots_online or changes.roots_offline):
            return
        ctx = self._context()
        folders = ctx.repo.folders()
        wrepo = WatchRepository(ctx.repo.engine)
        by_path = {f.path: f for f in folders}
        dirs = set(changes.dirs)  # a root back online is rescanned once its events go quiet
        # A root that is gone now (drive pulled mid-burst, or removed after its files) goes offline;
        # the deletions queued on the way out must not sweep its photos.
        offline = set(changes.roots_offline) | {f.path for f in folders if not os.path.isdir(f.path)}
        for path in changes.roots_online - offline:
            if path in by_path:
                wrepo.set_offline(by_path[path].id, False)
        for path in offline:
            if path in by_path:
                wrepo.set_offline(by_path[path].id, True)
        live = [f for f in folders if f.path not in offline]

        def inside_live(p: str) -> bool:
            return any(p == f.path or p.startswith(f.path.rstrip(os.sep) + os.sep) for f in live)

        files = {p for p in changes.files if inside_live(p)}
        dirs = {p for p in dirs if inside_live(p)}
        if files or dirs:
            indexer = Indexer(ctx)
            plan = indexer.scan_paths(live, files, dirs)
            indexer.apply(plan, self._on_progress, self._cancel, move_hints=changes.moves)
        self._finish(ctx)

    def _region_chunk_pass(self) -> None:
        ctx = self._context()
        indexer = Indexer(ctx)
        waiting = indexer.region_pass(self._on_progress, self._cancel, limit=self._region_chunk)
        if waiting <= self._region_chunk and not self._cancel.is_cancelled:
            self._regions_waiting = False
            if ctx.regions_key or ctx.ocr_key:
                indexer.clean_spool()
        self._finish(ctx)
