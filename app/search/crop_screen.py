"""A coarse pixel screen over many photos, so the dense path correlates the right few.

Crops with almost no keypoints (pale sky with a small flag, dim kitchen tiles) get no vote, and their
colours are common, so their photo can sit hundreds deep in the colour shortlist; the dense path
(``crop_dense``) finds them at once when given the photo, but it decodes each candidate's working image
and sweeps 16 scales at 320 px (~50-80 ms a photo), so it can afford ~8-16 candidates a query.

The screen does the same correlation on the grid thumbnail every photo already has, reduced to a
64 px tiny image (from a 128 px one decoded once and kept in memory: 12 KB) against templates made once
per query: about 1 ms a photo, so a few hundred candidates fit in the time of a few dense ones. A crop
too small in its photo to be judged at 64 px (under 8 px: a 40 px object in a 640 px photo) is judged
at 128 px for those scales, which costs ~4 ms a photo. It only orders the candidates (and gives each the
scale it matched at, which narrows the dense sweep); the dense path's strict thresholds still decide
what is reported.

Normalised correlation is meaningless where the photo is flat (a black border, a clear sky: its
denominator is ~0 and OpenCV returns values near 1 there). The crop is the photo's own pixels, so at
the true place the photo's local contrast matches the template's; places whose contrast differs by
more than ``CONTRAST_RATIO`` either way are ruled out, which removes those false peaks and many others.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

SIDE = 64  # long side of the tiny image correlated
FINE_SIDE = 128  # ... and of the finer one, for crops too small in the photo to judge at 64 px
SCALES = np.geomspace(0.06, 0.9, 10)  # query long side as a fraction of the photo's long side (steps of 1.35)
MIN_TEMPLATE = 8  # px (shorter side) at 64 px: smaller templates correlate with anything ...
MIN_FINE_TEMPLATE = 6  # ... below that, at 128 px, down to this (a 40 px COCO object in a 640 px photo)
CONTRAST_RATIO = 2.0  # the photo's local grey std at the match must be within this factor of the query's
BUDGET_S = 0.3  # candidates are screened in the order given until this much time has passed ...
MIN_SCREENED = 64  # ... but at least this many


def _blur(a: np.ndarray) -> np.ndarray:
    return cv2.GaussianBlur(a, (3, 3), 0)


def _fit(a: np.ndarray, side: int) -> np.ndarray:
    """``a`` with long side ``side`` (scales are fractions of it, so a small photo is enlarged)."""
    f = side / max(a.shape)
    if f == 1:
        return a
    size = (max(1, round(a.shape[1] * f)), max(1, round(a.shape[0] * f)))
    return cv2.resize(a, size, interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR)


def tiny_image(thumbnail: Path) -> np.ndarray | None:
    """The thumbnail as a grey uint8 image with long side ``FINE_SIDE``; None if unreadable."""
    try:
        with Image.open(thumbnail) as im:
            im.draft("L", (FINE_SIDE, FINE_SIDE))  # JPEG: decode at a reduced size, far cheaper
            return _fit(np.asarray(im.convert("L")), FINE_SIDE)
    except (OSError, ValueError):
        return None


class TinyImageCache:
    """Tiny images by content hash (12 KB each; 8,192 of them at most, ~100 MB for a very large library
    that was screened through; a typical query screens a few hundred)."""

    def __init__(self, size: int = 8_192) -> None:
        self._items: OrderedDict[str, np.ndarray | None] = OrderedDict()
        self._size, self._lock = size, threading.Lock()

    def get(self, key: str, path: Path) -> np.ndarray | None:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = tiny_image(path)
        with self._lock:
            self._items[key] = value
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return value


@dataclass(frozen=True, slots=True)
class Screened:
    photo_id: int
    score: float  # best correlation of the query with the tiny image
    scale: float  # at which the query's long side is this fraction of the photo's long side (0: unsure)


@dataclass(slots=True)
class _Template:
    scale: float
    t: np.ndarray
    area: float
    sum_sq: float  # of the template's deviations: the denominator's template half
    fine: bool  # correlated with the 128 px image rather than the 64 px one


def _templates(query: Image.Image) -> list[_Template]:
    q = np.asarray(query.convert("L"), np.float32)
    aspect = q.shape[0] / q.shape[1]
    out = []
    for s in SCALES:
        for side, smallest in ((SIDE, MIN_TEMPLATE), (FINE_SIDE, MIN_FINE_TEMPLATE)):
            long = s * side
            tw, th = (round(long), round(long * aspect)) if aspect <= 1 else (round(long / aspect), round(long))
            if min(tw, th) >= smallest:
                break
        else:
            continue
        t = _blur(cv2.resize(q, (tw, th), interpolation=cv2.INTER_AREA))
        d = t - t.mean()
        sum_sq = float((d * d).sum())
        if sum_sq / t.size < 1.0:  # flat at this size
            continue
        out.append(_Template(float(s), t, float(t.size), sum_sq, side == FINE_SIDE))
    return out


def contrast_mask(
    res: np.ndarray, sums: tuple[np.ndarray, np.ndarray], tpl_shape: tuple[int, int], tpl_sum_sq: float
) -> None:
    """Set to -1 the places of a ``TM_CCOEFF_NORMED`` result whose window's contrast is not within
    ``CONTRAST_RATIO`` of the template's. ``sums``: ``cv2.integral2`` of the image (float64)."""
    th, tw = tpl_shape
    s1, s2 = (i[th:, tw:] - i[:-th, tw:] - i[th:, :-tw] + i[:-th, :-tw] for i in sums)
    ratio = (s2 - s1 * s1 / (th * tw)) / (tpl_sum_sq + 1e-6)  # both over the same number of pixels
    res[(ratio < 1 / CONTRAST_RATIO**2) | (ratio > CONTRAST_RATIO**2)] = -1.0


