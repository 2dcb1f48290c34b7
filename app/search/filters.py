"""Tags and colour as filters on other searches, and as rankings of their own. Pure functions.

Chosen composition (``Library.search``):

* ``--tag`` is always a filter: only photos showing every asked tag stay. Alone, it lists them.
* ``--colour`` alone (or with tags only) is a ranking: photos by how much of the colour they contain.
* ``--colour`` with text, an image or words is a filter: photos with at least ``MIN_COLOUR_SHARE`` of
  the colour stay, in the order the text/image search gave them. Meaning stays the main ranking ("a car"
  with red: red cars, best car first), and the colour only removes what plainly lacks it.

With a filter the other search first ranks a wider pool (``FILTER_POOL`` photos), the filter is applied,
and the adaptive cut-off then runs on what is left, so a filter never turns "20 good hits" into
"1 hit that happened to pass".
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Sequence

import numpy as np

from app.core.models import SearchHit
from app.search.semantic import cutoff_count

FILTER_POOL = 1000
MIN_COLOUR_SHARE = 0.05  # of the photo's pixels near the asked colour (soft, see imaging/colour.py)
COLOUR_LIMIT = 500  # a colour ranking without --top (or --all) lists at most this many photos
TAG_LIMIT = 500  # likewise a tag list (every photo with the tag is relevant, but 40,000 lines are not useful)


def keep_allowed(hits: Iterable[SearchHit], allowed: Container[int] | None) -> list[SearchHit]:
    return list(hits) if allowed is None else [h for h in hits if h.photo_id in allowed]


def cut(hits: Sequence[SearchHit], top: int | None, everything: bool) -> list[SearchHit]:
    """The adaptive cut-off (or ``top``) applied again to hits that were filtered, best first."""
    ranked = sorted(hits, key=lambda h: -h.score)
    if top is not None:
        return ranked[:top]
    if everything or len(ranked) <= 2:
        return ranked
    return ranked[: cutoff_count(np.array([h.score for h in ranked], np.float64))]


def tag_strength(source: str, score: float) -> float:
    """One scale for ranking a tag list: the user's word 1, a detector box its confidence, a zero-shot
    tag z / (z + 1) (z = 2.5, the lowest kept, gives 0.71)."""
    if source == "user":
        return 1.0
    if source == "zeroshot":
        z = max(float(score), 0.0)
        return z / (z + 1.0)
    return float(score)


class Allowed:
    """The photos a filter lets through, each with a rank score (tag strength; 0 for a colour filter).

    Arrays, not a dict: a common tag at 100,000 photos matches ~40,000 of them, and a tag-only query
    wants only the best few, which ``ranked`` finds with a partial sort.
    """

    def __init__(self, ids: np.ndarray, scores: np.ndarray | None = None) -> None:
        self.ids = np.asarray(ids, np.int64)
        self.scores = np.zeros(len(self.ids), np.float32) if scores is None else np.asarray(scores, np.float32)
        self._set: frozenset[int] | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, photo_id: object) -> bool:
        if self._set is None:
            self._set = frozenset(self.ids.tolist())
        return photo_id in self._set

    def restrict(self, keep: np.ndarray) -> Allowed:
        mask = np.isin(self.ids, np.asarray(keep, np.int64))
        return Allowed(self.ids[mask], self.scores[mask])

    def ranked(self, top: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(ids, scores) best first (ties: lower id first), at most ``top``."""
        ids, scores = self.ids, self.scores
        if top is not None and top < len(ids):
            part = np.argpartition(-scores, top - 1)[:top]
            cut_score = scores[part].min()
            pick = np.flatnonzero(scores >= cut_score)  # every tie at the edge, then the exact order below
            ids, scores = ids[pick], scores[pick]
        order = np.lexsort((ids, -scores))[: top if top is not None else None]
        return ids[order], scores[order]
