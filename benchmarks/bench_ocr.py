"""Text in photos (OCR): recall of ``search --words`` per text size, absent-word precision, OCR cost per photo.

Builds its own set from the shared corpus: words, short phrases and numbers (phone numbers, prices) are
rendered onto corpus photos resized to the 1024 px working size (so "px tall" is in the pixels the reader
sees and the photo's), in several fonts, colours, tilts up to ±10° and JPEG qualities; other corpus photos
are kept without text (half at their own size, half at 1024 px); the real photos with text of
``immich_test_assets/albums/text/`` are added with hand-listed words. Everything is indexed by the real
pipeline (``Library.index``: fast pass + background pass, no CLIP, no detector) and queried with
``Library.search_words``.

Baseline, in the same run on the same images: the plain prototype of the issue, rapidocr's ``RapidOCR()``
with default settings on the whole working image + fuzzy substring match (``partial_ratio ≥ 80``).

    .venv/bin/python benchmarks/bench_ocr.py --photos 100        # develop
    .venv/bin/python benchmarks/bench_ocr.py --photos 400        # report
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import CORPUS, corpus_photos

WORK = 1024
SIZES = (14, 16, 18, 20, 24, 28, 32, 40, 48, 56, 64)  # target ink height in px
BUCKETS = ((14, 20), (20, 32), (32, 48), (48, 65))
FONT_FILES = (
    "truetype/dejavu/DejaVuSans.ttf",
    "truetype/dejavu/DejaVuSerif-Bold.ttf",
    "truetype/dejavu/DejaVuSansCondensed-Oblique.ttf",
    "truetype/noto/NotoSansMono-Regular.ttf",
    "opentype/urw-base35/NimbusSans-Bold.otf",
    "opentype/urw-base35/NimbusRoman-Regular.otf",
    "opentype/urw-base35/URWGothic-Book.otf",
    "opentype/urw-base35/C059-Italic.otf",
    "opentype/urw-base35/P052-Roman.otf",
)
WORDS = [
    "harbour",
    "lantern",
    "orchard",
    "meadow",
    "pumpkin",
    "biscuit",
    "compass",
    "satchel",
    "blanket",
    "cinnamon",
    "pepper",
    "walnut",
    "marble",
    "thunder",
    "candle",
    "garden",
    "market",
    "bakery",
    "bicycle",
    "tractor",
    "sunflower",
    "library",
    "museum",
    "station",
    "ticket",
    "platform",
    "passport",
    "luggage",
    "airport",
    "printer",
    "scissors",
    "hammer",
    "ladder",
    "window",
    "curtain",
    "carpet",
    "kitchen",
    "teapot",
    "saucer",
    "spinach",
    "lettuce",
    "avocado",
    "mango",
    "lemonade",
    "espresso",
    "cappuccino",
    "muffin",
    "pretzel",
    "noodle",
    "dumpling",
    "burrito",
    "invoice",
    "receipt",
    "warranty",
    "delivery",
    "parcel",
    "pharmacy",
    "dentist",
    "clinic",
    "bandage",
    "vitamin",
    "shampoo",
    "toothpaste",
    "holiday",
    "birthday",
    "wedding",
    "concert",
    "festival",
    "parade",
    "stadium",
    "theatre",
    "cinema",
    "gallery",
    "castle",
    "fountain",
    "bridge",
    "village",
    "mountain",
    "glacier",
    "canyon",
    "island",
    "volcano",
    "desert",
    "forest",
    "river",
    "valley",
    "lighthouse",
    "harbor",
    "anchor",
]
PHRASES = """
wifi password|fresh bread daily|open sunday|exit only|no parking|staff meeting|quiet please|
happy birthday|grand opening|best coffee in town|closed for lunch|mind the gap|free refills|
room service|emergency exit|fragile handle with care|spring sale|chef special|gate closes early|
push to open|keep left|road works ahead|lost and found|fire assembly point|do not disturb|
today only|buy one get one|morning yoga class|bike repair shop|fresh fish market|
""".replace("\n", "").split("|")
ABSENT = [
    "xylophone",
    "quagmire",
    "zeppelin",
    "walrus",
    "kumquat",
    "marzipan",
    "bazooka",
    "gazebo",
    "yodel",
    "sphinx",
    "jukebox",
    "nectarine",
    "plankton",
    "vortex",
    "gumbo",
    "kazoo",
    "parsnip",
    "quokka",
    "wombat",
    "fjord",
]
# Real photos with text: words a person would remember from them (checked by eye, not from OCR output).
REAL = {
    "craft-beer.jpg": ["weekend warrior", "rodeo clown", "hopadillo", "barrel aged", "session ipa"],
    "handwritten-notes.jpg": ["important", "remember this", "in progress", "to do"],
    "book-beside-flowers.jpg": ["dost", "posta kutusundaki", "ali ural"],
    "japanese-shop.jpg": ["一番搾り", "取扱店", "kirin"],
}


def norm(s: str) -> str:
    return "".join(ch for ch in s.casefold() if ch.isalnum())


def make_items(rng: random.Random, n: int) -> list[tuple[str, str]]:
    """``n`` (kind, text) items whose normalised forms do not contain one another."""
    pool: list[tuple[str, str]] = [("word", w) for w in WORDS] + [("phrase", p) for p in PHRASES if p]
    rng.shuffle(pool)
    items: list[tuple[str, str]] = []
    taken: list[str] = [norm(w) for ws in REAL.values() for w in ws] + [norm(a) for a in ABSENT]
    while len(items) < n:
        if pool and rng.random() < 0.75:
            kind, text = pool.pop()
        elif rng.random() < 0.5:
            kind, text = "number", f"{rng.randint(200, 989)}-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}"
        else:
            kind, text = "number", f"${rng.randint(1, 299)}.{rng.randint(0, 99):02d}"
        k = norm(text)
        if any(k in t or t in k for t in taken):
            continue
        taken.append(k)
        items.append((kind, text))
    return items


def load_font(rng: random.Random, px: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    choices = [Path("/usr/share/fonts") / f for f in FONT_FILES if (Path("/usr/share/fonts") / f).is_file()]
    pick = rng.randrange(len(choices) + 1)
    if pick == len(choices):
        return ImageFont.load_default(px)
    return ImageFont.truetype(str(choices[pick]), px)


def fit_font(rng: random.Random, text: str, ink: int) -> tuple[object, int]:
    """A font whose rendering of ``text`` is about ``ink`` px tall (ascender to descender of the ink)."""
    size = ink
    font = load_font(rng, size)
    for _ in range(4):
        _, y0, _, y1 = font.getbbox(text)
        size = max(6, round(size * ink / max(1, y1 - y0)))
        font = font.font_variant(size=size) if hasattr(font, "font_variant") else ImageFont.load_default(size)
    _x0, y0, _x1, y1 = font.getbbox(text)
    return font, y1 - y0


def to_work(path: Path) -> Image.Image:
    im = Image.open(path)
    im.draft("RGB", (WORK, WORK))
    im = im.convert("RGB")
    scale = WORK / max(im.size)
    return im.resize((round(im.width * scale), round(im.height * scale)), Image.Resampling.LANCZOS)


def render(rng: random.Random, image: Image.Image, text: str, ink: int) -> tuple[Image.Image, int]:
    font, real_ink = fit_font(rng, text, ink)
    x0, y0, x1, y1 = font.getbbox(text)
    pad = max(4, real_ink // 3)
    layer = Image.new("RGBA", (x1 - x0 + 2 * pad, y1 - y0 + 2 * pad), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    angle = rng.uniform(-10, 10)
    rotated_w = layer.width + layer.height  # generous bound for placement after rotation
    if rotated_w >= image.width - 8:
        angle = 0.0
    px = rng.randint(4, max(4, image.width - rotated_w - 4))
    py = rng.randint(4, max(4, image.height - layer.height * 2 - 4))
    region = np.asarray(image.crop((px, py, px + layer.width, py + layer.height)).convert("L"), np.float32)
    dark_bg = region.mean() < 128
    if rng.random() < 0.35:  # a label / sign: text on its own plate
        plate = tuple(rng.randint(200, 255) for _ in range(3)) if rng.random() < 0.6 else (20, 20, 30)
        draw.rounded_rectangle((0, 0, layer.width - 1, layer.height - 1), radius=pad // 2, fill=(*plate, 255))
        dark_bg = sum(plate) < 300
    base = rng.randint(215, 255) if dark_bg else rng.randint(0, 45)
    colour = tuple(int(np.clip(base + rng.randint(-40, 40), 0, 255)) for _ in range(3))
    draw.text((pad - x0, pad - y0), text, font=font, fill=(*colour, 255))
    layer = layer.rotate(angle, expand=True, resample=Image.Resampling.BICUBIC)
    out = image.copy()
    out.paste(layer, (px, py), layer)
    return out, real_ink


class TimedReader:
    """Wraps the library's reader to time each photo on its own (batches would blur per-photo cost)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.forward_seconds = 0.0
        self.times: list[float] = []

    def status(self):
        return self.inner.status()

    def read(self, images):
        out = []
        for im in images:
            t = time.perf_counter()
            out.extend(self.inner.read([im]))
            self.times.append(time.perf_counter() - t)
        self.forward_seconds = sum(self.times)
        return out