def _best(g: np.ndarray, sums: tuple[np.ndarray, np.ndarray], tpl: _Template) -> float:
    th, tw = tpl.t.shape
    if tw > g.shape[1] or th > g.shape[0]:
        return -1.0
    res = cv2.matchTemplate(g, tpl.t, cv2.TM_CCOEFF_NORMED)
    contrast_mask(res, sums, (th, tw), tpl.sum_sq)
    return float(res.max())


def screen(
    query: Image.Image,
    candidate_ids: Iterable[int],
    tiny_of: Callable[[int], np.ndarray | None],
    budget_s: float = BUDGET_S,
    min_screened: int = MIN_SCREENED,
) -> tuple[list[Screened], list[int]]:
    """(screened candidates best first, candidates not screened in order: no tiny image or out of time)."""
    tpls = _templates(query)
    done: list[Screened] = []
    rest: list[int] = []
    t0 = time.perf_counter()
    for i, pid in enumerate(candidate_ids):
        if not tpls or (i >= min_screened and time.perf_counter() - t0 > budget_s):
            rest.append(pid)
            continue
        g = tiny_of(pid)
        if g is None:
            rest.append(pid)
            continue
        score, scale = -1.0, 0.0
        levels = {}
        for fine, side in ((False, SIDE), (True, FINE_SIDE)):
            if any(t.fine == fine for t in tpls):
                a = _blur(_fit(g, side).astype(np.float32))
                levels[fine] = (a, cv2.integral2(a, sdepth=cv2.CV_64F))
        for tpl in tpls:
            v = _best(*levels[tpl.fine], tpl)
            if v > score:
                score, scale = v, tpl.scale
        if scale == tpls[0].scale:
            scale = 0.0  # at the smallest size the screen can judge: the true size may be smaller still
        done.append(Screened(pid, score, scale))
    done.sort(key=lambda s: -s.score)
    return done, rest
