"""Candidate photos for a crop: descriptor votes that must agree on one similarity transform.

A tiny crop (a 50 px COCO object) holds only a handful of its photo's index keypoints, so counting
matched codes per photo drowns those few true matches in chance matches spread over the library.
But each match also predicts *where* the crop sits: the two keypoints' orientations and sizes give
the rotation and scale from the query to the photo, and with the positions, where the query's centre
lands. True matches agree on that (rotation, scale, centre); chance ones scatter. So every match
votes into a bin of those four numbers (Hough transform, Lowe 2004; "weak geometric consistency",
Jégou et al. 2008, with the position added), soft-assigned to the two nearest bins in each dimension,
and a photo scores its best bin.

Match weights: closer codes count more (Gaussian in Hamming distance); a query keypoint that matches
many different pictures counts less (divided by the square root of their number, where photos
matched at the same distance, within 2 bits, are copies of one picture: byte-identical copies and
burst frames neither cancel nor dilute each other); a stored keypoint matched by several query
keypoints counts once in total (burstiness).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ANGLE_BINS = 12  # 30 degrees
LOG2_SCALE_BIN = 1.0  # an octave
POSITION_BIN = 0.25  # of the query's longest side as it appears in the photo
MIN_POSITION_BIN = 8.0  # working-image pixels


@dataclass(slots=True)
class Candidate:
    photo_id: int
    votes: float
    # Where the best bin's matches put the query: centre x, y in working-image pixels, scale (working
    # pixels per query-frame pixel) and rotation (radians); their weighted mean. None: not from a vote.
    place: tuple[float, float, float, float] | None = None


def _first_per_group(keys: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Indices (into the original arrays) of the first element of each run of equal keys in ``order``."""
    k = keys[order]
    first = np.ones(len(order), bool)
    first[1:] = k[1:] != k[:-1]
    return order[first]


def hough_vote(
    distances: np.ndarray,
    photo_ids: np.ndarray,
    rows: np.ndarray,
    geometry: np.ndarray,
    query_xy: np.ndarray,
    query_shape: np.ndarray,
    query_size: tuple[float, float],
    max_hamming: int,
    exclude: frozenset[int] = frozenset(),
) -> list[Candidate]:
    """Photos by their best transform bin, best first.

    ``distances``, ``photo_ids``, ``rows`` are (n, k) neighbours of the n query codes, ``geometry``
    their (n, k, 4) x, y, angle, size; ``query_xy`` (n, 2) and ``query_shape`` (n, 2: angle, size)
    describe the query keypoints in a frame of ``query_size`` pixels.
    """
    ok = (photo_ids >= 0) & (distances <= max_hamming)
    if exclude:
        ok &= ~np.isin(photo_ids, np.fromiter(exclude, np.int64))
    qi, col = np.nonzero(ok)
    if len(qi) == 0:
        return []
    pid = photo_ids[qi, col].astype(np.int64)
    d = distances[qi, col].astype(np.float64)
    # One match per (query keypoint, photo): its nearest code.
    keep = _first_per_group(qi * (int(pid.max()) + 1) + pid, np.lexsort((d, pid, qi)))
    qi, col, pid, d = qi[keep], col[keep], pid[keep], d[keep]
    w = np.exp(-((d / (max_hamming / 2)) ** 2))
    # Distinct pictures per query keypoint (arrays are sorted by query keypoint, then photo).
    by_q = np.lexsort((d, qi))
    qs, ds = qi[by_q], d[by_q]
    new_picture = np.ones(len(by_q), bool)
    new_picture[1:] = (qs[1:] != qs[:-1]) | (ds[1:] - ds[:-1] > 2)
    pictures = np.bincount(qs, new_picture.astype(np.float64), minlength=len(query_xy))
    w /= np.sqrt(pictures[qi])
    stored = rows[qi, col]
    _, inverse, counts = np.unique(stored, return_inverse=True, return_counts=True)
    w /= counts[inverse]
    # The similarity transform each match predicts: rotation, log-scale, where the query centre lands.
    p = geometry[qi, col].astype(np.float64)
    q_xy, q_shape = query_xy[qi].astype(np.float64), query_shape[qi].astype(np.float64)
    turn = np.deg2rad((p[:, 2] - q_shape[:, 0]) % 360.0)
    scale = p[:, 3] / np.maximum(q_shape[:, 1], 1e-3)
    # OpenCV's keypoint angles turn the same way as image coordinates (clockwise on screen, y down).
    c, s = np.cos(turn), np.sin(turn)
    vx, vy = query_size[0] / 2 - q_xy[:, 0], query_size[1] / 2 - q_xy[:, 1]
    cx = p[:, 0] + scale * (c * vx - s * vy)
    cy = p[:, 1] + scale * (s * vx + c * vy)
    cell = np.maximum(POSITION_BIN * scale * max(query_size), MIN_POSITION_BIN)
    coords = (turn / (2 * np.pi) * ANGLE_BINS, np.log2(scale) / LOG2_SCALE_BIN, cx / cell, cy / cell)
    lows = [np.floor(v - 0.5).astype(np.int64) for v in coords]
    keys, weights = [], []
    for corner in range(16):  # the two nearest bins in each of the four dimensions
        da, ds_, dx, dy = (corner >> 3) & 1, (corner >> 2) & 1, (corner >> 1) & 1, corner & 1
        a = (lows[0] + da) % ANGLE_BINS
        sb = np.clip(lows[1] + ds_ + 32, 0, 63)
        xb = (lows[2] + dx) % 4096
        yb = (lows[3] + dy) % 4096
        keys.append((((pid * ANGLE_BINS + a) * 64 + sb) * 4096 + xb) * 4096 + yb)
        weights.append(w)
    uniq, inv = np.unique(np.concatenate(keys), return_inverse=True)
    weights_all = np.concatenate(weights)
    sums = np.bincount(inv, weights_all)
    owner = uniq // (ANGLE_BINS * 64 * 4096 * 4096)
    best = _first_per_group(owner, np.lexsort((-sums, owner)))
    order = best[np.argsort(-sums[best], kind="stable")]
    # The place each bin's matches agree on (turns averaged as unit vectors: 350 and 10 degrees are close).
    px, py, ps, pc, pss = (
        np.bincount(inv, weights_all * np.tile(v, 16))[order] / np.maximum(sums[order], 1e-12)
        for v in (cx, cy, np.log2(scale), c, s)
    )
    turns = np.arctan2(pss, pc)
    return [
        Candidate(int(owner[i]), float(sums[i]), (float(px[j]), float(py[j]), float(2 ** ps[j]), float(turns[j])))
        for j, i in enumerate(order)
    ]
