"""Exact crop search: descriptor votes for candidate photos, then RANSAC verification of the best.

1. The query's RootSIFT descriptors become binary codes; each code's nearest codes in the FAISS index
   vote for their photos, into bins of the similarity transform the match predicts (``crop_vote``),
   so the few true matches of a tiny crop, which agree on where it sits, beat chance matches.
2. Candidates, best vote first, are verified with a homography from full features re-extracted from
   the candidate's working image (spool or file), until the vote falls well below the best verified.
   Verified hits are ranked by how closely the warped photo agrees with the query pixel for pixel,
   then by inliers (``rank_verified``): the photo the crop was cut from before other shots of it. A fit
   whose warped pixels disagree with the crop (``MIN_EXACT_NCC``: another stop sign, the same poster
   elsewhere) is listed last as a "same pattern" region hit, never as exact.
3. With no verified hit, the same is tried with the query mirrored, then the dense path
   (``crop_dense``) over the best-voted photos and a colour-containment shortlist (``crop_pool``),
   the photos a coarse pixel screen of their thumbnails (``crop_screen``) found a likely place in first,
   for crops with too few keypoints or whose codes found no vote; a dense hit is then verified with
   keypoints at its place, the photo enlarged there to the query's scale (``crop_verify.verify_at``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from app.core.models import HitKind, Photo, SearchHit
from app.imaging.local_features import (
    MAX_QUERY_KEYPOINTS,
    Features,
    binary_codes,
    full_features,
    query_frame,
)
from app.search.crop_dense import is_plain, place_query
from app.search.crop_place import ZOOM_BELOW, TinyFn, in_thumbnail, verify_one
from app.search.crop_pool import FEW_KEYPOINTS, ColourFn, ScreenFn, dense_candidates
from app.search.crop_verify import (
    MIN_WARP_NCC,
    WEAK_MIN_INLIERS,
    PhotoFeatureCache,
    Verification,
    photometric_check,
    verify_at,
)
from app.search.crop_vote import Candidate, hough_vote
from app.storage.feature_index import Neighbours

log = logging.getLogger(__name__)

NEIGHBOURS = 16
VOTE_KEYPOINTS = 800  # query codes searched for the vote (all of them are matched in verification)
MAX_HAMMING = 40  # of 256 bits; a true match of a rescaled, recompressed crop is usually under 30
MAX_VERIFY = 8  # candidates verified at most per query (and mirror pass) ...
MAX_VERIFY_UNFOUND = 12  # ... or this many while none has verified yet (within the time budget): with the
# geometric vote a missed object or region crop's photo was never at vote rank 9-32 on the full corpus
KEEP_VERIFYING = 0.2  # verify further candidates while their vote is at least this x the best verified one
TIME_BUDGET_S = 0.4  # stop verifying more candidates after this long ...
MIN_VERIFY = 3  # ... but only once this many have been tried
MIRROR_VERIFY = 3  # the mirrored pass (no hit unmirrored) verifies only its best few: the geometric vote
# puts a true photo first, and a query that matched nothing either way should not cost twice the budget
# Time: verification has its own budget (``TIME_BUDGET_S``); a query that found nothing verified then
# screens and correlates with what is left of ``QUERY_BUDGET_S`` (within these bounds), so a crop that
# matches nothing still answers in about a second.
QUERY_BUDGET_S = 0.9
SCREEN_BUDGET_S = 0.3
SCREEN_BUDGET_FEW_S = 0.55
DENSE_RESERVE_S = 0.35
DENSE_BUDGET_S = 0.4
DENSE_MIN_TRIED = 8  # dense candidates tried whatever the time (unscreened: vote and colour order) ...
DENSE_MIN_SCREENED = 4  # ... or, in the screen's order, this many

DenseFn = Callable[[Image.Image, list[int], dict[int, float], float, int], list[SearchHit]]
DENSE_TO_VERIFY = 2  # dense hits then verified with keypoints at their place
AT_PLACE_UPSCALE = 2.0  # a query its SIFT frame enlarges this much (under 180 px) is verified at places only
WHOLE_TOO = 3  # the best-voted candidates are also verified whole when verification at their place fails ...
WHOLE_TOO_UPSCALE = 3.0  # ... unless SIFT enlarges the query more than this (under 120 px): a tiny object's
# whole-photo fit fails anyway and the time is the screen's (with it, object recall@1 0.96 -> 0.94)
PLACE_CANDIDATES = 160  # vote candidates tried at most, those after ``MAX_VERIFY_UNFOUND`` only at such a place
# Verified hits whose warp residuals (1 - NCC) are within this factor of each other are ranked by inliers.
NCC_TIE_RATIO = 1.5
NCC_TIE_FLOOR = 0.002
# A homography fit whose warped pixels agree with the query less than this is the same planar pattern in
# another picture (another stop sign, the same poster elsewhere, another shot of a book cover), not the
# photo the crop came from: it is listed after the others as a ``region`` hit, never as ``exact``.
MIN_EXACT_NCC = 0.7
PATTERN_METHOD = "same pattern, pixels differ (another copy or another shot of it)"


@dataclass(slots=True)
class ExactResult:
    hits: list[SearchHit] = field(default_factory=list)
    candidates: list[Candidate] = field(default_factory=list)
    query_keypoints: int = 0
    verified_tried: int = 0
    tried: set[int] = field(default_factory=set)  # photos whose keypoints were matched against the query
    mirrored: bool = False
    dense: bool = False
    plain: bool = False  # too flat to single out a photo (``crop_dense.is_plain``): results are uncertain


def candidates(
    feats: Features,
    size: tuple[float, float],
    search_codes: Callable[[np.ndarray, int], Neighbours],
    exclude: frozenset[int] = frozenset(),
) -> list[Candidate]:
    """Photos voted for by the query's keypoints (see ``crop_vote``), best first."""
    assert feats.shape is not None
    pick = np.arange(len(feats))
    if len(pick) > VOTE_KEYPOINTS:  # a large query has votes to spare; the search cost is per code
        pick = np.linspace(0, len(pick) - 1, VOTE_KEYPOINTS).astype(np.int64)
    nb = search_codes(binary_codes(feats.desc[pick]), NEIGHBOURS)
    return hough_vote(
        nb.distances,
        nb.photo_ids,
        nb.rows,
        nb.geometry,
        feats.xy[pick],
        feats.shape[pick],
        size,
        MAX_HAMMING,
        exclude,
    )


