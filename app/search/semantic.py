"""Semantic ranking: a query vector -> nearest regions in FAISS -> one hit per photo, with its box.

First version (foundation of the search issues): best region wins, whole-photo ties preferred, a
cut-off relative to the top score. The text-search issue refines aggregation and the cut-off.
"""

from __future__ import annotations

import numpy as np

from app.core.models import HitKind, Photo, PhotoState, Region, RegionKind, SearchHit
from app.storage.repository import PhotoRepository
from app.storage.vector_store import VectorStore

CANDIDATE_REGIONS = 400  # regions fetched from FAISS per query before grouping by photo
RELATIVE_CUTOFF = 0.85  # keep photos scoring at least this fraction of the best one


def rank_by_vector(
    vector: np.ndarray,
    model: str,
    repo: PhotoRepository,
    vectors: VectorStore,
    *,
    top: int | None = None,
    cutoff: bool = True,
    exclude_photo_ids: frozenset[int] = frozenset(),
) -> list[SearchHit]:
    """Photos ranked by their best region's cosine to ``vector`` (L2-normalised, the model's space)."""
    index = vectors.get(model)
    if index is None:
        return []
    k = max(CANDIDATE_REGIONS, 8 * (top or 0))
    scores, ids = index.search(np.asarray(vector, dtype=np.float32).reshape(1, -1), k)
    pairs = [(float(s), int(i)) for s, i in zip(scores[0], ids[0], strict=True) if i >= 0]
    regions = repo.regions_by_ids(i for _, i in pairs)
    best: dict[int, tuple[float, Region]] = {}
    for score, rid in pairs:
        region = regions.get(rid)
        if region is None or region.photo_id in exclude_photo_ids:
            continue
        if region.photo_id not in best or score > best[region.photo_id][0]:
            best[region.photo_id] = (score, region)
    photos = repo.photos_by_ids(best)
    hits = [
        _hit(photos[pid], score, region)
        for pid, (score, region) in best.items()
        if pid in photos and photos[pid].state == PhotoState.INDEXED
    ]
    hits.sort(key=lambda h: -h.score)
    if cutoff and hits:
        floor = hits[0].score * RELATIVE_CUTOFF
        hits = [h for h in hits if h.score >= floor]
    return hits[:top] if top else hits


def _hit(photo: Photo, score: float, region: Region) -> SearchHit:
    kind = {RegionKind.PHOTO: HitKind.PHOTO, RegionKind.OBJECT: HitKind.OBJECT}.get(region.kind, HitKind.REGION)
    return SearchHit(
        photo_id=photo.id,
        path=photo.path,
        score=score,
        kind=kind,
        box=None if region.kind == RegionKind.PHOTO else region.box,
        region_id=region.id,
        label=region.label,
        details={"cosine": round(score, 4)},
    )
