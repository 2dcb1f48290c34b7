"""Finding photos in the window: drop a crop, paste one, rubber-band a region, type a caption."""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path

from PIL import Image, ImageOps
from PySide6.QtCore import QMimeData, QPoint, QPointF, QSettings, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QGuiApplication, QImage

from app.core.models import HitKind, SearchResults
from app.ui.grid_view import PAD, THUMB
from app.ui.launch_support import LibrarySource
from app.ui.main_window import MainWindow
from tests.conftest import FakeDetector
from tests.ui.test_main_window import _open_with_folder
from tests.unit.crop_photos import textured_photo

CROP = (260, 140, 500, 330)  # in pixels of the 640 x 480 photo


def _library(folder: Path, n: int = 5) -> Path:
    for i in range(n):
        textured_photo(folder / f"p{i}.jpg", seed=40 + i, size=(640, 480))
    return folder


def _crop(src: Path, dest: Path, box=CROP) -> Path:
    Image.open(src).crop(box).save(dest, quality=92)
    return dest


def _drop(window, mime: QMimeData) -> None:
    pos = QPointF(window.width() / 2, window.height() / 2)
    enter = QDragEnterEvent(
        pos.toPoint(), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    window.dragEnterEvent(enter)
    assert enter.isAccepted()
    assert window.drop_hint.isVisible() and "find the photos" in window.drop_hint.text
    drop = QDropEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    window.dropEvent(drop)
    assert not window.drop_hint.isVisible()


def _wait_results(qtbot, window, timeout=20_000):
    qtbot.waitUntil(lambda: window.results_model.rowCount() > 0 and not window._query_running, timeout=timeout)
    return window.results_model


def _box_iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_dropping_a_crop_file_shows_its_photo_first_with_the_box(qtbot, make_window, tmp_path):
    folder = _library(tmp_path / "photos")
    crop = _crop(folder / "p3.jpg", tmp_path / "crop.jpg")
    window = make_window()
    _open_with_folder(qtbot, window, folder)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(crop))])
    _drop(window, mime)
    model = _wait_results(qtbot, window)
    assert window.stack.currentWidget() is window.results
    first, hit = model.item(0), model.hit(0)
    assert first.name == "p3.jpg"
    assert hit.kind is HitKind.EXACT
    assert _box_iou(hit.box, CROP) > 0.8
    assert "crop.jpg" in window.results.title.text()
    qtbot.waitUntil(lambda: window.results.query_image.pixmap() is not None and window.results.query_image.isVisible())
    # The box is drawn on the thumbnail: the cell's pixels along the box's edge are the badge colour.
    window.results.grid.viewport().repaint()
    qtbot.waitUntil(lambda: model.data(model.index(0), Qt.ItemDataRole.DecorationRole) is not None, timeout=15_000)
    shot = window.results.grid.viewport().grab().toImage()
    rect = window.results.grid.visualRect(model.index(0))
    assert _has_green_box(shot, rect)
    # "×" goes back to the gallery and forgets the image.
    window.results.close_button.click()
    assert window.stack.currentWidget() is window.grid
    assert window._query_image is None


def _has_green_box(image: QImage, rect) -> bool:
    greens = 0
    for y in range(rect.top() + 30, rect.bottom() - 30):
        for x in range(rect.left(), rect.right()):
            c = image.pixelColor(x, y)
            if c.green() > 180 and c.red() < 90 and c.blue() < 150:
                greens += 1
    return greens > 40


def test_dropping_raw_image_data_from_a_browser_searches(qtbot, make_window, tmp_path):
    folder = _library(tmp_path / "photos")
    buf = io.BytesIO()
    Image.open(folder / "p1.jpg").crop(CROP).save(buf, "PNG")
    window = make_window()
    _open_with_folder(qtbot, window, folder)
    mime = QMimeData()
    mime.setData("image/png", buf.getvalue())
    mime.setUrls([QUrl("https://example.com/pictures/crop.png")])
    _drop(window, mime)
    model = _wait_results(qtbot, window)
    assert model.item(0).name == "p1.jpg" and model.hit(0).kind is HitKind.EXACT
    assert "crop.png" in window.results.title.text()


