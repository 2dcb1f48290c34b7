"""Search facade: ``Library.search`` runs a :class:`SearchQuery` (text, image, region, negation).

Owned by the text-search issue (semantic path); the crop-search mixin supplies ``_exact_hits``.
"""

from __future__ import annotations

import time

import numpy as np

from app.core.errors import BadInputError
from app.core.models import SearchHit, SearchQuery, SearchResults
from app.search.merge import merge_hits
from app.search.query_image import QueryImage, load_query_image
from app.search.semantic import rank_by_vector
from app.search.words import merge_word_hits
from app.services.library import LibraryCore


class SearchMixin(LibraryCore):
    def search(self, query: SearchQuery) -> SearchResults:
        """Run ``query``: exact (geometric) hits first when it has an image, then semantic hits.

        Raises:
            BadInputError: an empty query, or a query image that cannot be read.
        """
        if query.is_empty:
            raise BadInputError("empty query: give some text, an image or a region of a photo")
        t0 = time.perf_counter()
        results = SearchResults()
        qimg = load_query_image(query, self.repo, self.settings.max_image_pixels)
        exclude = set(query.exclude_photo_ids)
        if qimg is not None and qimg.source_photo_id is not None:
            exclude.add(qimg.source_photo_id)
        query = _replace_excludes(query, frozenset(exclude))
        exact = self._exact_hits(query, qimg, results) if qimg is not None else []
        semantic = self._semantic_hits(query, qimg, results) if query.text or qimg is not None else []
        words = self._word_hits(query, results)
        results.hits = merge_word_hits(merge_hits(exact, semantic), words, None if query.all else query.top)
        results.seconds = time.perf_counter() - t0
        return results

    def _exact_hits(self, query: SearchQuery, qimg: QueryImage, results: SearchResults) -> list[SearchHit]:
        """Geometrically verified hits for an image query (the crop-search mixin overrides this)."""
        return []

    def _word_hits(self, query: SearchQuery, results: SearchResults) -> list[SearchHit]:
        """Photos whose recognised text matches (the words mixin overrides this)."""
        return []

    def _semantic_hits(self, query: SearchQuery, qimg: QueryImage | None, results: SearchResults) -> list[SearchHit]:
        encoder = self.encoder
        if encoder is None:
            results.notes.append(f"semantic search is off: {self.model_status()['clip'].message}")
            return []
        parts: list[np.ndarray] = []
        if qimg is not None:
            parts.append(np.asarray(encoder.encode_images([qimg.image]))[0])
        if query.text:
            results.notes.append("text search by CLIP is not available yet: searched the words in photos only")
        if not parts:
            return []
        vec = np.sum(parts, axis=0)
        vec = vec / max(float(np.linalg.norm(vec)), 1e-12)
        return rank_by_vector(
            vec,
            encoder.model_id,
            self.repo,
            self.vectors,
            top=query.top,
            cutoff=not query.all,
            exclude_photo_ids=query.exclude_photo_ids,
        )


def _replace_excludes(query: SearchQuery, exclude: frozenset[int]) -> SearchQuery:
    from dataclasses import replace

    return replace(query, exclude_photo_ids=exclude)
