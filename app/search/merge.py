"""Merging the exact (geometric) and semantic result lists into one ranked list, one hit per photo."""

from __future__ import annotations

from collections.abc import Sequence

from app.core.models import HitKind, SearchHit


def merge_hits(exact: Sequence[SearchHit], semantic: Sequence[SearchHit], top: int | None = None) -> list[SearchHit]:
    """The exact path's hits first, in its order (verified ones before dense-correlation ones), then
    semantic hits by score; a photo appears once.

    The exact path's order is kept rather than re-sorted by inliers: it ranks the photo the crop was
    cut from above other shots of the same object (``crop.rank_verified``).
    """
    out: list[SearchHit] = sorted(exact, key=lambda h: h.kind != HitKind.EXACT)  # stable
    seen = {h.photo_id for h in out}
    for h in sorted(semantic, key=lambda h: -h.score):
        if h.photo_id not in seen:
            seen.add(h.photo_id)
            out.append(h)
    return out[:top] if top else out
