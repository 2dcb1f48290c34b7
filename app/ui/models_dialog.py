"""Models & settings page: which models are usable, Download when online, the exact files when offline."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QGridLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout

from app.core.models import ModelStatus
from app.ui.workers import TaskRunner, error_text

_TITLES = {"clip": "CLIP (text and similar-image search)", "detector": "Object detector (finds things inside photos)"}


class ModelsDialog(QDialog):
    def __init__(self, library: Any, tasks: TaskRunner, parent: Any = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Models and settings")
        self.resize(760, 360)
        self._library, self._tasks = library, tasks
        self.grid = QGridLayout()
        self.note = QLabel(wordWrap=True)
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.busy.hide()
        self.download = QPushButton("Download missing models")
        self.download.clicked.connect(self._on_download)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel(f"Library: <code>{library.paths.root}</code>"))
        lay.addLayout(self.grid)
        lay.addWidget(self.note)
        lay.addWidget(self.busy)
        lay.addWidget(self.download, 0, Qt.AlignmentFlag.AlignLeft)
        lay.addStretch()
        lay.addWidget(
            QLabel("Without model files Shoebox still indexes, shows photos, finds exact crops and duplicates.")
        )
        lay.addWidget(buttons)
        self.statuses: dict[str, ModelStatus] = {}
        tasks.run(library.model_status, self.show_statuses, self._on_error)

    def show_statuses(self, statuses: dict[str, ModelStatus]) -> None:
        self.statuses = statuses
        while self.grid.count():
            w = self.grid.takeAt(0).widget()
            if w is not None:
                w.deleteLater()
        for row, (name, st) in enumerate(statuses.items()):
            state = "✔ ready" if st.available else "✘ missing"
            if st.available and st.random_init:
                state = "⚠ random weights (tests only)"
            self.grid.addWidget(QLabel(f"<b>{_TITLES.get(name, name)}</b><br><code>{st.model_id}</code>"), row, 0)
            self.grid.addWidget(QLabel(state), row, 1)
            detail = QLabel(st.message, wordWrap=True)
            detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.grid.addWidget(detail, row, 2)
        self.grid.setColumnStretch(2, 1)
        missing = [s for s in statuses.values() if not s.available and s.model_id]
        self.download.setEnabled(bool(missing))
        self.note.setText(
            "Missing files can be downloaded (needs the internet), or copied by hand to the places shown."
            if missing
            else "All configured models are available."
        )

    def _on_download(self) -> None:
        self.download.setEnabled(False)
        self.busy.show()
        self.note.setText("Downloading… (this can take a few minutes)")
        self._tasks.run(self._library.download_models, self._on_downloaded, self._on_error)

    def _on_downloaded(self, statuses: dict[str, ModelStatus]) -> None:
        self.busy.hide()
        self.show_statuses(statuses)

    def _on_error(self, exc: BaseException) -> None:
        self.busy.hide()
        hint = getattr(exc, "hint", "")
        self.note.setText(f"<b>Download failed:</b> {error_text(exc)}" + (f"<br>{hint}" if hint else ""))
        self.download.setEnabled(True)
