"""The grid's item model: a flat list of ``GalleryItem``s (100,000 are fine), thumbnails on demand."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt, QTimer, Signal, Slot

from app.core.gallery import GalleryItem
from app.core.models import PhotoState
from app.ui.thumbnails import ThumbnailLoader

ITEM_ROLE = Qt.ItemDataRole.UserRole + 1
FAILED_ROLE = Qt.ItemDataRole.UserRole + 2

_Index = QModelIndex | QPersistentModelIndex


class PhotoGridModel(QAbstractListModel):
    """Rows are photos in the current sort order; ``DecorationRole`` is the thumbnail (None until read).

    New thumbnails and state changes are announced with ``repaint_needed`` rather than ``dataChanged``:
    QListView answers any ``dataChanged`` (even one row's) by laying out every row again, which costs
    ~150 ms at 100,000 photos, while a viewport repaint only asks the visible cells.
    """

    repaint_needed = Signal()

    def __init__(
        self,
        loader: ThumbnailLoader,
        thumbnail_path: Callable[[GalleryItem], str],
        parent: Any = None,
    ) -> None:
        super().__init__(parent)
        self._items: list[GalleryItem] = []
        self._rows: dict[int, int] | None = None
        self._loader, self._thumbnail_path = loader, thumbnail_path
        self._flush = QTimer(self, singleShot=True, interval=30)  # coalesce many thumbnails into one repaint
        self._flush.timeout.connect(self.repaint_needed)
        loader.loaded.connect(self._on_thumbnail_loaded)

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._items)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        item = self._items[index.row()]
        if role == Qt.ItemDataRole.DecorationRole:
            if item.state is PhotoState.FAILED:
                return None
            key = (item.id, item.content_hash or "")
            return self._loader.pixmap(key, (self._thumbnail_path(item), item.path))
        if role == Qt.ItemDataRole.DisplayRole:
            return item.name
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{item.path}\nfailed: {item.error}" if item.error else item.path
        if role == ITEM_ROLE:
            return item
        if role == FAILED_ROLE:
            return item.state is PhotoState.FAILED
        return None

    @property
    def items(self) -> Sequence[GalleryItem]:
        return self._items

    def item(self, row: int) -> GalleryItem | None:
        return self._items[row] if 0 <= row < len(self._items) else None

    def row_of(self, photo_id: int) -> int | None:
        if self._rows is None:
            self._rows = {it.id: r for r, it in enumerate(self._items)}
        return self._rows.get(photo_id)

    def set_items(self, items: list[GalleryItem]) -> bool:
        """Show ``items``; returns True when the rows changed (a reset), False for an in-place update."""
        same_rows = len(items) == len(self._items) and all(
            a.id == b.id for a, b in zip(items, self._items, strict=True)
        )
        if same_rows:
            self._items = items
            self.repaint_needed.emit()
            return False
        self.beginResetModel()
        self._items, self._rows = items, None
        self.endResetModel()
        return True

    @Slot(int)
    def _on_thumbnail_loaded(self, _photo_id: int) -> None:
        if not self._flush.isActive():
            self._flush.start()
