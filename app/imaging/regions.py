"""Region geometry: which parts of a photo get their own embedding besides the whole photo."""

from __future__ import annotations

from collections.abc import Sequence

from app.core.models import Box, Detection

TILE_FRACTION = 0.6  # four overlapping corner tiles; together they cover the centre twice
MIN_OBJECT_SIDE = 16  # working-image pixels; smaller boxes carry too little for CLIP


def tile_boxes(width: int, height: int) -> list[Box]:
    """Four overlapping corner tiles, so things the detector has no class for can still be found."""
    tw, th = width * TILE_FRACTION, height * TILE_FRACTION
    return [
        (0.0, 0.0, tw, th),
        (width - tw, 0.0, float(width), th),
        (0.0, height - th, tw, float(height)),
        (width - tw, height - th, float(width), float(height)),
    ]


def usable_detections(detections: Sequence[Detection], max_boxes: int) -> list[Detection]:
    """Best-first detections whose box is big enough to embed, at most ``max_boxes``."""
    keep = [
        d
        for d in sorted(detections, key=lambda d: -d.confidence)
        if d.box[2] - d.box[0] >= MIN_OBJECT_SIDE and d.box[3] - d.box[1] >= MIN_OBJECT_SIDE
    ]
    return keep[:max_boxes]


def scale_box(box: Box, factor: float, width: int, height: int) -> Box:
    """Map a working-image box to photo pixels, clamped to the photo."""
    x0, y0, x1, y1 = (v * factor for v in box)
    return (
        round(max(0.0, min(x0, width)), 1),
        round(max(0.0, min(y0, height)), 1),
        round(max(0.0, min(x1, width)), 1),
        round(max(0.0, min(y1, height)), 1),
    )


def crop_box(box: Box) -> tuple[int, int, int, int]:
    """Integer crop rectangle for PIL from a float box."""
    return int(box[0]), int(box[1]), max(int(box[0]) + 1, round(box[2])), max(int(box[1]) + 1, round(box[3]))
