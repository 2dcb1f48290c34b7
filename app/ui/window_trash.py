"""The main window's trash and undo actions: writes go through the ``IndexController`` (the single writer).

A mixin of ``MainWindow`` (it uses the window's ``library``, ``controller``, ``model``, ``grid``, ``viewer``
and ``stack``); ``Library.trash`` never deletes, it moves to the system trash and journals for undo.
"""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox

from app.core.gallery import GalleryItem
from app.ui.workers import error_text


class TrashMixin:
    # Trash (the duplicates work adds Library.trash / undo)

    def _selected_items(self) -> list[GalleryItem]:
        if self.stack.currentWidget() is self.viewer and self.viewer.item is not None:
            return [self.viewer.item]
        return [self.model.items[i.row()] for i in self.grid.selectedIndexes()]

    def trash_selected(self) -> None:
        items = self._selected_items()
        if not items or self.library is None or not hasattr(self.library, "trash") or self.controller is None:
            return
        answer = QMessageBox.question(
            self, "Move to trash", f"Move {len(items)} photo(s) to the system trash? (Ctrl+Z undoes it)"
        )
        if answer == QMessageBox.StandardButton.Yes:
            paths = [i.path for i in items]
            self.controller.call(lambda: self.library.trash(paths), lambda _r: self.refresh(), self._on_write_failed)

    def undo(self) -> None:
        if self.library is not None and hasattr(self.library, "undo") and self.controller is not None:
            self.controller.call(self.library.undo, lambda _r: self.refresh(), self._on_write_failed)

    def _on_write_failed(self, exc: BaseException) -> None:
        QMessageBox.warning(self, "Shoebox", error_text(exc))
