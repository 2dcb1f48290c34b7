"""Local features for crop search: SIFT keypoints, RootSIFT descriptors and compact binary codes.

Two uses with different budgets:

* **Index codes** (fast pass, stored): several hundred keypoints of the working image, chosen to be
  spread over the whole photo (so a small crop anywhere still holds some), each reduced to a binary
  code (sign of a fixed random projection of the centred RootSIFT) plus its geometry (position,
  orientation, size: 6 bytes). Hamming distance between codes approximates the angle between
  descriptors; the geometry lets the vote keep only matches that agree on one similarity transform.
* **Full features** (query time): every keypoint of the query and of a candidate photo, with float
  RootSIFT descriptors, for the ratio-test matching that feeds the RANSAC homography.

SIFT over ORB: ORB found the right photo for 0.20 of small crops against SIFT's 0.73 in the
prototype, and binary ORB descriptors are not rotation-and-scale stable enough for rescaled crops.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

CODE_BITS = 256
CODE_BYTES = CODE_BITS // 8
INDEX_KEYPOINTS = 450  # per photo: 450 x (32 + 8) bytes = 18 KB at most; 17.2-17.5 KB of SQLite pages measured
_GRID = 8  # index keypoints are picked round-robin from an 8x8 grid of cells
CONTRAST = 0.02  # half of SIFT's default: low-texture areas (walls, grass) still yield keypoints
QUERY_MIN_SIDE = 360  # small query crops are upscaled so SIFT sees their detail
QUERY_MAX_SIDE = 1024
MAX_QUERY_KEYPOINTS = 1500
MAX_PHOTO_KEYPOINTS = 4000

_rng = np.random.default_rng(20240517)
# Fixed for all time: stored codes depend on it. Changing it needs a new features version.
_PROJECTION = _rng.standard_normal((128, CODE_BITS)).astype(np.float32)
FEATURES_VERSION = "sift256-v2"  # v2: 450 keypoints with orientation, size and vocabulary cell

_local = None

# Coarse vocabulary (binary k-means centroids, ``benchmarks/train_crop_vocabulary.py``): each index
# keypoint stores its nearest centroid, the IVF list a large library files it under. Part of the
# features version: new centroids mean new cells.
VOCABULARY_CELLS = 2048
_bundle = getattr(sys, "_MEIPASS", None)
VOCABULARY_PATH = (
    (Path(_bundle) if _bundle else Path(__file__).resolve().parents[2]) / "resources" / "crop_vocabulary.npy"
)
_vocabulary: np.ndarray | None = None


def vocabulary() -> np.ndarray | None:
    """The (cells, CODE_BYTES) centroids, or None if the file is missing (large libraries then scan flat)."""
    global _vocabulary
    if _vocabulary is None and VOCABULARY_PATH.exists():
        v = np.load(VOCABULARY_PATH)
        if v.shape == (VOCABULARY_CELLS, CODE_BYTES) and v.dtype == np.uint8:
            _vocabulary = v
    return _vocabulary


def vocabulary_cells(codes: np.ndarray) -> np.ndarray:
    """Nearest vocabulary centroid of each code (all 0 without a vocabulary)."""
    vocab = vocabulary()
    if vocab is None or len(codes) == 0:
        return np.zeros(len(codes), np.int64)
    matches = cv2.BFMatcher(cv2.NORM_HAMMING).match(np.ascontiguousarray(codes), vocab)
    out = np.zeros(len(codes), np.int64)
    for m in matches:
        out[m.queryIdx] = m.trainIdx
    return out


def _sift() -> cv2.SIFT:
    # cv2 objects are not documented thread-safe; one per thread costs nothing.
    import threading

    global _local
    if _local is None:
        _local = threading.local()
    s = getattr(_local, "sift", None)
    if s is None:
        s = cv2.SIFT_create(contrastThreshold=CONTRAST)
        _local.sift = s
    return s


@dataclass(slots=True)
class IndexFeatures:
    """What the fast pass stores for one photo: codes and positions in working-image pixels."""

    codes: np.ndarray  # (n, CODE_BYTES) uint8
    # (n, 5) float32: x, y (working-image pixels), angle (degrees), size (pixels), vocabulary cell
    xy: np.ndarray
    scale: float  # photo pixels per working-image pixel


@dataclass(slots=True)
class Features:
    """Full features of an image: positions in ``image`` pixels and RootSIFT descriptors."""

    xy: np.ndarray  # (n, 2) float32
    desc: np.ndarray  # (n, 128) float32, RootSIFT
    size: tuple[int, int]  # (width, height) of the image they were computed on
    shape: np.ndarray | None = None  # (n, 2) float32: keypoint angle (degrees) and size (pixels)

    def __len__(self) -> int:
        return len(self.xy)


def gray(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("L"))


def root_sift(desc: np.ndarray) -> np.ndarray:
    """Hellinger-kernel SIFT (Arandjelović & Zisserman 2012): L1-normalise, square root."""
    d = desc.astype(np.float32)
    d /= np.maximum(d.sum(axis=1, keepdims=True), 1e-7)
    return np.sqrt(d)


def binary_codes(rootsift: np.ndarray) -> np.ndarray:
    """256-bit codes: signs of a random projection of each centred descriptor (cosine LSH)."""
    if len(rootsift) == 0:
        return np.zeros((0, CODE_BYTES), np.uint8)
    centred = rootsift - rootsift.mean(axis=1, keepdims=True)
    return np.packbits(centred @ _PROJECTION > 0, axis=1)


def _spread(keypoints: list, width: int, height: int, n: int) -> list:
    """Up to ``n`` keypoints, strongest first within each grid cell, cells taken in turn.

    Always in that order, so the first k of the result are what ``n = k`` would have picked. Vectorised:
    SIFT finds thousands of keypoints on a plain photo and a Python loop over them holds the GIL, which the
    window (indexing runs in its process) feels as a stall.
    """
    if not keypoints:
        return []
    pts = cv2.KeyPoint_convert(keypoints)
    response = np.fromiter((k.response for k in keypoints), np.float64, len(keypoints))
    cx = np.minimum(_GRID - 1, (pts[:, 0] * _GRID / width).astype(np.int64))
    cy = np.minimum(_GRID - 1, (pts[:, 1] * _GRID / height).astype(np.int64))
    by_response = np.argsort(-response, kind="stable")
    cell = (cy * _GRID + cx)[by_response]
    # Cells are visited in the order their strongest keypoint appears; depth = rank within the cell.
    cells, first = np.unique(cell, return_index=True)
    cell_turn = np.empty(_GRID * _GRID, np.int64)
    cell_turn[cells] = first
    grouped = np.argsort(cell, kind="stable")
    group_start = np.searchsorted(cell[grouped], cell[grouped], side="left")
    depth = np.empty(len(cell), np.int64)
    depth[grouped] = np.arange(len(cell)) - group_start
    picked = by_response[np.lexsort((cell_turn[cell], depth))[:n]]
    return [keypoints[i] for i in picked]


def index_features(
    image: Image.Image, photo_width: int, n: int = INDEX_KEYPOINTS, with_cells: bool = True
) -> IndexFeatures:
    """Compact codes of the working image (the fast pass's one decoded image)."""
    g = gray(image)
    sift = _sift()
    kps = sift.detect(g, None)
    kps = _spread(kps, g.shape[1], g.shape[0], n)
    if kps:
        kps, desc = sift.compute(g, kps)
    if not kps or desc is None:
        return IndexFeatures(np.zeros((0, CODE_BYTES), np.uint8), np.zeros((0, 5), np.float32), 1.0)
    codes = binary_codes(root_sift(desc))
    cells = vocabulary_cells(codes) if with_cells else np.zeros(len(codes))
    xy = np.array([(*k.pt, k.angle, k.size, c) for k, c in zip(kps, cells, strict=True)], np.float32)
    return IndexFeatures(codes, xy, photo_width / g.shape[1])


def full_features(image: Image.Image | np.ndarray, max_keypoints: int = MAX_PHOTO_KEYPOINTS) -> Features:
    """Every keypoint (strongest ``max_keypoints``) with RootSIFT descriptors."""
    g = image if isinstance(image, np.ndarray) else gray(image)
    kps, desc = _sift().detectAndCompute(g, None)
    size = (g.shape[1], g.shape[0])
    if not kps or desc is None:
        return Features(
            np.zeros((0, 2), np.float32), np.zeros((0, 128), np.float32), size, np.zeros((0, 2), np.float32)
        )
    if len(kps) > max_keypoints:
        order = np.argsort([-k.response for k in kps])[:max_keypoints]
        kps = [kps[i] for i in order]
        desc = desc[order]
    xy = np.array([k.pt for k in kps], np.float32)
    shape = np.array([(k.angle, k.size) for k in kps], np.float32)
    return Features(xy, root_sift(desc), size, shape)


def query_scale(width: int, height: int) -> float:
    """Resize factor for a query image: small crops up to ``QUERY_MIN_SIDE``, big ones down."""
    f = 1.0
    if min(width, height) < QUERY_MIN_SIDE:
        f = QUERY_MIN_SIDE / min(width, height)
    if max(width, height) * f > QUERY_MAX_SIDE:
        f = QUERY_MAX_SIDE / max(width, height)
    return f


def query_features(image: Image.Image, mirror: bool = False) -> tuple[Features, float]:
    """Full features of a query, computed at a resolution SIFT works well at.

    Returns the features (positions in the resized query's pixels) and the resize factor, so
    positions divide by it to get back to the query's own pixels.
    """
    g, f = query_frame(image, mirror)
    return full_features(g, MAX_QUERY_KEYPOINTS), f


def query_frame(image: Image.Image, mirror: bool = False) -> tuple[np.ndarray, float]:
    """The grey query as its features see it (mirrored if asked, resized by ``query_scale``), and the factor."""
    g = gray(image)
    if mirror:
        g = np.ascontiguousarray(g[:, ::-1])
    f = query_scale(g.shape[1], g.shape[0])
    if f != 1.0:
        interp = cv2.INTER_CUBIC if f > 1 else cv2.INTER_AREA
        g = cv2.resize(g, (max(1, round(g.shape[1] * f)), max(1, round(g.shape[0] * f))), interpolation=interp)
    return g, f
