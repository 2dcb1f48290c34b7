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

from collections.abc import Iterable, Sequence

import numpy as np

from app.core.models import SearchHit
from app.search.semantic import cutoff_count

FILTER_POOL = 1000
MIN_COLOUR_SHARE = 0.05  # of the photo's pixels near the asked colour (soft, see imaging/colour.py)
COLOUR_LIMIT = 500  # a colour ranking without --top lists at most this many photos


def keep_allowed(hits: Iterable[SearchHit], allowed: set[int] | None) -> list[SearchHit]:
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


def intersect(sets: Iterable[set[int]]) -> set[int]:
    out: set[int] | None = None
    for s in sorted(sets, key=len):
        out = set(s) if out is None else out & s
        if not out:
            break
    return out or set()
