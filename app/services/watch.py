"""Live-folders facade: watching the library's folders. Owned by the live-folders issue."""

from __future__ import annotations

from app.services.library import LibraryCore


class WatchMixin(LibraryCore):
    pass
