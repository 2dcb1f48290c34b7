"""Live folders in the window: the library's folders are watched while it is open, and each folder's
exclude patterns can be edited.

``LiveFolders`` turns the facade's watch callbacks (called on the watcher's threads) into signals on
the UI thread. ``LiveFoldersMixin`` is a part of ``MainWindow`` (it uses the window's ``library``,
``controller``, ``tasks``, ``folders`` panel and refresh timer), kept apart so the window stays small.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import QMessageBox

from app.core.gallery import FolderSummary
from app.core.models import WatchStatus
from app.core.progress import Progress
from app.ui.excludes_dialog import ExcludesDialog
from app.ui.workers import error_text

log = logging.getLogger(__name__)


class LiveFolders(QObject):
    """Starts watching through the window's single writer; reports what the watcher sees."""

    status_changed = Signal(object)  # WatchStatus
    photos_changed = Signal()  # the live writer committed photos: the grid should read its listing again
    failed = Signal(str)
    _status = Signal(object)  # emitted on the watcher's threads, delivered queued on the UI thread
    _progress = Signal(object)

    def __init__(self, library: Any, controller: Any, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.library, self.controller = library, controller
        self.status: WatchStatus | None = None
        self._totals: tuple[int, ...] = ()
        self._closed = False
        self._status.connect(self._on_status)
        self._progress.connect(self._on_progress)

    def start(self) -> None:
        """Watch every folder; queued on the writer thread, so it runs before a scan queued after it.

        No reconcile pass: the window's own scan on opening does that, and the watcher is started
        before it, so nothing that changes during the scan is missed.
        """
        self.controller.call(
            lambda: self.library.start_watching(
                on_status=self._status.emit, on_progress=self._progress.emit, reconcile=False
            ),
            self._on_status,
            lambda exc: self.failed.emit(f"watching is off: {error_text(exc)}"),
        )

    def close(self) -> None:
        """Drop later news (the library stops the watcher itself when it closes)."""
        self._closed = True

    def modes(self) -> dict[str, tuple[str, str]]:
        """Folder path -> (mode, reason) as the watcher last reported (empty when not watching)."""
        if self.status is None or not self.status.active:
            return {}
        return {r.path: (r.mode, r.reason) for r in self.status.roots}

    @Slot(object)
    def _on_status(self, status: WatchStatus) -> None:
        if self._closed:
            return
        self.status = status
        totals = (status.indexed, status.moved, status.removed, status.failed)
        if self._totals and totals != self._totals:
            self.photos_changed.emit()
        self._totals = totals
        self.status_changed.emit(status)

    @Slot(object)
    def _on_progress(self, p: Progress) -> None:
        if not self._closed and p.phase == "fast" and p.done:
            self.photos_changed.emit()


class LiveFoldersMixin:
    """Part of ``MainWindow``: watching and per-folder excludes."""

    live: LiveFolders | None = None

    def _start_live(self) -> None:
        self.live = LiveFolders(self.library, self.controller, self)
        self.live.status_changed.connect(lambda _s: self.refresh_folders())
        self.live.photos_changed.connect(self._on_live_photos)
        self.live.failed.connect(lambda msg: self._set_state(self.status_line.state, note=msg))
        self.live.start()

    def _on_live_photos(self) -> None:
        if not self._refresh_timer.isActive():
            self._refresh_timer.start()  # at most one listing read a second, as while indexing

    def _folder_modes(self) -> dict[str, tuple[str, str]]:
        return self.live.modes() if self.live is not None else {}

    def _is_indexing(self, summary: FolderSummary) -> bool:
        """Whether the run in flight covers this folder (not merely whether some run is going)."""
        c = self.controller
        if c is None or not c.is_indexing:
            return False
        return c.current_paths is None or any(
            p == summary.path or p.startswith(summary.path.rstrip("/") + "/") for p in c.current_paths
        )

    def edit_excludes(self, summary: FolderSummary) -> None:
        if self.library is None or self.controller is None:
            return
        dialog = ExcludesDialog(self.library, self.tasks, summary, self)
        if not dialog.exec():
            return
        patterns = dialog.patterns()
        watching = bool(getattr(self.library, "watching", False))

        def apply() -> int:
            removed = self.library.set_folder_excludes(summary.id, patterns)
            if not watching:  # photos of a dropped pattern come back through a scan of this folder
                self.library.index([summary.path])
            return removed

        def done(removed: int) -> None:
            note = f"{removed:,} photos of {summary.path} left the index (files untouched)" if removed else ""
            self._set_state(self.status_line.state, note=note)
            self.refresh()

        self.controller.call(apply, done, lambda exc: QMessageBox.warning(self, "Shoebox", error_text(exc)))
