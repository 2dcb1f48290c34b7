"""Search results: the query above (dropped image, region or text, with "×" back to the gallery) and a grid of
hits with kind and score badges and the matching box drawn on each thumbnail.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QItemSelectionModel, QModelIndex, QPersistentModelIndex, QRect, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPixmap
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from app.core.gallery import GalleryItem
from app.core.models import HitKind, SearchHit
from app.ui.gallery_model import ITEM_ROLE, PhotoGridModel
from app.ui.grid_view import PAD, THUMB, PhotoGridView, ThumbnailDelegate
from app.ui.match_overlay import KIND_LABELS, hit_colour, is_whole_photo, paint_hit, scale_factors, score_text

HIT_ROLE = Qt.ItemDataRole.UserRole + 10
QUERY_THUMB = 96


class ResultsModel(PhotoGridModel):
    """The grid's model with one ``SearchHit`` per row (same thumbnails, same loader)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._hits: list[SearchHit] = []

    def set_results(self, items: list[GalleryItem], hits: list[SearchHit]) -> None:
        self.beginResetModel()
        self._hits = hits
        self._items, self._rows = items, None
        self.endResetModel()

    def hit(self, row: int) -> SearchHit | None:
        return self._hits[row] if 0 <= row < len(self._hits) else None

    @property
    def hits(self) -> Sequence[SearchHit]:
        return self._hits

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == HIT_ROLE:
            return self.hit(index.row()) if index.isValid() else None
        if role == Qt.ItemDataRole.ToolTipRole and index.isValid():
            hit = self._hits[index.row()]
            extra = "".join(f"\n{k}: {v}" for k, v in hit.details.items())
            return f"{self._items[index.row()].path}\n{KIND_LABELS[hit.kind]} · score {hit.score:.3f}{extra}"
        return super().data(index, role)


class ResultsDelegate(ThumbnailDelegate):
    """The gallery cell plus the hit: its box (or verified outline), a kind badge and the score."""

    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        super().paint(painter, option, index)
        hit: SearchHit | None = index.data(HIT_ROLE)
        item: GalleryItem | None = index.data(ITEM_ROLE)
        if hit is None or item is None:
            return
        rect = option.rect  # type: ignore[attr-defined]
        cell = QRect(rect.x() + PAD, rect.y() + PAD, THUMB, THUMB)
        pix = index.data(Qt.ItemDataRole.DecorationRole)
        if isinstance(pix, QPixmap) and not pix.isNull() and not is_whole_photo(hit, (item.width, item.height)):
            factors = scale_factors((item.width, item.height), (pix.width(), pix.height()))
            if factors is not None:
                x = cell.x() + (THUMB - pix.width()) // 2
                y = cell.y() + (THUMB - pix.height()) // 2
                painter.save()
                painter.setClipRect(QRect(x, y, pix.width(), pix.height()))
                paint_hit(painter, hit, *factors, dx=x, dy=y)
                painter.restore()
        _badge(painter, cell, KIND_LABELS[hit.kind], hit_colour(hit), Qt.AlignmentFlag.AlignLeft)
        _badge(painter, cell, score_text(hit), QColor(30, 30, 30, 200), Qt.AlignmentFlag.AlignRight)


def _badge(painter: QPainter, cell: QRect, text: str, colour: QColor, side: Qt.AlignmentFlag) -> None:
    painter.save()
    font = QFont(painter.font())
    font.setPointSizeF(max(7.0, font.pointSizeF() - 1))
    font.setBold(True)
    painter.setFont(font)
    fm = painter.fontMetrics()
    w, h = fm.horizontalAdvance(text) + 10, fm.height() + 2
    x = cell.x() + 2 if side == Qt.AlignmentFlag.AlignLeft else cell.right() - w - 1
    box = QRect(x, cell.y() + 2, w, h)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(colour)
    painter.drawRoundedRect(box, 4, 4)
    painter.setPen(QColor(255, 255, 255))
    painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)
    painter.restore()


