"""What a drop or a paste brings (``app/ui/drop.py``): folders, image files, image data, web addresses."""

from __future__ import annotations

import io

from PIL import Image
from PySide6.QtCore import QMimeData, QUrl
from PySide6.QtGui import QColor, QImage

from app.ui.drop import classify


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 10, 10)).save(buf, "PNG")
    return buf.getvalue()


def test_a_folder_wins_over_files_dropped_with_it(tmp_path):
    (tmp_path / "album").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "a.jpg")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(tmp_path / "a.jpg")), QUrl.fromLocalFile(str(tmp_path / "album"))])
    req = classify(mime)
    assert req.folders == [str(tmp_path / "album")] and req.image is None


def test_a_local_image_file_is_searched_by_path_and_other_files_are_not(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "crop.png")
    (tmp_path / "notes.txt").write_text("hello")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(tmp_path / "notes.txt")), QUrl.fromLocalFile(str(tmp_path / "crop.png"))])
    req = classify(mime)
    assert req.image == str(tmp_path / "crop.png") and req.image_name == "crop.png"
    only_text = QMimeData()
    only_text.setUrls([QUrl.fromLocalFile(str(tmp_path / "notes.txt"))])
    assert classify(only_text).is_empty


def test_browser_image_bytes_are_sent_as_they_are_named_after_the_address():
    mime = QMimeData()
    mime.setData("image/png", _png())
    mime.setUrls([QUrl("https://example.com/img/cat.png?size=large")])
    req = classify(mime)
    assert req.image == _png() and req.image_name == "cat.png"
    assert classify(mime, decode=False).image == b"?"  # while dragging nothing is read


def test_a_decoded_image_is_encoded_as_png():
    image = QImage(20, 10, QImage.Format.Format_RGB32)
    image.fill(QColor(0, 128, 255))
    mime = QMimeData()
    mime.setImageData(image)
    req = classify(mime)
    assert isinstance(req.image, bytes) and req.image[:8] == b"\x89PNG\r\n\x1a\n"
    assert QImage.fromData(req.image).size() == image.size()


def test_a_bare_web_address_is_refused_with_a_reason():
    mime = QMimeData()
    mime.setUrls([QUrl("https://example.com/photo.jpg")])
    req = classify(mime)
    assert req.is_empty and "does not download" in req.problem
    text = QMimeData()
    text.setText("just words")
    assert classify(text).is_empty and not classify(text).problem


def test_dragging_text_over_the_window_shows_no_hint(qtbot, make_window):
    from PySide6.QtCore import QPoint, Qt
    from PySide6.QtGui import QDragEnterEvent

    window = make_window()
    mime = QMimeData()
    mime.setText("just words")
    event = QDragEnterEvent(
        QPoint(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    window.dragEnterEvent(event)
    assert not event.isAccepted() and not window.drop_hint.isVisible()
    web = QMimeData()
    web.setUrls([QUrl("https://example.com/a.jpg")])
    event = QDragEnterEvent(
        QPoint(5, 5), Qt.DropAction.CopyAction, web, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    window.dragEnterEvent(event)
    assert event.isAccepted() and "does not download" in window.drop_hint.text
