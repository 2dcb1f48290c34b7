"""Semantic ranking: a query vector -> nearest regions in FAISS -> one hit per photo, with its box.

Photo score ("whole photo first, the best region can lift it"):

    score = max(s_photo, s_object - OBJECT_MARGIN + boost, s_tile - TILE_MARGIN)

``s_photo`` is the whole photo's cosine, always computed exactly for every candidate photo (its vector
is read back from the index when FAISS did not return it). Sub-regions pay a margin because a photo
has ~10 of them and the best of many noisy cosines is biased upwards; tiles pay more than detected
objects because they cut things at arbitrary places. So a region wins only when it is clearly better
than the whole picture (a small dog in a big scene), and the hit then carries its box.

``boost = LABEL_BOOST * confidence`` when the detector's label of the object is one of the query's
words: an independent detector saying "dog" should settle near-ties between CLIP scores (top hits of
one query typically sit within 0.01-0.03 of each other for ViT-B-32), but not override a clearly
better CLIP match.

Cut-off: relevance is relative, so no fixed cosine threshold. Two rules on the candidates' sorted
photo scores, the stricter one wins: (1) halfway rule: keep photos scoring at least halfway between the
top hit and the median candidate (``FLOOR_FRACTION``); (2) knee: when the curve has a clear knee (the
point farthest below the straight line from the best to the worst candidate, "kneedle"), cut there.
When more than half of the candidates pass, relevance goes on past them: more candidates are fetched
(x4, up to ``MAX_CANDIDATES`` regions) so the median reaches the background. An unrelated query has
no standout hits: its best score is barely above the median, and few photos pass. ``top`` or
``cutoff=False`` replace the cut-off.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.core.models import HitKind, PhotoState, RegionKind, SearchHit
from app.storage.region_catalog import KIND_CODES, RegionCatalog
from app.storage.repository import PhotoRepository
from app.storage.vector_index import VectorIndex
from app.storage.vector_store import VectorStore

CANDIDATE_REGIONS = 400  # regions fetched from FAISS per query before grouping by photo
MAX_CANDIDATES = 25_600  # adaptive widening stops here (4 steps of x4)
ALL_CANDIDATES = 200_000  # "rank everything" (--all) looks at most this many regions
OBJECT_MARGIN = 0.01
TILE_MARGIN = 0.02
LABEL_BOOST = 0.03
MIN_KNEE_DEPTH = 0.2  # a knee shallower than this (in normalised units) is no knee
FLOOR_FRACTION = 0.5  # keep scores >= top - FLOOR_FRACTION * (top - median candidate)

_PHOTO, _OBJECT, _TILE = (KIND_CODES[k] for k in (RegionKind.PHOTO, RegionKind.OBJECT, RegionKind.TILE))
_HIT_KINDS = {_PHOTO: HitKind.PHOTO, _OBJECT: HitKind.OBJECT, _TILE: HitKind.REGION}


@dataclass(slots=True)
class Ranked:
    """Photo-level scores of one candidate pool, best first (arrays of equal length)."""

    photo_id: np.ndarray
    score: np.ndarray
    photo_score: np.ndarray  # whole-photo cosine
    region: np.ndarray  # index into the pool of the winning sub-region, -1 when the whole photo won
    pool_ids: np.ndarray
    pool_scores: np.ndarray  # raw cosines
    pool_box: np.ndarray
    pool_kind: np.ndarray
    pool_label: list[str | None]
    boosted: np.ndarray  # bool per pool entry


def knee_count(scores: np.ndarray) -> tuple[int, float]:
    """How many of the descending ``scores`` stand above their knee, and the knee's depth in [0, 1]."""
    n = len(scores)
    if n <= 2:
        return n, 1.0
    span = float(scores[0] - scores[-1])
    if span <= 1e-6:
        return n, 1.0  # all equal: nothing to cut on
    x = np.arange(n, dtype=np.float64) / (n - 1)
    y = (scores.astype(np.float64) - float(scores[-1])) / span
    depth = (1.0 - x) - y
    i = int(np.argmax(depth))
    keep = max(1, i)
    # Never split a tie: photos scoring the same as the last kept one stay.
    while keep < n and scores[keep] >= scores[keep - 1] - 1e-6:
        keep += 1
    return keep, float(depth[i])


def cutoff_count(scores: np.ndarray) -> int:
    """How many of the descending photo ``scores`` pass the cut-off (see the module's docstring)."""
    n = len(scores)
    if n <= 2:
        return n
    top, median = float(scores[0]), float(np.median(scores))
    keep = int(np.count_nonzero(scores >= top - FLOOR_FRACTION * (top - median) - 1e-9))
    knee, depth = knee_count(scores)
    if depth >= MIN_KNEE_DEPTH:
        keep = min(keep, knee)
    return max(1, keep)


