"""What a drop or a paste brings: folders to add, or an image to search with; and the hint shown while dragging.

File managers give ``text/uri-list`` with ``file://`` URLs. Web browsers give the picture's bytes
(``image/png``, ``image/jpeg``…, or Qt's decoded image) and its web address; Shoebox never fetches from
the web, so a bare ``http://`` address is answered with a line saying to save the picture first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QMimeData, Qt
from PySide6.QtGui import QColor, QImage, QImageReader, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QWidget

# Raw bytes are sent as they are (a JPEG keeps its EXIF orientation); these are what browsers offer.
_RAW_FORMATS = ("image/png", "image/jpeg", "image/webp", "image/gif", "image/bmp", "image/tiff")
_IMAGE_SUFFIXES = {
    ".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff", ".heic", ".heif", ".avif",
}  # fmt: skip


@dataclass(slots=True)
class DropRequest:
    """One drop, classified. ``image`` is a file path or encoded bytes for ``SearchQuery.image``."""

    folders: list[str] = field(default_factory=list)
    image: str | bytes | None = None
    image_name: str = ""  # what to call it in the results header
    problem: str = ""  # a drop we cannot use, said in one line

    @property
    def is_empty(self) -> bool:
        return not self.folders and self.image is None


def _is_image_file(path: Path) -> bool:
    if path.suffix.lower() in _IMAGE_SUFFIXES:
        return True
    return bool(QImageReader.imageFormat(str(path)))


def encode_png(image: QImage) -> bytes:
    data = QByteArray()
    buf = QBuffer(data)
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buf, "PNG")
    buf.close()
    return bytes(data.data())


def classify(mime: QMimeData | None, decode: bool = True) -> DropRequest:
    """Folders win (a folder drop keeps adding a library folder), then a local image file, then image data.

    ``decode=False`` (while dragging) only says what the drop would be, without reading any bytes.
    """
    req = DropRequest()
    if mime is None:
        return req
    remote = ""
    for url in mime.urls():
        if url.isLocalFile():
            path = Path(url.toLocalFile())
            if path.is_dir():
                req.folders.append(str(path))
            elif req.image is None and path.is_file() and _is_image_file(path):
                req.image, req.image_name = str(path), path.name
        elif url.scheme() in ("http", "https") and not remote:
            remote = url.toString()
    if req.folders:
        req.image = None
        return req
    if req.image is not None:
        return req
    for fmt in _RAW_FORMATS:
        if mime.hasFormat(fmt):
            data = bytes(mime.data(fmt).data()) if decode else b"?"
            if data:
                req.image, req.image_name = data, _name_of(remote) or "the dropped image"
                return req
    if mime.hasImage():
        if not decode:
            req.image = b"?"
            return req
        image = mime.imageData()
        if isinstance(image, QImage) and not image.isNull():
            req.image, req.image_name = encode_png(image), _name_of(remote) or "the pasted image"
            return req
    if remote:
        req.problem = f"Shoebox does not download from the web: save the picture, then drop the file ({remote})"
    return req


def _name_of(url: str) -> str:
    return url.rsplit("/", 1)[-1].split("?", 1)[0] if url else ""


class DropHint(QWidget):
    """A translucent panel over the window while something is dragged over it, saying what a drop will do."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.text = ""
        self.hide()

    def show_for(self, req: DropRequest) -> None:
        if req.folders:
            n = len(req.folders)
            self.text = f"Drop to add {'this folder' if n == 1 else f'{n} folders'} to the library"
        elif req.image is not None:
            self.text = "Drop to find the photos containing this image"
        else:
            self.text = req.problem
        parent = self.parentWidget()
        if parent is not None:
            self.setGeometry(parent.rect())
        self.raise_()
        self.show()
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), QColor(0, 0, 0, 150))
        p.setPen(QPen(Qt.GlobalColor.white, 3, Qt.PenStyle.DashLine))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawRoundedRect(self.rect().adjusted(24, 24, -24, -24), 16, 16)
        font = p.font()
        font.setPointSize(max(16, font.pointSize() + 8))
        font.setBold(True)
        p.setFont(font)
        flags = Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap
        text = p.boundingRect(self.rect().adjusted(60, 60, -60, -60), flags, self.text)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(20, 20, 20, 220))
        p.drawRoundedRect(text.adjusted(-24, -16, 24, 16), 12, 12)
        p.setPen(Qt.GlobalColor.white)
        p.drawText(text, flags, self.text)
