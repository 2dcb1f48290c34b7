"""The one place that knows where a library keeps its files (platformdirs for the default)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "Shoebox"
LIBRARY_ENV = "SHOEBOX_LIBRARY"


def default_library_dir() -> Path:
    """``$SHOEBOX_LIBRARY`` if set, else the platform's per-user data folder."""
    env = os.environ.get(LIBRARY_ENV)
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)) / "library"


@dataclass(frozen=True, slots=True)
class LibraryPaths:
    """Files inside one library folder. Everything but ``db`` and ``settings`` is a rebuildable cache."""

    root: Path

    @property
    def db(self) -> Path:
        return self.root / "shoebox.db"

    @property
    def settings(self) -> Path:
        return self.root / "settings.json"

    @property
    def indexes(self) -> Path:
        return self.root / "indexes"

    @property
    def thumbnails(self) -> Path:
        return self.root / "thumbnails"

    @property
    def spool(self) -> Path:
        """Decoded working images waiting for the region pass (deleted once it has run)."""
        return self.root / "spool"

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def writer_lock(self) -> Path:
        return self.root / "writer.lock"

    def thumbnail_for(self, content_hash: str) -> Path:
        return self.thumbnails / content_hash[:2] / f"{content_hash}.jpg"
