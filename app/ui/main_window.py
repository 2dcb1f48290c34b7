"""The main window: welcome view or gallery, folders panel, progress panel, status line, viewer.

It talks only to the ``Library`` facade, and only through ``TaskRunner`` (reads) and
``IndexController`` (indexing and every write), so the UI thread never waits on the library.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QFileDialog,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.core.gallery import FolderSummary, GalleryItem, SortOrder
from app.core.models import IndexStats
from app.core.progress import Progress
from app.ui.gallery_model import PhotoGridModel
from app.ui.grid_view import THUMB, PhotoGridView
from app.ui.launch_support import LibrarySource, app_icon
from app.ui.models_dialog import ModelsDialog
from app.ui.panels import PHASES, FailuresDialog, FoldersPanel, ProgressPanel, StatusLine, WelcomeView
from app.ui.thumbnails import ThumbnailLoader
from app.ui.viewer import ViewerPage
from app.ui.window_dupes import DupesMixin
from app.ui.window_live import LiveFoldersMixin
from app.ui.window_search import SearchAndViewerMixin
from app.ui.window_trash import TrashMixin
from app.ui.workers import IndexController, TaskRunner, error_text

log = logging.getLogger(__name__)

REFRESH_WHILE_INDEXING_MS = 1000  # new photos show up in the grid about once a second


class MainWindow(LiveFoldersMixin, SearchAndViewerMixin, DupesMixin, TrashMixin, QMainWindow):
    library_opened = Signal(object)
    listing_shown = Signal(int)  # rows now in the grid

    def __init__(self, source: LibrarySource, settings: QSettings | None = None, scan_on_open: bool = True) -> None:
        super().__init__()
        self.source, self.scan_on_open = source, scan_on_open
        self.settings = settings or QSettings("Shoebox", "Shoebox")
        self.library: Any = None
        self.controller: IndexController | None = None
        self.tasks = TaskRunner(2, self)
        self._pending_paths: list[str] = []
        self._listing_generation = 0
        self._folder_id: int | None = None
        self._viewer_row = -1
        self._opening = False
        self.setWindowTitle("Shoebox")
        self.setWindowIcon(app_icon())
        self.setAcceptDrops(True)
        self._build()
        self._refresh_timer = QTimer(self, singleShot=True, interval=REFRESH_WHILE_INDEXING_MS)
        self._refresh_timer.timeout.connect(self.refresh)
        geometry = self.settings.value("window/geometry")
        if isinstance(geometry, QByteArray | bytes) and self.restoreGeometry(geometry):
            self.restoreState(self.settings.value("window/state") or QByteArray())
        else:
            self.resize(1280, 820)
        if source.exists():
            self._open_library(create=False)
        else:
            self.stack.setCurrentWidget(self.welcome)
            self._set_state("No library yet")

    # Building

    def _build(self) -> None:
        self.loader = ThumbnailLoader(THUMB, threads=2, parent=self)
        self.model = PhotoGridModel(self.loader, self._thumbnail_path, self)
        self.grid = PhotoGridView()
        self.grid.setModel(self.model)
        self.grid.doubleClicked.connect(lambda idx: self.open_viewer(idx.row()))
        self.grid.activated.connect(lambda idx: self.open_viewer(idx.row()))
        self.welcome = WelcomeView(app_icon())
        self.welcome.folder_requested.connect(self.choose_folder)
        self.viewer = ViewerPage()
        self.viewer.closed.connect(self.close_viewer)
        self.viewer.step_requested.connect(self._step_viewer)
        self.stack = QStackedWidget()
        for page in (self.welcome, self.grid, self.viewer):
            self.stack.addWidget(page)
        self.progress = ProgressPanel()
        self.progress.pause_toggled.connect(self._on_pause_toggled)
        self.progress.cancel_requested.connect(self.cancel_indexing)
        central = QWidget()
        lay = QVBoxLayout(central)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self.stack, 1)
        lay.addWidget(self.progress)
        self.setCentralWidget(central)

        self.folders = FoldersPanel()
        self.folders.add_requested.connect(self.choose_folder)
        self.folders.remove_requested.connect(self.remove_folder)
        self.folders.excludes_requested.connect(self.edit_excludes)
        self.folders.folder_selected.connect(self._on_folder_selected)
        dock = QDockWidget("Folders", self)
        dock.setObjectName("folders")
        dock.setWidget(self.folders)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)
        self.folders_dock = dock

        self.status_line = StatusLine()
        self.status_line.failed_clicked.connect(self.show_failures)
        self.statusBar().addWidget(self.status_line, 1)
        self._build_actions()

    def _build_actions(self) -> None:
        tb = self.addToolBar("Main")
        tb.setObjectName("main-toolbar")
        tb.setMovable(False)
        self.add_action = self._action("&Add folder…", QKeySequence.StandardKey.Open, self.choose_folder)
        self.find_action = self._action("&Find", QKeySequence.StandardKey.Find, self.focus_search)
        self.trash_action = self._action("Move to &trash…", QKeySequence.StandardKey.Delete, self.trash_selected)
        self.undo_action = self._action("&Undo", QKeySequence.StandardKey.Undo, self.undo)
        self.models_action = self._action("&Models and settings…", None, self.show_models)
        quit_action = self._action("&Quit", QKeySequence.StandardKey.Quit, self.close)
        self.sort = QComboBox()
        for order, label in (
            (SortOrder.DATE, "Newest first"),
            (SortOrder.NAME, "By name"),
            (SortOrder.FOLDER, "By folder"),
        ):
            self.sort.addItem(label, order)
        self.sort.setCurrentIndex(max(0, self.sort.findData(self.settings.value("gallery/sort", SortOrder.DATE))))
        self.sort.currentIndexChanged.connect(self._on_sort_changed)
        self.search = QLineEdit(placeholderText="Search photos (Ctrl+F)…", clearButtonEnabled=True)
        self.search.setMaximumWidth(360)
        tb.addAction(self.add_action)
        tb.addSeparator()
        tb.addWidget(self.sort)
        tb.addSeparator()
        tb.addWidget(self.search)
        self._build_find(tb, self.stack)
        self._build_dupes(self.stack)
        tb.addSeparator()
        tb.addAction(self.dupes_action)
        tb.addAction(self.models_action)
        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        file_menu.addAction(self.add_action)
        file_menu.addSeparator()
        file_menu.addAction(quit_action)
        edit = menu.addMenu("&Edit")
        for a in (self.find_action, self.paste_action, self.trash_action, self.undo_action):
            edit.addAction(a)
        tools = menu.addMenu("&Tools")
        tools.addAction(self.dupes_action)
        tools.addAction(self.models_action)
        self._update_trash_actions()

    def _action(self, text: str, shortcut: Any, slot: Any) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        self.addAction(action)
        return action

    def _update_trash_actions(self) -> None:
        """Delete and Undo need ``Library.trash``/``undo`` (the duplicates work); until then they say so."""
        for action, name in ((self.trash_action, "trash"), (self.undo_action, "undo")):
            supported = self.library is not None and hasattr(self.library, name)
            action.setEnabled(supported)
            action.setToolTip("" if supported else "Not available yet in this version of Shoebox")

    # Library lifecycle

    def _open_library(self, create: bool) -> None:
        if self._opening:
            return
        self._opening = True
        self._set_state("Opening library…")
        self.stack.setCurrentWidget(self.grid)
        self.tasks.run(lambda: self.source.open(create), self._on_library_opened, self._on_open_failed)

    def _on_open_failed(self, exc: BaseException) -> None:
        self._opening = False
        self._set_state("Could not open the library")
        QMessageBox.critical(self, "Shoebox", error_text(exc))
        self.stack.setCurrentWidget(self.welcome)

    def _on_library_opened(self, library: Any) -> None:
        self._opening = False
        self.library = library
        self.controller = IndexController(library, self)
        self.controller.progressed.connect(self._on_progress)
        self.controller.indexing_started.connect(self._on_indexing_started)
        self.controller.indexing_finished.connect(self._on_indexing_finished)
        self.controller.indexing_failed.connect(self._on_indexing_failed)
        self._update_trash_actions()
        self._set_state("Idle" if library.is_writer else "Read-only: another Shoebox process is indexing")
        self.refresh()
        self.library_opened.emit(library)
        if not library.is_writer:
            return
        self._start_live()  # queued on the writer before any scan, so no change during the scan is missed
        if self._pending_paths:
            paths, self._pending_paths = self._pending_paths, []
            self.controller.index(paths)
        elif self.scan_on_open:
            self.tasks.run(library.folders, lambda folders: folders and self.controller and self.controller.index())

    def _thumbnail_path(self, item: GalleryItem) -> str:
        if self.library is None or not item.content_hash:
            return ""
        return str(self.library.paths.thumbnail_for(item.content_hash))

    # Folders

    def choose_folder(self) -> None:
        start = self.settings.value("dialogs/last_folder", str(Path.home()))
        path = QFileDialog.getExistingDirectory(self, "Choose a photo folder", str(start))
        if path:
            self.settings.setValue("dialogs/last_folder", path)
            self.add_folders([path])

    def add_folders(self, paths: Sequence[str | Path]) -> None:
        """Add folders and index them in the background (opening or creating the library first)."""
        folders = [str(p) for p in paths if Path(p).is_dir()]
        if not folders:
            return
        if self.library is None:
            self._pending_paths.extend(folders)
            self._open_library(create=True)
            return
        if not self.library.is_writer:
            QMessageBox.information(self, "Shoebox", "Another Shoebox process is indexing this library; try later.")
            return
        self.stack.setCurrentWidget(self.grid)
        assert self.controller is not None
        self.controller.index(folders)

    def remove_folder(self, summary: FolderSummary) -> None:
        answer = QMessageBox.question(
            self,
            "Remove folder",
            f"Remove {summary.path} from the library?\n\nIts {summary.photos:,} photos leave the index; "
            "the files on disk are not touched.",
        )
        if answer != QMessageBox.StandardButton.Yes or self.controller is None:
            return
        self.controller.cancel()
        self.controller.call(lambda: self.library.remove_folder(summary.id), lambda _n: self.refresh())

    def _on_folder_selected(self, folder_id: int | None) -> None:
        self._folder_id = folder_id
        self.refresh_listing()

    # Indexing

    def _on_indexing_started(self) -> None:
        self.stack.setCurrentWidget(self.grid) if self.stack.currentWidget() is self.welcome else None
        self.progress.start()
        self._set_state("Indexing")

    def _on_progress(self, p: Progress) -> None:
        self.progress.update_progress(p)
        if self.controller is not None and not self.controller.is_paused:
            phase = PHASES.get(p.phase, p.phase)
            self._set_state(f"{phase} {p.done:,}/{p.total:,}" if p.total else phase)
        if p.phase == "fast" and not self._refresh_timer.isActive():
            self._refresh_timer.start()

    def _on_pause_toggled(self, paused: bool) -> None:
        if self.controller is None:
            return
        if paused:
            self.controller.pause()
            self._set_state("Paused")
        else:
            self.controller.resume()
            self._set_state("Indexing")

    def cancel_indexing(self) -> None:
        if self.controller is not None and self.controller.is_indexing:
            self.progress.stopping()
            self.controller.cancel()

    def _on_indexing_finished(self, stats: IndexStats) -> None:
        self.progress.hide()
        notes = "; ".join(stats.notes)
        state = "Stopped (what was indexed is kept)" if stats.cancelled else "Idle"
        self._set_state(state, note=notes)
        self.refresh()

    def _on_indexing_failed(self, message: str) -> None:
        self.progress.hide()
        self._set_state("Idle", note=f"indexing stopped: {message}")
        self.refresh()

    # Reading

    def refresh(self) -> None:
        self.refresh_listing()
        self.refresh_folders()

    def refresh_folders(self) -> None:
        if self.library is not None:
            self.tasks.run(self.library.folder_summaries, self._on_folders)

    def _on_folders(self, summaries: list[FolderSummary]) -> None:
        indexing = bool(self.controller and self.controller.is_indexing)
        self.folders.set_folders(summaries, self._is_indexing, self._folder_modes())
        self.status_line.photos = sum(s.indexed for s in summaries)
        self.status_line.failed = sum(s.failed for s in summaries)
        self.status_line.refresh()
        if not summaries and not indexing and not self._pending_paths:
            self.stack.setCurrentWidget(self.welcome)

    def refresh_listing(self) -> None:
        if self.library is None:
            return
        self._listing_generation += 1
        gen, order, folder = self._listing_generation, self.sort.currentData(), self._folder_id
        self.tasks.run(lambda: self.library.photos(order, folder), lambda items: self._on_listing(gen, items))

    def _on_sort_changed(self, _index: int) -> None:
        # Only here: every setValue makes QSettings rewrite its file on the UI thread (40-160 ms measured
        # while indexing), so the once-a-second listing refresh must not write it.
        self.settings.setValue("gallery/sort", str(self.sort.currentData()))
        self.refresh_listing()

    def _on_listing(self, generation: int, items: list[GalleryItem]) -> None:
        if generation != self._listing_generation:
            return  # a newer listing was asked for meanwhile
        selected = {
            self.model.items[i.row()].id for i in self.grid.selectedIndexes() if i.row() < len(self.model.items)
        }
        scroll = self.grid.verticalScrollBar().value()
        if self.model.set_items(items):
            self.grid.verticalScrollBar().setValue(scroll)
            for pid in selected:
                row = self.model.row_of(pid)
                if row is not None:
                    self.grid.selectionModel().select(
                        self.model.index(row), self.grid.selectionModel().SelectionFlag.Select
                    )
        self.listing_shown.emit(len(items))

    def show_failures(self) -> None:
        if self.library is not None:
            self.tasks.run(self.library.failures, lambda f: FailuresDialog(f, self).exec())

    def show_models(self) -> None:
        if self.library is None:
            QMessageBox.information(self, "Shoebox", "Add a photo folder first: models belong to a library.")
            return
        ModelsDialog(self.library, self.tasks, self).exec()

    # Window

    def _set_state(self, state: str, note: str | None = None) -> None:
        self.status_line.state = state
        if note is not None:
            self.status_line.note = note
        self.status_line.refresh()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        self.settings.sync()
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Stop indexing (after its batch), wait for every worker, then close the library."""
        self._refresh_timer.stop()
        if self.live is not None:
            self.live.close()
        if self.controller is not None:
            self.controller.stop()
        self.tasks.close()
        self.loader.close()
        if self.library is not None:
            self.library.close()
            self.library = None
