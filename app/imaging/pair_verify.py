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

from dataclasses import dataclass

import cv2
import numpy as np

from app.imaging.hashes import trim_box

GLOBAL_SIZE = 64
SAME_CORRELATION = 0.90  # global test: whole pictures agree pixel for pixel
SAME_OVERLAP_CORRELATION = 0.90  # geometric test: pixels agree inside the fitted overlap
MIN_INLIERS = 20
MIN_INLIER_RATIO = 0.5
MIN_COVERAGE = 0.7  # the overlap covers this much of the smaller picture (a "small" crop)
MAX_ROTATION_DEG = 2.0
SAME_DETAIL = 0.90  # edge correlation at thumbnail detail after the fine alignment
MAX_RESIDUAL_MOTION = 3.0  # px at thumbnail size: non-similarity motion the fine alignment needed


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

    @property
    def same(self) -> bool:
        fine = (self.detail or 0.0) >= SAME_DETAIL and (self.residual_motion or 0.0) <= MAX_RESIDUAL_MOTION
        if self.method == "global":
            return self.correlation >= SAME_CORRELATION and fine
        return (
            self.inliers >= MIN_INLIERS
            and (self.overlap_correlation or 0.0) >= SAME_OVERLAP_CORRELATION
            and (self.coverage or 0.0) >= MIN_COVERAGE
            and fine
        )


def dihedral(pixels: np.ndarray, variant: int) -> np.ndarray:
    """The image as ``imaging.hashes.PHASH_KINDS[variant]`` hashes it (0-3 rotations, 4-7 mirrored)."""
    if variant >= 4:
        pixels = pixels[:, ::-1]
    return np.ascontiguousarray(np.rot90(pixels, variant % 4))


def _trimmed(gray: np.ndarray) -> np.ndarray:
    x0, y0, x1, y1 = trim_box(gray)
    return gray[y0:y1, x0:x1]


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(np.float32).ravel(), b.astype(np.float32).ravel()
    a, b = a - a.mean(), b - b.mean()
    denom = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / denom) if denom > 1e-6 else 0.0


def _small(gray: np.ndarray) -> np.ndarray:
    return cv2.resize(gray, (GLOBAL_SIZE, GLOBAL_SIZE), interpolation=cv2.INTER_AREA)


def verify_pair(a: np.ndarray, b: np.ndarray, variant: int = 0, geometric: bool = True) -> PairEvidence:
    """Compare greyscale uint8 images ``a`` and ``b``; ``variant`` is the dihedral turn that maps B onto A.

    ``geometric`` runs the crop test when the global one fails (variants >= 8 are crops: no turn).
    """
    a = _trimmed(a)
    b = _trimmed(dihedral(b, variant) if variant < 8 else b)
    corr = _correlation(_small(a), _small(b))
    if corr < SAME_CORRELATION:
        return _geometric(a, b, corr) if geometric else PairEvidence(corr)
    scale = np.float32([[a.shape[1] / b.shape[1], 0, 0], [0, a.shape[0] / b.shape[0], 0]])
    detail, motion, shift = _refined(a, b, scale)
    ev = PairEvidence(corr, detail=detail, residual_motion=motion)
    if ev.same or not geometric or shift <= MAX_RESIDUAL_MOTION:
        return ev
    return _geometric(a, b, corr)  # whole pictures agree but are shifted: a crop, or another shot


def _edges(gray: np.ndarray) -> np.ndarray:
    g = cv2.GaussianBlur(gray.astype(np.float32), (0, 0), 1.0)
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)
    return cv2.magnitude(gx, gy)


def _refined(a: np.ndarray, b: np.ndarray, model: np.ndarray) -> tuple[float, float, float]:
    """Warp B onto A by ``model``, refine with ECC (affine), and say how well the edges then agree.

    Returns (edge correlation inside the overlap, non-similarity motion ECC needed in pixels, shift it needed).
    The same picture is already aligned by a similarity: ECC adds ~nothing and edges agree to ~0.99. Another
    shot of the scene needs shear/anisotropic motion (parallax, a turned camera) or keeps disagreeing edges.
    """
    h, w = a.shape
    warped = cv2.warpAffine(b, model, (w, h), flags=cv2.INTER_LINEAR)
    inside = cv2.warpAffine(np.full(b.shape, 255, np.uint8), model, (w, h), flags=cv2.INTER_NEAREST)
    fine = np.eye(2, 3, dtype=np.float32)
    try:
        criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 1e-4)
        _, fine = cv2.findTransformECC(
            a.astype(np.float32), warped.astype(np.float32), fine, cv2.MOTION_AFFINE, criteria, None, 3
        )
    except cv2.error:
        pass  # did not converge: judge the coarse alignment
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    warped = cv2.warpAffine(warped, fine, (w, h), flags=flags)
    inside = cv2.warpAffine(inside, fine, (w, h), flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP) > 0
    inside = cv2.erode(inside.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    if inside.sum() < 100:
        return 0.0, float("inf"), float("inf")
    detail = _correlation(_edges(a)[inside], _edges(warped)[inside])
    size = max(h, w)
    motion = float(abs(fine[0, 0] - fine[1, 1]) + abs(fine[0, 1] + fine[1, 0])) * size
    shift = float(np.hypot(fine[0, 2], fine[1, 2]))
    return detail, motion, shift


_orb = None


def _features(gray: np.ndarray) -> tuple[list, np.ndarray | None]:
    global _orb
    if _orb is None:
        _orb = cv2.ORB_create(nfeatures=600, fastThreshold=10)
    return _orb.detectAndCompute(gray, None)


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
    overlap = _correlation(a[inside], warped[inside]) if covered > 100 else 0.0
    detail, motion = 0.0, None
    if covered > 100 and overlap >= SAME_OVERLAP_CORRELATION:
        detail, motion, _ = _refined(a, b, model.astype(np.float32))
    return PairEvidence(
        corr, inliers, overlap, min(coverage, 1.0), method="geometric", detail=detail, residual_motion=motion
    )
