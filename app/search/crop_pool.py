"""The photos the dense path correlates for a crop nothing verified, in order (``crop.find_exact``).

The best-voted few and a colour-containment shortlist (``crop_colour``), interleaved; with the coarse
pixel screen (``crop_screen``), a far wider pool of both is screened first and the photos it found a
likely place in lead, each with the scale it matched at.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PIL import Image

from app.search.crop_screen import Screened

if TYPE_CHECKING:
    from app.search.crop import ExactResult

# The dense path correlates the query with the best-voted candidates; a keypoint-poor query's vote
# rests on a handful of matches, so its true photo is often further down and more are tried.
DENSE_CANDIDATES = 4
DENSE_CANDIDATES_FEW = 12
FEW_KEYPOINTS = 50
COLOUR_CANDIDATES = 16  # colour-containment shortlist added to the dense path's candidates (``crop_colour``)
# With the coarse screen (``crop_screen``), which costs 1-4 ms a photo instead of the dense path's 50-80 ms,
# the pool is far wider (the screen takes it in order while its time lasts) and only photos the screen
# found a likely place in are correlated.
SCREEN_VOTED = 64
SCREEN_COLOUR = 1 << 20  # all of them, in colour order: the screen's time decides how far it gets
SCREEN_MIN = 0.8  # true photos screened at 0.84-1.0 on the bench's small crops

ColourFn = Callable[[Image.Image, int, frozenset[int], bool], list[int]]
ScreenFn = Callable[[Image.Image, list[int], float], tuple[list[Screened], list[int]]]


def dense_candidates(
    image: Image.Image,
    out: ExactResult,
    exclude: frozenset[int],
    colour_shortlist: ColourFn | None,
    screen: ScreenFn | None,
    screen_s: float,
) -> tuple[list[int], dict[int, float]]:
    """The photos the dense path correlates, in order, and the scale each screened one matched at.

    The best-voted few interleaved with the colour shortlist's first 16; with a screen, many more of
    both are screened (in that order while its time lasts) and the photos it found a likely place in,
    best first, are interleaved with those."""
    few = out.query_keypoints < FEW_KEYPOINTS
    if out.plain:
        return [], {}  # correlation peaks everywhere on a flat query (``crop_dense.is_plain``)
    ids = [c.photo_id for c in out.candidates[: DENSE_CANDIDATES_FEW if few else DENSE_CANDIDATES]]
    colours: list[int] = []
    fit: list[int] = []
    if colour_shortlist is not None:
        # The screen's pool is every photo, in colour order (a tiny crop's own colour can round to 0 in
        # its photo's stored descriptor); the dense path's own list only those that can hold the crop.
        colours = colour_shortlist(image, SCREEN_COLOUR, exclude, True) if screen else []
        fit = colour_shortlist(image, COLOUR_CANDIDATES, exclude, False)
    hints: dict[int, float] = {}
    screened: list[Screened] = []
    if screen is not None:
        pool = interleave([c.photo_id for c in out.candidates[:SCREEN_VOTED]], colours)
        screened, _ = screen(image, pool, screen_s)
    ids = interleave(ids, fit)
    if screened:
        # The screen's likely places first; the short lists still get their turn, as the screen cannot
        # judge a crop that is tiny in its photo (under 8 px in the 64 px tiny image: a small COCO object).
        good = [s for s in screened if s.score >= SCREEN_MIN]
        ids, hints = interleave([s.photo_id for s in good], ids), {s.photo_id: s.scale for s in good if s.scale}
    return ids, hints


def interleave(a: list[int], b: list[int]) -> list[int]:
    """a[0], b[0], a[1], b[1], ... without repeats: neither shortlist is trusted over the other."""
    out: list[int] = []
    seen: set[int] = set()
    for i in range(max(len(a), len(b))):
        for lst in (a, b):
            if i < len(lst) and lst[i] not in seen:
                out.append(lst[i])
                seen.add(lst[i])
    return out
