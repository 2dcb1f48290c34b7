"""Is photo B photo A turned by any angle (with empty corners, or straightened: turned and cropped)?

The pair comes from shared keypoints (``search.keypoint_lsh``), not from the pHash, so nothing says how B
lies on A. The stored index keypoints say it: their binary codes are matched (ratio test), and a
similarity (any angle, any scale) is fitted with RANSAC. Then the pair must pass the same second-signal
tests as every other `same` pair (``pair_verify.refine_alignment``: ECC refinement, local motion, a moved part,
edge correlation, containment), inside the part of both pictures that is picture: the empty corners a
turn leaves are masked out. A tripod re-shot of the scene fits a similarity on its keypoints too, but its
parts still move against each other, so it fails exactly where it fails on the hash path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from app.imaging.hashes import picture_mask
from app.imaging.pair_verify import (
    MIN_INLIER_RATIO,
    MIN_INLIERS,
    SAME_OVERLAP_CORRELATION,
    PairEvidence,
    pixel_correlation,
    refine_alignment,
)

RATIO = 0.8  # Lowe's ratio test on the codes' Hamming distances
RANSAC_PX = 2.0  # reprojection threshold at thumbnail size
MAX_SCALE = 4.0  # side ratio: beyond it the smaller picture has too few pixels to judge


@dataclass(frozen=True, slots=True)
class Keypoints:
    """A photo's stored index keypoints: binary codes and positions in the pixels of its thumbnail."""

    codes: np.ndarray  # (n, 32) uint8
    xy: np.ndarray  # (n, 2) float32


@dataclass(frozen=True, slots=True)
class TurnedEvidence:
    evidence: PairEvidence
    angle: float | None = None  # degrees B was turned by to lie on A (counter-clockwise), when a fit was found
    scale: float | None = None

    @property
    def how(self) -> str | None:
        """The edit in words, for the pair's reason."""
        if self.angle is None:
            return None
        parts = []
        if abs(self.angle) >= 0.5:  # keypoints also link copies the hashes missed that were never turned
            parts.append(f"turned {self.angle:.1f}°")
        if abs((self.scale or 1.0) - 1.0) > 0.02:
            parts.append(f"scaled {self.scale:.2f}x")
        return ", ".join(parts) or "matched by keypoints"


def _fit(ka: Keypoints, kb: Keypoints) -> tuple[np.ndarray | None, int, int]:
    """Similarity B -> A from the keypoints: (2x3 model or None, inliers, ratio-test matches)."""
    if len(ka.codes) < MIN_INLIERS or len(kb.codes) < MIN_INLIERS:
        return None, 0, 0
    knn = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(kb.codes, ka.codes, k=2)
    good = [m[0] for m in knn if len(m) == 2 and m[0].distance < RATIO * m[1].distance]
    if len(good) < MIN_INLIERS:
        return None, 0, len(good)
    src = np.float32([kb.xy[m.queryIdx] for m in good])
    dst = np.float32([ka.xy[m.trainIdx] for m in good])
    model, mask = cv2.estimateAffinePartial2D(
        src, dst, method=cv2.RANSAC, ransacReprojThreshold=RANSAC_PX, maxIters=4000, confidence=0.999
    )
    if model is None:
        return None, 0, len(good)
    return model, int(mask.sum()), len(good)


def verify_turned(a: np.ndarray, b: np.ndarray, ka: Keypoints, kb: Keypoints) -> TurnedEvidence:
    """Compare greyscale thumbnails ``a`` and ``b`` through their keypoints (any turn, any mild scale).

    Both ways round: a pair found by keypoints alone has no pHash agreement behind it, and the other shot
    of a scene that one direction of the alignment absorbs shows its parallax the other way (measured:
    Holidays 126400/126402, a zoom, 0.09 px one way and 0.50 px the other).
    """
    ev = _one_way(a, b, ka, kb)
    if not ev.evidence.same:
        return ev
    back = _one_way(b, a, kb, ka)
    return ev if back.evidence.same else TurnedEvidence(back.evidence, ev.angle, ev.scale)


def _one_way(a: np.ndarray, b: np.ndarray, ka: Keypoints, kb: Keypoints) -> TurnedEvidence:
    model, inliers, matches = _fit(ka, kb)
    if model is None:
        return TurnedEvidence(PairEvidence(0.0, inliers, method="geometric"))
    scale = math.hypot(model[0, 0], model[1, 0])
    # Image y points down: a positive angle here turns the picture clockwise on screen; say it as seen.
    angle = -math.degrees(math.atan2(model[1, 0], model[0, 0]))
    ev = PairEvidence(0.0, 0, method="geometric")  # no usable fit: no evidence of another shot either
    if inliers < MIN_INLIERS or inliers < MIN_INLIER_RATIO * matches or not 1 / MAX_SCALE <= scale <= MAX_SCALE:
        return TurnedEvidence(ev, angle, scale)
    valid_a, valid_b = picture_mask(a), picture_mask(b)
    h, w = a.shape
    warped = cv2.warpAffine(b, model, (w, h), flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    inside = cv2.warpAffine(valid_b.astype(np.uint8), model, (w, h), flags=cv2.INTER_NEAREST) > 0
    inside = (cv2.erode(inside.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0) & valid_a
    overlap = pixel_correlation(a[inside], warped[inside]) if inside.sum() > 100 else 0.0
    if overlap < SAME_OVERLAP_CORRELATION:
        return TurnedEvidence(PairEvidence(overlap, inliers, overlap, method="geometric"), angle, scale)
    fine = refine_alignment(a, b, model.astype(np.float32), valid_a, valid_b)
    ev = PairEvidence(overlap, inliers, overlap, fine.contained, method="geometric", **fine.evidence())
    return TurnedEvidence(ev, angle, scale)
