"""Is photo B the same picture as photo A? The second signal that confirms a pHash candidate pair.

Works on small greyscale images (the cached thumbnails) and needs no model weights:

* **global**: B is turned by the dihedral transform the hashes matched, both are border-trimmed and
  compared pixel by pixel (Pearson correlation of 64x64 versions, so brightness/contrast edits cancel).
  Resizes, re-encodes, colour edits, mirrors, rotations, borders and small watermarks keep it high;
  another shot of the same scene does not (things move, the camera moves).
* **geometric**: when the pair differs by a crop the global test cannot align them, so ORB features are
  matched and a similarity transform (scale + shift, no rotation once the dihedral turn is undone) is fitted
  with RANSAC. The same picture fits it to sub-pixel precision over its whole overlap; another shot
  of a scene has parallax and fails either the fit or the pixel correlation inside the overlap.

The crop-search feature has its own, heavier local-feature matcher; this one is deliberately small and
self-contained (the lead may unify them).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace

import cv2
import numpy as np

from app.imaging.hashes import picture_mask, trim_box
from app.imaging.local_motion import LocalMotion, local_motion, tone_fit

VERSION = 3  # of the verdict: stored verdicts of another version are checked again
GLOBAL_SIZE = 64
SAME_CORRELATION = 0.90  # global test: whole pictures agree pixel for pixel
SAME_OVERLAP_CORRELATION = 0.90  # geometric test: pixels agree inside the fitted overlap
MIN_INLIERS = 20
MIN_INLIER_RATIO = 0.5
MAX_ROTATION_DEG = 2.0
SAME_DETAIL = 0.90  # edge correlation at thumbnail detail after the fine alignment
MAX_RESIDUAL_MOTION = 3.0  # px at thumbnail size: non-similarity motion the fine alignment needed
MAX_LOCAL_MOTION = 0.11  # px at working size: parts of the picture off the one affine alignment
MAX_MOVED = 0.75  # px: a part of the picture that moved as a whole (an object, not an edit)
MAX_EDITED = 0.25  # fraction of the picture an edit may have painted over (a watermark, a caption)
_REALIGN_STEPS = 2
_PARTS_BLUR = 1.5  # px: reach of the moved-part check (a part shifted by a pixel or two)
MIN_CONTAINED = 0.97  # a crop lies inside the other picture (another framing sticks out of it)
# A pair that passes with this much local motion is checked the other way round too (B as the reference):
# copies sit at 0.03 px (median), and the direction alone moved other shots by 0.02-0.4 px across the limit.
SECOND_OPINION = 0.06
_INVERSE = (0, 3, 2, 1, 4, 5, 6, 7)  # dihedral variant undoing each one (mirrored ones undo themselves)


@dataclass(frozen=True, slots=True)
class PairEvidence:
    """What the pixels say about a candidate pair; ``same`` is the verdict."""

    correlation: float  # global, after undoing the matched dihedral transform
    inliers: int = 0  # geometric fit (0 when it was not needed or failed)
    overlap_correlation: float | None = None
    coverage: float | None = None
    method: str = "global"  # "global" or "geometric"
    detail: float | None = None  # edge correlation at full thumbnail detail (camera moved: low)

    residual_motion: float | None = None  # pixels the fine alignment had to add (0 for the same picture)
    local_motion: float | None = None  # px: parts of the picture off the alignment (see imaging.local_motion)
    edited: float | None = None  # fraction of the picture whose difference is no displacement
    moved: float | None = None  # px: the largest move of one part of the picture against the rest

    @property
    def same(self) -> bool:
        return self.why_not is None

    @property
    def why_not(self) -> str | None:
        """Why the pair is not the same picture, in words (None when it is)."""
        if self.method == "global" and self.correlation < SAME_CORRELATION:
            return f"pixels differ (correlation {self.correlation:.2f})"
        if self.method == "geometric":
            if self.inliers < MIN_INLIERS:
                return "no geometric fit"
            if (self.overlap_correlation or 0.0) < SAME_OVERLAP_CORRELATION:
                return f"pixels differ where they overlap (correlation {self.overlap_correlation or 0:.2f})"
            if (self.coverage or 0.0) < MIN_CONTAINED:
                return f"another framing: only {self.coverage or 0:.0%} of the smaller picture lies inside the other"
        if self.local_motion is None:
            return "too little texture to tell another shot from a copy"
        if self.local_motion > MAX_LOCAL_MOTION:
            return f"another shot: parts of the scene moved against the rest ({self.local_motion:.2f} px)"
        if (self.moved or 0.0) > MAX_MOVED:
            return f"another shot: a part of the picture moved ({self.moved:.1f} px)"
        if (self.residual_motion or 0.0) > MAX_RESIDUAL_MOTION:
            return f"another shot: the camera moved ({self.residual_motion:.1f} px of shear/perspective)"
        if (self.detail or 0.0) < SAME_DETAIL:
            return f"another shot: details differ after alignment (edge correlation {self.detail or 0:.2f})"
        if (self.edited or 0.0) > MAX_EDITED:
            return f"another shot: {self.edited:.0%} of the picture changed"
        return None


def dihedral(pixels: np.ndarray, variant: int) -> np.ndarray:
    """The image as ``imaging.hashes.PHASH_KINDS[variant]`` hashes it (0-3 rotations, 4-7 mirrored)."""
    if variant >= 4:
        pixels = pixels[:, ::-1]
    return np.ascontiguousarray(np.rot90(pixels, variant % 4))


def _trimmed(gray: np.ndarray) -> np.ndarray:
    x0, y0, x1, y1 = trim_box(gray)
    return gray[y0:y1, x0:x1]


def pixel_correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(np.float32).ravel(), b.astype(np.float32).ravel()
    a, b = a - a.mean(), b - b.mean()
    denom = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / denom) if denom > 1e-6 else 0.0


def _small(gray: np.ndarray) -> np.ndarray:
    return cv2.resize(gray, (GLOBAL_SIZE, GLOBAL_SIZE), interpolation=cv2.INTER_AREA)


def verify_both_ways(a: np.ndarray, b: np.ndarray, variant: int = 0) -> PairEvidence:
    """:func:`verify_pair`, and when it passes near the local-motion limit, again with B as the reference.

    Both are the same exposure or neither is: a tripod re-shot whose parallax one direction of the
    alignment happens to absorb shows it the other way (measured: Holidays 128300/128301 0.110 / 0.142 px).
    """
    ev = verify_pair(a, b, variant)
    if not ev.same or (ev.local_motion or 0.0) <= SECOND_OPINION:
        return ev
    back = verify_pair(b, a, _INVERSE[variant] if variant < 8 else variant)
    return ev if back.same else back


def verify_pair(a: np.ndarray, b: np.ndarray, variant: int = 0, geometric: bool = True) -> PairEvidence:
    """Compare greyscale uint8 images ``a`` and ``b``; ``variant`` is the dihedral turn that maps B onto A.

    ``geometric`` runs the crop test when the global one fails (variants >= 8 are crops: no turn).
    """
    a = _trimmed(a)
    b = _trimmed(dihedral(b, variant) if variant < 8 else b)
    corr = pixel_correlation(_small(a), _small(b))
    if corr < SAME_CORRELATION:
        return _geometric(a, b, corr) if geometric else PairEvidence(corr)
    scale = np.float32([[a.shape[1] / b.shape[1], 0, 0], [0, a.shape[0] / b.shape[0], 0]])
    fine = refine_alignment(a, b, scale, *_empty_corners(a, b))
    ev = PairEvidence(corr, **fine.evidence())
    if ev.same or not geometric or fine.shift <= MAX_RESIDUAL_MOTION:
        return ev
    return _geometric(a, b, corr)  # whole pictures agree but are shifted: a crop, or another shot


def _edges(gray: np.ndarray) -> np.ndarray:
    g = cv2.GaussianBlur(gray.astype(np.float32), (0, 0), 1.0)
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)
    return cv2.magnitude(gx, gy)


@dataclass(frozen=True, slots=True)
class _Fine:
    detail: float
    motion: float
    shift: float
    local: LocalMotion | None
    contained: float

    def evidence(self) -> dict[str, float | None]:
        return {
            "detail": self.detail,
            "residual_motion": self.motion,
            "local_motion": self.local.motion if self.local else None,
            "edited": self.local.edited if self.local else None,
            "moved": self.local.moved if self.local else None,
        }


_NO_FINE = _Fine(0.0, float("inf"), float("inf"), None, 0.0)


def _working(a: np.ndarray, b: np.ndarray, model: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Both pictures at the resolution of the smaller one (no detail is invented by upsampling), and the
    model mapping B onto A there."""
    model = model.astype(np.float64)
    scale = float(np.sqrt(abs(np.linalg.det(model[:, :2])))) or 1.0  # B px -> A px
    if scale > 1.0:  # B is the smaller: shrink A to it
        a, (sx, sy) = _shrunk(a, 1.0 / scale)
        model = np.diag([sx, sy]) @ model
    elif scale < 0.999:  # A is the smaller: shrink B by area, so the warp only shifts
        b, (sx, sy) = _shrunk(b, scale)
        model = model @ np.diag([1 / sx, 1 / sy, 1.0])
    return a, b, model.astype(np.float32)


