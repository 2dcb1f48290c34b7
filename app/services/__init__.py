"""``Library``: the one facade the CLI and the UI use. It orchestrates; the work lives in the layers below.

Each feature adds its methods in its own mixin module so the facade stays one object with small files.
"""

from __future__ import annotations

from app.services.crop import CropSearchMixin
from app.services.duplicates import DuplicatesMixin
from app.services.gallery import GalleryMixin
from app.services.library import LibraryCore
from app.services.tags import TagsMixin
from app.services.watch import WatchMixin
from app.services.words import WordsMixin


class Library(TagsMixin, WordsMixin, CropSearchMixin, DuplicatesMixin, WatchMixin, GalleryMixin, LibraryCore):
    """A photo library: its folders, database, vector caches and models.

    Open with :meth:`open`; close with :meth:`close` (or use it as a context manager). The process
    that opens a library first is its single writer; others can read (status, searches) at the
    same time but cannot index.
    """


__all__ = ["Library"]
