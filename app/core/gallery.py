"""What the gallery shows: one light row per photo and a summary per library folder."""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import PurePath

from app.core.models import PhotoState


class SortOrder(StrEnum):
    DATE = "date"  # newest first: EXIF date taken, else the file's modification time
    NAME = "name"  # file name, then path
    FOLDER = "folder"  # full path


@dataclass(frozen=True, slots=True)
class GalleryItem:
    """One photo as the grid needs it; cheap enough to hold 100,000 in memory."""

    id: int
    path: str
    folder_id: int
    state: PhotoState
    content_hash: str | None
    taken_at: str | None  # EXIF "YYYY:MM:DD HH:MM:SS"
    mtime_ns: int
    size: int
    width: int | None = None
    height: int | None = None
    error: str | None = None

    @property
    def name(self) -> str:
        return PurePath(self.path).name

    @property
    def date_key(self) -> str:
        """The date shown and sorted by, in EXIF's sortable text form."""
        if self.taken_at:
            return self.taken_at
        return time.strftime("%Y:%m:%d %H:%M:%S", time.localtime(self.mtime_ns / 1e9))


@dataclass(frozen=True, slots=True)
class FolderSummary:
    """A library folder with its counts; ``online`` is False when the folder is not there (unplugged disk)."""

    id: int
    path: str
    photos: int
    indexed: int
    pending: int
    failed: int
    online: bool
