"""Duplicates facade: tiered groups, trash and undo. Owned by the duplicates issue."""

from __future__ import annotations

from app.services.library import LibraryCore


class DuplicatesMixin(LibraryCore):
    pass