def score_pool(
    query: np.ndarray,
    scores: np.ndarray,
    ids: np.ndarray,
    index: VectorIndex,
    catalog: RegionCatalog,
    *,
    label_terms: frozenset[str] = frozenset(),
    whole_photos_only: bool = False,
    exclude_photo_ids: frozenset[int] = frozenset(),
) -> Ranked:
    """Group one FAISS result (region ids and cosines) into photo scores, best first."""
    keep = ids >= 0
    scores, ids = scores[keep], ids[keep]
    rows = catalog.lookup(ids)
    ok = rows.found.copy()
    if whole_photos_only:
        ok &= rows.kind == _PHOTO
    if exclude_photo_ids:
        ok &= ~np.isin(rows.photo_id, np.fromiter(exclude_photo_ids, np.int64))
    sel = np.flatnonzero(ok)
    scores, ids = scores[sel], ids[sel]
    kind, pids, box = rows.kind[sel], rows.photo_id[sel], rows.box[sel]
    labels = [rows.label[i] for i in sel.tolist()]
    conf = np.nan_to_num(rows.confidence[sel], nan=1.0)

    adj = scores.astype(np.float64).copy()
    adj[kind == _OBJECT] -= OBJECT_MARGIN
    adj[kind == _TILE] -= TILE_MARGIN
    boosted = np.zeros(len(ids), bool)
    if label_terms:
        boosted = np.array(
            [k == _OBJECT and bool(lab) and lab.lower() in label_terms for k, lab in zip(kind, labels, strict=True)],
            dtype=bool,
        ).reshape(-1)
        adj[boosted] += LABEL_BOOST * conf[boosted]

    # Best sub-region per photo (whole-photo rows are scored separately below).
    sub = np.flatnonzero(kind != _PHOTO)
    best_sub: dict[int, int] = {}
    for j in sub[np.argsort(-adj[sub], kind="stable")].tolist():
        best_sub.setdefault(int(pids[j]), j)
    photo_cos: dict[int, float] = {int(pids[j]): float(scores[j]) for j in np.flatnonzero(kind == _PHOTO).tolist()}
    photos = np.array(sorted(set(best_sub) | set(photo_cos)), dtype=np.int64)
    missing = np.array([p for p in photos.tolist() if p not in photo_cos], dtype=np.int64)
    if len(missing):
        vecs = index.vectors_of(catalog.photo_regions(missing))
        cos = vecs @ np.asarray(query, np.float32).ravel()
        photo_cos.update(zip(missing.tolist(), np.nan_to_num(cos, nan=-np.inf).tolist(), strict=True))

    s_photo = np.array([photo_cos[p] for p in photos.tolist()], dtype=np.float64)
    s_sub = np.array([adj[best_sub[p]] if p in best_sub else -np.inf for p in photos.tolist()], dtype=np.float64)
    region = np.array([best_sub.get(p, -1) for p in photos.tolist()], dtype=np.int64)
    region[s_photo >= s_sub] = -1
    final = np.maximum(s_photo, s_sub)
    order = np.argsort(-final, kind="stable")
    return Ranked(photos[order], final[order], s_photo[order], region[order], ids, scores, box, kind, labels, boosted)


def rank_by_vector(
    vector: np.ndarray,
    model: str,
    repo: PhotoRepository,
    vectors: VectorStore,
    *,
    top: int | None = None,
    cutoff: bool = True,
    exclude_photo_ids: frozenset[int] = frozenset(),
    label_terms: frozenset[str] = frozenset(),
    whole_photos_only: bool = False,
) -> list[SearchHit]:
    """Photos ranked for ``vector`` (L2-normalised, in ``model``'s space), each with its best box.

    Args:
        top: at most this many hits; given, it replaces the adaptive cut-off.
        cutoff: False ranks every photo (``--all``), up to ``ALL_CANDIDATES`` regions.
        label_terms: query words in detector-label form (objects with such a label get ``LABEL_BOOST``).
        whole_photos_only: match whole-photo embeddings only ("similar photos").
    """
    index = vectors.get(model)
    if index is None or len(index) == 0:
        return []
    q = np.asarray(vector, dtype=np.float32).reshape(1, -1)
    n = len(index)
    per_photo = 8 if whole_photos_only else 1  # whole-photo rows are ~1 in 8 regions
    exhaustive = not cutoff and top is None
    k = min(n, ALL_CANDIDATES) if exhaustive else min(n, max(CANDIDATE_REGIONS, 12 * (top or 0)) * per_photo)
    while True:
        scores, ids = index.search(q, k, exhaustive=exhaustive)
        ranked = score_pool(
            q[0],
            scores[0],
            ids[0],
            index,
            vectors.catalog,
            label_terms=label_terms,
            whole_photos_only=whole_photos_only,
            exclude_photo_ids=exclude_photo_ids,
        )
        wider = min(n, k * 4, MAX_CANDIDATES * per_photo)
        if exhaustive:
            keep = len(ranked.score)
        elif top is not None:
            keep = min(top, len(ranked.score))
            if keep < top and wider > k:
                k = wider
                continue
        else:
            keep = cutoff_count(ranked.score)
            if 2 * keep > len(ranked.score) and wider > k:
                k = wider
                continue
        break
    if top is not None:
        keep = min(keep, top)
    return _hits(ranked, keep, repo)


def _hits(ranked: Ranked, keep: int, repo: PhotoRepository) -> list[SearchHit]:
    pids = ranked.photo_id[:keep].tolist()
    photos = repo.photos_by_ids(pids)
    out: list[SearchHit] = []
    for i, pid in enumerate(pids):
        photo = photos.get(pid)
        if photo is None or photo.state != PhotoState.INDEXED:
            continue  # deleted or being re-indexed since the vector cache was written
        j = int(ranked.region[i])
        details: dict[str, object] = {"photo_cosine": round(float(ranked.photo_score[i]), 4)}
        if j < 0:
            out.append(SearchHit(pid, photo.path, float(ranked.score[i]), HitKind.PHOTO, details=details))
            continue
        details["cosine"] = round(float(ranked.pool_scores[j]), 4)
        if ranked.boosted[j]:
            details["label_boost"] = True
        out.append(
            SearchHit(
                photo_id=pid,
                path=photo.path,
                score=float(ranked.score[i]),
                kind=_HIT_KINDS[int(ranked.pool_kind[j])],
                box=tuple(float(v) for v in ranked.pool_box[j]),  # type: ignore[arg-type]
                region_id=int(ranked.pool_ids[j]),
                label=ranked.pool_label[j],
                details=details,
            )
        )
    return out
