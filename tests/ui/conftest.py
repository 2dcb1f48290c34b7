"""pytest-qt fixtures: a window on a temp library with fake models, and a check that no worker
thread outlives its test (napari's dangling-QThread check)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from app.ui.launch_support import LibrarySource
from app.ui.main_window import MainWindow
from app.ui.workers import running_threads
from tests.conftest import FakeDetector, FakeEncoder


class SlowEncoder(FakeEncoder):
    """A fake CLIP that takes a while per batch, so a run lasts long enough to pause or cancel."""

    def __init__(self, seconds_per_image: float = 0.01) -> None:
        super().__init__()
        self.seconds_per_image = seconds_per_image

    def encode_images(self, images):
        time.sleep(self.seconds_per_image * len(images))
        return super().encode_images(images)


@pytest.fixture(autouse=True)
def no_dangling_threads():
    yield
    deadline = time.monotonic() + 2
    while running_threads() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert running_threads() == [], "a worker thread outlived its window"


@pytest.fixture
def make_window(qtbot, tmp_path: Path):
    """``make_window(encoder=..., detector=...)`` opens a MainWindow on ``tmp_path/lib``."""
    windows = []

    def _make(encoder=None, detector=None, scan_on_open: bool = True) -> MainWindow:
        source = LibrarySource(tmp_path / "lib", encoder=encoder or FakeEncoder(), detector=detector or FakeDetector())
        settings = QSettings(str(tmp_path / "window.ini"), QSettings.Format.IniFormat)
        window = MainWindow(source, settings, scan_on_open=scan_on_open)
        qtbot.addWidget(window)
        window.show()
        windows.append(window)
        return window

    yield _make
    for w in windows:
        w.close()
