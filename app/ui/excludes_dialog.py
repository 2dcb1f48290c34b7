"""One folder's exclude patterns: one glob per line, with a live count of the photos they would remove."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QPlainTextEdit, QVBoxLayout, QWidget

from app.core.gallery import FolderSummary
from app.ui.workers import TaskRunner, error_text

HELP = (
    "One pattern per line. A name matches files or folders at any depth "
    "(<code>*.tmp</code>, <code>Screenshots</code>, <code>IMG_*_edit.jpg</code>); a pattern with "
    "<code>/</code> matches a path inside this folder (<code>2019/drafts</code>, <code>raw/*</code>).<br>"
    "Excluded photos leave the index; the files are never touched."
)


class ExcludesDialog(QDialog):
    def __init__(self, library: Any, tasks: TaskRunner, summary: FolderSummary, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Exclude from this folder")
        self.resize(560, 380)
        self._library, self._tasks, self._summary = library, tasks, summary
        self._generation = 0
        self.edit = QPlainTextEdit()
        self.edit.setPlaceholderText("*.tmp\nScreenshots\n2019/drafts")
        self.preview = QLabel(wordWrap=True)
        self._debounce = QTimer(self, singleShot=True, interval=250)
        self._debounce.timeout.connect(self._update_preview)
        self.edit.textChanged.connect(self._debounce.start)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel(f"<b>{summary.path}</b>"))
        lay.addWidget(QLabel(HELP, wordWrap=True))
        lay.addWidget(self.edit, 1)
        lay.addWidget(self.preview)
        lay.addWidget(buttons)
        tasks.run(lambda: library.folder_excludes(summary.id), self._on_loaded, self._on_error)

    def patterns(self) -> list[str]:
        return [line.strip() for line in self.edit.toPlainText().splitlines() if line.strip()]

    def _on_loaded(self, patterns: tuple[str, ...]) -> None:
        self.edit.setPlainText("\n".join(patterns))
        self._update_preview()

    def _update_preview(self) -> None:
        self._generation += 1
        gen, patterns = self._generation, self.patterns()
        self._tasks.run(
            lambda: self._library.folder_excluded_photos(self._summary.id, patterns),
            lambda paths: self._on_preview(gen, paths),
            self._on_error,
        )

    def _on_preview(self, generation: int, paths: list[str]) -> None:
        if generation != self._generation:
            return
        if not paths:
            self.preview.setText("No indexed photo matches these patterns.")
        else:
            sample = "<br>".join(paths[:3])
            self.preview.setText(f"<b>{len(paths):,} photos</b> would leave the index, e.g.<br>{sample}")

    def _on_error(self, exc: BaseException) -> None:
        self.preview.setText(f"<b>{error_text(exc)}</b>")
