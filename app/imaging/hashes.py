"""Perceptual hashes of the decoded image: pHash (imagehash's definition) of the border-trimmed photo
and of its mirror and rotations, so the duplicate finder can match edited copies in one lookup.
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image
from scipy.fft import dct

HASH_SIZE = 8
_DCT_SIZE = HASH_SIZE * 4  # imagehash.phash: highfreq_factor 4

# The dihedral group: the hash of the photo after each transform (mirror = left-right flip first).
PHASH_KINDS = (
    "phash",
    "phash_rot90",
    "phash_rot180",
    "phash_rot270",
    "phash_mirror",
    "phash_mirror_rot90",
    "phash_mirror_rot180",
    "phash_mirror_rot270",
)
DHASH_KIND = "dhash"
# pHash of nine sub-crops keeping 93% of each side (3x3 anchor grid): a small crop of this photo lands
# within a few bits of one of them, where its whole-photo pHash is typically 10-20 bits away.
CROP_KINDS = tuple(f"phash_crop{i}" for i in range(9))
_CROP_SCALE = 0.93

_BORDER_TOLERANCE = 10  # grey levels; JPEG noise on a flat border stays inside it
_BORDER_MAX_FRACTION = 0.4
_EMPTY_TOLERANCE = 6  # grey levels: JPEG noise on a flat empty corner stays inside it
_EMPTY_MAX = 0.6  # more of the picture "empty" than this: a flat picture, not a turned copy


def _bits_to_int64(bits: np.ndarray) -> int:
    """Row-major bits, most significant first (imagehash's hex order), as a signed 64-bit int for SQLite."""
    value = int(np.packbits(bits.astype(np.uint8).ravel()).view(">u8")[0])
    return value - (1 << 64) if value >= 1 << 63 else value


def trim_box(gray: np.ndarray) -> tuple[int, int, int, int]:
    """The (x0, y0, x1, y1) of ``gray`` without uniform borders (letterboxing, frames, padding)."""
    h, w = gray.shape
    ring = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    colour = float(np.median(ring))
    off = np.abs(gray.astype(np.int16) - colour) > _BORDER_TOLERANCE
    # A line is border when almost all of it is the border colour.
    rows = off.mean(axis=1) > 0.02
    cols = off.mean(axis=0) > 0.02
    if not rows.any() or not cols.any():
        return 0, 0, w, h
    y0, y1 = int(np.argmax(rows)), h - int(np.argmax(rows[::-1]))
    x0, x1 = int(np.argmax(cols)), w - int(np.argmax(cols[::-1]))
    if (y0 + h - y1) > _BORDER_MAX_FRACTION * 2 * h or (x0 + w - x1) > _BORDER_MAX_FRACTION * 2 * w:
        return 0, 0, w, h
    return x0, y0, x1, y1


def _variants(pixels: np.ndarray) -> np.ndarray:
    mirrored = pixels[:, ::-1]
    return np.stack([np.rot90(pixels, k) for k in range(4)] + [np.rot90(mirrored, k) for k in range(4)]).astype(
        np.float64
    )


def phash_variants(gray_32: np.ndarray) -> dict[str, int]:
    """pHash of a 32x32 grey image and of its 7 other dihedral transforms, in one batched DCT."""
    stack = _variants(gray_32)
    coeffs = dct(dct(stack, axis=1, type=2), axis=2, type=2)[:, :HASH_SIZE, :HASH_SIZE]
    medians = np.median(coeffs.reshape(8, -1), axis=1)
    bits = coeffs > medians[:, None, None]
    return {kind: _bits_to_int64(bits[i]) for i, kind in enumerate(PHASH_KINDS)}


def dhash(gray: Image.Image) -> int:
    """imagehash.dhash of an already greyscale image."""
    pixels = np.asarray(gray.resize((HASH_SIZE + 1, HASH_SIZE), Image.Resampling.LANCZOS), dtype=np.int16)
    return _bits_to_int64(pixels[:, 1:] > pixels[:, :-1])


def compute_hashes(image: Image.Image) -> tuple[dict[str, int], tuple[int, int, int, int]]:
    """All hashes of a decoded photo, computed on the border-trimmed image.

    Returns:
        (hash kind -> signed 64-bit value, trim box in the pixels of ``image``).
    """
    gray = image.convert("L")
    small = gray.copy()
    small.thumbnail((256, 256), Image.Resampling.BILINEAR)
    sx0, sy0, sx1, sy1 = trim_box(np.asarray(small))
    fx, fy = gray.width / small.width, gray.height / small.height
    box = (round(sx0 * fx), round(sy0 * fy), round(sx1 * fx), round(sy1 * fy))
    if box != (0, 0, gray.width, gray.height):
        gray = gray.crop(box)
    gray_32 = np.asarray(gray.resize((_DCT_SIZE, _DCT_SIZE), Image.Resampling.LANCZOS))
    hashes = phash_variants(gray_32)
    hashes[DHASH_KIND] = dhash(gray)
    hashes.update(crop_hashes(gray))
    return hashes, box


def crop_hashes(gray: Image.Image) -> dict[str, int]:
    """pHash of the :data:`CROP_KINDS` sub-crops of an (already trimmed) greyscale image."""
    small = gray.copy()
    small.thumbnail((256, 256), Image.Resampling.BILINEAR)
    w, h = small.size
    cw, ch = w * _CROP_SCALE, h * _CROP_SCALE
    out = {}
    for i, kind in enumerate(CROP_KINDS):
        fx, fy = (i % 3) / 2, (i // 3) / 2
        x0, y0 = (w - cw) * fx, (h - ch) * fy
        crop = small.resize((_DCT_SIZE, _DCT_SIZE), Image.Resampling.LANCZOS, box=(x0, y0, x0 + cw, y0 + ch))
        pixels = np.asarray(crop, dtype=np.float64)
        coeffs = dct(dct(pixels, axis=0, type=2), axis=1, type=2)[:HASH_SIZE, :HASH_SIZE]
        out[kind] = _bits_to_int64(coeffs > np.median(coeffs))
    return out


def picture_mask(gray: np.ndarray) -> np.ndarray:
    """True where ``gray`` is picture: flat areas flooded from the corners (a turn's fill) are not."""
    h, w = gray.shape
    gray = np.ascontiguousarray(gray).copy()  # floodFill wants a writable image (MASK_ONLY leaves it as is)
    flood = np.zeros((h + 2, w + 2), np.uint8)
    flags = 4 | cv2.FLOODFILL_MASK_ONLY | cv2.FLOODFILL_FIXED_RANGE | (1 << 8)
    for x, y in ((0, 0), (w - 1, 0), (0, h - 1), (w - 1, h - 1)):
        if not flood[y + 1, x + 1]:
            cv2.floodFill(gray, flood, (x, y), 0, _EMPTY_TOLERANCE, _EMPTY_TOLERANCE, flags)
    empty = flood[1:-1, 1:-1] > 0
    seeds = gray[[0, 0, -1, -1], [0, -1, 0, -1]].astype(np.int16)
    # A turn fills all four corners with one colour; flat patches of a photo's own corners (sky, shadow)
    # differ from corner to corner and stay picture (their edges are evidence).
    one_fill = int(seeds.max() - seeds.min()) <= _EMPTY_TOLERANCE
    if not one_fill or not 0.01 <= empty.mean() <= _EMPTY_MAX:
        return np.ones_like(empty)
    # The turned edge is interpolated (and JPEG rings along it): keep a few pixels away from it.
    return cv2.dilate(empty.astype(np.uint8), np.ones((5, 5), np.uint8)) == 0
