"""The PySide6 window. The only package that imports Qt; it talks to ``app.services.Library`` only."""

from __future__ import annotations

from collections.abc import Sequence


def run(argv: Sequence[str] | None = None) -> int:
    """Open the window (``shoebox`` with no sub-command)."""
    from app.ui.launch import main

    return main(argv)
