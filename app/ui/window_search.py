"""The main window's search box and viewer page: queries and full-size loads run off the UI thread.

A mixin of ``MainWindow`` (it uses the window's ``library``, ``tasks``, ``model``, ``grid``, ``viewer``
and ``stack``), kept apart so the search work of the find-it issue grows here, not in the window.
"""

from __future__ import annotations

from typing import Any

from app.core.gallery import GalleryItem
from app.core.models import SearchQuery
from app.ui.viewer import read_full
from app.ui.workers import error_text


class SearchAndViewerMixin:
    # Search

    def focus_search(self) -> None:
        self.search.setFocus()
        self.search.selectAll()

    def run_search(self) -> None:
        text = self.search.text().strip()
        if not text:
            self.refresh_listing()
            return
        if self.library is None:
            return

        def search() -> list[GalleryItem]:
            hits = self.library.search(SearchQuery(text=text)).hits
            return [i for i in (self.library.photo_item(h.photo_id) for h in hits) if i is not None]

        self._listing_generation += 1
        gen = self._listing_generation
        self.tasks.run(search, lambda items: self._on_search(gen, text, items), self._on_search_failed)

    def _on_search(self, generation: int, text: str, items: list[GalleryItem]) -> None:
        if generation == self._listing_generation:
            self.model.set_items(items)
            self._set_state(self.status_line.state, note=f"{len(items)} results for “{text}” (clear the box for all)")

    def _on_search_failed(self, exc: BaseException) -> None:
        self._set_state(self.status_line.state, note=f"search: {error_text(exc)}")

    # Viewer

    def open_viewer(self, row: int) -> None:
        item = self.model.item(row)
        if item is None:
            return
        self._viewer_row = row
        self.viewer.show_item(item, f"{row + 1:,} of {self.model.rowCount():,}")
        self.stack.setCurrentWidget(self.viewer)
        self.viewer.setFocus()
        library = self.library

        def load() -> tuple[Any, dict[str, str]]:
            return read_full(item.path), library.photo_details(item)

        self.tasks.run(load, lambda result: self._on_viewer_loaded(item, *result))

    def _on_viewer_loaded(self, item: GalleryItem, image: Any, details: dict[str, str]) -> None:
        if self.viewer.item is not item:
            return
        if image.isNull():
            details = {"Error": item.error or "this file cannot be shown", **details}
        else:
            self.viewer.set_image(image)
        self.viewer.set_details({**details, "Path": item.path})

    def _step_viewer(self, step: int) -> None:
        row = self._viewer_row + step
        if 0 <= row < self.model.rowCount():
            self.open_viewer(row)

    def close_viewer(self) -> None:
        self.stack.setCurrentWidget(self.grid)
        if self._viewer_row >= 0:
            idx = self.model.index(self._viewer_row)
            self.grid.setCurrentIndex(idx)
            self.grid.scrollTo(idx)
        self.grid.setFocus()