def _hit(photo: Photo, v: Verification, ncc: float, votes: float, mirrored: bool) -> SearchHit:
    details: dict[str, object] = {
        "inliers": v.inliers,
        "matches": v.matches,
        "ncc": round(ncc, 4),  # pixel agreement of the photo warped into the query's frame (ranking)
        "votes": round(votes, 2),
    }
    if mirrored:
        details["mirrored"] = True
    exact = ncc >= MIN_EXACT_NCC
    if not exact:
        details["method"] = PATTERN_METHOD
    return SearchHit(
        photo_id=photo.id,
        path=photo.path,
        score=round(v.inliers / (v.inliers + 8), 4),  # 15 inliers -> 0.65, 50 -> 0.86, 200 -> 0.96
        kind=HitKind.EXACT if exact else HitKind.REGION,
        box=v.box,
        outline=v.outline,
        inliers=v.inliers,
        details=details,
    )


def rank_verified(hits: list[SearchHit]) -> list[SearchHit]:
    """Verified hits, the photo the query was cut from first: by pixel agreement, then by inliers.

    Inliers count how much of the query's structure a photo shares, so another shot of the same object
    (a book cover photographed again, closer and sharper) can out-score the photo the crop was cut
    from (UKBench: 248 inliers against the source's 197). Only the source, warped into the query's
    frame, agrees with it pixel for pixel: its residual ``1 - NCC`` is the recompression and resampling
    noise (median 0.003 on the corpus), another shot adds its own light, blur and parallax on top
    (0.002-0.49 measured: a burst frame can be as close; in all 13 bench queries with several
    verified hits the source had the smallest). So hits are ordered by residual; residuals within a
    factor ``NCC_TIE_RATIO`` (plus ``NCC_TIE_FLOOR`` for rounding) of a group's best count as equal and
    are ordered by inliers: copies and burst frames that are the same picture as far as the pixels can
    tell (0.001 against 0.002).
    """
    by_residual = sorted(hits, key=lambda h: 1.0 - float(h.details.get("ncc", 0.0)))  # type: ignore[arg-type]
    groups: list[list[SearchHit]] = []
    best = 0.0
    for h in by_residual:
        r = 1.0 - float(h.details.get("ncc", 0.0))  # type: ignore[arg-type]
        if not groups or r > NCC_TIE_RATIO * best + NCC_TIE_FLOOR:
            groups.append([])
            best = r
        groups[-1].append(h)
    return [h for g in groups for h in sorted(g, key=lambda h: -(h.inliers or 0))]