def _fuzzy_substring(query: str, line: str) -> float:
    from rapidfuzz import fuzz

    # A line shorter than the query is compared whole: partial_ratio would find "a" perfectly inside any query.
    return fuzz.partial_ratio(query, line) if len(line) >= len(query) else fuzz.ratio(query, line)


def baseline(photo_images: dict[str, Image.Image], queries: list[str], threshold: float = 80.0) -> dict:
    """The issue's plain prototype: RapidOCR defaults on the whole image, fuzzy substring ≥ threshold."""
    from rapidocr_onnxruntime import RapidOCR

    engine = RapidOCR()
    texts: dict[str, list[str]] = {}
    times: dict[str, float] = {}
    for name, im in photo_images.items():
        arr = np.ascontiguousarray(np.asarray(im)[:, :, ::-1])
        t = time.perf_counter()
        res, _ = engine(arr)
        times[name] = time.perf_counter() - t
        texts[name] = [r[1] for r in res or []]
    ranked: dict[str, list[str]] = {}
    for q in queries:
        scores = []
        for name, lines in texts.items():
            best = max((_fuzzy_substring(q.lower(), ln.lower()) for ln in lines), default=0.0)
            if best >= threshold:
                scores.append((best, name))
        ranked[q] = [n for _, n in sorted(scores, key=lambda s: (-s[0], s[1]))]
    return {"ranked": ranked, "times": times}


