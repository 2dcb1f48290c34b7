"""Where the window's library comes from, and the app icon. Importing this loads nothing heavy:
``app.services`` (SQLAlchemy, FAISS, NumPy) is imported on a worker thread when the library opens.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from PySide6.QtGui import QIcon

from app.core.paths import LibraryPaths, default_library_dir


def resources_dir() -> Path:
    """``resources/`` beside the ``app`` package, or inside a PyInstaller bundle."""
    bundle = getattr(sys, "_MEIPASS", None)
    return Path(bundle) / "resources" if bundle else Path(__file__).resolve().parents[2] / "resources"


def app_icon() -> QIcon:
    return QIcon(str(resources_dir() / "shoebox.svg"))


class LibrarySource:
    """Opens the window's library. Tests pass ``encoder``/``detector`` fakes through ``open_kwargs``."""

    def __init__(
        self, root: Path | str | None = None, overrides: Mapping[str, object] | None = None, **open_kwargs: Any
    ) -> None:
        self.root = Path(root).expanduser() if root else default_library_dir()
        self.overrides = dict(overrides or {})
        # The window's models run in their own process: torch never loads here, a crash there is survivable.
        self.open_kwargs = {"model_host": True, **open_kwargs}

    def exists(self) -> bool:
        return LibraryPaths(self.root).db.exists()

    def open(self, create: bool) -> Any:
        """Open (or create) the library; runs on a worker thread."""
        from app.services import Library

        return Library.open(
            self.root,
            create=create,
            overrides=self.overrides,
            persist_overrides=bool(self.overrides),
            **self.open_kwargs,
        )
