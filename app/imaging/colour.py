"""Colour of a photo in 64 bytes: how much of it is near each colour of a fixed 64-colour palette.

The descriptor is a histogram over a fixed palette (the 4x4x4 RGB cube, corners included so that pure
white, black and the primaries are bins of their own), each pixel assigned to the nearest palette colour
in CIE Lab (distance = Delta E 1976, close to how different two colours look). Fixed bins, unlike
per-photo dominant colours, make every question a dot product over one matrix:

* "how much of colour c": ``hist @ colour_weights(c)``, where each bin counts by how close its colour is
  to c (a Gaussian in Delta E), so the score is roughly the fraction of the photo that looks like c;
* "a similar palette": the quadratic-form histogram distance of QBIC (Hafner et al. 1995), which lets
  neighbouring bins match partly; with ``S = L L^T`` it is a plain inner product of ``hist @ L``
  (``palette_embedding``), so FAISS can search it.

Pure numpy/cv2/PIL; storage keeps the matrix and the FAISS indexes.
"""

from __future__ import annotations

import re

import cv2
import numpy as np
from PIL import Image, ImageColor

COLOUR_VERSION = "lab64-v1"  # bump when the palette or the assignment changes: descriptors are recomputed
BINS = 64
_SIDE = 64  # the photo is reduced to 64x64 pixels first: plenty for fractions of a few percent
_LEVELS = np.array([0, 85, 170, 255], np.uint8)
QUERY_SIGMA = 16.0  # Delta E: a bin 16 away counts 0.61, 32 away 0.14
QUERY_CUTOFF = 40.0  # bins farther than this from the asked colour count nothing
PALETTE_SIGMA = 20.0  # bin similarity for palette comparison (wider: palettes are compared loosely)

# Everyday names missing from the CSS/X11 table Pillow ships (ImageColor.colormap), and the usual
# spellings people type for them.
_EXTRA_NAMES = {
    "sky": "#87ceeb",
    "sky blue": "#87ceeb",
    "sea": "#2e8b57",
    "light blue": "#add8e6",
    "dark blue": "#00008b",
    "light green": "#90ee90",
    "dark green": "#006400",
    "dark red": "#8b0000",
    "light grey": "#d3d3d3",
    "dark grey": "#a9a9a9",
    "light gray": "#d3d3d3",
    "dark gray": "#a9a9a9",
    "grass": "#4f9a2c",
    "sand": "#e0c9a0",
    "skin": "#e0ac8a",
    "gold": "#ffd700",
    "rose": "#ff007f",
    "cream": "#fffdd0",
    "burgundy": "#800020",
    "mustard": "#ffdb58",
}


