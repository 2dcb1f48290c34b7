"""RANSAC homography verification of one candidate photo against a query, with degeneracy checks.

The acceptance rule is deliberately strict: a verified hit is shown as *this photo contains your
image*, so a false one is worse than a miss (the semantic path and lower ranks catch misses).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from app.core.models import Box, Photo
from app.imaging.local_features import MAX_PHOTO_KEYPOINTS, Features, full_features, gray

RATIO = 0.8  # Lowe's ratio test within one photo (duplicates across photos are handled by the vote)
MIN_INLIERS = 15  # below ~10-12, logos and signs verify on the wrong photo; see docs/crop-search.md
MIN_INLIER_RATIO = 0.15  # of ratio-test matches
# Tiny crops (a 50 px object) give 8-14 inliers on their own photo. Such a fit is only *weak*: it is
# accepted if nearly every match is an inlier and the photo, warped back into the query's frame by the
# homography, correlates with the whole query (``photometric_check``) - a logo or sign that matches
# on another photo does not make the rest of the crop agree pixel for pixel.
WEAK_MIN_INLIERS = 8
WEAK_MIN_RATIO = 0.6
MIN_WARP_NCC = 0.85  # true weak fits measured 0.91-1.0 on the corpus
REPROJ_PX = 4.0  # RANSAC threshold in working-image pixels of the candidate
MAX_SIDE_RATIO = 4.0  # projected quad: opposite sides may differ at most this much (strong perspective)
MIN_SCALE, MAX_SCALE = 0.03, 12.0  # linear size of the query in the photo relative to the query itself
# Verifying at a known place (``verify_at``): the photo around it, enlarged to the query frame's scale.
ZOOM_MARGIN = 0.25  # of the place's width and height, on each side (a correlation box is a few % off)
MAX_ZOOM = 12.0
# ... to half the query frame's scale: SIFT's first octave works on the image doubled, so the query's finest
# keypoints still have their counterparts, and the region costs a quarter of the time (~50 ms, not ~190).
ZOOM_FRACTION = 0.5


@dataclass(slots=True)
class Verification:
    inliers: int
    matches: int
    outline: tuple[tuple[float, float], ...]  # query corners TL, TR, BR, BL in photo pixels
    box: Box  # bounding box of the outline, clamped to the photo
    homography: np.ndarray  # query frame -> the candidate's feature frame (working image)
    weak: bool = False  # too few inliers on their own: needs ``photometric_check``


_matcher = None


def match(query: Features, photo: Features) -> tuple[np.ndarray, np.ndarray]:
    """Ratio-test matches: (query points, photo points), each (m, 2)."""
    empty = np.zeros((0, 2), np.float32)
    if len(query) < 2 or len(photo) < 2:
        return empty, empty
    matcher = cv2.BFMatcher(cv2.NORM_L2)
    pairs = matcher.knnMatch(query.desc, photo.desc, k=2)
    good = [m for m, n in (p for p in pairs if len(p) == 2) if m.distance < RATIO * n.distance]
    if not good:
        return empty, empty
    qi = np.fromiter((m.queryIdx for m in good), np.int64, len(good))
    pi = np.fromiter((m.trainIdx for m in good), np.int64, len(good))
    return query.xy[qi], photo.xy[pi]


def _convex_positive(quad: np.ndarray) -> bool:
    """All turns of the quad in the same (image-clockwise) direction: not twisted, not mirrored."""
    crosses = []
    for i in range(4):
        a, b, c = quad[i], quad[(i + 1) % 4], quad[(i + 2) % 4]
        crosses.append((b[0] - a[0]) * (c[1] - b[1]) - (b[1] - a[1]) * (c[0] - b[0]))
    return all(c > 0 for c in crosses)


def _plausible(quad: np.ndarray, corners: np.ndarray, photo_size: tuple[int, int]) -> bool:
    """Reject homographies no real crop, resize or photo of the same scene produces."""
    if not np.all(np.isfinite(quad)) or not _convex_positive(quad):
        return False
    sides = np.linalg.norm(quad - np.roll(quad, -1, axis=0), axis=1)
    qsides = np.linalg.norm(corners - np.roll(corners, -1, axis=0), axis=1)
    rel = sides / np.maximum(qsides, 1e-6)
    if rel.min() <= 0 or rel.max() / rel.min() > MAX_SIDE_RATIO:
        return False
    area = cv2.contourArea(quad.astype(np.float32))
    qarea = cv2.contourArea(corners.astype(np.float32))
    scale = (area / max(qarea, 1e-6)) ** 0.5
    if not MIN_SCALE <= scale <= MAX_SCALE or area < 64:
        return False
    w, h = photo_size
    # Most of the query must land on the photo (a crop cannot hang far off the edge).
    xs, ys = np.clip(quad[:, 0], 0, w), np.clip(quad[:, 1], 0, h)
    inside = cv2.contourArea(np.stack([xs, ys], 1).astype(np.float32))
    return inside >= 0.75 * area


def verify(
    query: Features,
    query_size: tuple[float, float],
    photo: Features,
    photo_scale: float,
    mirrored: bool = False,
    similarity: bool = False,
) -> Verification | None:
    """Fit a homography query -> photo; None unless it passes every check.

    With ``similarity`` the fit is a rotation, scale and shift (4 unknowns, not 8): what a tiny crop
    needs, whose 8-15 matches may lie nearly on a line (a 35 px wide strip of a door frame) and leave a
    homography free to bend where there are none.

    ``query_size`` is the (width, height) of the frame the query features live in; ``photo_scale``
    maps the photo features' pixels to the full-resolution photo. With ``mirrored`` the query
    features were computed on the flipped query, so the outline's corners are re-ordered to name the
    original query's corners.
    """
    qp, pp = match(query, photo)
    if len(qp) < WEAK_MIN_INLIERS:
        return None
    if similarity:
        A, mask = cv2.estimateAffinePartial2D(qp, pp, method=cv2.RANSAC, ransacReprojThreshold=REPROJ_PX, maxIters=2000)
        H = None if A is None else np.vstack([A, [0.0, 0.0, 1.0]])
    else:
        H, mask = cv2.findHomography(qp, pp, cv2.USAC_MAGSAC, REPROJ_PX, maxIters=2000, confidence=0.999)
    if H is None or mask is None:
        return None
    inliers = int(mask.sum())
    weak = inliers < MIN_INLIERS
    if weak and inliers < max(WEAK_MIN_INLIERS, WEAK_MIN_RATIO * len(qp)):
        return None
    if inliers < MIN_INLIER_RATIO * len(qp):
        return None
    w, h = query_size
    corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float64)
    quad = cv2.perspectiveTransform(corners.reshape(-1, 1, 2), H).reshape(-1, 2)
    if not _plausible(quad, corners, photo.size):
        return None
    # The inliers must spread over the query, not sit on one small patch (a logo on another photo).
    inl = qp[mask.ravel().astype(bool)]
    spread = (np.ptp(inl[:, 0]) * np.ptp(inl[:, 1])) / max(w * h, 1e-6)
    if spread < 0.04:
        return None
    if mirrored:  # flipped frame: original TL is at flipped TR, and so on
        quad = quad[[1, 0, 3, 2]]
    outline, box = _outline_and_box(quad * photo_scale, photo.size[0] * photo_scale, photo.size[1] * photo_scale)
    return Verification(inliers, len(qp), outline, box, H, weak)


def _outline_and_box(full: np.ndarray, width: float, height: float) -> tuple[tuple[tuple[float, float], ...], Box]:
    """The quad (photo pixels) as an outline, and its bounding box clamped to the photo."""
    box = (
        float(max(0.0, full[:, 0].min())),
        float(max(0.0, full[:, 1].min())),
        float(min(width, full[:, 0].max())),
        float(min(height, full[:, 1].max())),
    )
    return tuple((float(x), float(y)) for x, y in full), box


def photometric_check(query_gray: np.ndarray, photo_gray: np.ndarray, H: np.ndarray) -> float:
    """Correlation of the query with the photo warped back into the query's frame by ``H``.

    Both are compared at the coarser of the two resolutions (an upscaled query holds no more detail
    than the photo region it came from), lightly blurred so resampling noise does not count.
    """
    h, w = query_gray.shape
    warped = cv2.warpPerspective(photo_gray, H, (w, h), flags=cv2.INTER_AREA | cv2.WARP_INVERSE_MAP)
    # Linear size of the query in the photo: compare at that size (at most the query's own).
    quad = cv2.perspectiveTransform(np.array([[[0, 0]], [[w, 0]], [[w, h]], [[0, h]]], np.float64), H)
    scale = min(1.0, (cv2.contourArea(quad.reshape(-1, 2).astype(np.float32)) / max(w * h, 1)) ** 0.5)
    sw, sh = max(8, round(w * scale)), max(8, round(h * scale))
    a = cv2.GaussianBlur(cv2.resize(query_gray, (sw, sh), interpolation=cv2.INTER_AREA).astype(np.float32), (3, 3), 0)
    b = cv2.GaussianBlur(cv2.resize(warped, (sw, sh), interpolation=cv2.INTER_AREA).astype(np.float32), (3, 3), 0)
    if a.std() < 1.0 or b.std() < 1.0:
        return 0.0
    return float(cv2.matchTemplate(b, a, cv2.TM_CCOEFF_NORMED)[0, 0])


def verify_at(
    query: Features,
    query_size: tuple[float, float],
    photo_gray: np.ndarray,
    place: Box,
    photo_scale: float,
    zoom: float | None = None,
    margin: float = ZOOM_MARGIN,
    mirrored: bool = False,
) -> Verification | None:
    """``verify`` against the photo around ``place`` (working-image pixels: where a correlation found the
    query), enlarged so the place is as large as the query frame; the result is in whole-photo terms.

    A 50 px object's keypoints in the query frame (upscaled 7x, ``local_features.query_frame``) are
    finer than any the whole photo's SIFT finds there, so its verification fails (4-12 inliers); at the
    same scale the same pixels give 16-220 (bench object crops the dense path found, docs/crop-search.md).
    ``zoom``: query-frame pixels per photo pixel, if the place is not the query's upright box (a
    turned query). The fit is a similarity (``verify``'s ``similarity``: at this size perspective is
    nil and the matches are few), its acceptance rules ``verify``'s; ``homography`` maps the query
    frame to the working image.
    """
    x0, y0, x1, y1 = place
    pw, ph = max(1.0, x1 - x0), max(1.0, y1 - y0)
    z = min(MAX_ZOOM, zoom or max(query_size[0] / pw, query_size[1] / ph)) * ZOOM_FRACTION
    rx0, ry0 = int(max(0, x0 - margin * pw)), int(max(0, y0 - margin * ph))
    rx1 = int(min(photo_gray.shape[1], x1 + margin * pw + 1))
    ry1 = int(min(photo_gray.shape[0], y1 + margin * ph + 1))
    if rx1 - rx0 < 8 or ry1 - ry0 < 8:
        return None
    size = (max(1, round((rx1 - rx0) * z)), max(1, round((ry1 - ry0) * z)))
    zoomed = cv2.resize(photo_gray[ry0:ry1, rx0:rx1], size, interpolation=cv2.INTER_CUBIC if z > 1 else cv2.INTER_AREA)
    v = verify(query, query_size, full_features(zoomed, MAX_PHOTO_KEYPOINTS), 1.0, mirrored, similarity=True)
    if v is None:
        return None
    to_photo = np.array([[1 / z, 0, rx0], [0, 1 / z, ry0], [0, 0, 1]], np.float64)
    full = (np.array(v.outline, np.float64) / z + (rx0, ry0)) * photo_scale
    outline, box = _outline_and_box(full, photo_gray.shape[1] * photo_scale, photo_gray.shape[0] * photo_scale)
    return Verification(v.inliers, v.matches, outline, box, to_photo @ v.homography, v.weak)


class CandidateImage:
    """What verifying one candidate needs: its grey working image and, made on first use, its full
    features (a tiny crop is verified at its place instead, ``verify_at``)."""

    __slots__ = ("_feats", "gray", "scale")

    def __init__(self, gray: np.ndarray, scale: float) -> None:
        self.gray = gray  # the working image the features are computed on (for ``photometric_check``)
        self.scale = scale  # full-resolution photo pixels per working-image pixel
        self._feats: Features | None = None

    @property
    def feats(self) -> Features:
        if self._feats is None:  # two threads may both compute it: the same result, no harm
            self._feats = full_features(self.gray)
        return self._feats


class PhotoFeatureCache:
    """Full features of recently verified photos (re-extraction is the costly step of a query)."""

    def __init__(self, size: int = 64) -> None:
        self._items: OrderedDict[tuple[int, str | None], CandidateImage] = OrderedDict()
        self._size, self._lock = size, threading.Lock()

    def get(self, photo: Photo, load: Callable[[Photo], Image.Image | None]) -> CandidateImage | None:
        key = (photo.id, photo.content_hash)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        img = load(photo)
        if img is None:
            return None
        g = gray(img)
        value = CandidateImage(g, (photo.width or img.width) / img.width)
        with self._lock:
            self._items[key] = value
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return value
