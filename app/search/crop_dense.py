"""The dense path: small crops of plain areas (a door, grass, a floor) have too few keypoints for a
homography, but their pixels still correlate. Multi-scale normalised cross-correlation of the query
against the working images of its candidates (best-voted photos and the colour shortlist of
``crop_colour``), coarse then refined; reported only when the peak is both very high and clearly
above any other place in the photo.

Handles translation and scale (crops, resizes); not rotation or mirroring, which the keypoint path
covers for crops with texture.

Dense hits are **not** reported as ``exact``: a correlation peak on a plain patch (a wall, sky with a
branch, a floor) cannot tell this photo from another photo of a similar surface, and the keypoint
path's guarantee ("this photo contains your image") must not be diluted. They are ``region`` hits with
``details.method = "dense correlation"``, ranked after the verified hits and before semantic ones
(``merge_hits`` keeps the exact path's list first, verified hits as ``crop.rank_verified`` ordered them, then these).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import cv2
import numpy as np
from PIL import Image

from app.core.models import Box, HitKind, Photo, SearchHit
from app.search.crop_screen import contrast_mask

COARSE_SIDE = 320  # long side of the candidate for the scale sweep
SCALES = np.geomspace(0.06, 0.9, 16)  # query long side as a fraction of the photo's long side
MIN_NCC = 0.93  # refined correlation needed to report a hit
# The sweep steps by 1.2, so its best scale can be 10 % off the crop's and a detailed object correlates
# far less there (a 60 px COCO object: under 0.83 in the sweep, 0.97 refined): refine from this.
COARSE_MIN_NCC = 0.7
MIN_MARGIN = 0.08  # the best place must beat any place a template-width away by this much ...
MIN_NCC_REPEATED = 0.99  # ... unless it correlates this well at full resolution: a repeated pattern (tiles,
# windows) has rival places in its own photo, and only the same pixels agree to 0.99 through recompression
MIN_STD = 4.0  # grey levels: a flat query (sky, a white wall) matches everywhere, so it is not tried
HINT_SPAN = np.log(1.8)  # with a scale hint, sweep the scales within this factor of it (the screen's step is
# 1.35, but its estimate from a template of 8-10 px can be a step and more off)
DENSE_METHOD = "dense correlation"
NCC_TIE = 0.02  # dense hits this close in correlation are ranked by colour (``rank_dense``)
BUDGET_S = 0.4  # candidates are correlated in the given order until this much time has passed ...
MIN_TRIED = 8  # ... but at least this many (quiet, 0.4 s covers 15-20; under load the list still gets a fair try)


def _gray(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("L"), np.float32)


def _resize(a: np.ndarray, w: int, h: int) -> np.ndarray:
    interp = cv2.INTER_AREA if w < a.shape[1] else cv2.INTER_LINEAR
    return cv2.resize(a, (max(1, w), max(1, h)), interpolation=interp)


def _soft(a: np.ndarray) -> np.ndarray:
    """Lightly blurred: the query was resampled and recompressed, so pixel-level noise should not count
    (a dark, grainy crop otherwise loses 0.02-0.05 of correlation with its own photo)."""
    return cv2.GaussianBlur(a, (3, 3), 0)


def is_plain(image: Image.Image) -> bool:
    """A query too flat to single out a photo: grey levels vary by less than ``MIN_STD`` (a black square,
    grey sky, a white wall). Any photo with such an area contains it."""
    q = _gray(image)
    return bool(q.std() < MIN_STD or min(q.shape) < 8)


def dense_match(
    query: Image.Image, photo: Image.Image, scale_hint: float | None = None
) -> tuple[float, tuple[float, float, float, float]] | None:
    """(correlation, box in ``photo`` pixels) of the query's best place, or None if not convincing.

    ``scale_hint`` (the query's long side as a fraction of the photo's, from ``crop_screen``) narrows the
    sweep to the scales around it."""
    if is_plain(query):
        return None
    q = _gray(query)
    p = _gray(photo)
    f = COARSE_SIDE / max(p.shape)
    pc = _resize(p, round(p.shape[1] * f), round(p.shape[0] * f)) if f < 1 else p
    f = pc.shape[1] / p.shape[1]
    pcs = _soft(pc)
    sums = cv2.integral2(pcs, sdepth=cv2.CV_64F)
    aspect = q.shape[0] / q.shape[1]
    best = (-1.0, 0.0, (0, 0), None)
    scales = SCALES if scale_hint is None else SCALES[np.abs(np.log(SCALES / scale_hint)) <= HINT_SPAN]
    for s in scales:
        tw = round(s * max(pc.shape) / max(1.0, aspect))
        if aspect > 1:
            tw = round(s * max(pc.shape) / aspect)
        th = round(tw * aspect)
        if tw < 8 or th < 8 or tw > pc.shape[1] or th > pc.shape[0]:
            continue
        t = _resize(q, tw, th)
        if t.std() < 1.0:
            continue
        ts = _soft(t)
        res = cv2.matchTemplate(pcs, ts, cv2.TM_CCOEFF_NORMED)
        # Only places of the crop's contrast count, for the peak and for the runner-up: a flat or faint
        # area correlates with anything (``crop_screen``), and would otherwise pass for a rival place.
        contrast_mask(res, sums, ts.shape, float(((ts - ts.mean()) ** 2).sum()))
        _, val, _, loc = cv2.minMaxLoc(res)
        if val > best[0]:
            best = (float(val), float(tw), loc, res)
    score, tw, loc, res = best
    if res is None or score < COARSE_MIN_NCC:
        return None
    th = tw * aspect
    # Distinctiveness: blank out the peak's neighbourhood and look at the runner-up.
    masked = res.copy()
    x0, y0 = loc
    masked[max(0, int(y0 - th)) : int(y0 + th) + 1, max(0, int(x0 - tw)) : int(x0 + tw) + 1] = -1
    distinct = score - float(masked.max()) >= MIN_MARGIN
    # Refine at full resolution around the coarse place, over a narrow band of scales.
    refined = (-1.0, None)
    for k in np.linspace(0.9, 1.1, 9):  # the sweep steps by 1.2: its scale can be 10 % off
        w = round(tw / f * k)
        h = round(th / f * k)
        if w < 8 or h < 8 or w > p.shape[1] or h > p.shape[0]:
            continue
        cx, cy = (x0 + tw / 2) / f, (y0 + th / 2) / f
        pad = max(6, int(0.15 * max(w, h)))
        rx0, ry0 = int(max(0, cx - w / 2 - pad)), int(max(0, cy - h / 2 - pad))
        rx1, ry1 = int(min(p.shape[1], cx + w / 2 + pad)), int(min(p.shape[0], cy + h / 2 + pad))
        roi = p[ry0:ry1, rx0:rx1]
        if roi.shape[0] < h or roi.shape[1] < w:
            continue
        r = cv2.matchTemplate(_soft(roi), _soft(_resize(q, w, h)), cv2.TM_CCOEFF_NORMED)
        _, val, _, (lx, ly) = cv2.minMaxLoc(r)
        if val > refined[0]:
            refined = (float(val), (rx0 + lx, ry0 + ly, rx0 + lx + w, ry0 + ly + h))
    if refined[1] is None or refined[0] < (MIN_NCC if distinct else MIN_NCC_REPEATED):
        return None
    return refined[0], tuple(float(v) for v in refined[1])  # type: ignore[return-value]


PLACE_SCALES = np.geomspace(0.75, 1.33, 7)  # around a predicted place's size (a vote's scale is a few matches')
PLACE_MARGIN = 0.5  # of the place's size, on each side
PLACE_SIDE = 32
PLACE_QUERY_SIDE = 48  # short side of ``place_query``: the largest template is 1.33 x PLACE_SIDE
UPRIGHT = np.deg2rad(5.0)  # a place turned less than this counts as upright


def place_query(query: np.ndarray) -> np.ndarray:
    """The grey query reduced once for ``match_at`` (its templates' short side is at most ~43 px): resizing
    the full query frame for every template of every candidate cost 0.35 ms a time."""
    f = PLACE_QUERY_SIDE / min(query.shape)
    q = np.asarray(query, np.float32)
    return _resize(q, round(q.shape[1] * f), round(q.shape[0] * f)) if f < 1 else q


def match_at(
    query: np.ndarray,
    photo: np.ndarray,
    centre: tuple[float, float],
    size: tuple[float, float],
    turn: float = 0.0,
    scales: np.ndarray = PLACE_SCALES,
) -> tuple[float, Box | None, float]:
    """Where the grey ``query`` (``place_query``) correlates best around a predicted place of the grey
    ``photo``: centre, the
    query's (width, height) there and its turn (radians, clockwise on screen), all in the photo's pixels.

    The photo around the place is turned back (one small warp) so the query is matched upright, unmasked.
    Returns (correlation, the box the placed query covers, its size relative to ``size``), over ``scales``
    of the predicted one: a few milliseconds, where keypoints cost 50 or more.
    """
    # Judged at a template of ~PLACE_SIDE px: enough to tell the crop from a chance place, and cheap.
    f = min(1.0, PLACE_SIDE / max(1.0, min(size)))
    w, h = size[0] * f, size[1] * f
    if f < 1.0:
        photo = _resize(photo.astype(np.float32), round(photo.shape[1] * f), round(photo.shape[0] * f))
    span = (1 + 2 * PLACE_MARGIN) * float(max(scales))
    ow, oh = round(w * span), round(h * span)
    c, s = np.cos(turn), np.sin(turn)
    # Output (u, v) -> photo: centre + R(turn) (u - ow/2, v - oh/2), R turning clockwise on screen (y down).
    cx, cy = centre[0] * f, centre[1] * f
    m = np.array([[c, -s, cx - c * ow / 2 + s * oh / 2], [s, c, cy - s * ow / 2 - c * oh / 2]], np.float64)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    roi = _soft(cv2.warpAffine(photo.astype(np.float32), m, (ow, oh), flags=flags, borderMode=cv2.BORDER_REFLECT))
    q = np.asarray(query, np.float32)
    best: tuple[float, Box | None, float] = (-1.0, None, 1.0)
    ac, as_ = abs(c), abs(s)
    for k in scales:
        tw, th = round(w * k), round(h * k)
        if tw < 8 or th < 8 or tw > ow or th > oh:
            continue
        t = _soft(_resize(q, tw, th))
        if t.std() < 1.0:
            continue
        _, val, _, (lx, ly) = cv2.minMaxLoc(cv2.matchTemplate(roi, t, cv2.TM_CCOEFF_NORMED))
        if val > best[0]:
            u, v = lx + tw / 2 - ow / 2, ly + th / 2 - oh / 2
            px, py = cx + c * u - s * v, cy + s * u + c * v
            hx, hy = (ac * tw + as_ * th) / 2, (as_ * tw + ac * th) / 2  # the turned query's half extents
            box = ((px - hx) / f, (py - hy) / f, (px + hx) / f, (py + hy) / f)
            best = (float(val), tuple(float(b) for b in box), float(k))  # type: ignore[assignment]
    return best


def dense_hits(
    image: Image.Image,
    candidate_ids: list[int],
    photos_by_ids: Callable[[list[int]], dict[int, Photo]],
    load_photo: Callable[[Photo], Image.Image | None],
    budget_s: float = BUDGET_S,
    scale_hints: dict[int, float] | None = None,
    min_tried: int = MIN_TRIED,
) -> list[SearchHit]:
    """Dense matches among the given candidates (in order, while the time budget lasts); hits carry
    the box in full-resolution photo pixels. ``scale_hints``: per photo, the screen's scale."""
    ids = candidate_ids
    photos = photos_by_ids(ids)
    hits = []
    t0 = time.perf_counter()
    for i, pid in enumerate(ids):
        if i >= min_tried and time.perf_counter() - t0 > budget_s:
            break
        photo = photos.get(pid)
        img = load_photo(photo) if photo is not None else None
        if img is None:
            continue
        m = dense_match(image, img, (scale_hints or {}).get(pid))
        if m is None:
            continue
        ncc, box = m
        s = (photo.width or img.width) / img.width
        x0, y0, x1, y1 = (v * s for v in box)
        hits.append(
            SearchHit(
                photo_id=photo.id,
                path=photo.path,
                score=round(ncc, 4),
                kind=HitKind.REGION,
                box=(x0, y0, x1, y1),
                outline=((x0, y0), (x1, y0), (x1, y1), (x0, y1)),
                details={
                    "method": DENSE_METHOD,
                    "ncc": round(ncc, 4),
                    "colour_offset": _colour_offset(image, img, box),
                },
            )
        )
    return rank_dense(hits)


def _colour_offset(query: Image.Image, photo: Image.Image, box: Box) -> float:
    """Distance (RGB levels) between the query's mean colour and that of its place in the photo."""
    q = np.asarray(query.convert("RGB"), np.float32).reshape(-1, 3).mean(axis=0)
    p = np.asarray(photo.crop(tuple(round(v) for v in box)).convert("RGB"), np.float32).reshape(-1, 3).mean(axis=0)
    return round(float(np.linalg.norm(q - p)), 2)


def rank_dense(hits: list[SearchHit]) -> list[SearchHit]:
    """By correlation; hits within ``NCC_TIE`` of a group's best by how close their mean colour is to the
    query's. A burst frame can correlate as well as the photo the crop was cut from (0.9933 against
    0.9899: correlation ignores exposure and colour), and a sharper, colour-shifted copy better (0.9833
    against 0.9726), but only the source has the crop's colours to the level (offsets of 0.2 against
    1.0 and 30 on those bench queries)."""
    ordered = sorted(hits, key=lambda h: -h.score)
    groups: list[list[SearchHit]] = []
    for h in ordered:
        if not groups or h.score < groups[-1][0].score - NCC_TIE:
            groups.append([])
        groups[-1].append(h)
    return [h for g in groups for h in sorted(g, key=lambda h: float(h.details.get("colour_offset", 0.0)))]