def find_exact(
    image: Image.Image,
    search_codes: Callable[[np.ndarray, int], Neighbours],
    photos_by_ids: Callable[[list[int]], dict[int, Photo]],
    cache: PhotoFeatureCache,
    load_photo: Callable[[Photo], Image.Image | None],
    exclude: frozenset[int] = frozenset(),
    dense: DenseFn | None = None,
    colour_shortlist: ColourFn | None = None,
    screen: ScreenFn | None = None,
    tiny_of: TinyFn | None = None,
) -> ExactResult:
    """Verified hits for a query image, the photo it was cut from first (``rank_verified``).

    With none, dense-correlation hits among the best-voted photos and, if ``colour_shortlist`` is
    given, the photos whose colours could hold the crop (``crop_colour``), ordered by the coarse pixel
    ``screen`` when there is one (``crop_screen``); a dense hit whose photo then passes the
    verification is reported verified.
    """
    out = ExactResult(plain=is_plain(image))
    pattern: list[SearchHit] = []  # fits whose pixels disagree (``MIN_EXACT_NCC``): listed last, not exact
    t0 = time.perf_counter()
    first: tuple[Features, np.ndarray, tuple[float, float]] | None = None
    for mirrored in (False, True):
        qgray, f = query_frame(image, mirror=mirrored)
        feats = full_features(qgray, MAX_QUERY_KEYPOINTS)
        if not mirrored:
            out.query_keypoints = len(feats)
        if len(feats) == 0:
            break
        size = (image.width * f, image.height * f)
        if not mirrored:
            first = (feats, qgray, size)
        cands = candidates(feats, size, search_codes, exclude)
        if not mirrored:
            out.candidates = cands
        # A small query (upscaled for SIFT) is verified at each candidate's place, checked in a few ms
        # (``crop_place.verify_one``), so more of its candidates are tried; so are those a larger query is tiny in.
        at_place = f >= AT_PLACE_UPSCALE
        shortlist = cands[: MIRROR_VERIFY if mirrored else MAX_VERIFY_UNFOUND]
        if len(feats) < WEAK_MIN_INLIERS:
            shortlist = []  # too few keypoints for any fit: the screen and the dense path get the time
        elif not mirrored and len(feats) >= FEW_KEYPOINTS:  # a few keypoints' vote is mostly chance
            more = cands[MAX_VERIFY_UNFOUND:PLACE_CANDIDATES]
            shortlist += [c for c in more if c.place and (at_place or c.place[2] < ZOOM_BELOW)]
        whole_too = WHOLE_TOO if f <= WHOLE_TOO_UPSCALE else 0
        hits = _verify_candidates(
            feats,
            qgray,
            size,
            shortlist,
            photos_by_ids,
            cache,
            load_photo,
            mirrored,
            t0,
            out,
            at_place,
            whole_too,
            tiny_of,
        )
        pattern += [h for h in hits if h.kind != HitKind.EXACT]
        if any(h.kind == HitKind.EXACT for h in hits):
            out.hits, out.mirrored = [h for h in hits if h.kind == HitKind.EXACT], mirrored
            break
    if not out.hits and dense is not None:
        # A query with few keypoints spent next to nothing on verification: its screen may use that time.
        cap = SCREEN_BUDGET_FEW_S if out.query_keypoints < FEW_KEYPOINTS else SCREEN_BUDGET_S
        screen_s = min(cap, max(0.1, QUERY_BUDGET_S - DENSE_RESERVE_S - (time.perf_counter() - t0)))
        ids, hints = dense_candidates(image, out, exclude, colour_shortlist, screen, screen_s)
        dense_s = min(DENSE_BUDGET_S, max(0.15, QUERY_BUDGET_S - (time.perf_counter() - t0)))
        # The screen orders the candidates well: fewer need trying whatever the load.
        out.hits = dense(image, ids, hints, dense_s, DENSE_MIN_SCREENED if hints else DENSE_MIN_TRIED)
        out.dense = bool(out.hits)
        if out.hits and first is not None:
            # Correlation found the place; the query's keypoints may verify it there, with the photo
            # enlarged to the query's scale (a tiny object: ``crop_verify.verify_at``).
            exact = _verify_places(*first, out.hits[:DENSE_TO_VERIFY], photos_by_ids, cache, load_photo, out)
            if exact:
                done = {h.photo_id for h in exact}
                out.hits = rank_verified(exact) + [h for h in out.hits if h.photo_id not in done]
                out.dense = False
                return _with_pattern(out, pattern)
    if not out.dense:
        out.hits = rank_verified(out.hits)
    return _with_pattern(out, pattern)


