"""The main window's find-it side: the search field, dropped and pasted images, region search from the viewer,
the results page, and the viewer opened on a grid photo or a search hit.

A mixin of ``MainWindow`` (it uses the window's ``library``, ``tasks``, ``loader``, ``model``, ``grid``,
``viewer``, ``stack``, ``search`` and ``_set_state``).

Queries run on the ``TaskRunner``, one at a time: a query asked for while one is running waits as the
*pending* one, and a newer one replaces it (typing "beach" never runs "b", "be", "bea"… behind each other
on two cores). Each query has a generation number; a result whose generation is not the newest is
dropped, so a slow stale answer never paints over a newer one.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from PySide6.QtCore import QRectF, QTimer
from PySide6.QtGui import QGuiApplication, QImage, QKeySequence
from PySide6.QtWidgets import QLineEdit, QStackedWidget, QToolBar

from app.core.gallery import GalleryItem
from app.core.models import RegionQuery, SearchHit, SearchQuery, SearchResults
from app.ui.drop import DropHint, DropRequest, classify
from app.ui.gallery_model import PhotoGridModel
from app.ui.results_view import ResultsModel, ResultsPage
from app.ui.viewer import read_full
from app.ui.workers import error_text

DEBOUNCE_MS = 250  # results appear when the user pauses typing
NO_WEIGHTS_PLACEHOLDER = "Search words in photos (captions need the CLIP weights)…"


def _run_query(library: Any, query: SearchQuery) -> tuple[SearchResults, list[GalleryItem], list[SearchHit]]:
    """Worker thread: the facade call, then the gallery rows of the hits (for thumbnails and the viewer).

    Without CLIP weights the text goes to the words read in photos only: asking the facade for captions
    would fail after importing torch (seconds, the UI stuttering) just to say the weights are missing.
    """
    clip = library.model_status()["clip"]
    if query.text and not clip.available:
        results = library.search(replace(query, text=None, words=query.text, negative=()))
        results.notes.insert(0, no_clip_note(clip.message))
    else:
        results = library.search(query)
    items, hits = [], []
    for hit in results.hits:
        item = library.photo_item(hit.photo_id)
        if item is not None:
            items.append(item)
            hits.append(hit)
    return results, items, hits


def no_clip_note(message: str) -> str:
    return (
        f"Captions need the CLIP weights, so only the words written in photos were searched. {message}. "
        "Tools → Models and settings… downloads them while online (or run 'shoebox models --download')."
    )


def _query_preview(image: str | bytes) -> QImage:
    """Worker thread: the query picture for the strip above the results."""
    from app.ui.thumbnails import read_scaled

    if isinstance(image, str):
        return read_scaled(image, 96)
    return QImage.fromData(image)


class SearchAndViewerMixin:
    # Building (called by MainWindow._build / _build_actions)

    def _build_find(self, toolbar: QToolBar, stack: QStackedWidget) -> None:
        self.results_model = ResultsModel(self.loader, self._thumbnail_path, self)
        self.results = ResultsPage(self.results_model)
        self.results.closed.connect(self.clear_query)
        self.results.activated.connect(self.open_result)
        stack.addWidget(self.results)
        self.without = QLineEdit(placeholderText="without…", clearButtonEnabled=True)
        self.without.setMaximumWidth(150)
        self.without.setToolTip("Steer away from this (e.g. “people”): photos like it rank lower")
        for field in (self.search, self.without):
            field.setAcceptDrops(False)  # an image dropped on the field searches, it is not pasted as a path
            field.textChanged.connect(self._schedule_query)
            field.returnPressed.connect(self.run_search)
        toolbar.addWidget(self.without)
        self._debounce = QTimer(self, singleShot=True, interval=DEBOUNCE_MS)
        self._debounce.timeout.connect(self.run_search)
        self.paste_action = self._action("&Paste image to search", QKeySequence.StandardKey.Paste, self.paste)
        self.drop_hint = DropHint(self)
        self._query_image: str | bytes | None = None
        self._query_region: RegionQuery | None = None
        self._query_title = ""
        self._query_generation = 0
        self._query_running = False
        self._query_pending: tuple[int, SearchQuery] | None = None
        self._viewer_model: PhotoGridModel = self.model
        self._viewer_hit: SearchHit | None = None
        self.viewer.region_search_requested.connect(self.search_region)
        self.library_opened.connect(self._check_text_search)

    def _check_text_search(self, library: Any) -> None:
        """Without CLIP weights captions cannot be searched: the field says so and how to get them."""
        self.tasks.run(lambda: library.model_status()["clip"], self._on_clip_status)

    def _on_clip_status(self, status: Any) -> None:
        self.without.setEnabled(status.available)  # steering away works on meaning, which needs CLIP
        if not status.available:
            self.without.setToolTip("“without…” needs the CLIP weights (see the search field's tooltip)")
        if status.available:
            self.search.setPlaceholderText("Search photos (Ctrl+F)…")
            self.search.setToolTip("A caption (“a dog on a beach”) or words written in the photos")
            return
        self.search.setPlaceholderText(NO_WEIGHTS_PLACEHOLDER)
        self.search.setToolTip(
            "Captions need the CLIP weights: " + (status.message or "they are not installed")
            + "\nTools → Models and settings… downloads them (online), or run 'shoebox models --download'."
            "\nWords written in photos (OCR) and dropped images are found without them."
        )  # fmt: skip

    # Asking

    def focus_search(self) -> None:
        self.search.setFocus()
        self.search.selectAll()

    def _schedule_query(self) -> None:
        self._debounce.start()  # restarts: a query runs when typing pauses

    def current_query(self) -> SearchQuery | None:
        text = self.search.text().strip()
        without = tuple(w.strip() for w in self.without.text().split(",") if w.strip())
        query = SearchQuery(text=text or None, image=self._query_image, region=self._query_region, negative=without)
        if query.is_empty:
            return None
        return query

    def run_search(self) -> None:
        """Run what the field, the "without" field and the dropped image ask for (the debounce lands here)."""
        self._debounce.stop()
        query = self.current_query()
        if query is None:
            if self.stack.currentWidget() is self.results:
                self.clear_query()
            return
        if self.library is None:
            return
        self._submit(query)

    def search_image(self, image: str | bytes, name: str) -> None:
        """Crop search with a dropped or pasted image (a file path or encoded bytes)."""
        self._query_image, self._query_region = image, None
        self._query_title = f"Photos containing <b>{_escape(name)}</b>"
        self.results.show_query(self._query_title, None)
        self.tasks.run(lambda: _query_preview(image), lambda preview: self._on_preview(image, preview))
        self.run_search()

    def search_region(self, shown: QRectF) -> None:
        """Photos containing the region selected in the viewer (``shown``: pixels of the shown image)."""
        item = self.viewer.item
        if item is None or shown.isEmpty():
            return
        w, h = self.viewer.view.image_size
        sx, sy = (item.width or w) / w, (item.height or h) / h
        box = (shown.left() * sx, shown.top() * sy, shown.right() * sx, shown.bottom() * sy)
        self._query_image, self._query_region = None, RegionQuery(item.id, box)
        self._query_title = f"Photos containing this part of <b>{_escape(item.name)}</b>"
        pixmap = self.viewer.view.pixmap()
        self.results.show_query(self._query_title, pixmap.copy(shown.toRect()).toImage())
        self.run_search()

    def _on_preview(self, image: str | bytes, preview: QImage) -> None:
        if self._query_image is image:  # not a preview of an image dropped before this one
            self.results.show_query(self._query_title, preview)

    def clear_query(self) -> None:
        """The "×": forget the image/region and the text, back to the gallery."""
        self._query_generation += 1  # anything still running is stale now
        self._query_pending = None
        self._query_image = self._query_region = None
        for field in (self.search, self.without):
            field.blockSignals(True)
            field.clear()
            field.blockSignals(False)
        self._debounce.stop()
        self.results_model.set_results([], [])
        if self.stack.currentWidget() in (self.results, self.viewer):
            self.stack.setCurrentWidget(self.grid)
            self.grid.setFocus()
        self.refresh_listing()

    # Running (one at a time; the newest pending one replaces older ones)

    def _submit(self, query: SearchQuery) -> None:
        self._query_generation += 1
        gen = self._query_generation
        text = f"“{_escape(query.text)}”" if query.text else ""
        if self._query_image is None and self._query_region is None:
            self.results.show_query(f"Photos matching {text}", None)
        else:
            self.results.set_title(f"{self._query_title} and {text}" if text else self._query_title)
        if query.negative:
            self.results.set_title(self.results.title.text() + f" without “{_escape(', '.join(query.negative))}”")
        self.results.set_busy(True)
        if self.stack.currentWidget() is not self.results:
            self.stack.setCurrentWidget(self.results)
        if self._query_running:
            self._query_pending = (gen, query)
            return
        self._start_query(gen, query)

    def _start_query(self, gen: int, query: SearchQuery) -> None:
        self._query_running = True
        library = self.library
        self.tasks.run(
            lambda: _run_query(library, query),
            lambda r: self._on_query_done(gen, query, *r),
            lambda exc: self._on_query_failed(gen, exc),
        )

    def _next_query(self) -> None:
        self._query_running = False
        if self._query_pending is not None and self.library is not None:
            gen, query = self._query_pending
            self._query_pending = None
            if gen == self._query_generation:
                self._start_query(gen, query)

    def _on_query_done(
        self, gen: int, query: SearchQuery, results: SearchResults, items: list[GalleryItem], hits: list[SearchHit]
    ) -> None:
        self._next_query()
        if gen != self._query_generation:
            return  # a newer query was asked for: this answer is stale
        self.results.set_results(gen, items, hits, results.notes, results.seconds)
        self._set_state(self.status_line.state, note=f"{len(hits):,} found in {results.seconds:.2f} s")

    def _on_query_failed(self, gen: int, exc: BaseException) -> None:
        self._next_query()
        if gen == self._query_generation:
            self.results.show_error(error_text(exc))

    # Drop and paste

    def dragEnterEvent(self, event: Any) -> None:
        req = classify(event.mimeData(), decode=False)
        if req.is_empty and not req.problem:
            event.ignore()  # not ours (plain text…): no hint, and Qt sends no leave event for it
            return
        self.drop_hint.show_for(req)  # a web address is accepted too, to say on the drop why it cannot be used
        event.acceptProposedAction()

    def dragMoveEvent(self, event: Any) -> None:
        event.acceptProposedAction()

    def dragLeaveEvent(self, event: Any) -> None:
        self.drop_hint.hide()

    def dropEvent(self, event: Any) -> None:
        self.drop_hint.hide()
        req = classify(event.mimeData())
        if req.is_empty:
            event.ignore()
        else:
            event.acceptProposedAction()
        self._use_drop(req)

    def paste(self) -> None:
        """Ctrl+V outside a text field: an image on the clipboard searches, a folder is added."""
        req = classify(QGuiApplication.clipboard().mimeData())
        if req.is_empty and not req.problem:
            text = QGuiApplication.clipboard().text().strip()
            if text:
                self.search.setText(text)
                self.focus_search()
            return
        self._use_drop(req)

    def _use_drop(self, req: DropRequest) -> None:
        if req.folders:
            self.add_folders(req.folders)
        elif req.image is not None:
            if self.library is None:
                self._set_state(self.status_line.state, note="add a photo folder first, then drop an image to search")
                return
            self.search_image(req.image, req.image_name)
        elif req.problem:
            self._set_state(self.status_line.state, note=req.problem)

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        if self.drop_hint.isVisible():
            self.drop_hint.setGeometry(self.rect())

    # Viewer

    def _selected_items(self) -> list[GalleryItem]:
        """What Delete acts on: the photo in the viewer, the selected hits, or the gallery's selection —
        never a hidden page's selection (the duplicates view has its own trash buttons)."""
        page = self.stack.currentWidget()
        if page is self.viewer:
            return [self.viewer.item] if self.viewer.item is not None else []
        if page is self.results:
            return [self.results_model.items[i.row()] for i in self.results.grid.selectedIndexes()]
        if page is self.grid:
            return super()._selected_items()
        return []

    def open_viewer(self, row: int) -> None:
        self._viewer_return = (self.grid, self.grid)
        self._open_in_viewer(self.model, row, None)

    def open_result(self, row: int) -> None:
        self._viewer_return = (self.results, self.results.grid)
        self._open_in_viewer(self.results_model, row, self.results_model.hit(row))

    def _open_in_viewer(self, model: PhotoGridModel, row: int, hit: SearchHit | None) -> None:
        item = model.item(row)
        if item is None:
            return
        self._viewer_model, self._viewer_row, self._viewer_hit = model, row, hit
        self.viewer.show_item(item, f"{row + 1:,} of {model.rowCount():,}")
        self.stack.setCurrentWidget(self.viewer)
        self.viewer.setFocus()
        library = self.library

        def load() -> tuple[Any, dict[str, str]]:
            return read_full(item.path), library.photo_details(item)

        self.tasks.run(load, lambda result: self._on_viewer_loaded(item, *result))

    def _on_viewer_loaded(self, item: GalleryItem, image: Any, details: dict[str, str]) -> None:
        if self.viewer.item is not item:
            return
        hit = self._viewer_hit
        if image.isNull():
            details = {"Error": item.error or "this file cannot be shown", **details}
        else:
            self.viewer.set_image(image)
            if hit is not None:
                self.viewer.show_match(hit, (item.width, item.height))
        if hit is not None:
            details = {"Match": _describe(hit), **details}
        self.viewer.set_details({**details, "Path": item.path})

    def _step_viewer(self, step: int) -> None:
        row = self._viewer_row + step
        model = self._viewer_model
        if 0 <= row < model.rowCount():
            hit = self.results_model.hit(row) if model is self.results_model else None
            self._open_in_viewer(model, row, hit)

    def close_viewer(self) -> None:
        """Back to the page the viewer was opened from, on the photo last shown."""
        page, view = getattr(self, "_viewer_return", (self.grid, self.grid))
        self.stack.setCurrentWidget(page)
        if view is not None and self._viewer_row >= 0:
            idx = self._viewer_model.index(self._viewer_row)
            view.setCurrentIndex(idx)
            view.scrollTo(idx)
        (view or page).setFocus()


def _describe(hit: SearchHit) -> str:
    parts = [f"{hit.kind.value} · score {hit.score:.3f}"]
    if hit.inliers:
        parts.append(f"{hit.inliers} matching points")
    for key in ("text", "label", "method"):
        if key in hit.details:
            parts.append(f"{key}: {hit.details[key]}")
    if hit.label and "label" not in hit.details:
        parts.append(hit.label)
    return "\n".join(parts)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