def _rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) uint8 RGB -> (..., 3) float32 Lab (L 0..100, a and b about -128..127)."""
    arr = np.asarray(rgb, np.float32).reshape(-1, 1, 3) / 255.0
    lab = cv2.cvtColor(arr, cv2.COLOR_RGB2Lab)
    return lab.reshape(*np.shape(rgb)[:-1], 3)


PALETTE_RGB = np.array([(r, g, b) for r in _LEVELS for g in _LEVELS for b in _LEVELS], np.uint8)
PALETTE_LAB = _rgb_to_lab(PALETTE_RGB)
_PAIR_DE = np.linalg.norm(PALETTE_LAB[:, None, :] - PALETTE_LAB[None, :, :], axis=2)


def colour_descriptor(image: Image.Image) -> bytes:
    """The 64-byte colour histogram of ``image`` (byte k: share of pixels nearest palette colour k, x255)."""
    small = np.asarray(image.convert("RGB").resize((_SIDE, _SIDE), Image.Resampling.BOX), np.uint8)
    lab = _rgb_to_lab(small.reshape(-1, 3))
    # |x - c|^2 = |x|^2 - 2 x.c + |c|^2; the |x|^2 term does not change which centre is nearest.
    d = (PALETTE_LAB**2).sum(1)[None, :] - 2.0 * lab @ PALETTE_LAB.T
    counts = np.bincount(np.argmin(d, axis=1), minlength=BINS).astype(np.float64)
    return quantize(counts / counts.sum())


def quantize(fractions: np.ndarray) -> bytes:
    """Fractions summing to 1 -> 64 bytes summing to 255 (largest remainders get the rounding)."""
    scaled = np.asarray(fractions, np.float64) * 255.0
    out = np.floor(scaled).astype(np.int64)
    short = 255 - int(out.sum())
    if short > 0:
        out[np.argsort(-(scaled - out), kind="stable")[:short]] += 1
    return out.astype(np.uint8).tobytes()


def histogram(descriptor: bytes) -> np.ndarray:
    """A stored descriptor back as fractions (64 float32 summing to 1)."""
    return np.frombuffer(descriptor, np.uint8).astype(np.float32) / 255.0


def parse_colour(text: str) -> tuple[int, int, int]:
    """``"#1e90ff"``, ``"1e90ff"``, ``"#19f"``, ``"rgb(30,144,255)"`` or a colour name -> (r, g, b).

    Raises:
        ValueError: not a colour; the message says what is accepted.
    """
    raw = " ".join(str(text).strip().lower().split())
    if not raw:
        raise ValueError("empty colour: give a name like 'blue' or a hex value like '#1e90ff'")
    if raw in _EXTRA_NAMES:
        raw = _EXTRA_NAMES[raw]
    elif re.fullmatch(r"[0-9a-f]{6}|[0-9a-f]{3}", raw):
        raw = "#" + raw
    else:
        raw = raw.replace("grey", "gray") if raw.replace("grey", "gray") in ImageColor.colormap else raw
        raw = raw.replace(" ", "") if raw.replace(" ", "") in ImageColor.colormap else raw
    try:
        rgb = ImageColor.getrgb(raw)
    except ValueError:
        raise ValueError(
            f"not a colour: {text!r} (use a name like 'blue' or 'dodgerblue', or hex like '#1e90ff')"
        ) from None
    return int(rgb[0]), int(rgb[1]), int(rgb[2])


def colour_weights(rgb: tuple[int, int, int]) -> np.ndarray:
    """How much each palette bin counts towards "contains ``rgb``" (64 float32 in [0, 1])."""
    lab = _rgb_to_lab(np.array(rgb, np.uint8).reshape(1, 3))[0]
    d = np.linalg.norm(PALETTE_LAB - lab, axis=1)
    w = np.exp(-(d**2) / (2 * QUERY_SIGMA**2))
    w[d > QUERY_CUTOFF] = 0.0
    # The nearest bin counts fully even when the asked colour sits between palette colours.
    w /= w.max()
    return w.astype(np.float32)


def _palette_factor() -> np.ndarray:
    sim = np.exp(-(_PAIR_DE**2) / (2 * PALETTE_SIGMA**2))
    vals, vecs = np.linalg.eigh(sim)  # symmetric PSD (Gaussian kernel): S = V diag(vals) V^T
    return (vecs * np.sqrt(np.clip(vals, 0.0, None))).astype(np.float32)


_PALETTE_L = _palette_factor()


def palette_embedding(hists: np.ndarray) -> np.ndarray:
    """(n, 64) histograms (fractions or raw bytes) -> unit vectors whose inner product is the normalised
    quadratic-form similarity of the palettes (1 = same colours in the same amounts)."""
    h = np.asarray(hists, np.float32).reshape(-1, BINS)
    e = h @ _PALETTE_L
    norm = np.linalg.norm(e, axis=1, keepdims=True)
    return (e / np.maximum(norm, 1e-12)).astype(np.float32)


def dominant_colours(descriptor: bytes, k: int = 3, min_share: float = 0.05) -> list[tuple[str, float]]:
    """The palette colours covering most of the photo: [("#rrggbb", share)], largest first."""
    h = histogram(descriptor)
    out = []
    for i in np.argsort(-h, kind="stable")[:k].tolist():
        if h[i] >= min_share:
            r, g, b = (int(v) for v in PALETTE_RGB[i])
            out.append((f"#{r:02x}{g:02x}{b:02x}", round(float(h[i]), 3)))
    return out
