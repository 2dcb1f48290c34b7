"""Verifying a vote candidate where the vote puts the query (``crop.find_exact``), for small queries.

A small query is upscaled for SIFT, so its keypoints are finer than any the whole photo's SIFT finds where
it sits: the photo is verified around the vote's place, enlarged (``crop_verify.verify_at``), and only where
the query's pixels correlate there, checked first in the in-memory thumbnail (``in_thumbnail``), then in
the working image (``crop_dense.match_at``): most candidates of a tiny crop are chance votes.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from app.core.models import Photo
from app.imaging.local_features import Features
from app.search.crop_dense import UPRIGHT, match_at
from app.search.crop_verify import CandidateImage, Verification, verify, verify_at
from app.search.crop_vote import Candidate

TinyFn = Callable[[Photo], "tuple[np.ndarray, float] | None"]  # grid thumbnail, its pixels per working pixel
# A query frame this much finer than its place in the photo (working pixels per query pixel: a 50 px
# object, upscaled 7x for SIFT, is at 0.14) has keypoints finer than any the whole photo's SIFT finds
# there: it is verified at the vote's place, enlarged (``crop_verify.verify_at``).
ZOOM_BELOW = 0.5
THUMB_MIN_NCC = 0.8  # at the place in the thumbnail, before the working image is decoded (``in_thumbnail``)
PLACE_MIN_NCC = 0.8  # correlation at the vote's place needed to verify there (true tiny objects: 0.97-0.99) ...
PLACE_MIN_NCC_TURNED = 0.65  # ... or at a turned place, where resampling the turned template costs correlation
# (a smooth 120 px crop of a photo turned 30 degrees: 0.754 at its place; chance places 0.2-0.7)


def verify_one(
    feats: Features,
    qgray: np.ndarray,
    size: tuple[float, float],
    cand: Candidate,
    loaded: CandidateImage,
    mirrored: bool,
    at_place: bool = False,
    whole_too: bool = False,
) -> Verification | None:
    """``verify`` against the whole photo, or at the vote's place if the query is far finer there, and only
    if its pixels correlate there (``match_at``: most candidates of a tiny crop are chance votes, dismissed
    in a few milliseconds instead of a SIFT pass each). ``whole_too``: if that fails, the whole photo
    (the best-voted few: a turned query's true photo can win its vote in the wrong bin)."""
    if cand.place is None or (cand.place[2] >= ZOOM_BELOW and not at_place):
        return verify(feats, size, loaded.feats, loaded.scale, mirrored)
    cx, cy, scale, turn = cand.place
    ncc, at, k = match_at(qgray, loaded.gray, (cx, cy), (scale * size[0], scale * size[1]), turn)
    v = None
    if at is not None and ncc >= (PLACE_MIN_NCC if abs(turn) <= UPRIGHT else PLACE_MIN_NCC_TURNED):
        v = verify_at(feats, size, loaded.gray, at, loaded.scale, 1 / (scale * k), mirrored=mirrored)
    if v is None and whole_too:
        v = verify(feats, size, loaded.feats, loaded.scale, mirrored)
    return v


def in_thumbnail(
    qsmall: np.ndarray, size: tuple[float, float], cand: Candidate, tiny: tuple[np.ndarray, float] | None
) -> bool:
    """False if the query clearly does not correlate at the candidate's place in its grid thumbnail (kept in
    memory, ``crop_screen``): true places 0.94-0.98 there on the bench's tiny objects, 99 % of chance places
    under 0.82. True when it cannot tell (no thumbnail, or the place under 8 px there)."""
    if tiny is None or cand.place is None:
        return True
    g, t = tiny  # t: thumbnail pixels per working-image pixel
    cx, cy, scale, turn = cand.place
    ncc, at, _ = match_at(qsmall, g, (cx * t, cy * t), (scale * size[0] * t, scale * size[1] * t), turn)
    return at is None or ncc >= THUMB_MIN_NCC
