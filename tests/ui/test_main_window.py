"""The window as a user drives it: first run, adding a folder, progress, cancel, failures, viewer."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QMessageBox

from app.core.progress import Progress
from tests.conftest import make_photo
from tests.ui.conftest import SlowEncoder

ROOT = Path(__file__).resolve().parents[2]
_modules_before_this_test = set(sys.modules)  # torch may come from other test modules, never from the window


def _photos(folder: Path, n: int, broken: int = 0) -> Path:
    for i in range(n):
        make_photo(folder / f"p{i:04d}.jpg", seed=i, size=(320, 240))
    for i in range(broken):
        (folder / f"broken{i}.jpg").write_bytes(b"this is not a JPEG")
    return folder


def _open_with_folder(qtbot, window, folder: Path) -> list[Progress]:
    """Add ``folder`` and wait for the run to finish; returns every progress report the UI got."""
    seen: list[Progress] = []
    with qtbot.waitSignal(window.library_opened, timeout=10_000):
        window.add_folders([folder])
    window.controller.progressed.connect(seen.append)
    if window.controller.is_indexing or window.controller._queued:
        with qtbot.waitSignal(window.controller.indexing_finished, timeout=30_000):
            pass
    # The grid catches up with the index on its own refresh (the folders are watched meanwhile).
    indexed = window.library.status().photos
    qtbot.waitUntil(lambda: window.model.rowCount() == indexed, timeout=10_000)
    return seen


def _fast_done(window) -> int:
    return window.progress.bar.value() if window.progress.phase.text() == "Indexing photos" else 0


def test_first_run_shows_the_welcome_view(make_window):
    window = make_window()
    assert window.stack.currentWidget() is window.welcome
    assert window.library is None
    assert "No library" in window.status_line.text()


def test_adding_a_folder_indexes_it_with_progress_and_fills_the_grid(qtbot, make_window, tmp_path):
    folder = _photos(tmp_path / "photos", 12)
    window = make_window()
    seen = _open_with_folder(qtbot, window, folder)
    assert any(p.phase == "fast" and p.total == 12 for p in seen)
    assert seen[-1].done == seen[-1].total
    qtbot.waitUntil(lambda: window.model.rowCount() == 12, timeout=5000)
    assert window.stack.currentWidget() is window.grid
    assert "12 photos" in window.status_line.text()
    assert not window.progress.isVisible()
    # Thumbnails arrive from the loader thread and are painted from its cache.
    first = window.model.index(0)
    qtbot.waitUntil(lambda: window.model.data(first, 1) is not None, timeout=5000)
    assert window.folders.list.count() == 2  # "All photos" + the folder
    assert "12 photos" in window.folders.list.item(1).text()


def test_new_photos_appear_while_indexing(qtbot, make_window, tmp_path):
    folder = _photos(tmp_path / "photos", 60)
    window = make_window(encoder=SlowEncoder(0.03))
    with qtbot.waitSignal(window.library_opened, timeout=10_000):
        window.add_folders([folder])
    counts = []
    window.listing_shown.connect(counts.append)
    with qtbot.waitSignal(window.controller.indexing_finished, timeout=30_000):
        pass
    qtbot.waitUntil(lambda: window.model.rowCount() == 60, timeout=5000)
    assert any(0 < c < 60 for c in counts), f"the grid only updated at the end: {counts}"


def test_cancel_stops_within_a_second(qtbot, make_window, tmp_path):
    folder = _photos(tmp_path / "photos", 150)
    window = make_window(encoder=SlowEncoder(0.02))
    with qtbot.waitSignal(window.library_opened, timeout=10_000):
        window.add_folders([folder])
    qtbot.waitUntil(lambda: _fast_done(window) >= 16, timeout=20_000)
    t0 = time.monotonic()
    with qtbot.waitSignal(window.controller.indexing_finished, timeout=5000) as blocker:
        window.cancel_indexing()
    assert time.monotonic() - t0 < 1.0
    stats = blocker.args[0]
    assert stats.cancelled and 0 < stats.indexed < 150
    assert "Stopped" in window.status_line.text()


def test_pause_holds_the_run_and_resume_finishes_it(qtbot, make_window, tmp_path):
    folder = _photos(tmp_path / "photos", 96)
    window = make_window(encoder=SlowEncoder(0.01))
    with qtbot.waitSignal(window.library_opened, timeout=10_000):
        window.add_folders([folder])
    qtbot.waitUntil(lambda: _fast_done(window) >= 16, timeout=20_000)
    window.progress.pause.setChecked(True)
    # Pausing holds the pipeline at its next progress report; the batches already decoded and embedded
    # still land (up to the look-ahead depth). Wait for the count to stop moving, then check it stays put.
    frozen, deadline = -1, time.monotonic() + 15
    while time.monotonic() < deadline:
        qtbot.wait(1500)
        now = window.library.repo.counts(None)["indexed"]
        if now == frozen:
            break
        frozen = now
    qtbot.wait(600)
    assert window.library.repo.counts(None)["indexed"] == frozen < 96
    assert "Paused" in window.status_line.text()
    with qtbot.waitSignal(window.controller.indexing_finished, timeout=30_000):
        window.progress.pause.setChecked(False)
    assert window.library.repo.counts(None)["indexed"] == 96


def test_a_corrupt_file_shows_in_the_failed_list(qtbot, make_window, tmp_path, monkeypatch):
    folder = _photos(tmp_path / "photos", 4, broken=1)
    window = make_window()
    _open_with_folder(qtbot, window, folder)
    qtbot.waitUntil(lambda: "1 failed" in window.status_line.text(), timeout=5000)
    shown = []
    monkeypatch.setattr("app.ui.main_window.FailuresDialog.exec", lambda self: shown.append(self))
    window.status_line.linkActivated.emit("failed")
    qtbot.waitUntil(lambda: bool(shown), timeout=5000)
    table = shown[0].table
    assert table.rowCount() == 1
    assert table.item(0, 0).text().endswith("broken0.jpg")
    assert table.item(0, 1).text()  # the reason
    assert "1 failed" in window.folders.list.item(1).text()


def test_removing_a_folder_forgets_its_photos_but_keeps_the_files(qtbot, make_window, tmp_path, monkeypatch):
    folder = _photos(tmp_path / "photos", 5)
    window = make_window()
    _open_with_folder(qtbot, window, folder)
    qtbot.waitUntil(lambda: window.model.rowCount() == 5, timeout=5000)
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    window.folders.list.setCurrentRow(1)
    window.folders.remove.click()
    qtbot.waitUntil(lambda: window.model.rowCount() == 0, timeout=5000)
    assert len(list(folder.glob("*.jpg"))) == 5
    assert window.library.folders() == []


def test_viewer_opens_steps_and_goes_back(qtbot, make_window, tmp_path):
    folder = _photos(tmp_path / "photos", 3)
    window = make_window()
    _open_with_folder(qtbot, window, folder)
    qtbot.waitUntil(lambda: window.model.rowCount() == 3, timeout=5000)
    window.open_viewer(0)
    assert window.stack.currentWidget() is window.viewer
    qtbot.waitUntil(lambda: not window.viewer.view._item.pixmap().isNull(), timeout=5000)
    assert window.viewer.view._item.pixmap().width() == 320
    first = window.viewer.item
    window.viewer.step_requested.emit(1)
    assert window.viewer.item is not first and "2 of 3" in window.viewer.title.text()
    window.viewer.view.zoom(2.0)
    assert window.viewer.view.scale_factor > 1.5 * window.viewer.view.transform().m22() / 2
    window.viewer.closed.emit()
    assert window.stack.currentWidget() is window.grid
    assert window.grid.currentIndex().row() == 1


def test_sorting_by_name_orders_the_grid(qtbot, make_window, tmp_path):
    folder = tmp_path / "photos"
    for name, seed in (("b.jpg", 1), ("a.jpg", 2), ("c.jpg", 3)):
        make_photo(folder / name, seed=seed, size=(200, 150))
    window = make_window()
    _open_with_folder(qtbot, window, folder)
    window.sort.setCurrentIndex(window.sort.findData("name"))
    qtbot.waitUntil(lambda: [i.name for i in window.model.items] == ["a.jpg", "b.jpg", "c.jpg"], timeout=5000)


def test_geometry_is_remembered(qtbot, make_window):
    window = make_window()
    window.resize(700, 510)  # the offscreen screen is 800 x 600; restoring clamps to it
    window.close()
    again = make_window()
    assert (again.width(), again.height()) == (700, 510)


def test_trash_is_disabled_with_a_reason_until_the_library_supports_it(qtbot, make_window, tmp_path):
    folder = _photos(tmp_path / "photos", 1)
    window = make_window()
    _open_with_folder(qtbot, window, folder)
    has_trash = hasattr(window.library, "trash")
    assert window.trash_action.isEnabled() == has_trash
    if not has_trash:
        assert "Not available" in window.trash_action.toolTip()


def test_reopening_shows_the_library_without_the_welcome_view(qtbot, make_window, tmp_path):
    folder = _photos(tmp_path / "photos", 2)
    window = make_window()
    _open_with_folder(qtbot, window, folder)
    window.close()
    again = make_window()
    assert again.stack.currentWidget() is again.grid
    qtbot.waitUntil(lambda: again.model.rowCount() == 2, timeout=10_000)


class _Emitter(QObject):
    fired = Signal(int)


def test_signal_emit_keeps_reference_counts():
    """PySide6 6.12.0 dropped a reference to True on every emit and crashed the app within seconds."""
    e = _Emitter()
    e.fired.connect(lambda _x: None)
    before = sys.getrefcount(True)
    for _ in range(200):
        e.fired.emit(1)
    assert sys.getrefcount(True) >= before - 5


def test_window_paints_before_torch_is_imported(tmp_path):
    report = tmp_path / "paint.json"
    env = {**os.environ, "SHOEBOX_FIRST_PAINT_REPORT": str(report), "SHOEBOX_EXIT_AFTER_PAINT": "1"}
    t0 = time.time()
    subprocess.run(
        [sys.executable, "-m", "app", "--library", str(tmp_path / "lib")], env=env, cwd=ROOT, timeout=60, check=True
    )
    import json

    data = json.loads(report.read_text())
    assert data["torch_imported"] is False
    assert data["painted_at"] - t0 < 10  # the 1.5 s target is measured by benchmarks/bench_gui.py


@pytest.mark.parametrize(
    ("argv", "cli"),
    [
        ([], False),
        (["--library", "x"], False),
        (["status"], True),
        (["--library", "x", "index", "y"], True),
        (["-h"], True),
    ],
)
def test_shoebox_without_a_sub_command_opens_the_window(argv, cli):
    from app.main import wants_cli

    assert wants_cli(argv) is cli


def test_the_window_watches_its_folders_and_shows_new_photos(qtbot, make_window, tmp_path):
    folder = _photos(tmp_path / "photos", 3)
    window = make_window()
    _open_with_folder(qtbot, window, folder)
    qtbot.waitUntil(lambda: window.live is not None and window.live.status is not None, timeout=5000)
    qtbot.waitUntil(lambda: window.library.watching and "watched" in window.folders.list.item(1).text(), timeout=10_000)
    qtbot.waitUntil(lambda: window.model.rowCount() == 3, timeout=5000)
    make_photo(tmp_path / "elsewhere" / "new.jpg", seed=99, size=(320, 240))
    shutil.copy2(tmp_path / "elsewhere" / "new.jpg", folder / "new.jpg")
    qtbot.waitUntil(lambda: window.model.rowCount() == 4, timeout=20_000)
    assert "new.jpg" in {i.name for i in window.model.items}
    window.close()
    assert not window.live.status or window.library is None


def test_folder_excludes_take_photos_out_and_bring_them_back(qtbot, make_window, tmp_path, monkeypatch):
    folder = _photos(tmp_path / "photos", 4)
    for i in range(2):
        make_photo(folder / "Screenshots" / f"s{i}.jpg", seed=50 + i, size=(320, 240))
    window = make_window()
    _open_with_folder(qtbot, window, folder)
    qtbot.waitUntil(lambda: window.model.rowCount() == 6, timeout=10_000)
    window.folders.list.setCurrentRow(1)
    typed: list[str] = []
    previews: list[str] = []

    def fake_exec(dialog) -> bool:
        qtbot.waitUntil(lambda: bool(dialog.preview.text()), timeout=5000)  # the current patterns are loaded
        dialog.edit.setPlainText("\n".join(typed))
        expected = "2 photos" if typed else "No indexed photo"
        qtbot.waitUntil(lambda: expected in dialog.preview.text(), timeout=5000)
        previews.append(dialog.preview.text())
        return True

    monkeypatch.setattr("app.ui.window_live.ExcludesDialog.exec", fake_exec)
    typed.append("Screenshots")
    window.folders.excludes.click()
    qtbot.waitUntil(lambda: window.model.rowCount() == 4, timeout=15_000)
    assert "would leave the index" in previews[0]
    assert window.library.folder_excludes(window.library.folders()[0].id) == ("Screenshots",)
    assert len(list((folder / "Screenshots").glob("*.jpg"))) == 2  # files untouched
    typed.clear()
    window.folders.excludes.click()
    qtbot.waitUntil(lambda: window.model.rowCount() == 6, timeout=15_000)
    assert window.library.folder_excludes(window.library.folders()[0].id) == ()


def test_a_killed_model_process_leaves_the_window_working(qtbot, tmp_path):
    from PySide6.QtCore import QSettings, Qt

    from app.ui.launch_support import LibrarySource
    from app.ui.main_window import MainWindow

    folder = _photos(tmp_path / "photos", 48)
    tiny = {"clip_model": "shoebox-tiny", "clip_pretrained": "none", "detector": "yolo11n.yaml"}
    settings = QSettings(str(tmp_path / "window.ini"), QSettings.Format.IniFormat)
    window = MainWindow(LibrarySource(tmp_path / "lib", tiny), settings)
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(window.library_opened, timeout=10_000):
        window.add_folders([folder])
    killed: list[int] = []

    def kill_after_first_batch(p: Progress) -> None:  # on the indexer thread, before the next batch
        pid = window.library.models_process
        if p.phase == "fast" and p.done and pid and not killed:
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    window.controller._worker.progressed.connect(kill_after_first_batch, Qt.ConnectionType.DirectConnection)
    with qtbot.waitSignal(window.controller.indexing_finished, timeout=180_000):
        pass
    assert killed
    qtbot.waitUntil(lambda: window.model.rowCount() == 48, timeout=10_000)
    assert "model process stopped" in window.status_line.text()
    assert "torch" not in sys.modules or "torch" in _modules_before_this_test
    window.search.setText("a dog")
    window.run_search()
    qtbot.waitUntil(lambda: "found in" in window.status_line.text(), timeout=10_000)
    window.close()
    assert window.library is None


def test_a_huge_grid_lays_out_in_batches_and_its_last_photo_is_reachable(qtbot):
    # 100,000 photos must not cost one long UI-thread pause per reset: the layout runs in batches
    # between event-loop turns, and once done the last photo can be scrolled to like any other.
    from PySide6.QtWidgets import QApplication

    from app.core.gallery import GalleryItem
    from app.core.models import PhotoState
    from app.ui.gallery_model import PhotoGridModel
    from app.ui.grid_view import LAYOUT_BATCH, PhotoGridView
    from app.ui.thumbnails import ThumbnailLoader

    n = 4 * LAYOUT_BATCH
    items = [GalleryItem(i, f"/p/{i:06d}.jpg", 1, PhotoState.INDEXED, f"{i:040x}", None, 0, 1) for i in range(n)]
    loader = ThumbnailLoader(160)
    try:
        model = PhotoGridModel(loader, lambda _it: "/nonexistent.jpg")
        view = PhotoGridView()
        qtbot.addWidget(view)
        view.resize(1000, 700)
        view.setModel(model)
        view.show()
        model.set_items(items)
        QApplication.processEvents()  # one event-loop turn: a single-pass layout would be complete now
        bar = view.verticalScrollBar()
        first_max = bar.maximum()
        per_row = max(1, view.viewport().width() // view.gridSize().width())
        full = view.gridSize().height() * -(-n // per_row) - view.viewport().height()
        assert first_max < full, "laid out in one go: the UI thread paused for every row"
        qtbot.waitUntil(lambda: bar.maximum() >= full, timeout=10_000)
        last = model.index(n - 1, 0)
        view.scrollTo(last)
        qtbot.waitUntil(lambda: view.viewport().rect().intersects(view.visualRect(last)), timeout=5_000)
        assert view.indexAt(view.visualRect(last).center()).row() == n - 1
    finally:
        loader.close()
