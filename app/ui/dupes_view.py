"""The duplicates view: groups of one tier side by side, the keeper marked with its reason, per photo its
pixel size, file size, date, folder and why it matched; click marks for the trash, right-click keeps
another copy instead. The page asks; the window runs the writes (trash, undo, "not a duplicate").
"""

from __future__ import annotations

import time
from pathlib import PurePath
from typing import Any

from PySide6.QtCore import QEvent, QModelIndex, QPersistentModelIndex, QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QContextMenuEvent, QMouseEvent, QPainter, QPalette, QPen, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QListView,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTabBar,
    QToolBar,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from app.core.dupes import DupePhoto, DupeTier
from app.core.progress import Progress
from app.ui.dupes_model import ROW_ROLE, TIERS, DupesModel, GroupRow

CELL_W, THUMB_H, HEADER, TEXT_LINES, LINE_H, GAP, MARGIN = 168, 126, 26, 5, 15, 10, 8
ROW_H = HEADER + THUMB_H + 4 + TEXT_LINES * LINE_H + 2 * MARGIN
KEEP = QColor(39, 174, 96)
TRASH = QColor(192, 57, 43)
TIER_NAMES = {DupeTier.IDENTICAL: "Identical", DupeTier.SAME: "Same picture", DupeTier.SIMILAR: "Similar shots"}


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n / 1e3:.0f} kB"