class ResultsGridView(PhotoGridView):
    """Says once per result set when its first cells have been painted (the benchmark's "answer shown")."""

    painted = Signal(int)  # generation

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setItemDelegate(ResultsDelegate(self))
        self.generation = 0
        self._painted_generation = -1

    def paintEvent(self, event: Any) -> None:
        super().paintEvent(event)
        model = self.model()
        if model is not None and model.rowCount() and self._painted_generation != self.generation:
            self._painted_generation = self.generation
            self.painted.emit(self.generation)


class ResultsPage(QWidget):
    """The query strip over the results grid. ``closed`` is the "×": back to the gallery."""

    closed = Signal()
    activated = Signal(int)  # row

    def __init__(self, model: ResultsModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.query_image = QLabel(alignment=Qt.AlignmentFlag.AlignCenter)
        self.query_image.setFixedSize(QUERY_THUMB + 8, QUERY_THUMB + 8)
        self.query_image.setStyleSheet("QLabel { background: #222; border: 1px solid #555; }")
        self.query_image.hide()
        self.title = QLabel(textFormat=Qt.TextFormat.RichText, wordWrap=True)
        self.summary = QLabel(wordWrap=True)
        self.notes = QLabel(wordWrap=True, textFormat=Qt.TextFormat.PlainText)
        self.notes.setStyleSheet("QLabel { color: #b36b00; }")
        self.notes.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.close_button = QPushButton("×", toolTip="Clear the search and go back to all photos (Esc)")
        self.close_button.setFixedSize(32, 32)
        self.close_button.setStyleSheet("QPushButton { font-size: 18px; font-weight: bold; }")
        self.close_button.clicked.connect(self.closed)
        text = QVBoxLayout()
        text.addWidget(self.title)
        text.addWidget(self.summary)
        text.addWidget(self.notes)
        text.addStretch()
        strip = QHBoxLayout()
        strip.addWidget(self.query_image)
        strip.addLayout(text, 1)
        strip.addWidget(self.close_button, 0, Qt.AlignmentFlag.AlignTop)
        self.grid = ResultsGridView()
        self.grid.setModel(model)
        self.grid.doubleClicked.connect(lambda idx: self.activated.emit(idx.row()))
        self.grid.activated.connect(lambda idx: self.activated.emit(idx.row()))
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 0)
        lay.addLayout(strip)
        lay.addWidget(self.grid, 1)

    def show_query(self, title: str, image: QImage | None) -> None:
        """What was asked: the query image (a dropped file, pasted data or a region) and a line of text."""
        self.title.setText(title)
        if image is not None and not image.isNull():
            scaled = image.scaled(
                QUERY_THUMB, QUERY_THUMB, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
            )
            self.query_image.setPixmap(QPixmap.fromImage(scaled))
            self.query_image.show()
        else:
            self.query_image.clear()
            self.query_image.hide()

    def set_title(self, title: str) -> None:
        self.title.setText(title)

    def set_busy(self, busy: bool) -> None:
        if busy:
            self.summary.setText("Searching…")

    def set_results(
        self, generation: int, items: list[GalleryItem], hits: list[SearchHit], notes: list[str], seconds: float
    ) -> None:
        self.grid.generation = generation
        self.model.set_results(items, hits)
        exact = sum(h.kind is HitKind.EXACT for h in hits)
        if hits:
            found = f"{len(hits):,} photo{'s' if len(hits) != 1 else ''}"
            self.summary.setText(f"{found}{f' · {exact} exact' if exact else ''} · {seconds:.2f} s")
        else:
            self.summary.setText("No photos found")
        self.set_notes(notes)
        if hits:
            self.grid.scrollToTop()
            # Keyboard focus on the first hit without painting it selected (it would hide the badges' contrast).
            flag = QItemSelectionModel.SelectionFlag.NoUpdate
            self.grid.selectionModel().setCurrentIndex(self.model.index(0), flag)

    def set_notes(self, notes: Sequence[str]) -> None:
        self.notes.setText("\n".join(notes))
        self.notes.setVisible(bool(notes))

    def show_error(self, message: str) -> None:
        self.model.set_results([], [])
        self.summary.setText("No results")
        self.set_notes([message])

    def keyPressEvent(self, event: Any) -> None:
        if event.key() == Qt.Key.Key_Escape:
            self.closed.emit()
        else:
            super().keyPressEvent(event)
