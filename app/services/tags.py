"""Tags and colour facade: what is in a photo (detector labels, zero-shot words, the user's own tags),
the colours it holds, and searching by either. ``Library.search`` calls :meth:`_filter_ids` and
:meth:`_filter_only_hits` for queries with ``tags`` or ``colour``.
"""

from __future__ import annotations

import difflib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from app.core.errors import BadInputError
from app.core.models import HitKind, IndexStats, Photo, PhotoState, SearchHit, SearchQuery, SearchResults
from app.core.progress import CancelToken, PhaseMeter, ProgressCallback, no_progress
from app.imaging.colour import (
    COLOUR_VERSION,
    colour_descriptor,
    dominant_colours,
    palette_embedding,
    query_weights,
)
from app.imaging.decode import DecodeError, decode_bytes, read_file
from app.indexing.tagging import (
    TagVocabulary,
    describe,
    load_vocabulary,
    normalize_tag,
    run_detector_tags,
    run_zeroshot_tags,
)
from app.search.filters import COLOUR_LIMIT, MIN_COLOUR_SHARE, TAG_LIMIT, Allowed, tag_strength
from app.services.search import SearchMixin
from app.storage.colour_repo import ColourRepository, ColourStore
from app.storage.tag_index import TagIndex
from app.storage.tags_repo import DETECTOR, TagRow, TagsRepository

log = logging.getLogger(__name__)
_BACKFILL_BATCH = 64


@dataclass(frozen=True, slots=True)
class PhotoTags:
    """The tags a photo shows (user, detector, zero-shot rows), the ones the user removed, and its colours."""

    photo: Photo
    tags: list[TagRow] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    summary: str = ""  # "2 persons, 1 dog, beach, sunset"
    colours: list[tuple[str, float]] = field(default_factory=list)  # dominant palette colours, share


@dataclass(frozen=True, slots=True)
class TagCount:
    tag: str
    photos: int
    sources: dict[str, int]