def _n(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def photo_rects(rect: QRect, count: int) -> list[QRect]:
    """Where each photo's thumbnail sits in a row (those that fit; the rest are summed up as "+N")."""
    fits = max(1, (rect.width() - 2 * MARGIN + GAP) // (CELL_W + GAP))
    y = rect.y() + MARGIN + HEADER
    return [QRect(rect.x() + MARGIN + i * (CELL_W + GAP), y, CELL_W, THUMB_H) for i in range(min(count, fits))]


class GroupDelegate(QStyledItemDelegate):
    def __init__(self, model: DupesModel, parent: Any = None) -> None:
        super().__init__(parent)
        self.model = model

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        return QSize(4 * (CELL_W + GAP), ROW_H)

    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        row: GroupRow = index.data(ROW_ROLE)
        rect: QRect = option.rect  # type: ignore[attr-defined]
        pal: QPalette = option.palette  # type: ignore[attr-defined]
        painter.save()
        if option.state & QStyle.StateFlag.State_Selected:  # type: ignore[attr-defined]
            painter.fillRect(rect.adjusted(1, 1, -1, -1), pal.color(QPalette.ColorRole.AlternateBase))
        painter.setPen(pal.color(QPalette.ColorRole.Mid))
        painter.drawLine(rect.bottomLeft(), rect.bottomRight())
        painter.setPen(pal.color(QPalette.ColorRole.Text))
        head = QRect(rect.x() + MARGIN, rect.y() + MARGIN, rect.width() - 2 * MARGIN, HEADER - 4)
        n = len(row.photos)
        text = f"{n} photos · {row.group.reason}"
        if row.keeper and row.keeper != (row.group.keeper.path if row.group.keeper else None):
            text = f"{n} photos · you keep {PurePath(row.keeper).name}"
        font = painter.font()
        font.setBold(True)
        painter.setFont(font)
        painter.drawText(
            head,
            Qt.AlignmentFlag.AlignVCenter,
            painter.fontMetrics().elidedText(text, Qt.TextElideMode.ElideRight, head.width()),
        )
        font.setBold(False)
        painter.setFont(font)
        rects = photo_rects(rect, n)
        for photo, cell in zip(row.photos, rects, strict=False):
            self._paint_photo(painter, pal, row, photo, cell)
        if n > len(rects):
            last = rects[-1]
            more = QRect(last.right() + 4, last.y(), max(40, rect.right() - last.right() - 8), THUMB_H)
            painter.drawText(more, Qt.AlignmentFlag.AlignCenter, f"+{n - len(rects)} more")
        painter.restore()

    def _paint_photo(self, painter: QPainter, pal: QPalette, row: GroupRow, photo: DupePhoto, cell: QRect) -> None:
        pix = self.model.thumbnail(photo)
        if isinstance(pix, QPixmap) and not pix.isNull():
            scaled = pix.scaled(
                cell.size(), Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
            )
            x = cell.x() + (cell.width() - scaled.width()) // 2
            y = cell.y() + (cell.height() - scaled.height()) // 2
            painter.drawPixmap(x, y, scaled)
        else:
            painter.fillRect(cell.adjusted(8, 8, -8, -8), pal.color(QPalette.ColorRole.AlternateBase))
        keeper, marked = photo.path == row.keeper, photo.path in self.model.marked
        if marked:
            painter.fillRect(cell, QColor(192, 57, 43, 90))
        if keeper or marked:
            painter.setPen(QPen(KEEP if keeper else TRASH, 3))
            painter.drawRect(cell.adjusted(1, 1, -2, -2))
        badges = [("KEEP", KEEP)] if keeper else [("TRASH", TRASH)] if marked else []
        if photo.protected:
            badges.append(("protected", QColor(90, 90, 90)))
        x = cell.x() + 4
        for text, colour in badges:
            w = painter.fontMetrics().horizontalAdvance(text) + 10
            badge = QRect(x, cell.y() + 4, w, LINE_H + 2)
            painter.fillRect(badge, colour)
            painter.setPen(QColor(255, 255, 255))
            painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, text)
            x += w + 4
        item = self.model.items.get(photo.photo_id)
        date = (photo.taken_at or (item.taken_at if item else None) or "").replace(":", "-", 2)[:16] or "no date taken"
        pixels = f"{photo.width}×{photo.height}" if photo.width and photo.height else "size unknown"
        why = (
            "suggested keeper" if keeper and row.keeper == (row.group.keeper.path if row.group.keeper else None) else ""
        )
        why = why or ("your keeper" if keeper else row.why.get(photo.path, ""))
        lines = [f"{pixels} · {_size(photo.size)}", date, PurePath(photo.path).parent.name + "/", *why.split("\n")[:2]]
        painter.setPen(pal.color(QPalette.ColorRole.Text))
        fm = painter.fontMetrics()
        for i, line in enumerate(lines):
            r = QRect(cell.x(), cell.bottom() + 4 + i * LINE_H, cell.width(), LINE_H)
            painter.drawText(
                r,
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                fm.elidedText(line, Qt.TextElideMode.ElideMiddle, cell.width()),
            )


class GroupListView(QListView):
    """Uniform rows (virtualised); clicks on a photo mark it, right-click offers keeping it instead."""

    message = Signal(str)
    protect_requested = Signal(str, bool)  # folder, on
    open_requested = Signal(int, int)  # row, photo

    def __init__(self, model: DupesModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setModel(model)
        self.setItemDelegate(GroupDelegate(model, self))
        self.setUniformItemSizes(True)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.verticalScrollBar().setSingleStep(40)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setAcceptDrops(False)
        self.setMouseTracking(True)
        model.repaint_needed.connect(self.viewport().update)

    def photo_at(self, pos: QPoint) -> tuple[int, int]:
        index = self.indexAt(pos)
        if not index.isValid():
            return -1, -1
        row: GroupRow = index.data(ROW_ROLE)
        for i, cell in enumerate(photo_rects(self.visualRect(index), len(row.photos))):
            if cell.adjusted(0, 0, 0, 4 + TEXT_LINES * LINE_H).contains(pos):
                return index.row(), i
        return index.row(), -1

    def viewportEvent(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip:
            pos = event.pos()  # type: ignore[attr-defined]
            r, i = self.photo_at(pos)
            row = self.model().row(r)
            if row is not None and i >= 0:
                photo = row.photos[i]
                why = row.why.get(photo.path, "kept" if photo.path == row.keeper else "").replace("\n", ", ")
                text = f"{photo.path}\n{why}" + ("\nin a protected folder" if photo.protected else "")
                QToolTip.showText(event.globalPos(), text, self.viewport())  # type: ignore[attr-defined]
            else:
                QToolTip.hideText()
            return True
        return super().viewportEvent(event)

    def photo_pos(self, r: int, i: int) -> QPoint:
        """Centre of photo ``i`` of row ``r`` in viewport coordinates (tests click there)."""
        index = self.model().index(r, 0)
        return photo_rects(self.visualRect(index), i + 1)[i].center()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        super().mousePressEvent(event)
        if event.button() == Qt.MouseButton.LeftButton:
            r, i = self.photo_at(event.position().toPoint())
            if i >= 0:
                self.message.emit(self.model().toggle(r, i))
                self._last_toggle = (r, i, time.monotonic())

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        r, i = self.photo_at(event.position().toPoint())
        if event.button() == Qt.MouseButton.LeftButton and i >= 0:
            last = getattr(self, "_last_toggle", None)
            if last is not None and last[:2] == (r, i) and time.monotonic() - last[2] < 1.0:
                self.model().toggle(r, i)  # undo the mark the first click of the double-click made
            self._last_toggle = None
            self.open_requested.emit(r, i)
            return
        super().mouseDoubleClickEvent(event)

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        r, i = self.photo_at(event.pos())
        row = self.model().row(r)
        if row is None or i < 0:
            return
        photo = row.photos[i]
        folder = str(PurePath(photo.path).parent)
        menu = QMenu(self)
        view = menu.addAction("Open (compare the copies full size with ◀ ▶)")
        keep = menu.addAction("Keep this one instead")
        keep.setEnabled(row.keeper is not None and photo.path != row.keeper)
        protect = menu.addAction(
            f"Stop protecting {folder}" if photo.protected else f"Protect {folder} (never trash from it)"
        )
        chosen = menu.exec(event.globalPos())
        if chosen is view:
            self.open_requested.emit(r, i)
        elif chosen is keep:
            self.model().keep_instead(r, i)
        elif chosen is protect:
            self.protect_requested.emit(folder, not photo.protected)


class DupesPage(QWidget):
    closed = Signal()
    rescan_requested = Signal()
    trash_requested = Signal(list)  # paths
    not_duplicate_requested = Signal(list)  # (a, b) path pairs
    undo_requested = Signal()
    protect_requested = Signal(str, bool)  # folder, on

    def __init__(self, model: DupesModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.tabs = QTabBar()
        for tier in TIERS:
            self.tabs.addTab(TIER_NAMES[tier])
        self.tabs.currentChanged.connect(lambda i: model.set_tier(TIERS[i]))
        self.close_button = QPushButton("×", toolTip="Back to all photos (Esc)")
        self.close_button.setFixedSize(32, 32)
        self.close_button.clicked.connect(self.closed)
        self.keep_suggested = QPushButton("Keep suggested, trash the rest…")
        self.keep_suggested.clicked.connect(self._on_keep_suggested)
        self.trash_marked = QPushButton("Trash marked")
        self.trash_marked.clicked.connect(self._on_trash_marked)
        self.not_dupe = QPushButton("Not a duplicate")
        self.not_dupe.setToolTip("The selected group (or its marked photos) are not copies: never group them again")
        self.not_dupe.clicked.connect(self._on_not_duplicate)
        self.undo = QPushButton("Undo")
        self.undo.setToolTip("Bring back the photos of the last trash action (Ctrl+Z)")
        self.undo.clicked.connect(self.undo_requested)
        self.rescan = QPushButton("Rescan")
        self.rescan.clicked.connect(self.rescan_requested)
        self.progress = QProgressBar(maximumWidth=260)
        self.progress.hide()
        self.status = QLabel(wordWrap=True)
        self.list = GroupListView(model)
        self.list.message.connect(lambda m: self.set_status(m) if m else None)
        self.list.protect_requested.connect(self.protect_requested)
        self.tabs.setUsesScrollButtons(True)
        self.tabs.setExpanding(False)
        top = QHBoxLayout()
        top.addWidget(QLabel("<b>Duplicates</b>"))
        top.addWidget(self.tabs, 1)
        top.addWidget(self.close_button)
        # A tool bar folds what does not fit into its ">>" menu, so the page never widens the window.
        actions = QToolBar()
        for w in (self.keep_suggested, self.trash_marked, self.not_dupe, self.undo, self.rescan):
            actions.addWidget(w)
        status = QHBoxLayout()
        status.addWidget(self.progress)
        status.addWidget(self.status, 1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 0)
        lay.addLayout(top)
        lay.addWidget(actions)
        lay.addLayout(status)
        lay.addWidget(self.list, 1)
        model.modelReset.connect(self._update)
        model.marks_changed.connect(lambda _n: self._update())
        self._t0 = 0.0
        self._update()

    def _update(self) -> None:
        counts = self.model.counts()
        for i, tier in enumerate(TIERS):
            self.tabs.setTabText(i, f"{TIER_NAMES[tier]} ({counts[tier]:,})")
        n = len(self.model.marked)
        self.trash_marked.setText(f"Trash marked ({n})")
        self.trash_marked.setEnabled(n > 0)
        similar = self.model.tier == DupeTier.SIMILAR
        self.keep_suggested.setEnabled(not similar and self.model.rowCount() > 0)
        self.keep_suggested.setToolTip(
            "Other shots are never suggested for deletion: mark the ones you do not want"
            if similar
            else "Keep the marked keeper of every group in this tab and move the other copies to the trash"
        )

    # Progress and messages

    def set_busy(self, text: str) -> None:
        self._t0 = time.monotonic()
        self.progress.setRange(0, 0)
        self.progress.show()
        self.set_status(text)

    def set_progress(self, p: Progress) -> None:
        if p.total:
            self.progress.setRange(0, p.total)
            self.progress.setValue(p.done)
            self.set_status(f"Comparing photos: {p.done:,} of {p.total:,} candidate pairs")

    def _elapsed(self) -> float:
        return time.monotonic() - self._t0

    def set_done(self, text: str) -> None:
        self.progress.hide()
        self.set_status(text)

    def set_status(self, text: str) -> None:
        self.status.setText(text)

    # Asking (confirmations here; the window does the writes)

    def _on_keep_suggested(self) -> None:
        paths, groups = self.model.suggested_trash()
        if not paths:
            self.set_status("Nothing to trash here (protected copies are never trashed)")
            return
        answer = QMessageBox.question(
            self,
            "Keep suggested, trash the rest",
            f"Move {_n(len(paths), 'photo')} from {_n(groups, 'group')} to the system trash?\n\n"
            "The kept copy of each group stays. Undo brings them back.",
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.trash_requested.emit(paths)

    def _on_trash_marked(self) -> None:
        paths = self.model.marked_paths()
        if not paths:
            return
        answer = QMessageBox.question(
            self, "Trash marked", f"Move {_n(len(paths), 'marked photo')} to the system trash? Undo brings them back."
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.trash_requested.emit(paths)

    def _on_not_duplicate(self) -> None:
        row = self.model.row(self.list.currentIndex().row())
        if row is None:
            self.set_status("Select a group first")
            return
        paths = [p.path for p in row.photos]
        marked = [p for p in paths if p in self.model.marked]
        if marked and len(marked) < len(paths):
            pairs = [(a, b) for a in marked for b in paths if b not in marked]
        else:
            pairs = [(a, b) for i, a in enumerate(paths) for b in paths[i + 1 :]]
        self.not_duplicate_requested.emit(pairs)

    def keyPressEvent(self, event: Any) -> None:
        if event.key() == Qt.Key.Key_Escape:
            self.closed.emit()
        else:
            super().keyPressEvent(event)
