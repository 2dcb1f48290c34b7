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


UI_SWITCH_INTERVAL_S = 0.001


def tune_ui_process() -> None:
    """Process settings for a responsive window while indexing runs on other threads of this process.

    Every paint calls into Python (the model's ``data``, the delegate), and each call has to win the GIL
    back from the decode and writer threads; CPython makes a waiting thread wait up to the switch
    interval (5 ms) each time. At 1 ms the longest UI stall while indexing 200 corpus photos went from
    113 ms to 62 ms (fake models, 2 busy cores); the background threads lose a few per cent.
    """
    sys.setswitchinterval(UI_SWITCH_INTERVAL_S)


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
