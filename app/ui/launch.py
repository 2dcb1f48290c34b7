"""Start the window fast: parse the few flags, show the window, and only then load the library.

Torch, open_clip and ultralytics are not imported here; the indexer thread loads them when the first
batch needs a model. ``SHOEBOX_FIRST_PAINT_REPORT=FILE`` writes when the first paint happened (and
whether torch was loaded by then) for ``benchmarks/bench_gui.py``; ``SHOEBOX_EXIT_AFTER_PAINT=1`` quits.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Sequence

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication

from app.ui.launch_support import LibrarySource, app_icon, tune_ui_process


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="shoebox", description="Open the Shoebox window.")
    p.add_argument("--library", metavar="DIR")
    p.add_argument("--clip-model")
    p.add_argument("--clip-pretrained")
    p.add_argument("--detector")
    p.add_argument("-v", "--verbose", action="store_true")
    p.add_argument("folders", nargs="*", help=argparse.SUPPRESS)  # `shoebox-gui FOLDER` adds it
    return p.parse_args(argv)


class _FirstPaint(QObject):
    def __init__(self, report: str, quit_after: bool) -> None:
        super().__init__()
        self.report, self.quit_after, self.done = report, quit_after, False

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if not self.done and event.type() == QEvent.Type.Paint:
            self.done = True
            QTimer.singleShot(0, self._write)  # after this paint has finished
        return False

    def _write(self) -> None:
        data = {"painted_at": time.time(), "torch_imported": "torch" in sys.modules}
        with open(self.report, "w", encoding="utf-8") as f:
            json.dump(data, f)
        if self.quit_after:
            QApplication.instance().quit()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    tune_ui_process()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Shoebox")
    app.setOrganizationName("Shoebox")
    app.setDesktopFileName("io.github.shoebox.Shoebox")
    app.setWindowIcon(app_icon())
    from app.ui.main_window import MainWindow

    overrides = {"clip_model": args.clip_model, "clip_pretrained": args.clip_pretrained, "detector": args.detector}
    source = LibrarySource(args.library, {k: v for k, v in overrides.items() if v is not None})
    window = MainWindow(source)
    report = os.environ.get("SHOEBOX_FIRST_PAINT_REPORT")
    if report:
        watcher = _FirstPaint(report, os.environ.get("SHOEBOX_EXIT_AFTER_PAINT") == "1")
        window.installEventFilter(watcher)
        window.centralWidget().installEventFilter(watcher)
    window.show()
    if args.folders:
        window.add_folders(args.folders)
    return app.exec()
