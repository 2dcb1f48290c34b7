"""The OCR step of the background pass: text lines of a batch of photos, from the same working images the
region pass uses, with boxes mapped to photo pixels."""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image

from app.core.models import Photo, TextLine
from app.core.records import OcrRecord
from app.imaging.regions import scale_box
from app.indexing.context import IndexContext

OCR_CHUNK = 4  # photos per reader call: a search waits for at most one call (~0.2-0.5 s a photo here)


def read_text(ctx: IndexContext, items: Sequence[tuple[Photo, Image.Image]]) -> list[OcrRecord]:
    """Reader calls of a few photos each (their lines are recognised together), a search going first."""
    if not items:
        return []
    assert ctx.ocr is not None and ctx.ocr_key is not None
    before = ctx.ocr.forward_seconds
    found = []
    for start in range(0, len(items), OCR_CHUNK):
        ctx.priority.wait_turn()
        found += ctx.ocr.read([image for _, image in items[start : start + OCR_CHUNK]])
    ctx.stats.ocr_seconds += ctx.ocr.forward_seconds - before
    records = []
    for (photo, image), lines in zip(items, found, strict=True):
        width, height = photo.width or image.width, photo.height or image.height
        scale = width / image.width
        rec = OcrRecord(photo.id, ctx.ocr_key, photo.content_hash)
        rec.lines = [TextLine(ln.text, scale_box(ln.box, scale, width, height), ln.confidence) for ln in lines]
        records.append(rec)
    return records