def _shrunk(gray: np.ndarray, f: float) -> tuple[np.ndarray, tuple[float, float]]:
    h, w = gray.shape
    size = (max(8, round(w * f)), max(8, round(h * f)))
    return cv2.resize(gray, size, interpolation=cv2.INTER_AREA), (size[0] / w, size[1] / h)


def refine_alignment(
    a: np.ndarray,
    b: np.ndarray,
    model: np.ndarray,
    valid_a: np.ndarray | None = None,
    valid_b: np.ndarray | None = None,
) -> _Fine:
    """Warp B onto A by ``model``, refine with ECC (affine), and measure what is left.

    The same picture is already aligned by a similarity: ECC adds ~nothing, edges agree to ~0.99 and no part
    of the picture moves against the rest (``local_motion``). Another shot of the scene needs shear or
    perspective (a turned camera), keeps disagreeing edges, or moves in parts (parallax, a subject, leaves).
    ``valid_a``/``valid_b`` (bool, each picture's shape) leave out what is no picture: the empty corners
    of a turned copy.
    """
    a, b, model = _working(a, b, model)
    h, w = a.shape
    af, bf = a.astype(np.float32), b.astype(np.float32)
    frame = np.full(b.shape, 255, np.uint8)
    if valid_b is not None:
        frame = cv2.resize(valid_b.astype(np.uint8) * 255, (b.shape[1], b.shape[0]), interpolation=cv2.INTER_NEAREST)
    own = np.ones(a.shape, bool)
    if valid_a is not None:
        own = cv2.resize(valid_a.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0
        own = cv2.erode(own.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0

    def warp(a_to_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # One interpolation from B's own pixels, however many corrections were composed.
        m = a_to_b[:2].astype(np.float32)
        warped = cv2.warpAffine(bf, m, (w, h), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP)
        inside = cv2.warpAffine(frame, m, (w, h), flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP)
        return warped, (cv2.erode(inside, np.ones((7, 7), np.uint8)) > 0) & own

    coarse = np.linalg.inv(_h(model))
    warped, inside = warp(coarse)
    if inside.sum() < 100:
        return _NO_FINE
    # With empty corners, ECC must not fit them (the plain path keeps its unmasked first fit).
    fine = _ecc(af, warped, None if valid_a is None and valid_b is None else inside)
    # ECC fits every pixel, so a painted-over area pulls it: fit again without the pixels that disagree.
    agree = _agreeing(af, warp(coarse @ _h(fine))[0], inside)
    if agree is not None:
        fine = _ecc(af, warped, agree, fine)
    a_to_b = coarse @ _h(fine)
    warped, inside = warp(a_to_b)
    if inside.sum() < 100:
        return _NO_FINE
    # Position is judged where the pictures agree: a watermark or caption says nothing about it.
    agree = _agreeing(af, warped, inside)
    agree = inside if agree is None else agree
    local = local_motion(af, warped, agree)
    for _ in range(_REALIGN_STEPS):  # Lucas-Kanade steps on the tiles that only moved
        if local is None or local.field is None:
            break
        a_to_b = a_to_b @ _h(local.correction())
        warped, inside = warp(a_to_b)
        local = local_motion(af, warped, agree & inside)
    # Over every pixel: a part whose whole difference is a shift moved (an object); the rest was painted.
    motion = float(abs(fine[0, 0] - fine[1, 1]) + abs(fine[0, 1] + fine[1, 0])) * max(h, w)
    shift = float(np.hypot(fine[0, 2], fine[1, 2]))
    contained = _contained(a.shape, b.shape, model, fine)
    if local is None or local.motion > MAX_LOCAL_MOTION:  # another shot already: spare the finer checks
        return _Fine(pixel_correlation(_edges(af)[inside], _edges(warped)[inside]), motion, shift, local, contained)
    # A part moved when a shift explains its difference from either picture's own edges (an edge painted
    # into one picture is explained only by that picture's gradient).
    parts = local_motion(af, warped, inside, blur=_PARTS_BLUR, gradient="a")
    parts_b = local_motion(af, warped, inside, blur=_PARTS_BLUR, gradient="b")
    if parts is not None:
        moved = min(parts.moved, parts_b.moved) if parts_b is not None else parts.moved
        local = replace(local, moved=moved, edited=parts.edited, edited_tiles=parts.edited_tiles)
    keep = inside
    if local is not None and local.edited_tiles is not None:
        edited = cv2.resize(local.edited_tiles.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST)
        keep = inside & (edited == 0)
    detail = pixel_correlation(_edges(af)[keep], _edges(warped)[keep]) if keep.sum() >= 100 else 0.0
    return _Fine(detail, motion, shift, local, contained)


def _h(m: np.ndarray) -> np.ndarray:
    return np.vstack([m.astype(np.float64), [0.0, 0.0, 1.0]])


def _ecc(a: np.ndarray, warped: np.ndarray, mask: np.ndarray | None, start: np.ndarray | None = None) -> np.ndarray:
    """ECC's affine refinement (inverse map of ``warped`` onto ``a``); ``start`` when it does not converge."""
    start = np.eye(2, 3, dtype=np.float32) if start is None else start
    fine = start.copy()
    try:
        criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 1e-4)
        m = None if mask is None else mask.astype(np.uint8)
        _, fine = cv2.findTransformECC(a, warped, fine, cv2.MOTION_AFFINE, criteria, m, 3)
    except cv2.error:
        fine = start  # did not converge: judge the alignment we had
    return fine


def _agreeing(a: np.ndarray, warped: np.ndarray, inside: np.ndarray) -> np.ndarray | None:
    """Pixels where the aligned pictures agree after a tone fit; None when they agree everywhere."""
    gain, offset = tone_fit(warped[inside], a[inside])
    diff = cv2.GaussianBlur(np.abs(a - (warped * gain + offset)), (0, 0), 2.0)
    typical = float(np.median(diff[inside]))
    agree = inside & (diff <= 4 * typical + 1.0)
    return agree if agree.sum() < 0.98 * inside.sum() and agree.sum() > 0.5 * inside.sum() else None


def _contained(a_shape: tuple[int, ...], b_shape: tuple[int, ...], model: np.ndarray, fine: np.ndarray) -> float:
    """How much of the smaller picture lies inside the other once B is aligned onto A (1.0 for a crop)."""
    full = np.linalg.inv(_h(fine)) @ _h(model)
    bh, bw = b_shape
    corners = np.array([[0, 0, 1], [bw, 0, 1], [0, bh, 1], [bw, bh, 1]], np.float64) @ full[:2].T
    (x0, y0), (x1, y1) = corners.min(0), corners.max(0)
    h, w = a_shape
    inter = max(0.0, min(x1, w) - max(x0, 0)) * max(0.0, min(y1, h) - max(y0, 0))
    return inter / max(min(w * h, (x1 - x0) * (y1 - y0)), 1.0)


_local = threading.local()  # one ORB detector per thread (pairs are checked on several threads)


def _features(gray: np.ndarray) -> tuple[list, np.ndarray | None]:
    orb = getattr(_local, "orb", None)
    if orb is None:
        orb = _local.orb = cv2.ORB_create(nfeatures=600, fastThreshold=10)
    return orb.detectAndCompute(gray, None)


def _geometric(a: np.ndarray, b: np.ndarray, corr: float) -> PairEvidence:
    # Work at one scale so ORB sees comparable detail in both.
    scale = 320 / max(max(a.shape), max(b.shape), 1)
    if scale < 1:
        a = cv2.resize(a, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        b = cv2.resize(b, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    ka, da = _features(a)
    kb, db = _features(b)
    if da is None or db is None or len(ka) < MIN_INLIERS or len(kb) < MIN_INLIERS:
        return PairEvidence(corr, method="geometric")
    matches = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True).match(db, da)
    if len(matches) < MIN_INLIERS:
        return PairEvidence(corr, method="geometric")
    src = np.float32([kb[m.queryIdx].pt for m in matches])
    dst = np.float32([ka[m.trainIdx].pt for m in matches])
    model, mask = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=2.0)
    if model is None:
        return PairEvidence(corr, method="geometric")
    inliers = int(mask.sum())
    angle = abs(np.degrees(np.arctan2(model[1, 0], model[0, 0])))
    if inliers < MIN_INLIERS or inliers < MIN_INLIER_RATIO * len(matches) or angle > MAX_ROTATION_DEG:
        return PairEvidence(corr, inliers, method="geometric")
    h, w = a.shape
    warped = cv2.warpAffine(b, model, (w, h), flags=cv2.INTER_AREA, borderValue=0)
    inside = cv2.warpAffine(np.full(b.shape, 255, np.uint8), model, (w, h), flags=cv2.INTER_NEAREST) > 0
    inside = cv2.erode(inside.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    covered = float(inside.sum())
    coverage = covered / min(a.size, b.size * float(abs(np.linalg.det(model[:, :2]))) or 1.0)
    overlap = pixel_correlation(a[inside], warped[inside]) if covered > 100 else 0.0
    if covered <= 100 or overlap < SAME_OVERLAP_CORRELATION:
        return PairEvidence(corr, inliers, overlap, min(coverage, 1.0), method="geometric")
    fine = refine_alignment(a, b, model.astype(np.float32), *_empty_corners(a, b))
    return PairEvidence(corr, inliers, overlap, fine.contained, method="geometric", **fine.evidence())


def _empty_corners(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Picture masks of A and B when either has the empty corners of a turn (None, None otherwise).

    Two other shots turned alike share the edges of their empty corners exactly: counted as picture, those
    edges would pass for a part of the scene that did not move."""
    va, vb = picture_mask(a), picture_mask(b)
    return (None, None) if va.all() and vb.all() else (va, vb)