def _bucket(ink: int) -> str:
    """Size class of a rendered text by its measured ink height (the fitted font lands within a px or two)."""
    for a, b in BUCKETS:
        if ink < b:
            return f"{a}-{b - 1}px"
    a, b = BUCKETS[-1]
    return f"{a}-{b - 1}px"


def summarize(ranked: dict[str, list[str]], truth: dict[str, tuple[str, int | None]], absent: list[str]) -> dict:
    per: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
    for q, (name, ink) in truth.items():
        got = ranked.get(q, [])
        label = "real" if ink is None else _bucket(ink)
        per[label].append((got[:1] == [name], name in got[:5]))
    out = {
        k: {
            "n": len(v),
            "recall@1": round(np.mean([a for a, _ in v]), 3),
            "recall@5": round(np.mean([b for _, b in v]), 3),
        }
        for k, v in sorted(per.items())
    }
    synth = [x for k, v in per.items() if k != "real" for x in v]
    out["synthetic_all"] = {
        "n": len(synth),
        "recall@1": round(np.mean([a for a, _ in synth]), 3),
        "recall@5": round(np.mean([b for _, b in synth]), 3),
    }
    out["absent_words_with_hits"] = sum(bool(ranked.get(a)) for a in absent)
    out["absent_words"] = len(absent)
    return out


