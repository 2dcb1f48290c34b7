"""The photo viewer: zoom (wheel, +/-, 0 = fit, 1 = 100 %), pan (drag), next/previous (arrows),
EXIF basics beside the photo and "Show in folder". The full image is decoded off the UI thread.

Opened from search results it draws where the match sits and zooms to it (M toggles fit / match);
"Select region" (or Shift+drag) rubber-bands part of the photo to search for the photos containing it.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, QUrl, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QDesktopServices,
    QImage,
    QImageReader,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPen,
    QPixmap,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QFormLayout,
    QGraphicsItem,
    QGraphicsPixmapItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsView,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.core.gallery import GalleryItem
from app.core.models import SearchHit
from app.ui.match_overlay import hit_colour, hit_polygon, hit_rect, is_whole_photo, scale_factors

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
    selection_made = Signal(QRectF)  # scene (= shown image) pixels; empty when cleared

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
        self.setAcceptDrops(False)  # drops go to the window (search or add a folder)
        self.viewport().setAcceptDrops(False)
        self._fit = True
        self._match_zoomed = False
        self._match: QRectF | None = None
        self._overlays: list[QGraphicsItem] = []
        self.selecting = False
        self._sel_start: QPointF | None = None
        self._sel_item: QGraphicsRectItem | None = None

    def set_image(self, image: QImage | None) -> None:
        self.clear_match()
        self.clear_selection()
        self._item.setPixmap(QPixmap.fromImage(image) if image is not None else QPixmap())
        self.scene().setSceneRect(self._item.boundingRect())
        self.fit()

    def pixmap(self) -> QPixmap:
        return self._item.pixmap()

    @property
    def image_size(self) -> tuple[int, int]:
        pix = self._item.pixmap()
        return pix.width(), pix.height()

    # Where the search hit sits

    def set_match(self, hit: SearchHit, full_size: tuple[int | None, int | None]) -> bool:
        """Draw the hit's outline/box on the photo; False when the whole photo is the match (nothing drawn)."""
        self.clear_match()
        factors = scale_factors(full_size, self.image_size)
        if factors is None or is_whole_photo(hit, full_size):
            return False
        poly, rect = hit_polygon(hit, *factors), hit_rect(hit, *factors)
        for width, colour in ((5, QColor(0, 0, 0, 170)), (2.5, hit_colour(hit))):
            pen = QPen(colour, width)
            pen.setCosmetic(True)  # the same on-screen width at any zoom
            shape = self.scene().addPolygon(poly, pen) if poly is not None else self.scene().addRect(rect, pen)
            self._overlays.append(shape)
        self._match = poly.boundingRect() if poly is not None else rect
        return True

    def clear_match(self) -> None:
        for item in self._overlays:
            self.scene().removeItem(item)
        self._overlays.clear()
        self._match = None
        self._match_zoomed = False

    @property
    def has_match(self) -> bool:
        return self._match is not None

    @property
    def match_zoomed(self) -> bool:
        return self._match_zoomed

    def zoom_to_match(self) -> None:
        """Fill the view with the match and some of its surroundings (a quarter of its size each side)."""
        if self._match is None:
            return
        m = self._match
        margin = max(m.width(), m.height()) * 0.25 + 16
        self.resetTransform()
        self.fitInView(m.adjusted(-margin, -margin, margin, margin), Qt.AspectRatioMode.KeepAspectRatio)
        self._fit, self._match_zoomed = False, True

    # Rubber-band selection

    def clear_selection(self) -> None:
        if self._sel_item is not None:
            self.scene().removeItem(self._sel_item)
            self._sel_item = None
            self.selection_made.emit(QRectF())
        self._sel_start = None

    def select(self, rect: QRectF) -> None:
        """Select ``rect`` (scene pixels), clamped to the photo; what a rubber-band drag ends with."""
        rect = rect.normalized().intersected(self._item.boundingRect())
        if self._sel_item is None:
            pen = QPen(QColor(255, 255, 255), 2, Qt.PenStyle.DashLine)
            pen.setCosmetic(True)
            self._sel_item = self.scene().addRect(rect, pen, QBrush(QColor(52, 152, 219, 60)))
        self._sel_item.setRect(rect)

    @property
    def selection(self) -> QRectF:
        return self._sel_item.rect() if self._sel_item is not None else QRectF()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        wants = self.selecting or event.modifiers() & Qt.KeyboardModifier.ShiftModifier
        if event.button() == Qt.MouseButton.LeftButton and wants and not self._item.pixmap().isNull():
            self._sel_start = self.mapToScene(event.position().toPoint())
            self.select(QRectF(self._sel_start, self._sel_start))
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._sel_start is not None:
            self.select(QRectF(self._sel_start, self.mapToScene(event.position().toPoint())))
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._sel_start is not None:
            self.select(QRectF(self._sel_start, self.mapToScene(event.position().toPoint())))
            self._sel_start = None
            rect = self.selection
            if rect.width() < 8 or rect.height() < 8:  # a click, not a region
                self.clear_selection()
            else:
                self.selection_made.emit(rect)
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def fit(self) -> None:
        self._fit, self._match_zoomed = True, False
        self.resetTransform()
        if not self._item.pixmap().isNull():
            self.fitInView(self._item, Qt.AspectRatioMode.KeepAspectRatio)

    def zoom(self, factor: float) -> None:
        self._fit = self._match_zoomed = False
        self.scale(factor, factor)

    def actual_size(self) -> None:
        self._fit = self._match_zoomed = False
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
        elif self._match_zoomed:
            self.zoom_to_match()


