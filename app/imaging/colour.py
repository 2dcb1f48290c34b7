"""Colour of a photo in 64 bytes: how much of it falls in each of 64 perceptual colour bins.

Pixels are taken to CIE Lch (lightness, chroma, hue: the polar form of Lab, where distances are close to
how different colours look) and binned the way people name colours: first by *hue* (15 sectors of 24
degrees), then by how colourful (muted / vivid) and how light (dark / light) they are; pixels with
almost no chroma are greys, binned by lightness only (4 bins). 15 x 2 x 2 + 4 = 64 bins, one byte each
(share of the photo x 255). Unlike the nearest of a fixed RGB palette, this never lets a bluish grey
count as blue, and a muted sky is still blue.

Fixed bins make every question a dot product over one matrix:

* "how much of colour c": ``hist @ colour_weights(c)``: bins of c's hue count fully, the next sector a
  little (by how much of it lies within ``HUE_WINDOW`` degrees of c), other colourfulness or lightness
  less; for a grey, black or white, the grey bins by lightness. The score is roughly the share of the
  photo that has c's colour. A basic colour word ("blue") is a family of tones (``FAMILIES``).
* "a similar palette": the quadratic-form histogram distance of QBIC (Hafner et al. 1995) on the bins'
  centre colours, which lets neighbouring bins match partly; with ``S = L L^T`` it is a plain inner
  product of ``hist @ L`` (``palette_embedding``), so FAISS can search it.

Pure numpy/cv2/PIL; storage keeps the matrix and the FAISS indexes.
"""

from __future__ import annotations

import re

import cv2
import numpy as np
from PIL import Image, ImageColor

COLOUR_VERSION = "lch64-v1"  # bump when the bins change: descriptors are recomputed on the next index
HUES = 15
SECTOR = 360.0 / HUES
NEUTRAL_CHROMA = 10.0  # below: a grey
VIVID_CHROMA = 25.0  # at or above: vivid, else muted
LIGHT_L = 55.0  # at or above: light, else dark
GREY_EDGES = (25.0, 50.0, 75.0)  # lightness edges of the 4 grey bins
BINS = HUES * 4 + 4
_SIDE = 64  # the photo is reduced to 64x64 pixels first: plenty for shares of a few percent
HUE_WINDOW = 15.0  # a query counts the part of each hue sector within this many degrees of its hue
OTHER_CHROMA = 0.25  # weight of the other colourfulness level (a vivid query's muted bins, and back)
OTHER_LIGHTNESS = 0.6  # weight of the other lightness level
CHROMATIC = 12.0  # a query colour with at least this chroma asks for a hue, else for a grey
PALETTE_SIGMA = 20.0  # Delta E of bin similarity for palette comparison
PALETTE_DIMS = 32

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


