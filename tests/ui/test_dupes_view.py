"""The duplicates view as a user drives it: tiers, keeper and why, trash (to a temporary trash) and undo."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from PIL import Image, ImageOps
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from app.core.dupes import DupeGroup, DupePair, DupePhoto, DupeTier
from tests.conftest import make_photo
from tests.ui.test_main_window import _open_with_folder


@pytest.fixture
def trash_home(tmp_path, monkeypatch):
    """The freedesktop trash in a temp folder: tests never touch the real user trash."""
    home = tmp_path / "xdg"
    home.mkdir()
    monkeypatch.setenv("XDG_DATA_HOME", str(home))
    return home / "Trash"


@pytest.fixture
def copies(tmp_path) -> Path:
    d = tmp_path / "photos"
    orig = make_photo(d / "orig.jpg", seed=1, size=(800, 600))
    im = Image.open(orig)
    im.resize((400, 300), Image.Resampling.LANCZOS).save(d / "small.jpg", quality=80)
    ImageOps.mirror(im).save(d / "mirror.jpg", quality=90)
    make_photo(d / "other.jpg", seed=2, size=(800, 600))
    shutil.copy(orig, d / "copy_of_orig.jpg")
    return d


@pytest.fixture
def answers(monkeypatch):
    """Say Yes to confirmations and record every question and warning shown."""
    asked: list[str] = []
    warned: list[str] = []

    def question(_parent, _title, text, *a, **k):
        asked.append(text)
        return QMessageBox.StandardButton.Yes

    monkeypatch.setattr(QMessageBox, "question", question)
    monkeypatch.setattr(QMessageBox, "warning", lambda _p, _t, text, *a, **k: warned.append(text))
    return asked, warned


def _open_dupes(qtbot, window, tier=DupeTier.SAME):
    window.show_duplicates()
    assert window.stack.currentWidget() is window.dupes
    qtbot.waitUntil(lambda: not window._dupes_busy, timeout=30_000)
    window.dupes.tabs.setCurrentIndex([DupeTier.IDENTICAL, DupeTier.SAME, DupeTier.SIMILAR].index(tier))
    return window.dupes_model


def _click_photo(qtbot, window, row: int, i: int) -> None:
    lst = window.dupes.list
    qtbot.mouseClick(lst.viewport(), Qt.MouseButton.LeftButton, pos=lst.photo_pos(row, i))


def test_groups_show_tier_keeper_and_why(qtbot, make_window, copies):
    window = make_window()
    _open_with_folder(qtbot, window, copies)
    progress = []
    window._dupes_relay.progressed.connect(progress.append)
    model = _open_dupes(qtbot, window)
    assert model.rowCount() == 1
    row = model.row(0)
    names = sorted(Path(p.path).name for p in row.photos)
    assert names == ["copy_of_orig.jpg", "mirror.jpg", "orig.jpg", "small.jpg"]
    assert Path(row.keeper).name in ("orig.jpg", "copy_of_orig.jpg")
    mirror = next(p.path for p in row.photos if p.path.endswith("mirror.jpg"))
    assert "pHash" in row.why[mirror] and "mirror" in row.why[mirror]
    assert "Same picture (1)" in window.dupes.tabs.tabText(1)
    assert progress and progress[-1].phase == "compare"
    assert window.dupes.status.text().startswith("1 group")


def test_trash_marked_goes_to_the_trash_and_undo_restores_it(qtbot, make_window, copies, trash_home, answers):
    asked, warned = answers
    window = make_window()
    _open_with_folder(qtbot, window, copies)
    model = _open_dupes(qtbot, window)
    row = model.row(0)
    i = next(k for k, p in enumerate(row.photos) if p.path.endswith("small.jpg"))
    _click_photo(qtbot, window, 0, i)
    assert model.marked == {str(copies / "small.jpg")}
    assert window.dupes.trash_marked.isEnabled()
    before = (copies / "small.jpg").read_bytes()
    window.dupes.trash_marked.click()
    qtbot.waitUntil(lambda: not (copies / "small.jpg").exists() and not window._dupes_busy, timeout=20_000)
    assert "1 marked photo " in asked[-1]
    assert [f.name for f in (trash_home / "files").iterdir()] == ["small.jpg"]
    qtbot.waitUntil(lambda: model.rowCount() == 1 and len(model.row(0).photos) == 3, timeout=20_000)
    window.undo_action.trigger()  # Ctrl+Z in the duplicates view
    qtbot.waitUntil(lambda: (copies / "small.jpg").exists(), timeout=20_000)
    assert (copies / "small.jpg").read_bytes() == before
    qtbot.waitUntil(lambda: not window._dupes_busy and len(model.row(0).photos) == 4, timeout=30_000)
    assert not warned


def test_keep_suggested_trashes_the_rest_after_confirming_the_count(qtbot, make_window, copies, trash_home, answers):
    asked, _ = answers
    window = make_window()
    _open_with_folder(qtbot, window, copies)
    model = _open_dupes(qtbot, window)
    keeper = model.row(0).keeper
    window.dupes.keep_suggested.click()
    assert "Move 3 photos from 1 group to the system trash" in asked[-1]
    qtbot.waitUntil(lambda: len(list((trash_home / "files").glob("*"))) == 3, timeout=20_000)
    assert Path(keeper).exists()
    assert (copies / "other.jpg").exists()
    qtbot.waitUntil(lambda: not window._dupes_busy and model.rowCount() == 0, timeout=20_000)


def test_the_keeper_cannot_be_trashed(qtbot, make_window, copies, trash_home, answers):
    _, warned = answers
    window = make_window()
    _open_with_folder(qtbot, window, copies)
    model = _open_dupes(qtbot, window)
    row = model.row(0)
    k = next(i for i, p in enumerate(row.photos) if p.path == row.keeper)
    _click_photo(qtbot, window, 0, k)
    assert model.marked == set()
    assert "cannot be trashed" in window.dupes.status.text()
    # Even if every copy ends up marked (e.g. the keeper was changed meanwhile), the library refuses and says why.
    model.marked = {p.path for p in row.photos}
    window.dupes.trash_requested.emit(model.marked_paths())
    qtbot.waitUntil(lambda: bool(warned), timeout=20_000)
    assert "every copy" in warned[-1]
    assert all(Path(p.path).exists() for p in row.photos)
    assert not (trash_home / "files").exists() or not list((trash_home / "files").iterdir())


def test_keep_this_one_instead_moves_the_keeper(qtbot, make_window, copies):
    window = make_window()
    _open_with_folder(qtbot, window, copies)
    model = _open_dupes(qtbot, window)
    i = next(k for k, p in enumerate(model.row(0).photos) if p.path.endswith("small.jpg"))
    model.keep_instead(0, i)
    assert model.row(0).keeper.endswith("small.jpg")
    paths, groups = model.suggested_trash()
    assert groups == 1 and len(paths) == 3 and not any(p.endswith("small.jpg") for p in paths)


def test_not_a_duplicate_takes_a_photo_out_of_its_group(qtbot, make_window, copies):
    window = make_window()
    _open_with_folder(qtbot, window, copies)
    model = _open_dupes(qtbot, window)
    i = next(k for k, p in enumerate(model.row(0).photos) if p.path.endswith("mirror.jpg"))
    _click_photo(qtbot, window, 0, i)
    window.dupes.list.setCurrentIndex(model.index(0))
    window.dupes.not_dupe.click()
    qtbot.waitUntil(
        lambda: not window._dupes_busy and model.rowCount() == 1 and len(model.row(0).photos) == 3, timeout=20_000
    )
    assert all(not p.path.endswith("mirror.jpg") for p in model.row(0).photos)


def _synthetic_groups(n: int) -> list[DupeGroup]:
    out = []
    for g in range(n):
        photos = [
            DupePhoto(f"/photos/{g:05d}/img_{k}.jpg", g * 3 + k, 4000, 3000, 2_000_000 - k, keep=(k == 0))
            for k in range(3)
        ]
        pairs = [DupePair(photos[0].path, p.path, DupeTier.SAME, 4, "phash", 0.97) for p in photos[1:]]
        out.append(DupeGroup(DupeTier.SAME, photos, "keep img_0.jpg: largest picture", pairs))
    return out


def test_ten_thousand_groups_stay_responsive(qtbot, make_window):
    window = make_window()
    window.stack.setCurrentWidget(window.dupes)
    model = window.dupes_model
    groups = _synthetic_groups(10_000)
    t0 = time.perf_counter()
    model.set_groups(groups, {})
    model.set_tier(DupeTier.SAME)
    window.dupes.list.viewport().repaint()
    shown = time.perf_counter() - t0
    bar = window.dupes.list.verticalScrollBar()
    worst = 0.0
    for value in (bar.maximum(), bar.maximum() // 2, 0):
        t0 = time.perf_counter()
        bar.setValue(value)
        window.dupes.list.viewport().repaint()
        worst = max(worst, time.perf_counter() - t0)
    assert model.rowCount() == 10_000
    assert shown < 1.0, shown
    assert worst < 0.1, worst


def test_a_protected_folder_is_shown_and_never_offered_for_the_trash(qtbot, make_window, copies, answers):
    window = make_window()
    _open_with_folder(qtbot, window, copies)
    model = _open_dupes(qtbot, window)
    window.protect_folder(str(copies), True)
    qtbot.waitUntil(lambda: not window._dupes_busy and all(p.protected for p in model.row(0).photos), timeout=20_000)
    _click_photo(qtbot, window, 0, 1)
    assert model.marked == set() and "protected" in window.dupes.status.text()
    assert model.suggested_trash() == ([], 0)


def test_double_click_compares_the_copies_full_size_and_back_returns(qtbot, make_window, copies):
    window = make_window()
    _open_with_folder(qtbot, window, copies)
    model = _open_dupes(qtbot, window)
    lst = window.dupes.list
    qtbot.mouseDClick(lst.viewport(), Qt.MouseButton.LeftButton, pos=lst.photo_pos(0, 1))
    assert window.stack.currentWidget() is window.viewer
    assert model.marked == set()  # the double-click opened the photo, it did not mark it
    assert window.viewer.item.path == model.row(0).photos[1].path
    assert "2 of 4" in window.viewer.title.text()
    window.viewer.step_requested.emit(1)
    assert window.viewer.item.path == model.row(0).photos[2].path
    window.viewer.closed.emit()
    assert window.stack.currentWidget() is window.dupes
    # A real double-click starts with a press (which marks): opening undoes that mark.
    qtbot.mouseClick(lst.viewport(), Qt.MouseButton.LeftButton, pos=lst.photo_pos(0, 1))
    qtbot.mouseDClick(lst.viewport(), Qt.MouseButton.LeftButton, pos=lst.photo_pos(0, 1))
    assert window.stack.currentWidget() is window.viewer and model.marked == set()
