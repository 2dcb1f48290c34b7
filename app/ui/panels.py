"""Small widgets around the grid: welcome view, folders panel, progress panel, status line, failed list."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.core.gallery import FolderSummary
from app.core.progress import Progress

PHASES = {"scan": "Looking for photos", "fast": "Indexing photos", "regions": "Finding objects"}


def duration(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600} h {s % 3600 // 60:02d} min" if s >= 3600 else f"{s // 60} min {s % 60:02d} s"


class WelcomeView(QWidget):
    """First run: one question, one button (and the hint that a folder can be dropped)."""

    folder_requested = Signal()

    def __init__(self, icon: QIcon, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.addStretch(2)
        logo = QLabel(alignment=Qt.AlignmentFlag.AlignCenter)
        logo.setPixmap(icon.pixmap(128, 128))
        title = QLabel("<h1>Welcome to Shoebox</h1>", alignment=Qt.AlignmentFlag.AlignCenter)
        text = QLabel(
            "Choose a folder of photos to start. Shoebox indexes it in the background:<br>"
            "photos appear as they are read, and your files are never changed.<br><br>"
            "<i>You can also drag a folder onto this window.</i>",
            alignment=Qt.AlignmentFlag.AlignCenter,
        )
        self.button = QPushButton("Choose a photo folder…")
        self.button.setMinimumHeight(40)
        self.button.clicked.connect(self.folder_requested)
        row = QHBoxLayout()
        row.addStretch()
        row.addWidget(self.button)
        row.addStretch()
        for w in (logo, title, text):
            lay.addWidget(w)
        lay.addSpacing(12)
        lay.addLayout(row)
        lay.addStretch(3)


class FoldersPanel(QWidget):
    """Library folders with their state; selecting one filters the grid."""

    add_requested = Signal()
    remove_requested = Signal(object)  # FolderSummary
    excludes_requested = Signal(object)  # FolderSummary
    folder_selected = Signal(object)  # folder id or None for all photos

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.list = QListWidget()
        self.list.setWordWrap(True)
        self.list.currentItemChanged.connect(self._on_current)
        add = QToolButton(text="Add…", toolTip="Add a photo folder (Ctrl+O)")
        add.clicked.connect(self.add_requested)
        self.remove = QToolButton(text="Remove", toolTip="Forget this folder's photos (files stay on disk)")
        self.remove.clicked.connect(self._on_remove)
        self.excludes = QToolButton(text="Excludes…", toolTip="Files and folders of this folder to leave out")
        self.excludes.clicked.connect(lambda: self._emit_current(self.excludes_requested))
        buttons = QHBoxLayout()
        buttons.addWidget(add)
        buttons.addWidget(self.remove)
        buttons.addStretch()
        more = QHBoxLayout()  # a row of its own: the dock stays as narrow as before (small screens)
        more.addWidget(self.excludes)
        more.addStretch()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.list)
        lay.addLayout(buttons)
        lay.addLayout(more)
        self._summaries: list[FolderSummary] = []

    def set_folders(
        self,
        summaries: list[FolderSummary],
        indexing: bool | Callable[[FolderSummary], bool],
        modes: Mapping[str, tuple[str, str]] | None = None,
    ) -> None:
        """Show ``summaries``; ``indexing``: whether (or for which folders) a run is under way;
        ``modes``: folder path -> (watch mode, reason) while the folders are watched."""
        current = self.list.currentItem().data(Qt.ItemDataRole.UserRole) if self.list.currentItem() else None
        self._summaries = summaries
        self.list.blockSignals(True)
        self.list.clear()
        total = sum(s.indexed for s in summaries)
        everything = QListWidgetItem(f"All photos\n{total:,} photos")
        everything.setData(Qt.ItemDataRole.UserRole, None)
        self.list.addItem(everything)
        for s in summaries:
            busy = indexing(s) if callable(indexing) else indexing
            mode, reason = (modes or {}).get(s.path, ("", ""))
            item = QListWidgetItem(f"{s.path}\n{folder_state(s, busy, mode)}")
            item.setData(Qt.ItemDataRole.UserRole, s.id)
            item.setToolTip(f"{s.path}\n{reason}" if reason else s.path)
            self.list.addItem(item)
            if s.id == current:
                self.list.setCurrentItem(item)
        if self.list.currentItem() is None:
            self.list.setCurrentRow(0)
        self.list.blockSignals(False)
        self._update_buttons()

    def _update_buttons(self) -> None:
        one = self.list.currentItem() is not None and self.list.currentItem().data(Qt.ItemDataRole.UserRole) is not None
        self.remove.setEnabled(one)
        self.excludes.setEnabled(one)

    def _on_current(self, item: QListWidgetItem | None, _prev: object) -> None:
        self._update_buttons()
        self.folder_selected.emit(item.data(Qt.ItemDataRole.UserRole) if item else None)

    def _on_remove(self) -> None:
        self._emit_current(self.remove_requested)

    def _emit_current(self, signal: Any) -> None:
        item = self.list.currentItem()
        fid = item.data(Qt.ItemDataRole.UserRole) if item else None
        for s in self._summaries:
            if s.id == fid:
                signal.emit(s)


def folder_state(s: FolderSummary, indexing: bool, mode: str = "") -> str:
    """ "1,234 photos · indexing (12 to go) · watched · 3 failed" — what a user needs to know about one folder.

    ``mode`` is the watcher's: "watched" (file-system events), "polled" (network or FUSE drive: checked
    every so often), "offline"; empty when nothing watches.
    """
    parts = [f"{s.indexed:,} photos"]
    offline = not s.online or mode == "offline"
    if offline:
        parts.append("offline")
    elif s.pending and indexing:
        parts.append(f"indexing ({s.pending:,} to go)")
    elif s.pending:
        parts.append(f"{s.pending:,} waiting")
    if mode in ("watched", "polled") and not offline:
        parts.append(mode)
    if s.failed:
        parts.append(f"{s.failed:,} failed")
    return " · ".join(parts)


class ProgressPanel(QWidget):
    """done/total, current file, ETA, pause/resume, cancel. Hidden when nothing runs."""

    pause_toggled = Signal(bool)  # True = pause
    cancel_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.phase = QLabel()
        self.bar = QProgressBar()
        self.bar.setTextVisible(True)
        self.current = QLabel()
        self.current.setMinimumWidth(100)
        self.eta = QLabel()
        self.pause = QPushButton("Pause")
        self.pause.setCheckable(True)
        self.pause.toggled.connect(self._on_pause)
        self.cancel = QPushButton("Cancel")
        self.cancel.clicked.connect(self.cancel_requested)
        top = QHBoxLayout()
        top.addWidget(self.phase)
        top.addWidget(self.bar, 1)
        top.addWidget(self.eta)
        top.addWidget(self.pause)
        top.addWidget(self.cancel)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 4, 8, 4)
        lay.addLayout(top)
        lay.addWidget(self.current)
        self.hide()

    def start(self) -> None:
        self.pause.setChecked(False)
        self.pause.setEnabled(True)
        self.cancel.setEnabled(True)
        self.phase.setText("Starting…")
        self.bar.setRange(0, 0)
        self.current.clear()
        self.eta.clear()
        self.show()

    def update_progress(self, p: Progress) -> None:
        self.phase.setText(PHASES.get(p.phase, p.phase))
        if p.total:
            self.bar.setRange(0, p.total)
            self.bar.setValue(p.done)
            self.bar.setFormat(f"{p.done:,} / {p.total:,}")
        else:
            self.bar.setRange(0, 0)  # scanning: total not known yet
        if p.current:
            self.current.setText(self.fontMetrics().elidedText(p.current, Qt.TextElideMode.ElideMiddle, 900))
        rate = f"{p.rate:.1f}/s" if p.rate else ""
        left = f"about {duration(p.eta_s)} left" if p.eta_s else ""
        self.eta.setText(" · ".join(x for x in (rate, left) if x))

    def stopping(self) -> None:
        self.phase.setText("Stopping after the current batch…")
        self.pause.setEnabled(False)
        self.cancel.setEnabled(False)

    def _on_pause(self, paused: bool) -> None:
        self.pause.setText("Resume" if paused else "Pause")
        if paused:
            self.phase.setText("Paused")
        self.pause_toggled.emit(paused)


class StatusLine(QLabel):
    """Always honest: what runs now, how many photos, and a link to the failed ones."""

    failed_clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTextFormat(Qt.TextFormat.RichText)
        self.linkActivated.connect(lambda _link: self.failed_clicked.emit())
        self.state = "Starting…"
        self.photos = 0
        self.failed = 0
        self.note = ""

    def refresh(self) -> None:
        parts = [self.state, f"{self.photos:,} photos"]
        if self.failed:
            parts.append(f'<a href="failed">{self.failed:,} failed</a>')
        if self.note:
            parts.append(self.note)
        self.setText(" · ".join(parts))


class FailuresDialog(QDialog):
    """Which files could not be read, and why."""

    def __init__(self, failures: list[tuple[str, str]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Files Shoebox could not read")
        self.resize(900, 400)
        self.table = QTableWidget(len(failures), 2)
        self.table.setHorizontalHeaderLabels(["File", "Why"])
        for row, (path, error) in enumerate(failures):
            self.table.setItem(row, 0, QTableWidgetItem(path))
            self.table.setItem(row, 1, QTableWidgetItem(error))
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel("They are skipped until they change on disk; nothing was modified."))
        lay.addWidget(self.table)
        lay.addWidget(buttons)
