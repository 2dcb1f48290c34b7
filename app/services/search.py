"""Search facade: ``Library.search`` runs a :class:`SearchQuery` (text, image, region, negation).

Owned by the text-search issue (semantic path, ``search_text``, ``similar``); the crop-search mixin
supplies ``_exact_hits``.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from app.core.errors import BadInputError, ModelUnavailableError
from app.core.models import Photo, PhotoState, SearchHit, SearchQuery, SearchResults
from app.core.protocols import TextEncoder
from app.search.filters import FILTER_POOL, Allowed, cut, keep_allowed
from app.search.merge import merge_hits
from app.search.query_image import QueryImage, load_query_image
from app.search.semantic import rank_by_vector
from app.search.text_query import combine, embed_texts, label_terms
from app.search.words import merge_word_hits
from app.services.library import LibraryCore
from app.storage.search_repo import SearchRepository

SAME_PICTURE_BITS = 6  # pHash Hamming distance at or below which two photos are the same picture
_COPY_POOL = 64  # nearest photos checked for copies of the photo itself before ranking "similar"
_UNSET = object()


class SearchMixin(LibraryCore):
    # Search

    def search(self, query: SearchQuery) -> SearchResults:
        """Run ``query``: exact (geometric) hits first when it has an image, then semantic hits.

        Raises:
            BadInputError: an empty query, or a query image that cannot be read.
            ModelUnavailableError: the query has text but the CLIP weights are missing (the message
                says which file to put where).
        """
        if query.is_empty:
            raise BadInputError("empty query: give some text, an image, a region of a photo, a tag or a colour")
        with self.priority.query():  # the user is waiting: indexing in the background steps aside
            return self._search(query)

    def _search(self, query: SearchQuery) -> SearchResults:
        t0 = time.perf_counter()
        results = SearchResults()
        allowed = self._filter_ids(query, results)  # tags (and a colour next to text/image): a filter
        if query.filters_only or (allowed is not None and not len(allowed)):
            results.hits = self._filter_only_hits(query, allowed, results) if query.filters_only else []
            results.seconds = time.perf_counter() - t0
            return results
        qimg = load_query_image(query, self.repo, self.settings.max_image_pixels)
        exclude = set(query.exclude_photo_ids)
        if qimg is not None and qimg.source_photo_id is not None:
            exclude.add(qimg.source_photo_id)
        query = _replace_excludes(query, frozenset(exclude))
        # With a filter, rank a wider pool first so the cut-off runs on what the filter leaves.
        inner = query if allowed is None else replace(query, top=max(query.top or 0, FILTER_POOL), all=False)
        exact = keep_allowed(self._exact_hits(inner, qimg, results), allowed) if qimg is not None else []
        words = keep_allowed(self._word_hits(inner, results), allowed)
        try:
            semantic = self._semantic_hits(inner, qimg, results) if query.text or qimg is not None else []
        except ModelUnavailableError as exc:
            if not (words or exact):
                raise
            # Without CLIP weights the words read in photos (and exact crops) still answer; say what is missing.
            results.notes.append(f"searched the words in photos only: {exc}")
            semantic = []
        if allowed is not None:
            semantic = cut(keep_allowed(semantic, allowed), query.top, query.all)
        results.hits = merge_word_hits(merge_hits(exact, semantic), words, None if query.all else query.top)
        results.seconds = time.perf_counter() - t0
        return results

    def search_text(
        self, text: str, top: int | None = None, all: bool = False, negative: tuple[str, ...] = ()
    ) -> SearchResults:
        """Photos matching a caption such as "a dog on a beach", each with the box of what matched."""
        return self.search(SearchQuery(text=text, negative=tuple(negative), top=top, all=all))

    def similar(self, photo: Photo | int | str | Path, top: int | None = None, all: bool = False) -> SearchResults:
        """Photos that look like ``photo`` (whole-photo embeddings), without copies of the photo itself.

        Copies (same bytes, or a pHash within ``SAME_PICTURE_BITS``) belong to the duplicate finder.

        Raises:
            BadInputError: the photo is not in the library or has no embedding yet.
        """
        t0 = time.perf_counter()
        target = self._photo_arg(photo)
        model = target.clip_model
        index = self.vectors.get(model) if model else None
        rid = self.vectors.catalog.photo_regions(np.array([target.id]))[0] if index is not None else -1
        vec = index.vectors_of(np.array([rid]))[0] if index is not None and rid >= 0 else None
        if model is None or vec is None or not np.isfinite(vec).all():
            raise BadInputError(f"{target.path} has no CLIP embedding yet: index it with the CLIP weights present")
        near = rank_by_vector(
            vec, model, self.repo, self.vectors, top=_COPY_POOL, exclude_photo_ids=frozenset({target.id}),
            whole_photos_only=True,
        )  # fmt: skip
        exclude = {target.id} | self._copies_of(target, [h.photo_id for h in near])
        results = SearchResults()
        results.hits = rank_by_vector(
            vec,
            model,
            self.repo,
            self.vectors,
            top=top,
            cutoff=not all,
            exclude_photo_ids=frozenset(exclude),
            whole_photos_only=True,
        )
        if len(exclude) > 1:
            results.notes.append(f"{len(exclude) - 1} copies of this photo left out (see duplicates)")
        results.seconds = time.perf_counter() - t0
        return results

    # Text encoder

    @property
    def text_encoder(self) -> TextEncoder | None:
        """The CLIP text tower for the configured model (loaded on first query), or None without weights."""
        current = getattr(self, "_text_encoder", _UNSET)
        if current is _UNSET:
            current = self._make_text_encoder() if self.encoder is not None else None
            self._text_encoder = current
        return current  # type: ignore[return-value]

    def use_text_encoder(self, encoder: TextEncoder | None) -> None:
        """Use ``encoder`` for query texts (tests inject fakes; its ``model_id`` must be the image encoder's)."""
        self._text_encoder = encoder

    # Internals

    def _exact_hits(self, query: SearchQuery, qimg: QueryImage, results: SearchResults) -> list[SearchHit]:
        """Geometrically verified hits for an image query (the crop-search mixin overrides this)."""
        return []

    def _word_hits(self, query: SearchQuery, results: SearchResults) -> list[SearchHit]:
        """Photos whose recognised text matches (the words mixin overrides this)."""
        return []

    def _filter_ids(self, query: SearchQuery, results: SearchResults) -> Allowed | None:
        """Photos the query's tag/colour filters allow (with a rank score), None without filters (the tags mixin
        overrides this)."""
        return None

    def _filter_only_hits(self, query: SearchQuery, allowed: Allowed | None, results: SearchResults) -> list[SearchHit]:
        """A query of tags and/or a colour only (the tags mixin overrides this)."""
        raise BadInputError("searching by tag or colour is not available in this build")

    def _semantic_hits(self, query: SearchQuery, qimg: QueryImage | None, results: SearchResults) -> list[SearchHit]:
        texts = [query.text] if query.text and query.text.strip() else []
        negatives = [n for n in query.negative if n and n.strip()]
        encoder = self.query_encoder  # the image encoder (in the window: its own pipe to the model)
        if encoder is None:
            if texts or negatives:
                raise ModelUnavailableError(self._needs_weights_message())
            results.notes.append(f"semantic search is off: {self.model_status()['clip'].message}")
            return []
        model = encoder.model_id
        positives: list[np.ndarray] = []
        if qimg is not None:
            positives.append(np.asarray(encoder.encode_images([qimg.image]))[0])
        negative_vecs: list[np.ndarray] = []
        if texts or negatives:
            text_encoder = self.text_encoder
            if text_encoder is None or text_encoder.model_id != model:
                raise ModelUnavailableError(self._needs_weights_message())
            vecs = embed_texts(text_encoder.encode_texts, texts + negatives)
            positives += vecs[: len(texts)]
            negative_vecs = vecs[len(texts) :]
        try:
            vec = combine(positives, negative_vecs)
        except ValueError as exc:
            raise BadInputError(str(exc)) from exc
        self._note_coverage(model, results)
        return rank_by_vector(
            vec,
            model,
            self.repo,
            self.vectors,
            top=query.top,
            cutoff=not query.all,
            exclude_photo_ids=query.exclude_photo_ids,
            label_terms=label_terms(query.text),
        )

    def _needs_weights_message(self) -> str:
        status = self.model_status()["clip"]
        image = self._encoder
        how = image.hint() if hasattr(image, "hint") else status.message  # type: ignore[union-attr]
        return (
            f"text search needs the CLIP weights ({status.model_id or 'no CLIP model'}): {how} "
            "To download them: 'shoebox models --download' while online. "
            "Crop search (--image) and duplicates work without them."
        )

    def _note_coverage(self, model: str, results: SearchResults) -> None:
        """Say when some photos are not searchable with ``model`` yet (model changed, indexing under way)."""
        key = (model, self.repo.generation(model))
        cached = getattr(self, "_coverage", None)
        if cached is None or cached[0] != key:
            cached = (key, SearchRepository(self.repo.engine).photos_not_embedded_with(model))
            self._coverage = cached
        if cached[1]:
            results.notes.append(
                f"{cached[1]} photos are not embedded with {model} yet and cannot be found by meaning; "
                "'shoebox index' (or the app, in the background) embeds them"
            )

    def _photo_arg(self, photo: Photo | int | str | Path) -> Photo:
        if isinstance(photo, Photo):
            found = self.repo.photo(photo.id)
        elif isinstance(photo, int):
            found = self.repo.photo(photo)
        else:
            found = self.repo.photo_by_path(str(Path(photo).expanduser().resolve()))
        if found is None or found.state != PhotoState.INDEXED:
            raise BadInputError(f"not an indexed photo of this library: {photo}")
        return found

    def _copies_of(self, target: Photo, candidates: list[int]) -> set[int]:
        ident = SearchRepository(self.repo.engine).identity([target.id, *candidates])
        digest, phash = ident.get(target.id, (None, None))
        out = set()
        for pid in candidates:
            d, h = ident.get(pid, (None, None))
            if (digest and d == digest) or (
                phash is not None and h is not None and _hamming(phash, h) <= SAME_PICTURE_BITS
            ):
                out.add(pid)
        return out


def _hamming(a: int, b: int) -> int:
    return ((a ^ b) & 0xFFFF_FFFF_FFFF_FFFF).bit_count()


def _replace_excludes(query: SearchQuery, exclude: frozenset[int]) -> SearchQuery:
    return replace(query, exclude_photo_ids=exclude)
