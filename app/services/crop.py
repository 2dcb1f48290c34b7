"""Crop-search facade: exact (geometric) hits for image and region queries. Owned by the crop-search issue."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PIL import Image

from app.core.models import (
    Box,
    HitKind,
    IndexStats,
    LibraryStatus,
    Photo,
    RegionQuery,
    SearchHit,
    SearchQuery,
    SearchResults,
)
from app.imaging.decode import DecodeError, decode_bytes, read_file
from app.imaging.local_features import FEATURES_VERSION, index_features, vocabulary
from app.imaging.thumbnails import read_spool
from app.search.crop import FEW_KEYPOINTS, ExactResult, PhotoFeatureCache, find_exact
from app.search.crop_colour import containment_shortlist
from app.search.crop_dense import dense_hits
from app.search.crop_screen import Screened, TinyImageCache, screen
from app.search.query_image import QueryImage
from app.services.search import SearchMixin
from app.storage.feature_index import FeatureStore
from app.storage.features_repo import FeaturesRepository

log = logging.getLogger(__name__)


class CropSearchMixin(SearchMixin):
    _feature_store: FeatureStore | None = None
    _photo_features: PhotoFeatureCache | None = None
    _tiny_images: TinyImageCache | None = None

    def search_image(self, image: Path | str | bytes, top: int | None = None) -> SearchResults:
        """Photos containing ``image`` (a file or encoded bytes), verified hits first, each with its box.

        Raises:
            BadInputError: the file is missing or is not a readable image.
        """
        return self.search(SearchQuery(image=str(image) if isinstance(image, Path) else image, top=top))

    def search_region(self, photo_id: int, box: Box, top: int | None = None) -> SearchResults:
        """The same search with the query cut from an indexed photo; that photo itself is left out."""
        return self.search(SearchQuery(region=RegionQuery(photo_id, box), top=top))

    # The exact path

    def features(self) -> FeatureStore:
        """The local-feature FAISS cache (loaded and brought up to date on use)."""
        if self._feature_store is None:
            repo = FeaturesRepository(self.repo.engine)
            self._feature_store = FeatureStore(
                repo, self.paths.indexes, FEATURES_VERSION, can_save=self.is_writer, vocabulary=vocabulary()
            )
            self._photo_features = PhotoFeatureCache()
        return self._feature_store

    def exact_search(self, image: Image.Image, exclude: frozenset[int] = frozenset()) -> ExactResult:
        """Geometrically verified hits for ``image`` with the diagnostics (candidates, keypoints)."""
        index = self.features().get()
        assert self._photo_features is not None
        return find_exact(
            image,
            index.search,
            self.repo.photos_by_ids,
            self._photo_features,
            self._working_image,
            exclude,
            dense=lambda img, ids, hints, budget_s, min_tried: dense_hits(
                img, ids, self.repo.photos_by_ids, self._working_image, budget_s, hints, min_tried
            ),
            colour_shortlist=self._colour_shortlist,
            screen=self._screen,
            tiny_of=self._tiny_for_place,
        )

    def _tiny_image(self, content_hash: str) -> np.ndarray | None:
        """The photo's grid thumbnail as the screen's grey tiny image (kept in memory)."""
        if self._tiny_images is None:
            self._tiny_images = TinyImageCache()
        return self._tiny_images.get(content_hash, self.paths.thumbnail_for(content_hash))

    def _tiny_for_place(self, photo: Photo) -> tuple[np.ndarray, float] | None:
        """The tiny image and its pixels per working-image pixel (whose long side is the photo's, at most
        ``work_image_size``), for checking a vote's place before the working image is decoded."""
        g = self._tiny_image(photo.content_hash) if photo.content_hash and photo.width and photo.height else None
        if g is None:
            return None
        return g, max(g.shape) / min(max(photo.width or 1, photo.height or 1), self.settings.work_image_size)

    def _screen(self, image: Image.Image, ids: list[int], budget_s: float) -> tuple[list[Screened], list[int]]:
        """The coarse pixel screen (``crop_screen``) over the photos' grid thumbnails."""
        hashes: dict[int, str] = {}
        position = {pid: i for i, pid in enumerate(ids)}

        def tiny(pid: int) -> np.ndarray | None:
            if pid not in hashes:  # the screen stops when its time is up: look hashes up as it goes
                batch = ids[position[pid] : position[pid] + 256]
                hashes.update(dict.fromkeys(batch, ""))
                hashes.update({p.id: p.content_hash for p in self.repo.photos_by_ids(batch).values() if p.content_hash})
            h = hashes[pid]
            return self._tiny_image(h) if h else None

        return screen(image, ids, tiny, budget_s)

    def _colour_shortlist(
        self, image: Image.Image, k: int, exclude: frozenset[int], keep_unfit: bool = False
    ) -> list[int]:
        """Photos whose colours could hold ``image`` (``crop_colour``): candidates needing no keypoints."""
        colours = getattr(self, "colours", None)  # the tags mixin's colour store (in ``Library``)
        if colours is None:
            return []
        ids, descriptors = colours().histograms()
        return containment_shortlist(image, ids, descriptors, k, exclude, keep_unfit)

    def _exact_hits(self, query: SearchQuery, qimg: QueryImage, results: SearchResults) -> list[SearchHit]:
        res = self.exact_search(qimg.image, query.exclude_photo_ids)
        if res.plain:
            results.notes.append(
                "this crop has almost no detail (a plain area): any photo with such an area contains it, "
                "so the results are uncertain"
            )
        elif res.query_keypoints < FEW_KEYPOINTS and not any(h.kind == HitKind.EXACT for h in res.hits):
            results.notes.append(
                "this crop has little detail: no photo could be verified as containing it; "
                "matches by pixel correlation are shown first and are uncertain"
            )
        return res.hits

    def _working_image(self, photo: Photo) -> Image.Image | None:
        """The photo as the fast pass saw it: the spooled copy if still there, else decoded again."""
        spooled = self.paths.spool / f"{photo.id}.jpg"
        if spooled.exists():
            img = read_spool(spooled)
            if img is not None:
                return img
        try:
            data = read_file(Path(photo.path))
            return decode_bytes(data, self.settings.work_image_size, self.settings.max_image_pixels).image
        except DecodeError as exc:
            log.info("crop search: cannot read candidate %s: %s", photo.path, exc)
            return None

    # Indexing and closing: keep the cache in step and fill in photos indexed before crop search existed

    def index(self, *args, **kwargs) -> IndexStats:  # type: ignore[override]
        stats = super().index(*args, **kwargs)
        if not stats.cancelled:
            self._backfill_features(stats)
            store = self.features()
            store.get()
            store.save()
        return stats

    def _backfill_features(self, stats: IndexStats) -> None:
        repo = FeaturesRepository(self.repo.engine)
        todo = repo.photos_without_features(FEATURES_VERSION)
        batch = []
        for pid, path in todo:
            try:
                decoded = decode_bytes(read_file(Path(path)), self.settings.work_image_size)
            except DecodeError:
                continue
            f = index_features(decoded.image, decoded.width)
            batch.append((pid, FEATURES_VERSION, f.codes, f.xy, f.scale))
            if len(batch) >= 64:
                repo.write_many(batch)
                batch = []
        repo.write_many(batch)
        if todo:
            stats.notes.append(f"crop search: local features added for {len(todo)} photos indexed earlier")

    def status(self) -> LibraryStatus:
        """As the core's, and the local-feature cache is loaded (or rebuilt) and saved too."""
        st = super().status()
        store = self.features()
        store.get()
        store.save()
        return st

    def close(self) -> None:
        try:
            if self._feature_store is not None:
                self._feature_store.save()
        finally:
            super().close()
