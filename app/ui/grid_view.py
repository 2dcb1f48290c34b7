"""The thumbnail grid: a ``QListView`` in wrapping list mode with uniform cells (virtualised: only the
cells on screen are asked for data and painted), and a delegate that draws a thumbnail and a name.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPalette, QPen, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QListView, QStyle, QStyledItemDelegate, QStyleOptionViewItem

from app.ui.gallery_model import FAILED_ROLE

THUMB = 160
CAPTION = 20
PAD = 8


class ThumbnailDelegate(QStyledItemDelegate):
    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        return QSize(THUMB + 2 * PAD, THUMB + CAPTION + 2 * PAD)

    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        painter.save()
        rect = option.rect  # type: ignore[attr-defined]
        pal = option.palette  # type: ignore[attr-defined]
        selected = bool(option.state & QStyle.StateFlag.State_Selected)  # type: ignore[attr-defined]
        if selected:
            painter.fillRect(rect.adjusted(2, 2, -2, -2), pal.color(QPalette.ColorRole.Highlight))
        cell = QRect(rect.x() + PAD, rect.y() + PAD, THUMB, THUMB)
        pix = index.data(Qt.ItemDataRole.DecorationRole)
        if index.data(FAILED_ROLE):
            painter.fillRect(cell, QColor(90, 40, 40))
            painter.setPen(QColor(255, 200, 200))
            painter.drawText(cell, Qt.AlignmentFlag.AlignCenter, "cannot read\n(see failed list)")
        elif isinstance(pix, QPixmap) and not pix.isNull():
            x = cell.x() + (THUMB - pix.width()) // 2
            y = cell.y() + (THUMB - pix.height()) // 2
            painter.drawPixmap(x, y, pix)
        else:
            painter.fillRect(cell.adjusted(10, 10, -10, -10), pal.color(QPalette.ColorRole.AlternateBase))
        text_rect = QRect(rect.x() + PAD, rect.y() + PAD + THUMB + 2, THUMB, CAPTION - 2)
        role = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        painter.setPen(QPen(pal.color(role)))
        name = option.fontMetrics.elidedText(  # type: ignore[attr-defined]
            str(index.data(Qt.ItemDataRole.DisplayRole) or ""), Qt.TextElideMode.ElideMiddle, THUMB
        )
        painter.drawText(text_rect, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop, name)
        painter.restore()


LAYOUT_BATCH = 5000


class PhotoGridView(QListView):
    """Uniform cells let Qt lay out 100,000 rows by arithmetic instead of measuring each one."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.ListMode)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(True)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setUniformItemSizes(True)
        # Even with uniform cells, laying out costs 1-2 Python rowCount() calls per row (Qt asks the model
        # whether each row exists): ~100 ms at 100,000 photos in one go, after every reset (a re-read while
        # indexing, a sort). In batches the event loop runs between them: ~5-15 ms each, and the rows near
        # the top are usable at once. Libraries under one batch are laid out exactly as before.
        self.setLayoutMode(QListView.LayoutMode.Batched)
        self.setBatchSize(LAYOUT_BATCH)
        self.setMovement(QListView.Movement.Static)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.verticalScrollBar().setSingleStep(40)
        self.setItemDelegate(ThumbnailDelegate(self))
        self.setGridSize(QSize(THUMB + 2 * PAD, THUMB + CAPTION + 2 * PAD))
        self.setSpacing(0)
        self.setDragEnabled(False)
        self.setAcceptDrops(False)  # folder drops go to the window

    def setModel(self, model) -> None:
        super().setModel(model)
        if hasattr(model, "repaint_needed"):
            model.repaint_needed.connect(self.viewport().update)
