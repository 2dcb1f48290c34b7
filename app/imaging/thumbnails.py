"""Thumbnails and spooled working images, both written from the one decoded image."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from PIL import Image


def _atomic_save(image: Image.Image, dest: Path, quality: int) -> int:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.tmp")
    image.save(tmp, "JPEG", quality=quality, optimize=False)
    os.replace(tmp, dest)
    return dest.stat().st_size


def write_thumbnail(image: Image.Image, dest: Path, size: int = 320) -> None:
    """Save a JPEG thumbnail with the long side ``size``; skipped when it already exists (content-keyed)."""
    if dest.exists():
        return
    thumb = image.copy()
    thumb.thumbnail((size, size), Image.Resampling.BILINEAR, reducing_gap=2.0)
    _atomic_save(thumb, dest, quality=85)


def write_spool(image: Image.Image, dest: Path) -> int:
    """Keep the decoded working image for the region pass; returns its size in bytes.

    A high-quality JPEG of the already decoded, oriented, downsized image costs ~10 ms, far less
    than decoding a camera JPEG again, and keeps the spool at ~0.2 MB a photo.
    """
    return _atomic_save(image, dest, quality=93)


def read_spool(path: Path) -> Image.Image | None:
    """The spooled working image, or None if it is gone or unreadable (then the original is decoded)."""
    try:
        with Image.open(path) as img:
            img.load()
            return img.convert("RGB") if img.mode != "RGB" else img.copy()
    except (OSError, ValueError):
        return None
