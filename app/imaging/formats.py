"""Which files are photos."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

BASE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".jpe", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif"})
HEIF_EXTENSIONS = frozenset({".heic", ".heif"})


def _heif_available() -> bool:
    try:
        import pillow_heif  # type: ignore[import-not-found]
    except ImportError:
        return False
    pillow_heif.register_heif_opener()
    return True


HAS_HEIF = _heif_available()
PHOTO_EXTENSIONS = BASE_EXTENSIONS | (HEIF_EXTENSIONS if HAS_HEIF else frozenset())


def is_photo_name(name: str, extra: frozenset[str] = frozenset()) -> bool:
    """True for a file name with a supported extension (case-insensitive)."""
    dot = name.rfind(".")
    if dot <= 0:
        return False
    ext = name[dot:].lower()
    return ext in PHOTO_EXTENSIONS or ext in extra
