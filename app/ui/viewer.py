"""The photo viewer: zoom (wheel, +/-, 0 = fit, 1 = 100 %), pan (drag), next/previous (arrows),
EXIF basics beside the photo and "Show in folder". The full image is decoded off the UI thread.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QImage, QImageReader, QKeyEvent, QPainter, QPixmap, QWheelEvent
from PySide6.QtWidgets import (
    QFormLayout,
    QGraphicsPixmapItem,
    QGraphicsScene,
    QGraphicsView,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.core.gallery import GalleryItem

MAX_SIDE = 6000  # decode at most this many pixels per side (keeps a 100 MP photo to ~140 MB)


def read_full(path: str) -> QImage:
    """Decode a photo with EXIF orientation; runs on a worker thread (QImage is fine off the UI thread)."""
    reader = QImageReader(path)
    reader.setAutoTransform(True)
    size = reader.size()
    if size.isValid() and max(size.width(), size.height()) > MAX_SIDE:
        reader.setScaledSize(size.scaled(QSize(MAX_SIDE, MAX_SIDE), Qt.AspectRatioMode.KeepAspectRatio))
    return reader.read()


class ImageView(QGraphicsView):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self._item = QGraphicsPixmapItem()
        self._item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.scene().addItem(self._item)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        self.setBackgroundBrush(Qt.GlobalColor.black)
        self._fit = True

    def set_image(self, image: QImage | None) -> None:
        self._item.setPixmap(QPixmap.fromImage(image) if image is not None else QPixmap())
        self.scene().setSceneRect(self._item.boundingRect())
        self.fit()

    def fit(self) -> None:
        self._fit = True
        self.resetTransform()
        if not self._item.pixmap().isNull():
            self.fitInView(self._item, Qt.AspectRatioMode.KeepAspectRatio)

    def zoom(self, factor: float) -> None:
        self._fit = False
        self.scale(factor, factor)

    def actual_size(self) -> None:
        self._fit = False
        self.resetTransform()

    @property
    def scale_factor(self) -> float:
        return self.transform().m11()

    def wheelEvent(self, event: QWheelEvent) -> None:
        self.zoom(1.25 if event.angleDelta().y() > 0 else 0.8)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self._fit:
            self.fit()


class ViewerPage(QWidget):
    """Shows one photo of the grid's list; the window feeds it images loaded in the background."""

    closed = Signal()
    step_requested = Signal(int)  # -1 previous, +1 next

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view = ImageView()
        self.title = QLabel()
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        bar = QHBoxLayout()
        for text, tip, slot in (
            ("← Back", "Back to the grid (Esc)", self.closed.emit),
            ("◀", "Previous photo (Left)", lambda: self.step_requested.emit(-1)),
            ("▶", "Next photo (Right)", lambda: self.step_requested.emit(1)),
            ("Fit", "Fit to window (0)", self.view.fit),
            ("100 %", "Actual size (1)", self.view.actual_size),
            ("Show in folder", "Open the folder holding this photo", self.show_in_folder),
        ):
            b = QPushButton(text, toolTip=tip)
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            b.clicked.connect(slot)
            bar.addWidget(b)
            if text == "▶":
                bar.addWidget(self.title, 1)
        self.info = QFormLayout()
        info_box = QWidget()
        info_box.setLayout(self.info)
        info_box.setFixedWidth(260)
        body = QHBoxLayout()
        body.addWidget(self.view, 1)
        body.addWidget(info_box)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(bar)
        lay.addLayout(body, 1)
        self.item: GalleryItem | None = None

    def show_item(self, item: GalleryItem, position: str) -> None:
        self.item = item
        self.title.setText(f"<b>{item.name}</b> &nbsp; {position}")
        self.view.set_image(None)
        self.set_details({"Path": item.path})

    def set_image(self, image: QImage) -> None:
        self.view.set_image(image)

    def set_details(self, details: dict[str, str]) -> None:
        while self.info.rowCount():
            self.info.removeRow(0)
        for key, value in details.items():
            label = QLabel(value)
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.info.addRow(f"<b>{key}</b>", label)

    def show_in_folder(self) -> None:
        if self.item is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(Path(self.item.path).parent)))

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        if key == Qt.Key.Key_Escape:
            self.closed.emit()
        elif key in (Qt.Key.Key_Right, Qt.Key.Key_Space, Qt.Key.Key_PageDown):
            self.step_requested.emit(1)
        elif key in (Qt.Key.Key_Left, Qt.Key.Key_Backspace, Qt.Key.Key_PageUp):
            self.step_requested.emit(-1)
        elif key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.view.zoom(1.25)
        elif key == Qt.Key.Key_Minus:
            self.view.zoom(0.8)
        elif key == Qt.Key.Key_0:
            self.view.fit()
        elif key == Qt.Key.Key_1:
            self.view.actual_size()
        else:
            super().keyPressEvent(event)
