"""The labelled duplicates set of ``bench_dupes_quality``: edits of corpus originals, plus hard negatives.

Every original gets one copy per transform (written as a new file, like an export or an edit would be);
all files of one original form a `same` group. Holidays and UKBench groups (same scene or object, another
shot) are hard negatives: any pair of them in tier `same` is a false positive.
"""

from __future__ import annotations

import csv
import math
import random
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageDraw, ImageEnhance, ImageOps

from benchmarks.common import CORPUS

Transform = Callable[[Image.Image, random.Random], Image.Image]


def _resize(im: Image.Image, rng: random.Random) -> Image.Image:
    f = rng.uniform(0.35, 0.6)
    return im.resize((max(32, round(im.width * f)), max(32, round(im.height * f))), Image.Resampling.LANCZOS)


def _colour(im: Image.Image, rng: random.Random) -> Image.Image:
    im = ImageEnhance.Brightness(im).enhance(rng.uniform(0.8, 1.25))
    im = ImageEnhance.Contrast(im).enhance(rng.uniform(0.8, 1.3))
    return ImageEnhance.Color(im).enhance(rng.uniform(0.3, 1.6))


def _grey(im: Image.Image, rng: random.Random) -> Image.Image:
    return ImageOps.grayscale(im).convert("RGB")


def _border(im: Image.Image, rng: random.Random) -> Image.Image:
    pad = round(max(im.size) * rng.uniform(0.04, 0.12))
    return ImageOps.expand(im, border=pad, fill=rng.choice([(255, 255, 255), (0, 0, 0), (40, 40, 40)]))


def _watermark(im: Image.Image, rng: random.Random) -> Image.Image:
    out = im.convert("RGBA")
    layer = Image.new("RGBA", out.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    w, h = out.size
    bw, bh = round(w * 0.3), round(h * 0.08)
    x0, y0 = w - bw - round(w * 0.03), h - bh - round(h * 0.03)
    draw.rectangle((x0, y0, x0 + bw, y0 + bh), fill=(255, 255, 255, 110))
    draw.text((x0 + 6, y0 + 4), "(c) Shoebox Photo 2024", fill=(0, 0, 0, 200))
    return Image.alpha_composite(out, layer).convert("RGB")


def _crop(im: Image.Image, rng: random.Random) -> Image.Image:
    # A "small crop": up to 10% of each side's length removed in total, unevenly.
    w, h = im.size
    cw, ch = rng.uniform(0.04, 0.10) * w, rng.uniform(0.04, 0.10) * h
    lx, ty = rng.uniform(0, cw), rng.uniform(0, ch)
    return im.crop((round(lx), round(ty), round(w - (cw - lx)), round(h - (ch - ty))))


def _straighten(im: Image.Image, rng: random.Random) -> Image.Image:
    """An editor's "straighten": turn by 2-8 degrees either way, crop the largest centred rectangle of the
    photo's aspect that has no empty corner, and resize (to 50-100 % of the original size)."""
    angle = rng.uniform(2.0, 8.0) * rng.choice((-1, 1))
    turned = im.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True)
    # Half-sizes (s*W, s*H) fit the turned W x H rectangle when both rotated corner extents stay inside it.
    w, h = im.size
    c, s = abs(math.cos(math.radians(angle))), abs(math.sin(math.radians(angle)))
    f = min(w / (w * c + h * s), h / (w * s + h * c)) * 0.995  # a hair inside: no interpolated edge pixels
    cx, cy = turned.width / 2, turned.height / 2
    box = (round(cx - f * w / 2), round(cy - f * h / 2), round(cx + f * w / 2), round(cy + f * h / 2))
    out = turned.crop(box)
    size = rng.uniform(0.5, 1.0)
    return out.resize((max(32, round(w * size)), max(32, round(h * size))), Image.Resampling.LANCZOS)


# Transforms drawing from their own generator (seeded per original), so adding one leaves the random
# choices, and so the files, of the transforms before it unchanged.
_OWN_RNG = {"straighten"}

TRANSFORMS: dict[str, Transform] = {
    "resize": _resize,
    "reencode": lambda im, rng: im,  # saved at a low JPEG quality below
    "colour": _colour,
    "grey": _grey,
    "mirror": lambda im, rng: ImageOps.mirror(im),
    "rotate90": lambda im, rng: im.transpose(Image.Transpose.ROTATE_90),
    "rotate180": lambda im, rng: im.transpose(Image.Transpose.ROTATE_180),
    "border": _border,
    "watermark": _watermark,
    "crop": _crop,
    "mirror+resize": lambda im, rng: _resize(ImageOps.mirror(im), rng),
    "straighten": _straighten,
}


def originals(n: int, seed: int = 0) -> list[Path]:
    """``n`` distinct photos from sets without known duplicates among themselves."""
    pool = sorted((CORPUS / "coco_mini").rglob("*.jpg")) + sorted((CORPUS / "imagenet_samples").rglob("*.JPEG"))
    seen: set[str] = set()
    unique = [p for p in pool if not (p.name in seen or seen.add(p.name))]
    random.Random(seed).shuffle(unique)
    return unique[:n]


def hard_negatives() -> list[tuple[Path, str]]:
    """(file, group) of Holidays and UKBench: other shots of one scene or object."""
    out = []
    for sub in ("inria_holidays_thumbs", "ukbench"):
        with open(CORPUS / sub / "groups.csv") as f:
            for row in csv.DictReader(f):
                out.append((CORPUS / sub / "jpg" / row["filename"], f"{sub}:{row['group_id']}"))
    return out


def imagededup_variants() -> list[tuple[Path, str, str]]:
    """(file, group, transform) of imagededup's own test images (hflip, resize, small rotation, grey)."""
    base = CORPUS / "imagededup_ukbench_variants"
    with open(base / "groups.csv") as f:
        return [(base / "jpg" / r["filename"], f"idd:{r['group_id']}", r["transform"]) for r in csv.DictReader(f)]


def build(dest: Path, n_originals: int, seed: int = 0) -> list[tuple[Path, str, str]]:
    """Write the edited copies under ``dest``; returns (file, group, transform) for every file of the set.

    Group "" marks a photo with no duplicate; hard negatives carry their scene group prefixed "neg:".
    """
    rng = random.Random(seed)
    items: list[tuple[Path, str, str]] = []
    for i, src in enumerate(originals(n_originals, seed)):
        group = f"orig{i}"
        items.append((src, group, "original"))
        with Image.open(src) as img:
            im = ImageOps.exif_transpose(img).convert("RGB")
        for name, fn in TRANSFORMS.items():
            out = dest / f"{i:04d}_{name.replace('+', '_')}.jpg"
            if not out.exists():
                r = random.Random(f"{seed}:{i}:{name}") if name in _OWN_RNG else rng
                fn(im, r).save(out, "JPEG", quality=30 if name == "reencode" else 88)
            items.append((out, group, name))
    for path, group, transform in imagededup_variants():
        items.append((path, group, transform))
    for path, group in hard_negatives():
        items.append((path, f"neg:{group}", "negative"))
    return items
