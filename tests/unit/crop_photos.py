"""Generated photos with texture (shapes, strokes, text-like marks) for crop-search tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


def textured_photo(path: Path, seed: int, size: tuple[int, int] = (800, 600)) -> Path:
    """A photo-like picture with enough corners and blobs for local features, different per seed."""
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.zeros((h, w, 3), np.float32)
    for c in range(3):
        a, b, ph = rng.uniform(0.5, 3, 3)
        base[..., c] = 127 + 60 * np.sin(a * xx / w * np.pi + ph) * np.cos(b * yy / h * np.pi)
    img = Image.fromarray(base.clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(260):
        x, y = rng.integers(0, w), rng.integers(0, h)
        r = int(rng.integers(3, 28))
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        kind = rng.integers(0, 3)
        if kind == 0:
            draw.ellipse((x - r, y - r, x + r, y + int(r * rng.uniform(0.4, 1.6))), fill=colour)
        elif kind == 1:
            draw.polygon([(x + int(rng.integers(-r, r)), y + int(rng.integers(-r, r))) for _ in range(4)], fill=colour)
        else:
            draw.line((x, y, x + int(rng.integers(-40, 40)), y + int(rng.integers(-40, 40))), fill=colour, width=3)
    img = img.filter(ImageFilter.GaussianBlur(0.8))
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, quality=92)
    return path