def timing(times: dict[str, float], groups: dict[str, list[str]]) -> dict:
    out = {}
    for g, names in groups.items():
        ts = [times[n] for n in names if n in times]
        if ts:
            out[g] = {
                "n": len(ts),
                "median_s": round(float(np.median(ts)), 3),
                "p95_s": round(float(np.percentile(ts, 95)), 3),
            }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=100, help="synthetic photos (with and without text)")
    ap.add_argument("--text-fraction", type=float, default=0.6)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--det-side", type=int, default=None, help="override the reader's detector side")
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--keep", metavar="DIR", help="build the set here and keep it")
    args = ap.parse_args()

    from app.services import Library
    from app.services.words import _default_reader

    rng = random.Random(args.seed)
    text_dir = CORPUS / "immich_test_assets/albums/text"
    sources = [p for p in corpus_photos() if text_dir not in p.parents and "immich_test_assets" not in p.as_posix()]
    picks = rng.sample(sources, args.photos)
    n_text = round(args.photos * args.text_fraction)
    items = make_items(rng, n_text)
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench_ocr_"))
    photos_dir = root / "photos"
    if photos_dir.exists():
        shutil.rmtree(photos_dir)
    photos_dir.mkdir(parents=True)
    truth: dict[str, tuple[str, int | None]] = {}
    groups: dict[str, list[str]] = defaultdict(list)
    images: dict[str, Image.Image] = {}  # the working image each photo's reader sees
    t_build = time.perf_counter()
    for i, src in enumerate(picks):
        name = f"p{i:04d}.jpg"
        quality = rng.choice((60, 75, 90))
        if i < n_text:
            _kind, text = items[i]
            img, ink = render(rng, to_work(src), text, rng.choice(SIZES))
            truth[text] = (name, ink)
            groups["with_text_1024px"].append(name)
        elif i % 2:
            img = to_work(src)
            groups["no_text_1024px"].append(name)
        else:
            img = Image.open(src).convert("RGB")
            img.thumbnail((WORK, WORK))
            groups["no_text_corpus_size"].append(name)
        img.save(photos_dir / name, "JPEG", quality=quality)
        images[name] = Image.open(photos_dir / name).convert("RGB")
    for fname, words in REAL.items():
        shutil.copy2(text_dir / fname, photos_dir / fname)
        images[fname] = to_work(text_dir / fname)
        groups["real_text_photos"].append(fname)
        for w in words:
            truth[w] = (fname, None)
    build_s = time.perf_counter() - t_build

    reader = TimedReader(_default_reader(args.det_side or 1024))
    lib_dir = root / "library"
    shutil.rmtree(lib_dir, ignore_errors=True)
    with Library.open(lib_dir, create=True, encoder=None, detector=None) as lib:
        lib.use_text_reader(reader)
        reader.inner.load()
        t0 = time.perf_counter()
        stats = lib.index([photos_dir])
        index_s = time.perf_counter() - t0
        # The pass reads photos in id order = the order the scan inserted them (sorted paths).
        ordered = [
            p.path for p in sorted(lib.repo.photos_in_folders([f.id for f in lib.folders()]), key=lambda p: p.id)
        ]
        times = {Path(p).name: t for p, t in zip(ordered, reader.times, strict=False)}
        ranked: dict[str, list[str]] = {}
        t0 = time.perf_counter()
        for q in [*truth, *ABSENT]:
            ranked[q] = [Path(h.path).name for h in lib.search_words(q, top=5).hits]
        query_s = (time.perf_counter() - t0) / (len(truth) + len(ABSENT))
    result = {
        "photos": len(images),
        "queries": len(truth),
        "shoebox": {
            "reader": reader.model_id,
            "search": summarize(ranked, truth, ABSENT),
            "ocr_seconds_per_photo": timing(times, groups),
            "ocr_seconds_all_median": round(float(np.median(list(times.values()))), 3),
            "lines_read": stats.ocr_lines,
            "index_seconds": round(index_s, 1),
            "query_ms": round(query_s * 1000, 1),
        },
        "build_seconds": round(build_s, 1),
    }
    if not args.no_baseline:
        base = baseline(images, [*truth, *ABSENT])
        result["baseline_prototype"] = {
            "search": summarize(base["ranked"], truth, ABSENT),
            "ocr_seconds_per_photo": timing(base["times"], groups),
            "ocr_seconds_all_median": round(float(np.median(list(base["times"].values()))), 3),
        }
    misses = [
        {"query": q, "photo": n, "ink_px": ink, "got": ranked.get(q, [])[:3]}
        for q, (n, ink) in truth.items()
        if ranked.get(q, [])[:1] != [n]
    ]
    result["shoebox"]["misses"] = misses[:40]
    result["shoebox"]["absent_hits"] = {a: ranked[a] for a in ABSENT if ranked.get(a)}
    print(json.dumps(result, indent=2, ensure_ascii=False))
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