def _lch(lab: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    lab = np.asarray(lab, np.float32).reshape(-1, 3)
    return lab[:, 0], np.hypot(lab[:, 1], lab[:, 2]), np.degrees(np.arctan2(lab[:, 2], lab[:, 1])) % 360.0


def _bins(lab: np.ndarray) -> np.ndarray:
    """The bin of each Lab colour: hue sector * 4 + vivid * 2 + light, or HUES * 4 + grey level."""
    L, C, h = _lch(lab)
    chromatic = (np.minimum(h // SECTOR, HUES - 1) * 4 + (C >= VIVID_CHROMA) * 2 + (L >= LIGHT_L)).astype(np.int64)
    grey = HUES * 4 + np.searchsorted(np.array(GREY_EDGES), L, side="right")
    return np.where(C < NEUTRAL_CHROMA, grey, chromatic)


def _centres() -> np.ndarray:
    """A representative Lab colour per bin (for palette similarity and for showing dominant colours)."""
    out = np.zeros((BINS, 3), np.float32)
    for k in range(HUES * 4):
        sector, vivid, light = k // 4, (k // 2) % 2, k % 2
        hue = np.radians((sector + 0.5) * SECTOR)
        chroma = 60.0 if vivid else 17.0
        out[k] = (72.0 if light else 38.0, chroma * np.cos(hue), chroma * np.sin(hue))
    for g, L in enumerate((12.0, 38.0, 62.0, 88.0)):
        out[HUES * 4 + g] = (L, 0.0, 0.0)
    return out


CENTRES_LAB = _centres()
_PAIR_DE = np.linalg.norm(CENTRES_LAB[:, None, :] - CENTRES_LAB[None, :, :], axis=2)


def colour_descriptor(image: Image.Image) -> bytes:
    """The 64-byte colour histogram of ``image`` (byte k: share of pixels in bin k, x255)."""
    small = np.asarray(image.convert("RGB").resize((_SIDE, _SIDE), Image.Resampling.BOX), np.uint8)
    counts = np.bincount(_bins(_rgb_to_lab(small.reshape(-1, 3))), minlength=BINS).astype(np.float64)
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
    """How much each bin counts towards "contains ``rgb``" (64 float32 in [0, 1])."""
    lab = _rgb_to_lab(np.array(rgb, np.uint8).reshape(1, 3))
    L, C, h = (float(v[0]) for v in _lch(lab))
    w = np.zeros(BINS, np.float32)
    if C < CHROMATIC:
        # A grey, black or white: the grey bins, by lightness (the nearest fully, the next a little).
        grey_l = np.array([12.0, 38.0, 62.0, 88.0])
        near = np.abs(grey_l - L)
        w[HUES * 4 :] = np.where(near <= near.min() + 1e-6, 1.0, np.where(near <= 30.0, 0.3, 0.0))
        return w
    vivid, light = C >= VIVID_CHROMA, L >= LIGHT_L
    for sector in range(HUES):
        lo = sector * SECTOR
        # How much of this sector lies within HUE_WINDOW degrees of the asked hue (circularly).
        overlap = 0.0
        for shift in (-360.0, 0.0, 360.0):
            a, b = max(lo + shift, h - HUE_WINDOW), min(lo + SECTOR + shift, h + HUE_WINDOW)
            overlap += max(0.0, b - a)
        own = lo <= h < lo + SECTOR  # pixels of exactly this colour are in this sector: they count fully
        share = 1.0 if own else min(1.0, overlap / SECTOR)
        if share <= 0:
            continue
        for v in (0, 1):
            for li in (0, 1):
                f = (1.0 if v == vivid else OTHER_CHROMA) * (1.0 if li == light else OTHER_LIGHTNESS)
                w[sector * 4 + v * 2 + li] = share * f
    return w


# What people mean by a basic colour word in a photo is a family of tones, not the CSS value (CSS
# "blue" is #0000ff, which a sky or a pair of jeans is nowhere near in Lab). A basic word asks for any
# of these tones; a hex value or any other name asks for exactly that colour.
FAMILIES = {
    "red": ("#ff0000", "#dc143c", "#b22222", "#c0392b", "#8b0000"),
    "orange": ("#ffa500", "#ff8c00", "#ff7f50", "#e67e22"),
    "yellow": ("#ffff00", "#ffd700", "#f0e68c", "#e6c229"),
    "green": ("#008000", "#228b22", "#32cd32", "#6b8e23", "#2e8b57", "#90ee90"),
    "blue": ("#0000ff", "#1e90ff", "#4169e1", "#4682b4", "#87ceeb", "#000080", "#5b7fb0"),
    "purple": ("#800080", "#8a2be2", "#9370db", "#663399"),
    "pink": ("#ffc0cb", "#ff69b4", "#ff1493", "#db7093"),
    "brown": ("#a52a2a", "#8b4513", "#d2691e", "#a0522d", "#deb887"),
    "grey": ("#808080", "#a9a9a9", "#696969", "#c0c0c0"),
    "white": ("#ffffff", "#f5f5f5"),
    "black": ("#000000", "#1c1c1c"),
    "teal": ("#008080", "#20b2aa", "#40e0d0"),
    "cyan": ("#00ffff", "#40e0d0", "#87cefa"),
}
FAMILIES["gray"] = FAMILIES["grey"]


def query_weights(text: str) -> np.ndarray:
    """Bin weights for a colour as typed: a basic colour word covers its family of tones, anything else
    (hex, rgb(), other names) is that one colour.

    Raises:
        ValueError: not a colour.
    """
    word = " ".join(str(text).strip().lower().split())
    if word in FAMILIES:
        return np.max([colour_weights(parse_colour(c)) for c in FAMILIES[word]], axis=0)
    return colour_weights(parse_colour(text))


def _palette_factor() -> np.ndarray:
    """``L`` with ``L L^T ~= S``: the kernel's leading ``PALETTE_DIMS`` eigenvectors (95 % of its trace), so
    the palette index is half the width of the histogram and twice as fast to scan."""
    sim = np.exp(-(_PAIR_DE**2) / (2 * PALETTE_SIGMA**2))
    vals, vecs = np.linalg.eigh(sim)  # symmetric PSD (Gaussian kernel): S = V diag(vals) V^T, ascending
    top = np.argsort(-vals)[:PALETTE_DIMS]
    return (vecs[:, top] * np.sqrt(np.clip(vals[top], 0.0, None))).astype(np.float32)


_PALETTE_L = _palette_factor()


def palette_embedding(hists: np.ndarray) -> np.ndarray:
    """(n, 64) histograms (shares or raw bytes) -> unit vectors whose inner product is the normalised
    quadratic-form similarity of the palettes (1 = same colours in the same amounts)."""
    h = np.asarray(hists, np.float32).reshape(-1, BINS)
    e = h @ _PALETTE_L
    norm = np.linalg.norm(e, axis=1, keepdims=True)
    return (e / np.maximum(norm, 1e-12)).astype(np.float32)


def _hex(lab: np.ndarray) -> str:
    rgb = cv2.cvtColor(np.asarray(lab, np.float32).reshape(1, 1, 3), cv2.COLOR_Lab2RGB)[0, 0]
    r, g, b = (round(float(np.clip(v, 0, 1)) * 255) for v in rgb)
    return f"#{r:02x}{g:02x}{b:02x}"


def dominant_colours(descriptor: bytes, k: int = 3, min_share: float = 0.05) -> list[tuple[str, float]]:
    """The bins covering most of the photo, as their centre colours: [("#rrggbb", share)], largest first."""
    h = histogram(descriptor)
    return [
        (_hex(CENTRES_LAB[i]), round(float(h[i]), 3)) for i in np.argsort(-h, kind="stable")[:k] if h[i] >= min_share
    ]