class ViewerPage(QWidget):
    """Shows one photo of the grid's list; the window feeds it images loaded in the background."""

    closed = Signal()
    step_requested = Signal(int)  # -1 previous, +1 next
    region_search_requested = Signal(QRectF)  # the selection, in pixels of the shown image

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view = ImageView()
        self.title = QLabel()
        self.title.setMinimumWidth(1)  # a long file name is clipped rather than widening the window
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
        self.match_button = QPushButton("Zoom to match", toolTip="Zoom to where the match is / fit the photo (M)")
        self.match_button.setCheckable(True)
        self.match_button.toggled.connect(self._on_match_toggled)
        self.select_button = QPushButton(
            "Select region", toolTip="Select a region: drag over part of the photo (or Shift+drag)"
        )
        self.select_button.setCheckable(True)
        self.select_button.toggled.connect(self._on_select_toggled)
        self.find_button = QPushButton("Find photos containing this", toolTip="Search the library for the selection")
        self.find_button.setEnabled(False)
        self.find_button.hide()  # shown once a region is selected
        self.find_button.clicked.connect(self.request_region_search)
        # Find-it controls float over the photo's top-left corner: they never widen the window.
        self.tools = QWidget(self.view)
        self.tools.setObjectName("viewer-tools")
        self.tools.setAttribute(Qt.WidgetAttribute.WA_StyledBackground)
        self.tools.setStyleSheet("#viewer-tools { background: rgba(20, 20, 20, 150); border-radius: 5px; }")
        tools = QHBoxLayout(self.tools)
        tools.setContentsMargins(4, 4, 4, 4)
        for b in (self.select_button, self.find_button, self.match_button):
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            tools.addWidget(b)
        self.tools.move(8, 8)
        self.match_button.hide()
        self.view.selection_made.connect(self._on_selection)
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
        self._show_match_button(False)

    def show_match(self, hit: SearchHit, full_size: tuple[int | None, int | None], zoom: bool = True) -> None:
        """Outline the hit on the photo (after ``set_image``) and zoom to it; the button toggles back to fit."""
        drawn = self.view.set_match(hit, full_size)
        self._show_match_button(drawn)
        if drawn and zoom:
            self.match_button.setChecked(True)

    def _show_match_button(self, visible: bool) -> None:
        self.match_button.blockSignals(True)
        self.match_button.setChecked(False)
        self.match_button.blockSignals(False)
        self.match_button.setVisible(visible)
        self.tools.adjustSize()

    def _on_match_toggled(self, on: bool) -> None:
        self.view.zoom_to_match() if on else self.view.fit()

    def _on_select_toggled(self, on: bool) -> None:
        self.view.selecting = on
        self.view.setDragMode(QGraphicsView.DragMode.NoDrag if on else QGraphicsView.DragMode.ScrollHandDrag)

    def _on_selection(self, rect: QRectF) -> None:
        self.find_button.setEnabled(not rect.isEmpty())
        self.find_button.setVisible(not rect.isEmpty())
        self.tools.adjustSize()

    def request_region_search(self) -> None:
        rect = self.view.selection
        if not rect.isEmpty():
            self.select_button.setChecked(False)
            self.region_search_requested.emit(rect)

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
        if key == Qt.Key.Key_Escape and not self.view.selection.isEmpty():
            self.view.clear_selection()
        elif key == Qt.Key.Key_Escape:
            self.closed.emit()
        elif key == Qt.Key.Key_M and self.match_button.isVisible():
            self.match_button.toggle()
        elif key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.find_button.isEnabled():
            self.request_region_search()
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
