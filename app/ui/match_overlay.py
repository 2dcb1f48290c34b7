"""Where a search hit sits, drawn on a thumbnail or on the viewer's photo.

Hits carry their ``box`` (and, for verified hits, the ``outline``: the query's projected corners) in pixels
of the EXIF-oriented, full-resolution photo. A thumbnail or the viewer's image is that photo scaled, maybe
not uniformly after rounding, so each axis gets its own factor: ``shown size / full size``.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPen, QPolygonF

from app.core.models import HitKind, SearchHit

EXACT_COLOUR = QColor(46, 204, 113)  # verified: the query really is in this photo
TEXT_COLOUR = QColor(52, 152, 219)  # words read in the photo
REGION_COLOUR = QColor(241, 196, 15)  # semantic or dense-correlation region

KIND_LABELS = {
    HitKind.EXACT: "exact",
    HitKind.TEXT: "words",
    HitKind.OBJECT: "object",
    HitKind.REGION: "region",
    HitKind.PHOTO: "photo",
}


def hit_colour(hit: SearchHit) -> QColor:
    if hit.kind is HitKind.EXACT:
        return EXACT_COLOUR
    if hit.kind is HitKind.TEXT:
        return TEXT_COLOUR
    return REGION_COLOUR


def scale_factors(full: tuple[int | None, int | None], shown: tuple[int, int]) -> tuple[float, float] | None:
    """Per-axis factors from full-resolution pixels to ``shown`` pixels; None when the full size is unknown."""
    fw, fh = full
    if not fw or not fh or shown[0] <= 0 or shown[1] <= 0:
        return None
    return shown[0] / fw, shown[1] / fh


def hit_rect(hit: SearchHit, sx: float, sy: float) -> QRectF | None:
    """The hit's box in shown pixels, or None when the whole photo is the match."""
    if hit.box is None:
        return None
    x0, y0, x1, y1 = hit.box
    return QRectF(QPointF(x0 * sx, y0 * sy), QPointF(x1 * sx, y1 * sy)).normalized()


def hit_polygon(hit: SearchHit, sx: float, sy: float) -> QPolygonF | None:
    """The verified outline (a quadrilateral, perspective included) in shown pixels, if the hit has one."""
    if not hit.outline:
        return None
    return QPolygonF([QPointF(x * sx, y * sy) for x, y in hit.outline])


def is_whole_photo(hit: SearchHit, full: tuple[int | None, int | None]) -> bool:
    """A box covering (almost) the whole photo says nothing; it is not drawn."""
    if hit.box is None:
        return True
    fw, fh = full
    if not fw or not fh:
        return False
    x0, y0, x1, y1 = hit.box
    return (x1 - x0) * (y1 - y0) >= 0.95 * fw * fh


def paint_hit(painter: QPainter, hit: SearchHit, sx: float, sy: float, dx: float = 0, dy: float = 0) -> None:
    """Draw the hit's outline (or box) at offset ``dx, dy``: a dark halo under a coloured line, so it
    reads on bright and dark photos alike."""
    poly = hit_polygon(hit, sx, sy)
    rect = hit_rect(hit, sx, sy)
    if poly is None and rect is None:
        return
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.translate(dx, dy)
    painter.setBrush(Qt.BrushStyle.NoBrush)
    for pen in (QPen(QColor(0, 0, 0, 160), 4), QPen(hit_colour(hit), 2)):
        painter.setPen(pen)
        if poly is not None:
            painter.drawPolygon(poly)
        else:
            painter.drawRect(rect)
    painter.restore()


def score_text(hit: SearchHit) -> str:
    """The number a user can read: inliers for verified hits, else the score."""
    if hit.kind is HitKind.EXACT and hit.inliers:
        return f"{hit.inliers} pts"
    return f"{hit.score:.2f}"