def test_pasting_an_image_searches_and_a_folder_drop_still_adds_a_folder(qtbot, make_window, tmp_path):
    folder = _library(tmp_path / "photos", 3)
    window = make_window()
    _open_with_folder(qtbot, window, folder)
    QGuiApplication.clipboard().setImage(QImage(str(_crop(folder / "p2.jpg", tmp_path / "c.png"))))
    window.paste()
    model = _wait_results(qtbot, window)
    assert model.item(0).name == "p2.jpg"
    more = _library(tmp_path / "more", 1)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(more))])
    enter = QDragEnterEvent(
        QPoint(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    window.dragEnterEvent(enter)
    assert "add this folder" in window.drop_hint.text
    with qtbot.waitSignal(window.controller.indexing_finished, timeout=30_000):
        window.dropEvent(
            QDropEvent(
                QPointF(10, 10),
                Qt.DropAction.CopyAction,
                mime,
                Qt.MouseButton.LeftButton,
                Qt.KeyboardModifier.NoModifier,
            )
        )
    assert len(window.library.folders()) == 2


def test_opening_a_hit_zooms_the_viewer_to_the_match(qtbot, make_window, tmp_path):
    folder = _library(tmp_path / "photos", 3)
    window = make_window()
    _open_with_folder(qtbot, window, folder)
    window.search_image(str(_crop(folder / "p0.jpg", tmp_path / "c.jpg")), "c.jpg")
    _wait_results(qtbot, window)
    window.open_result(0)
    view = window.viewer.view
    qtbot.waitUntil(lambda: view.has_match, timeout=15_000)
    assert window.viewer.match_button.isVisible() and window.viewer.match_button.isChecked()
    visible = view.mapToScene(view.viewport().rect()).boundingRect()
    assert visible.width() < 640 * 0.8  # zoomed in on the crop, not the whole photo
    assert visible.contains(QPointF((CROP[0] + CROP[2]) / 2, (CROP[1] + CROP[3]) / 2))
    window.viewer.match_button.click()  # toggle: fit the whole photo
    visible = view.mapToScene(view.viewport().rect()).boundingRect()
    assert visible.width() >= 639
    window.viewer.closed.emit()
    assert window.stack.currentWidget() is window.results


def test_rubber_band_region_finds_the_other_photo_containing_it(qtbot, make_window, tmp_path):
    folder = _library(tmp_path / "photos", 4)
    # A second photo that contains a piece of p1, pasted into another scene at a different place.
    piece = Image.open(folder / "p1.jpg").crop(CROP)
    host = Image.open(textured_photo(tmp_path / "host.jpg", seed=99, size=(640, 480)))
    host.paste(piece, (60, 200))
    host.save(folder / "host.jpg", quality=92)
    window = make_window()
    _open_with_folder(qtbot, window, folder)
    row = next(r for r, it in enumerate(window.model.items) if it.name == "p1.jpg")
    window.open_viewer(row)
    view = window.viewer.view
    qtbot.waitUntil(lambda: view.image_size[0] == 640, timeout=15_000)
    window.viewer.select_button.click()
    a = view.mapFromScene(QPointF(CROP[0], CROP[1]))
    b = view.mapFromScene(QPointF(CROP[2], CROP[3]))
    qtbot.mousePress(view.viewport(), Qt.MouseButton.LeftButton, pos=a)
    qtbot.mouseMove(view.viewport(), (a + b) / 2)
    qtbot.mouseMove(view.viewport(), b)
    qtbot.mouseRelease(view.viewport(), Qt.MouseButton.LeftButton, pos=b)
    assert window.viewer.find_button.isEnabled()
    window.viewer.find_button.click()
    model = _wait_results(qtbot, window)
    assert model.item(0).name == "host.jpg"
    assert all(it.name != "p1.jpg" for it in model.items)  # the photo the region came from is left out
    assert _box_iou(model.hit(0).box, (60, 200, 60 + 240, 200 + 190)) > 0.7


def test_text_field_without_clip_weights_says_so_and_how_to_get_them(qtbot, tmp_path):
    folder = _library(tmp_path / "photos", 2)
    source = LibrarySource(tmp_path / "lib", encoder=None, detector=FakeDetector())
    torch_before = "torch" in sys.modules
    window = MainWindow(source, QSettings(str(tmp_path / "w.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    window.show()
    _open_with_folder(qtbot, window, folder)
    qtbot.waitUntil(lambda: "CLIP weights" in window.search.placeholderText(), timeout=15_000)
    assert "download" in window.search.toolTip().lower()
    assert not window.without.isEnabled()
    qtbot.keyClicks(window.search, "a dog on a beach")
    qtbot.waitUntil(lambda: "need the CLIP weights" in window.results.notes.text(), timeout=10_000)
    assert window.stack.currentWidget() is window.results
    assert "download" in window.results.notes.text()
    assert "torch" not in sys.modules or torch_before  # no model import just to say the weights are missing


def test_typing_runs_one_query_when_the_user_pauses(qtbot, make_window, tmp_path):
    folder = _library(tmp_path / "photos", 2)
    window = make_window()
    _open_with_folder(qtbot, window, folder)
    asked = []
    real = window.library.search
    window.library.search = lambda q: (asked.append(q.text), real(q))[1]
    assert window._debounce.interval() == 250
    qtbot.keyClicks(window.search, "harbour")  # faster than the debounce: no query per letter
    assert asked == [] and window.stack.currentWidget() is not window.results
    qtbot.waitUntil(lambda: bool(asked) and not window._query_running, timeout=10_000)
    assert asked == ["harbour"] and window.stack.currentWidget() is window.results
    qtbot.keyClicks(window.search, " boats")  # typing on after the pause runs the longer text
    qtbot.waitUntil(lambda: len(asked) == 2 and not window._query_running, timeout=10_000)
    qtbot.wait(400)
    assert asked == ["harbour", "harbour boats"]


def test_a_stale_query_never_replaces_a_newer_one(qtbot, make_window, tmp_path):
    folder = _library(tmp_path / "photos", 3)
    window = make_window()
    _open_with_folder(qtbot, window, folder)
    items = {it.name: it for it in window.model.items}
    lib = window.library

    def fake_search(q):
        if q.text == "slow":
            time.sleep(0.6)
            hits = [_hit(items["p0.jpg"])]
        else:
            hits = [_hit(items["p2.jpg"])]
        return SearchResults(hits=hits)

    lib.search = fake_search
    shown = []
    window.results_model.modelReset.connect(lambda: shown.append([i.name for i in window.results_model.items]))
    window.search.setText("slow")
    window.run_search()
    qtbot.wait(100)
    window.search.setText("fast")
    window.run_search()
    qtbot.waitUntil(lambda: ["p2.jpg"] in shown, timeout=20_000)
    qtbot.wait(800)  # the slow answer has long arrived by now
    assert ["p0.jpg"] not in shown
    assert [i.name for i in window.results_model.items] == ["p2.jpg"]


def _hit(item):
    from app.core.models import SearchHit

    return SearchHit(item.id, item.path, 0.5, HitKind.PHOTO)


def test_the_box_is_mapped_onto_the_thumbnail_of_an_exif_rotated_photo(qtbot, make_window, tmp_path):
    folder = tmp_path / "photos"
    src = textured_photo(tmp_path / "src.jpg", seed=61, size=(640, 480))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown portrait (480 x 640)
    folder.mkdir()
    Image.open(src).save(folder / "rotated.jpg", exif=exif, quality=92)
    textured_photo(folder / "other.jpg", seed=62, size=(640, 480))
    shown = ImageOps.exif_transpose(Image.open(folder / "rotated.jpg"))
    box = (60, 330, 300, 560)  # in the shown (portrait) photo
    shown.crop(box).save(tmp_path / "crop.jpg", quality=92)
    window = make_window()
    _open_with_folder(qtbot, window, folder)
    window.search_image(str(tmp_path / "crop.jpg"), "crop.jpg")
    model = _wait_results(qtbot, window)
    assert model.item(0).name == "rotated.jpg" and (model.item(0).width, model.item(0).height) == (480, 640)
    assert _box_iou(model.hit(0).box, box) > 0.8
    first = model.index(0)
    qtbot.waitUntil(lambda: model.data(first, Qt.ItemDataRole.DecorationRole) is not None, timeout=15_000)
    pix = model.data(first, Qt.ItemDataRole.DecorationRole)
    assert pix.height() > pix.width()  # the thumbnail is upright too
    grid = window.results.grid
    grid.viewport().repaint()
    shot = grid.viewport().grab().toImage()
    cell = grid.visualRect(first)
    x = cell.x() + PAD + (THUMB - pix.width()) // 2
    y = cell.y() + PAD + (THUMB - pix.height()) // 2
    s = pix.width() / 480
    mid_y = int(y + (box[1] + box[3]) / 2 * s)
    left_x = int(x + box[0] * s)
    edge = [shot.pixelColor(left_x + dx, mid_y) for dx in (-1, 0, 1)]
    assert any(c.green() > 180 and c.red() < 90 for c in edge), edge
    outside = shot.pixelColor(int(x + 20 * s), int(y + 150 * s))  # far from the box: the photo itself
    assert not (outside.green() > 180 and outside.red() < 90 and outside.blue() < 130)


def test_delete_on_the_results_page_acts_on_the_selected_hits(qtbot, make_window, tmp_path):
    folder = _library(tmp_path / "photos", 3)
    window = make_window()
    _open_with_folder(qtbot, window, folder)
    window.grid.selectAll()
    window.search_image(str(_crop(folder / "p1.jpg", tmp_path / "c.jpg")), "c.jpg")
    model = _wait_results(qtbot, window)
    assert window._selected_items() == []  # nothing selected among the hits: not the hidden gallery's selection
    window.results.grid.setCurrentIndex(model.index(0))
    assert [i.name for i in window._selected_items()] == ["p1.jpg"]


def test_text_and_without_refine_a_dropped_image_in_one_query(qtbot, make_window, tmp_path):
    folder = _library(tmp_path / "photos", 2)
    window = make_window()
    _open_with_folder(qtbot, window, folder)
    asked = []
    real = window.library.search
    window.library.search = lambda q: (asked.append(q), real(q))[1]
    crop = str(_crop(folder / "p0.jpg", tmp_path / "c.jpg"))
    window.search_image(crop, "c.jpg")
    _wait_results(qtbot, window)
    window.without.setText("people, cars")
    window.search.setText("harbour")
    window.run_search()
    qtbot.waitUntil(lambda: len(asked) >= 2 and not window._query_running, timeout=10_000)
    q = asked[-1]
    assert (q.image, q.text, q.negative) == (crop, "harbour", ("people", "cars"))
    title = window.results.title.text()
    assert "c.jpg" in title and "harbour" in title and "people, cars" in title


def test_an_unreadable_dropped_file_says_so_in_one_line(qtbot, make_window, tmp_path):
    folder = _library(tmp_path / "photos", 1)
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not a picture at all")
    window = make_window()
    _open_with_folder(qtbot, window, folder)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(bad))])
    _drop(window, mime)
    qtbot.waitUntil(lambda: "broken.jpg" in window.results.notes.text(), timeout=10_000)
    assert window.results_model.rowCount() == 0 and "\n" not in window.results.notes.text()
