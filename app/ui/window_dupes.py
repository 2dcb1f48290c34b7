"""The main window's duplicates view: computing groups in the background with progress, and the writes
it asks for (trash, undo, "not a duplicate").

A mixin of ``MainWindow``. ``Library.duplicates`` stores its verdicts, so it is a write: it runs on the
``IndexController`` thread like every other write (after an indexing run in flight, never beside it).
Its progress callback is called on that thread and reaches the page through a queued signal.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QMessageBox, QStackedWidget

from app.core.dupes import DupeGroup
from app.core.gallery import GalleryItem
from app.ui.dupes_model import DupesModel
from app.ui.dupes_view import DupesPage
from app.ui.gallery_model import PhotoGridModel
from app.ui.workers import error_text


class _ProgressRelay(QObject):
    progressed = Signal(object)  # emitted on the writer thread, delivered queued on the UI thread


def _compute(library: Any, on_progress: Any) -> tuple[list[DupeGroup], dict[int, GalleryItem]]:
    """Writer thread: the groups, and the gallery rows of their photos (thumbnail keys, dates)."""
    groups = library.duplicates(on_progress=on_progress)
    wanted = {p.photo_id for g in groups for p in g.photos}
    items = {i.id: i for i in library.photos() if i.id in wanted}
    return groups, items


class DupesMixin:
    def _build_dupes(self, stack: QStackedWidget) -> None:
        self.dupes_model = DupesModel(self.loader, self._thumbnail_for_hash, self)
        self.dupes = DupesPage(self.dupes_model)
        self.dupes.closed.connect(self.close_duplicates)
        self.dupes.rescan_requested.connect(self.compute_duplicates)
        self.dupes.trash_requested.connect(self.trash_duplicates)
        self.dupes.undo_requested.connect(self.undo)
        self.dupes.not_duplicate_requested.connect(self.mark_not_duplicate)
        self.dupes.protect_requested.connect(self.protect_folder)
        self.dupes.list.open_requested.connect(self.open_duplicate)
        self._group_model = PhotoGridModel(self.loader, self._thumbnail_path, self)
        stack.addWidget(self.dupes)
        self._dupes_relay = _ProgressRelay(self)
        self._dupes_relay.progressed.connect(self.dupes.set_progress)
        self._dupes_busy = False
        self.dupes_action = self._action("&Duplicates", "Ctrl+D", self.show_duplicates)
        self.dupes_action.setToolTip("Find copies of the same photo and clean them up safely (Ctrl+D)")

    def _thumbnail_for_hash(self, content_hash: str) -> str:
        return str(self.library.paths.thumbnail_for(content_hash)) if self.library is not None else ""

    def show_duplicates(self) -> None:
        if self.library is None:
            QMessageBox.information(self, "Shoebox", "Add a photo folder first.")
            return
        self.stack.setCurrentWidget(self.dupes)
        self.dupes.list.setFocus()
        self.compute_duplicates()  # incremental: only photos new since the last call are compared

    def open_duplicate(self, r: int, i: int) -> None:
        """The viewer on one copy; ◀ ▶ step through the group's copies, Back returns here."""
        row = self.dupes_model.row(r)
        if row is None:
            return
        pairs = [(p, self.dupes_model.items.get(p.photo_id)) for p in row.photos]
        items = [item for _p, item in pairs if item is not None]
        wanted = self.dupes_model.items.get(row.photos[i].photo_id)
        if wanted is None:
            return
        self._group_model.set_items(items)
        self._viewer_return = (self.dupes, None)
        self._open_in_viewer(self._group_model, items.index(wanted), None)

    def close_duplicates(self) -> None:
        self.stack.setCurrentWidget(self.grid)
        self.grid.setFocus()

    def compute_duplicates(self) -> None:
        if self.library is None or self.controller is None or self._dupes_busy:
            return
        self._dupes_busy = True
        waiting = self.controller.is_indexing
        self.dupes.set_busy("Waiting for indexing to finish…" if waiting else "Finding duplicates…")
        library, emit = self.library, self._dupes_relay.progressed.emit
        self.controller.call(lambda: _compute(library, emit), self._on_dupes, self._on_dupes_failed)

    def _on_dupes(self, result: tuple[list[DupeGroup], dict[int, GalleryItem]]) -> None:
        self._dupes_busy = False
        groups, items = result
        bar = self.dupes.list.verticalScrollBar()
        scroll, current = bar.value(), self.dupes.list.currentIndex().row()
        self.dupes_model.set_groups(groups, items)
        if current >= 0:  # after a trash or undo the user stays where they were reviewing
            self.dupes.list.setCurrentIndex(self.dupes_model.index(min(current, self.dupes_model.rowCount() - 1)))
        bar.setValue(scroll)
        seconds = self.dupes._elapsed()
        took = f" · {seconds:.1f} s" if seconds >= 0.1 else ""
        plural = "" if len(groups) == 1 else "s"
        self.dupes.set_done(f"{len(groups):,} group{plural}{took}" if groups else "No duplicates found")

    def _on_dupes_failed(self, exc: BaseException) -> None:
        self._dupes_busy = False
        self.dupes.set_done(f"Could not find duplicates: {error_text(exc)}")

    # Writes

    def trash_duplicates(self, paths: list[str]) -> None:
        if self.controller is None or self.library is None:
            return
        library = self.library
        self.dupes.set_busy(f"Moving {len(paths):,} photos to the trash…")
        self.controller.call(lambda: library.trash(paths), self._on_dupes_trashed, self._on_dupes_refused)

    def _on_dupes_trashed(self, trashed: list[str]) -> None:
        self.dupes_model.marked.difference_update(trashed)
        self.dupes.set_done(f"Moved {len(trashed):,} photos to the trash (Undo brings them back)")
        self._set_state(self.status_line.state, note=f"moved {len(trashed):,} duplicates to the trash")
        self.refresh()
        self.compute_duplicates()

    def _on_dupes_refused(self, exc: BaseException) -> None:
        """The facade refused (the last copy, a protected folder…): nothing moved; say why."""
        self.dupes.set_done(error_text(exc))
        QMessageBox.warning(self, "Shoebox", error_text(exc))

    def mark_not_duplicate(self, pairs: list[tuple[str, str]]) -> None:
        if self.controller is None or self.library is None or not pairs:
            return
        library = self.library

        def write() -> int:
            for a, b in pairs:
                library.not_duplicate(a, b)
            return len(pairs)

        def done(_n: int) -> None:
            self.dupes_model.clear_marks()
            self.dupes.set_done("Marked as not duplicates: they will not be grouped again")
            self.compute_duplicates()

        self.controller.call(write, done, self._on_dupes_refused)

    def protect_folder(self, folder: str, on: bool) -> None:
        """A reference folder: nothing in it is ever trashed, and its copies are kept first."""
        if self.controller is None or self.library is None:
            return
        library = self.library

        def done(_r: object) -> None:
            self.dupes.set_done(f"{folder} is {'protected' if on else 'no longer protected'}")
            self.compute_duplicates()

        self.controller.call(lambda: library.protect_folder(folder, on), done, self._on_dupes_refused)

    def undo(self) -> None:
        """Ctrl+Z: the duplicates view's undo re-computes its groups; elsewhere the window's undo."""
        if self.stack.currentWidget() is not self.dupes:
            super().undo()
            return
        if self.controller is None or self.library is None:
            return
        self.dupes.set_busy("Bringing back the last trashed photos…")

        def done(restored: list[str]) -> None:
            self.dupes.set_done(f"Restored {len(restored):,} photos")
            self.refresh()
            self.compute_duplicates()

        self.controller.call(self.library.undo, done, self._on_dupes_refused)