class TagsMixin(SearchMixin):
    _colour_store: ColourStore | None = None
    _vocabulary: TagVocabulary | None = None
    _tag_index: TagIndex | None = None

    # Reading and editing tags

    @property
    def _tags_repo(self) -> TagsRepository:
        return TagsRepository(self.repo.engine)

    def photo_tags(self, path: Path | str | Photo) -> PhotoTags:
        """The tags of one photo (user's first, then detector labels, then zero-shot words) and its colours.

        Raises:
            BadInputError: not a photo of this library.
        """
        photo = self._library_photo(path)
        repo = self._tags_repo
        rows = repo.tags_of(photo.id)
        desc = ColourRepository(self.repo.engine).descriptor_of(photo.id)
        return PhotoTags(photo, rows, repo.removed_of(photo.id), _summary(rows), dominant_colours(desc) if desc else [])

    def add_tag(self, path: Path | str | Photo, tag: str) -> PhotoTags:
        """Tag a photo; the tag stays whatever re-indexing finds.

        Raises:
            BadInputError: not a photo of this library, or an empty tag.
        """
        return self._user_tag(path, tag, "add")

    def remove_tag(self, path: Path | str | Photo, tag: str) -> PhotoTags:
        """Take a tag off a photo; an automatic tag stays off after re-indexing.

        Raises:
            BadInputError: not a photo of this library, an empty tag, or the photo does not show it.
        """
        return self._user_tag(path, tag, "remove")

    def _user_tag(self, path: Path | str | Photo, tag: str, action: str) -> PhotoTags:
        photo = self._library_photo(path)
        name = normalize_tag(tag)
        if not name:
            raise BadInputError("a tag needs some text")
        if action == "remove" and name not in {r.tag for r in self._tags_repo.tags_of(photo.id)}:
            raise BadInputError(f"{photo.path} has no tag {name!r}")
        self._tags_repo.set_user_tag(photo.id, name, action)
        return self.photo_tags(photo)

    def tag_counts(self) -> list[TagCount]:
        """Every tag in the library with how many photos show it (and from which source), most used first."""
        return [TagCount(t, n, s) for t, n, s in self.tag_index().counts()]

    def _library_photo(self, path: Path | str | Photo) -> Photo:
        if isinstance(path, Photo):
            return path
        p = Path(path).expanduser()
        photo = self.repo.photo_by_path(str(p.resolve())) or self.repo.photo_by_path(str(p))
        if photo is None:
            raise BadInputError(f"not a photo of this library: {path}")
        return photo

    # Indexing: tags and colour descriptors for what the passes left

    def index(
        self,
        paths: Sequence[Path | str] | None = None,
        on_progress: ProgressCallback = no_progress,
        cancel: CancelToken | None = None,
        regions: bool = True,
    ) -> IndexStats:
        """As :meth:`LibraryCore.index`, then colour descriptors for photos indexed before colour search and
        the tags brought up to date."""
        cancel = cancel or CancelToken()
        stats = super().index(paths, on_progress, cancel, regions)
        if not stats.cancelled:
            self._backfill_colours(stats, on_progress, cancel)
        if not cancel.is_cancelled:
            self.refresh_tags(stats)
        stats.cancelled = stats.cancelled or cancel.is_cancelled
        return stats

    def _live_batch_done(self, stats: IndexStats) -> None:
        """While watching: tag what the live batch indexed (cheap when nothing is due)."""
        try:
            self.refresh_tags(stats, sweep=False)
        except Exception:  # the batch itself is committed; tags catch up on the next one or on 'index'
            log.warning("tags not updated after a live batch", exc_info=True)
        super()._live_batch_done(stats)

    def refresh_tags(self, stats: IndexStats | None = None, sweep: bool = True) -> int:
        """Bring automatic tags up to date with the stored regions and embeddings; returns photos tagged.

        Cheap (no image is decoded): detector tags from the regions table, zero-shot tags from the
        whole-photo vectors and the vocabulary's text vectors (computed once per model, then cached).
        """
        repo = self._tags_repo
        done = run_detector_tags(repo)
        encoder = self.encoder
        if encoder is not None:
            model = encoder.model_id
            try:
                done += run_zeroshot_tags(
                    repo, self.vectors, model, self.vocabulary, self._vocabulary_encoder(model, stats)
                )
            except Exception as exc:  # an extra on top of a finished index: never fail the run for it
                log.warning("zero-shot tags skipped", exc_info=True)
                if stats is not None:
                    stats.notes.append(f"zero-shot tags skipped: {type(exc).__name__}: {exc}")
        if sweep:
            repo.drop_stale_zeroshot()
        return done

    @property
    def vocabulary(self) -> TagVocabulary:
        if self._vocabulary is None:
            self._vocabulary = TagVocabulary(load_vocabulary(), self.paths.indexes)
        return self._vocabulary

    def _vocabulary_encoder(self, model: str, stats: IndexStats | None):
        text = self.text_encoder
        if text is None or text.model_id != model or not text.status().available:
            if stats is not None:
                stats.notes.append("zero-shot tags are off: no CLIP text tower for this model")
            return None
        return text.encode_texts

    def _backfill_colours(self, stats: IndexStats, on_progress: ProgressCallback, cancel: CancelToken) -> None:
        """Descriptors for photos indexed before colour search existed (decoded once more, like local features)."""
        repo = ColourRepository(self.repo.engine)
        todo = repo.photos_without_colour(COLOUR_VERSION)
        if not todo:
            return
        meter = PhaseMeter("colour", len(todo), on_progress)
        meter.start()
        batch: list[tuple[int, str, bytes]] = []
        for pid, path in todo:
            if cancel.is_cancelled:
                break  # what is written stays; the next run does the rest
            meter.advance(1, path)
            try:
                decoded = decode_bytes(read_file(Path(path)), self.settings.work_image_size)
            except DecodeError:
                continue
            batch.append((pid, COLOUR_VERSION, colour_descriptor(decoded.image)))
            if len(batch) >= _BACKFILL_BATCH:
                repo.write_many(batch)
                batch = []
        repo.write_many(batch)
        meter.advance(0, force=True)
        stats.notes.append(f"colour: descriptors added for {meter.done} photos indexed earlier")

    # Colour

    def colours(self) -> ColourStore:
        """The colour descriptors of every photo as one matrix (loaded once, kept in step)."""
        if self._colour_store is None:
            self._colour_store = ColourStore(ColourRepository(self.repo.engine), COLOUR_VERSION, palette_embedding)
        return self._colour_store

    def search_colour(self, colour: str, top: int | None = None) -> SearchResults:
        """Photos by how much of ``colour`` (a name or ``#rrggbb``) they contain.

        Raises:
            BadInputError: not a colour.
        """
        return self.search(SearchQuery(colour=colour, top=top))

    def similar_palette(self, photo: Path | str | Photo, top: int | None = None) -> SearchResults:
        """Photos whose colours (which, and how much of each) are closest to ``photo``'s.

        Raises:
            BadInputError: not a photo of this library, or it has no colour descriptor yet.
        """
        t0 = time.perf_counter()
        target = self._library_photo(photo)
        desc = ColourRepository(self.repo.engine).descriptor_of(target.id)
        if desc is None:
            raise BadInputError(f"{target.path} has no colour descriptor yet: run 'shoebox index'")
        ids, sims = self.colours().rank_palette(desc, top or 50, exclude=target.id)
        results = SearchResults(hits=self._photo_hits(ids.tolist(), sims.tolist(), "palette_similarity"))
        results.seconds = time.perf_counter() - t0
        return results

    # Search hooks

    def tag_index(self) -> TagIndex:
        """Every photo's tags in memory (reloaded when any process changes a tag)."""
        if self._tag_index is None:
            self._tag_index = TagIndex(self._tags_repo, tag_strength)
        return self._tag_index

    def _filter_ids(self, query: SearchQuery, results: SearchResults) -> Allowed | None:
        """Photos the query's filters allow (None: no filter), each with its tag strength: every tag must be
        shown, and the colour must be there when it filters text/image results."""
        allowed: Allowed | None = None
        tags = [normalize_tag(t) for t in query.tags]
        if any(not t for t in tags):
            raise BadInputError("a tag needs some text")
        if tags:
            index = self.tag_index()
            allowed = Allowed(*index.matching(tags))
            if not len(allowed):
                known = index.known()
                results.notes += [_no_such_tag(t, known) for t in dict.fromkeys(tags) if t not in known]
        if query.colour is not None and _ranked_by_content(query):
            weights = self._colour_weights(query.colour)
            ids, _ = self.colours().rank_colour(weights, MIN_COLOUR_SHARE)
            allowed = Allowed(np.sort(ids)) if allowed is None else allowed.restrict(ids)
        return allowed

    def _filter_only_hits(self, query: SearchQuery, allowed: Allowed | None, results: SearchResults) -> list[SearchHit]:
        """A query of tags and/or a colour only: the colour ranks, tags filter (or list, alone)."""
        if query.colour is not None:
            weights = self._colour_weights(query.colour)
            store = self.colours()
            if allowed is None:
                limit = None if query.all else (query.top or COLOUR_LIMIT)
                ids, shares = store.rank_colour(weights, MIN_COLOUR_SHARE, limit)
                pairs = list(zip(ids.tolist(), shares.tolist(), strict=True))
            else:
                got = store.shares(weights, allowed.ids.tolist())
                pairs = sorted(((p, s) for p, s in got.items() if s >= MIN_COLOUR_SHARE), key=lambda t: (-t[1], t[0]))
                pairs = pairs[: query.top] if query.top else pairs
            if not pairs and store.repo.last_seq() == 0:
                results.notes.append("no colour descriptors yet: run 'shoebox index'")
            return self._photo_hits([p for p, _ in pairs], [s for _, s in pairs], "colour_share")
        return self._tag_list(query, allowed if allowed is not None else Allowed(np.zeros(0, np.int64)), results)

    def _tag_list(self, query: SearchQuery, allowed: Allowed, results: SearchResults) -> list[SearchHit]:
        """Photos showing every tag, strongest first (user's word, then detector confidence, then zero-shot);
        a hit carries the box of the tag's object where a detector drew one."""
        limit = query.top or (None if query.all else TAG_LIMIT)
        ids, scores = allowed.ranked(limit)
        if limit is not None and len(allowed) > limit and not query.top:
            results.notes.append(f"{len(allowed) - limit} more photos have these tags; --all lists every one")
        pids = ids.tolist()
        photos = self.repo.photos_by_ids(pids)
        boxes: dict[int, tuple[str, tuple[float, float, float, float]]] = {}
        for tag in dict.fromkeys(normalize_tag(t) for t in query.tags):
            for pid, box in self._tags_repo.object_boxes([p for p in pids if p not in boxes], tag).items():
                boxes[pid] = (tag, box)
        hits = []
        for pid, score in zip(pids, scores.tolist(), strict=True):
            photo = photos.get(pid)
            if photo is None or photo.state != PhotoState.INDEXED:
                continue
            if pid in boxes:
                label, box = boxes[pid]
                hits.append(SearchHit(pid, photo.path, score, HitKind.OBJECT, box=box, label=label))
            else:
                hits.append(SearchHit(pid, photo.path, score, HitKind.PHOTO))
        return hits

    def _photo_hits(self, pids: list[int], scores: list[float], what: str) -> list[SearchHit]:
        photos = self.repo.photos_by_ids(pids)
        return [
            SearchHit(pid, photos[pid].path, float(s), HitKind.PHOTO, details={what: round(float(s), 4)})
            for pid, s in zip(pids, scores, strict=True)
            if pid in photos
        ]

    @staticmethod
    def _colour_weights(colour: str):
        try:
            return query_weights(colour)
        except ValueError as exc:
            raise BadInputError(str(exc)) from None

    def close(self) -> None:
        self._colour_store = None
        super().close()


def _ranked_by_content(query: SearchQuery) -> bool:
    """The query has something other than filters to rank by (text, an image, words)."""
    return bool((query.text and query.text.strip()) or query.has_image or (query.words and query.words.strip()))


def _summary(rows: list[TagRow]) -> str:
    seen: set[str] = set()
    objects: list[tuple[str, int]] = []
    words: list[str] = []
    for r in rows:
        if r.tag in seen:
            continue
        seen.add(r.tag)
        if r.source == DETECTOR:
            objects.append((r.tag, r.count))
        else:
            words.append(r.tag)
    return ", ".join(p for p in (describe(objects), ", ".join(words)) if p)


def _no_such_tag(tag: str, known: list[str]) -> str:
    close = difflib.get_close_matches(tag, known, n=3, cutoff=0.7)
    hint = f" (did you mean: {', '.join(close)}?)" if close else ""
    return f"no photo has the tag {tag!r}{hint}"