def _with_pattern(out: ExactResult, pattern: list[SearchHit]) -> ExactResult:
    """The hits, then the keypoint fits whose pixels disagree with the query (best first, one a photo)."""
    seen = {h.photo_id for h in out.hits}
    for h in rank_verified(pattern):
        if h.photo_id not in seen:
            seen.add(h.photo_id)
            out.hits.append(h)
    return out


def _verify_places(
    feats: Features,
    qgray: np.ndarray,
    size: tuple[float, float],
    hits: list[SearchHit],
    photos_by_ids: Callable[[list[int]], dict[int, Photo]],
    cache: PhotoFeatureCache,
    load_photo: Callable[[Photo], Image.Image | None],
    out: ExactResult,
) -> list[SearchHit]:
    """The dense hits verified with keypoints at their place (``verify_at``), as exact hits."""
    photos = photos_by_ids([h.photo_id for h in hits])
    votes = {c.photo_id: c.votes for c in out.candidates}
    found = []
    for h in hits:
        photo = photos.get(h.photo_id)
        loaded = cache.get(photo, load_photo) if photo is not None and h.box is not None and len(feats) else None
        if loaded is None:
            continue
        out.verified_tried += 1
        out.tried.add(photo.id)
        g, s = loaded.gray, loaded.scale
        v = verify_at(feats, size, g, tuple(c / s for c in h.box), s)  # type: ignore[union-attr, arg-type]
        if v is None:
            continue
        ncc = photometric_check(qgray, g, v.homography)
        log.debug("crop search: %s verified at its place, %d inliers, warp NCC %.3f", photo.path, v.inliers, ncc)
        if v.weak and ncc < MIN_WARP_NCC:
            continue
        hit = _hit(photo, v, ncc, votes.get(photo.id, 0.0), False)
        if hit.kind == HitKind.EXACT:
            found.append(hit)
    return found


def _verify_candidates(
    feats: Features,
    qgray: np.ndarray,
    size: tuple[float, float],
    cands: list[Candidate],
    photos_by_ids: Callable[[list[int]], dict[int, Photo]],
    cache: PhotoFeatureCache,
    load_photo: Callable[[Photo], Image.Image | None],
    mirrored: bool,
    t0: float,
    out: ExactResult,
    at_place: bool = False,
    whole_too: int = 0,
    tiny_of: TinyFn | None = None,
) -> list[SearchHit]:
    shortlist = cands
    photos = photos_by_ids([c.photo_id for c in shortlist])
    qsmall = place_query(qgray)
    hits: list[SearchHit] = []
    best_verified = 0.0
    by_content: dict[str, tuple[Verification, float] | None] = {}
    for i, cand in enumerate(shortlist):
        if i >= MIN_VERIFY and (time.perf_counter() - t0 > TIME_BUDGET_S):
            break
        if best_verified and cand.votes < KEEP_VERIFYING * best_verified:
            break
        if i >= MAX_VERIFY and (best_verified or time.perf_counter() - t0 > TIME_BUDGET_S):
            break
        photo = photos.get(cand.photo_id)
        if photo is None:
            continue
        if photo.content_hash in by_content:  # a byte-identical copy: same answer, no second RANSAC
            done = by_content[photo.content_hash]
            if done is not None:
                hits.append(_hit(photo, *done, cand.votes, mirrored))
            continue
        checked = i >= whole_too and (at_place or (cand.place is not None and cand.place[2] < ZOOM_BELOW))
        if checked and tiny_of is not None and not in_thumbnail(qsmall, size, cand, tiny_of(photo)):
            continue  # its place does not look like the query even in the thumbnail: not worth a decode
        loaded = cache.get(photo, load_photo)
        if loaded is None:
            continue
        out.verified_tried += 1
        out.tried.add(photo.id)
        v = verify_one(feats, qsmall, size, cand, loaded, mirrored, at_place, whole_too=i < whole_too)
        found = None
        if v is not None:
            # The photo warped back into the query's frame: how closely it agrees pixel for pixel decides
            # whether a weak fit stands and ranks same-picture hits above other shots (``rank_verified``).
            ncc = photometric_check(qgray, loaded.gray, v.homography)
            log.debug("crop search: %s fits with %d inliers, warp NCC %.3f", photo.path, v.inliers, ncc)
            if not v.weak or ncc >= MIN_WARP_NCC:
                found = (v, ncc)
        if photo.content_hash:
            by_content[photo.content_hash] = found
        if found is not None:
            hits.append(_hit(photo, *found, cand.votes, mirrored))
            if hits[-1].kind == HitKind.EXACT:  # a pattern fit must not stop the search for the source
                best_verified = max(best_verified, cand.votes)
    return hits
