"""pytest-qt fixtures: a window on a temp library with fake models, and a check that no worker
thread outlives its test (napari's dangling-QThread check)."""

from __future__ import annotations

import multiprocessing
import threading
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


def _new_threads(before: set[int]) -> list[str]:
    # QThreads running Python show up as never-ending "Dummy" threads; running_threads() checks those.
    return [
        t.name
        for t in threading.enumerate()
        if t.ident not in before and t.is_alive() and not isinstance(t, threading._DummyThread)
    ]


@pytest.fixture(autouse=True)
def no_dangling_threads():
    """No QThread, pool, watcher/observer thread or model process outlives its test."""
    before = {t.ident for t in threading.enumerate()}
    yield
    deadline = time.monotonic() + 3
    while (running_threads() or _new_threads(before) or multiprocessing.active_children()) and (
        time.monotonic() < deadline
    ):
        time.sleep(0.02)
    assert running_threads() == [], "a worker thread outlived its window"
    assert _new_threads(before) == [], "a thread (watcher, observer, pool) outlived its test"
    assert multiprocessing.active_children() == [], "a model process outlived its test"


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
