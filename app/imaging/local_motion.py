"""Is the rest of the picture where the alignment put it? Local motion left after a global alignment.

An edited copy is the same exposure: once it is aligned (a resize, a crop, a turn, all affine) and its tones
are mapped back (brightness, contrast, greyscale are linear in luminance), every part of it sits exactly on
the original, to a few hundredths of a pixel, except inside what the edit painted over (a watermark). A
second shot from a tripod or a burst differs by parallax, a subject or a leaf that moved, lens breathing:
displacements that vary across the frame by tenths of a pixel, which no single affine map absorbs.

We measure it with one Lucas-Kanade step per tile (the displacement that best explains the residual from
the image gradient), fit an affine field to the tiles' displacements, and report the median distance of
the tiles from that field. Tiles whose residual a shift cannot explain (painted over) are left out and
reported as the edited fraction.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

TILES_Y, TILES_X = 6, 8
_CLIP = (2, 252)  # grey levels a tone edit may have clipped: no evidence of position there
_EDITED = 4.0  # a tile whose unexplained residual is this many times the median tile's was painted over
_MIN_TILES = 6
_SHIFT_EXPLAINS = 0.7  # share of a tile's residual energy a shift explains when that part moved


@dataclass(frozen=True, slots=True)
class LocalMotion:
    motion: float  # px: median distance of the tiles' displacements from one affine field
    edited: float  # fraction of tiles whose difference is no displacement (painted over, or moved away)
    tiles: int  # tiles that had enough texture to say
    moved: float = 0.0  # px: the largest displacement off the field of a tile that a shift explains well
    field: np.ndarray | None = None  # 2x3: the affine displacement field d(x, y) = field @ (1, x, y), in px
    edited_tiles: np.ndarray | None = None  # (TILES_Y, TILES_X) bool

    def correction(self) -> np.ndarray:
        """The 2x3 map (for ``cv2.warpAffine(..., WARP_INVERSE_MAP)``) that moves B by the affine field back onto A."""
        f = self.field if self.field is not None else np.zeros((2, 3))
        return np.float32([[1 - f[0, 1], -f[0, 2], -f[0, 0]], [-f[1, 1], 1 - f[1, 2], -f[1, 0]]])


def tone_fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares ``y ~ gain * x + offset`` (closed form: polyfit's lstsq is ten times slower here)."""
    x, y = x.astype(np.float64), y.astype(np.float64)
    mx, my = x.mean(), y.mean()
    var = float(((x - mx) ** 2).mean())
    gain = float(((x - mx) * (y - my)).mean() / var) if var > 1e-9 else 1.0
    return gain, float(my - gain * mx)


def _tile_sums(values: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Sum of ``values`` (..., H, W) over each tile of the grid cut at rows ``ys`` and columns ``xs``."""
    return np.add.reduceat(np.add.reduceat(values, ys[:-1], axis=-2), xs[:-1], axis=-1)


def local_motion(
    a: np.ndarray, b: np.ndarray, inside: np.ndarray, blur: float = 0.0, gradient: str = "mean"
) -> LocalMotion | None:
    """Local motion of float32 ``b`` against ``a`` (same size, already aligned) inside the boolean mask.

    ``blur`` (px) smooths both first: coarser, but a shift of a pixel or two stays within reach of one step.
    ``gradient`` "a" or "b" takes the image gradient from one picture only (the mean of both is the better
    estimate of a shift, but an edge painted into one picture then "explains" its own difference).

    Returns None when too little of the picture has texture to tell (a blank or tiny overlap).
    """
    use = inside & (a > _CLIP[0]) & (a < _CLIP[1]) & (b > _CLIP[0]) & (b < _CLIP[1])
    if use.sum() < 200:
        use = inside
    if use.sum() < 200:
        return None
    # Tone map B onto A (linear in luminance: brightness, contrast, saturation, greyscale).
    gain, offset = tone_fit(b[use], a[use])
    b = (b * gain + offset).astype(np.float32)
    if blur:
        a, b = cv2.GaussianBlur(a, (0, 0), blur), cv2.GaussianBlur(b, (0, 0), blur)
    mean = {"a": a, "b": b}.get(gradient, (a + b) * 0.5)
    gx = cv2.Sobel(mean, cv2.CV_32F, 1, 0, ksize=3) / 8
    gy = cv2.Sobel(mean, cv2.CV_32F, 0, 1, ksize=3) / 8
    r = b - a
    w = use.astype(np.float32)
    h, wd = a.shape
    ys = np.linspace(0, h, TILES_Y + 1).astype(int)
    xs = np.linspace(0, wd, TILES_X + 1).astype(int)
    sums = _tile_sums(np.stack([gx * gx, gx * gy, gy * gy, gx * r, gy * r, r * r, np.ones_like(r)]) * w, ys, xs)
    sxx, sxy, syy, sxr, syr, srr, n = (s.ravel().astype(np.float64) for s in sums)
    area = np.diff(ys)[:, None] * np.diff(xs)[None, :]
    det = sxx * syy - sxy * sxy
    trace = sxx + syy
    # Enough pixels, texture, and texture in two directions (an edge alone only fixes one coordinate).
    ok = (n >= 0.5 * area.ravel()) & (trace > 1.0) & (det > 1e-8 * trace * trace) & (det > 0)
    lam_min = 0.5 * (trace - np.sqrt(np.maximum(trace * trace - 4 * det, 0)))
    ok &= lam_min > 1e-4 * trace
    if ok.sum() < _MIN_TILES:
        return None
    dx = np.where(ok, (syy * sxr - sxy * syr) / np.where(ok, det, 1), 0)
    dy = np.where(ok, (sxx * syr - sxy * sxr) / np.where(ok, det, 1), 0)
    explained = dx * sxr + dy * syr
    unexplained = np.sqrt(np.maximum(srr - explained, 0) / np.maximum(n, 1))
    edited = ok & (unexplained > _EDITED * np.median(unexplained[ok]))
    keep = ok & ~edited
    if keep.sum() < _MIN_TILES:
        return LocalMotion(float("inf"), float(edited.sum() / ok.sum()), int(ok.sum()))
    cy = ((ys[:-1] + ys[1:]) / 2)[:, None].repeat(TILES_X, 1).ravel()
    cx = ((xs[:-1] + xs[1:]) / 2)[None, :].repeat(TILES_Y, 0).ravel()
    design = np.column_stack([np.ones(keep.sum()), cx[keep], cy[keep]])
    design[:, 1:] /= max(h, wd)  # conditioning
    weight = np.sqrt(trace[keep] / trace[keep].max())[:, None]
    disp = np.column_stack([dx[keep], dy[keep]])
    coef, *_ = np.linalg.lstsq(design * weight, disp * weight, rcond=None)
    off = np.hypot(*(disp - design @ coef).T)
    # A tile whose whole difference is a shift, off the field: something there moved (not painted over).
    shifted = off[explained[keep] >= _SHIFT_EXPLAINS * srr[keep]]
    field = coef.T.copy()  # rows: dx, dy; columns: 1, x, y (back to pixels)
    field[:, 1:] /= max(h, wd)
    return LocalMotion(
        float(np.median(off)),
        float(edited.sum() / ok.sum()),
        int(ok.sum()),
        float(shifted.max()) if len(shifted) else 0.0,
        field,
        edited.reshape(TILES_Y, TILES_X),
    )
