"""Live-folders facade: watch the library's folders and keep the index current. Owned by the live-folders issue.

Three parts, three threads: a :class:`FolderWatcher` (watchdog observer plus a supervisor that polls
network/FUSE roots and notices vanished ones) feeds a :class:`ChangeQueue`; a :class:`LiveIndexer`
drains it as the library's single writer. Every public method here is thread-safe: the GUI calls them
from its own threads and gets news through the ``on_status`` callback (called from worker threads).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from app.core.errors import BadInputError, LibraryBusyError
from app.core.models import Folder, IndexStats, RootStatus, WatchStatus
from app.core.progress import CancelToken, ProgressCallback, no_progress
from app.core.settings import Settings, load_settings, save_settings
from app.indexing.job_queue import ChangeQueue
from app.indexing.live import LiveIndexer
from app.indexing.scanner import matches_patterns
from app.indexing.watcher import OFFLINE, FolderWatcher
from app.services.library import LibraryCore
from app.storage.watch_repo import WatchRepository

StatusCallback = Callable[[WatchStatus], None]
ConfirmCallback = Callable[[int, list[str]], bool]


def _no_status(_: WatchStatus) -> None:
    pass


@dataclass(slots=True)
class _Session:
    queue: ChangeQueue
    watcher: FolderWatcher
    writer: LiveIndexer
    on_status: StatusCallback
    force_poll: list[str]
    poll_interval_s: float
    mounts: list[tuple[str, str]] | None


class WatchMixin(LibraryCore):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._wlock = threading.RLock()
        self._session: _Session | None = None

    # Starting and stopping

    def start_watching(
        self,
        on_status: StatusCallback = _no_status,
        on_progress: ProgressCallback = no_progress,
        *,
        poll: Sequence[Path | str] = (),
        poll_interval_s: float | None = None,
        quiet_s: float = 1.0,
        max_wait_s: float = 10.0,
        reconcile: bool = True,
        mounts: list[tuple[str, str]] | None = None,
    ) -> WatchStatus:
        """Watch every library folder and keep the index current until :meth:`stop_watching`.

        Returns at once; a reconcile pass (what changed while nothing watched) runs first on the
        writer thread. ``on_status`` and ``on_progress`` are called from worker threads.

        Args:
            poll: folders to poll even if their file system sends events (added to ``settings.poll_folders``).
            poll_interval_s: seconds between polls of polled folders (default ``settings.poll_interval_s``).
            quiet_s, max_wait_s: the debounce: changes wait for ``quiet_s`` without events, at most ``max_wait_s``.
            mounts: (mount point, fs type) pairs instead of ``/proc/mounts`` (tests).

        Raises:
            LibraryBusyError: another process is the library's writer.
        """
        if not self.is_writer:
            raise LibraryBusyError(f"another Shoebox process is indexing {self.paths.root}; it keeps it current")
        with self._wlock:
            if self._session is not None:
                return self.watch_status()
            queue = ChangeQueue(quiet_s=quiet_s, max_wait_s=max_wait_s)
            s = self.settings
            force_poll = [str(Path(p).expanduser().resolve()) for p in (*s.poll_folders, *poll)]
            interval = poll_interval_s or s.poll_interval_s
            writer = LiveIndexer(
                self._context,
                queue,
                on_progress=on_progress,
                on_batch=self._live_batch_done,
                on_state=lambda _state: self._emit_status(),
                reconcile=reconcile,
            )
            session = _Session(queue, None, writer, on_status, force_poll, interval, mounts)  # type: ignore[arg-type]
            session.watcher = self._make_watcher(session)
            self._session = session
            session.watcher.start()  # before the reconcile pass, so nothing that changes during it is missed
            writer.start()
            return self.watch_status()

    def _live_batch_done(self, stats: IndexStats) -> None:
        """After each live batch, on the writer thread: features derived from the batch (tags) catch up."""
        self._emit_status()

    def stop_watching(self, timeout: float | None = None) -> WatchStatus:
        """Stop the watchers, commit the batch in flight and save the vector caches.

        Changes still waiting in the queue are left to the next start's reconcile pass.
        """
        with self._wlock:
            session, self._session = self._session, None
        if session is None:
            return self.watch_status()
        session.watcher.stop()
        session.writer.stop(timeout)
        status = self._status_of(session, active=False)
        session.on_status(status)
        return status

    @property
    def watching(self) -> bool:
        return self._session is not None

    def close(self) -> None:
        self.stop_watching()
        super().close()

    # Status

    def watch_status(self) -> WatchStatus:
        """Per folder: watched / polled / offline (with photo counts); queue length; totals so far."""
        session = self._session
        if session is None:
            offline = WatchRepository(self.repo.engine).offline_folder_ids()
            roots = tuple(
                RootStatus(f.path, OFFLINE if f.id in offline else "unwatched", photos=self._count(f.path))
                for f in self.repo.folders()
            )
            return WatchStatus(active=False, state="stopped", roots=roots)
        return self._status_of(session, active=True)

    def _count(self, path: str) -> int:
        return WatchRepository(self.repo.engine).count_under(path)

    def _status_of(self, session: _Session, active: bool) -> WatchStatus:
        t, w = session.writer.totals, session.writer
        roots = tuple(RootStatus(r.path, r.mode, r.reason, self._count(r.path)) for r in session.watcher.roots())
        return WatchStatus(
            active=active,
            state=w.state if active else "stopped",
            roots=roots,
            queue_length=len(session.queue),
            indexed=t.indexed,
            moved=t.moved,
            removed=t.removed,
            failed=t.failed,
            regions_done=t.regions_done,
            error=w.error,
        )

    def _emit_status(self) -> None:
        session = self._session
        if session is not None:
            session.on_status(self._status_of(session, active=True))

    # Writes while watching go through the single writer

    def index(
        self,
        paths: Sequence[Path | str] | None = None,
        on_progress: ProgressCallback = no_progress,
        cancel: CancelToken | None = None,
        regions: bool = True,
    ) -> IndexStats:
        """As :meth:`LibraryCore.index`; while watching, it runs on the writer thread (and new folders
        are watched from then on)."""
        session = self._session
        if session is None:
            return super().index(paths, on_progress, cancel, regions)
        run = super().index
        stats = session.queue.submit(lambda: run(paths, on_progress, cancel, regions)).result()
        if paths:
            self._restart_watcher()
        return stats

    def remove_folder(self, folder_id: int) -> int:
        """As ``GalleryMixin.remove_folder``; while watching, on the writer thread, and the folder is no
        longer watched."""
        remove = super().remove_folder  # type: ignore[misc]  # GalleryMixin's, next in the facade's MRO
        session = self._session
        if session is None:
            return remove(folder_id)
        removed = session.queue.submit(lambda: remove(folder_id)).result()
        self._restart_watcher()
        return removed

    def _restart_watcher(self) -> None:
        """The set of folders changed: watch the new set (the writer and its queue stay)."""
        with self._wlock:
            session = self._session
            if session is None:
                return
            session.watcher.stop()
            session.watcher = self._make_watcher(session)
            session.watcher.start()
        self._emit_status()  # the set of roots changed: say so

    def _make_watcher(self, session: _Session) -> FolderWatcher:
        s = self.settings
        return FolderWatcher(
            [f.path for f in self.repo.folders()],
            session.queue,
            excludes=s.excludes,
            extra_extensions=s.extra_extensions,
            ignore=[str(self.paths.root)],
            poll_interval_s=session.poll_interval_s,
            force_poll=session.force_poll,
            mounts=session.mounts,
            on_change=self._emit_status,
        )

    def excluded_photos(self, excludes: Sequence[str]) -> list[str]:
        """Paths of indexed photos that ``excludes`` (folder or file names) would take out of the index."""
        names = set(excludes)
        out = []
        for folder in self.repo.folders():
            base = folder.path.rstrip(os.sep) + os.sep
            for p in self.repo.photos_in_folders([folder.id]):
                rel = p.path[len(base) :] if p.path.startswith(base) else p.path
                if names.intersection(rel.split(os.sep)):
                    out.append(p.path)
        return sorted(out)

    def set_excludes(self, excludes: Sequence[str], confirm: ConfirmCallback | None = None) -> int:
        """Replace the excluded names and apply them now: photos under a newly excluded name leave the
        index (never the disk), names no longer excluded are scanned again.

        ``confirm(count, sample_paths)`` is asked first when photos would leave the index; returning
        False changes nothing. Returns how many photos left the index.

        Raises:
            BadInputError: an empty name or one with a path separator.
            LibraryBusyError: another process is the library's writer.
        """
        clean = tuple(dict.fromkeys(e.strip() for e in excludes))
        if any(not e or "/" in e or "\\" in e for e in clean):
            raise BadInputError("an exclude is a folder or file name, without '/'")
        if not self.is_writer:
            raise LibraryBusyError(f"another Shoebox process is indexing {self.paths.root}; try again when it is done")
        old = set(self.settings.excludes)
        added = [e for e in clean if e not in old]
        doomed = self.excluded_photos(added) if added else []
        if doomed and confirm is not None and not confirm(len(doomed), doomed[:5]):
            return 0
        saved = load_settings(self.paths.settings, env={})
        save_settings(replace(saved, excludes=clean), self.paths.settings)
        self.settings = replace(self.settings, excludes=clean)
        session = self._forget_paths(doomed)
        if session is None:
            return len(doomed)
        session.watcher.set_excludes(clean)
        if old - set(clean):  # un-excluded: their photos come back through a scan of every folder
            for f in self.repo.folders():
                session.queue.dir_changed(f.path)
        return len(doomed)

    def _forget_paths(self, paths: Sequence[str]) -> _Session | None:
        """Take these photos out of the index (never off the disk), on the writer thread when watching.

        Returns the watch session it went through, or None when nothing is watching.
        """

        def forget() -> None:
            ids = [p.id for p in WatchRepository(self.repo.engine).photos_at(list(paths))]
            if ids:
                self.vectors.apply(self.repo.delete_photos(ids))
                self.vectors.save()

        session = self._session
        if session is None:
            forget()
        else:
            session.queue.submit(forget).result()
        return session

    # Per-folder exclude patterns

    def folder_excludes(self, folder: int | str) -> tuple[str, ...]:
        """One library folder's glob patterns (``*.tmp``, ``Screenshots``, ``2019/drafts``)."""
        return self.settings.folder_patterns(self._folder_of(folder).path)

    def folder_excluded_photos(self, folder: int | str, patterns: Sequence[str]) -> list[str]:
        """Indexed photos of one folder that ``patterns`` would take out of the index (a preview)."""
        return self._photos_matching(self._folder_of(folder), [p.strip().strip("/") for p in patterns if p.strip()])

    def set_folder_excludes(
        self, folder: int | str, patterns: Sequence[str], confirm: ConfirmCallback | None = None
    ) -> int:
        """Replace one folder's exclude patterns and apply them now, as :meth:`set_excludes` does.

        A pattern without ``/`` matches a file or folder name at any depth; one with ``/`` matches the
        path from the library folder (``app.indexing.scanner.matches_patterns``). Photos a new pattern
        matches leave the index (never the disk) after ``confirm(count, sample_paths)`` agrees; photos of
        a dropped pattern come back with the next scan (at once while watching). Returns how many left.

        Raises:
            BadInputError: no such library folder, or a pattern that leaves the folder (``..``).
            LibraryBusyError: another process is the library's writer.
        """
        target = self._folder_of(folder)
        clean = tuple(dict.fromkeys(p.strip().strip("/") for p in patterns if p.strip().strip("/")))
        for p in clean:
            if ".." in p.split("/") or "\\" in p:
                raise BadInputError(f"an exclude pattern is relative to the folder, with '/': {p!r}")
        if not self.is_writer:
            raise LibraryBusyError(f"another Shoebox process is indexing {self.paths.root}; try again when it is done")
        old = self.settings.folder_patterns(target.path)
        added = [p for p in clean if p not in old]
        doomed = self._photos_matching(target, added) if added else []
        if doomed and confirm is not None and not confirm(len(doomed), doomed[:5]):
            return 0
        saved = load_settings(self.paths.settings, env={})
        save_settings(replace(saved, folder_excludes=_with_patterns(saved, target.path, clean)), self.paths.settings)
        self.settings = replace(self.settings, folder_excludes=_with_patterns(self.settings, target.path, clean))
        session = self._forget_paths(doomed)
        if session is not None and set(old) - set(clean):
            session.queue.dir_changed(target.path)  # un-excluded photos come back through a rescan
        return len(doomed)

    def _folder_of(self, folder: int | str) -> Folder:
        for f in self.repo.folders():
            if f.id == folder or (isinstance(folder, str) and f.path == str(Path(folder).expanduser().resolve())):
                return f
        raise BadInputError(f"not a folder of this library: {folder}")

    def _photos_matching(self, folder: Folder, patterns: Sequence[str]) -> list[str]:
        base = folder.path.rstrip(os.sep) + os.sep
        out = []
        for p in self.repo.photos_in_folders([folder.id]):
            rel = p.path[len(base) :] if p.path.startswith(base) else p.path
            if matches_patterns(rel.replace(os.sep, "/"), patterns):
                out.append(p.path)
        return sorted(out)


def _with_patterns(settings: Settings, folder: str, patterns: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    out = {k: tuple(v) for k, v in settings.folder_excludes.items() if k != folder}
    if patterns:
        out[folder] = patterns
    return out
