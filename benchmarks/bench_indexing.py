"""Decode-once pipeline vs a naive per-stage pipeline, same photos and models, one run.

    python benchmarks/bench_indexing.py [--set camera|web|mixed] [--photos N] [--clip-model M] [--detector D]

Each mode runs in its own subprocess so peak RSS is its own. The decode-once mode is the real
``Library.index`` (fast pass + region pass into SQLite and FAISS); it records every model call's
inputs and replays them alone afterwards: that is the model-only limit. The naive mode does the
same work the way a straightforward per-stage pipeline does: each stage (thumbnail, hashes,
whole-photo embedding, detection, region embeddings) opens and fully decodes the file itself and
runs its model per photo. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("YOLO_OFFLINE", "1")

import numpy as np

from benchmarks.common import corpus_photos, peak_rss_mb


def select_photos(kind: str, n: int) -> list[Path]:
    from PIL import Image

    photos = corpus_photos()
    sized = []
    for p in photos:
        with Image.open(p) as im:
            sized.append((p, max(im.size)))
    camera = [p for p, s in sized if s >= 1000]
    web = [p for p, s in sized if s < 1000]
    if kind == "camera":
        pool = camera
    elif kind == "web":
        pool = web[:: max(1, len(web) // n)]
    else:  # the corpus' own mix: every k-th photo
        pool = [p for p, _ in sized][:: max(1, len(sized) // n)]
    return pool[:n]


class Recorder:
    """Wraps a model and spills every call's inputs to disk, to replay the same batches alone later.

    Spilled rather than kept so the recording does not inflate the pipeline's peak memory.
    """

    def __init__(self, model, method: str, folder: Path) -> None:
        self.model, self.method, self.folder, self.calls = model, method, folder, []
        self.model_id = model.model_id
        folder.mkdir(parents=True, exist_ok=True)

    def __getattr__(self, name):
        return getattr(self.model, name)

    def _call(self, images):
        files = []
        for im in images:
            f = self.folder / f"{len(self.calls)}_{len(files)}.npy"
            np.save(f, np.asarray(im))
            files.append(f)
        self.calls.append(files)
        return getattr(self.model, self.method)(images)

    def replay(self) -> None:
        from PIL import Image

        for files in self.calls:
            getattr(self.model, self.method)([Image.fromarray(np.load(f)) for f in files])

    def encode_images(self, images):
        return self._call(images)

    def detect(self, images):
        return self._call(images)


def build_models(args):
    from app.ml.clip import ClipEncoder
    from app.ml.detector import ObjectDetector

    enc = ClipEncoder(args.clip_model, "none", batch_size=16, image_only=True)
    det = ObjectDetector(args.detector, batch_size=2)
    enc.load()
    det.load()
    return enc, det


def run_once(args, files: list[Path]) -> dict:
    from app.services import Library

    enc, det = build_models(args)
    work = Path(tempfile.mkdtemp(prefix="shoebox-bench-"))
    folder = work / "photos"
    folder.mkdir()
    for i, f in enumerate(files):
        shutil.copy(f, folder / f"{i:04d}_{f.name}")
    renc, rdet = Recorder(enc, "encode_images", work / "rec-clip"), Recorder(det, "detect", work / "rec-det")
    rss_before = peak_rss_mb()
    t0 = time.perf_counter()
    with Library.open(work / "lib", create=True, encoder=renc, detector=rdet) as lib:
        stats = lib.index([folder])
    wall = time.perf_counter() - t0
    rss = peak_rss_mb()
    forward = enc.forward_seconds + det.forward_seconds
    # Model-only limit: the very same batches through the same models, nothing else running.
    f0 = enc.forward_seconds + det.forward_seconds
    t1 = time.perf_counter()
    renc.replay()
    rdet.replay()
    replay_wall = time.perf_counter() - t1
    replay_forward = enc.forward_seconds + det.forward_seconds - f0
    shutil.rmtree(work, ignore_errors=True)
    n = stats.indexed
    return {
        "photos": n,
        "failed": stats.failed,
        "regions": stats.regions_added,
        "wall_s": round(wall, 2),
        "fast_pass_s": round(stats.fast_seconds, 2),
        "region_pass_s": round(stats.regions_seconds, 2),
        "fast_pass_photos_per_s": round(n / stats.fast_seconds, 2),
        "region_pass_photos_per_s": round(stats.regions_done / stats.regions_seconds, 2),
        "forward_s": round(forward, 2),
        "forward_share": round(forward / wall, 3),
        "model_only_s": round(replay_wall, 2),
        "model_only_forward_s": round(replay_forward, 2),
        "efficiency_vs_model_only": round(replay_wall / wall, 3),
        "clip_calls": len(renc.calls),
        "detector_calls": len(rdet.calls),
        "peak_rss_mb": round(rss, 1),
        "peak_rss_models_loaded_mb": round(rss_before, 1),
    }


def run_naive(args, files: list[Path]) -> dict:
    """Every stage opens and fully decodes the file itself; models run photo by photo."""
    import imagehash
    from PIL import Image, ImageOps

    from app.imaging.regions import crop_box, tile_boxes, usable_detections

    enc, det = build_models(args)
    work = Path(tempfile.mkdtemp(prefix="shoebox-naive-"))
    decodes = 0

    def open_full(path: Path) -> Image.Image:
        nonlocal decodes
        decodes += 1
        with Image.open(path) as im:
            return ImageOps.exif_transpose(im).convert("RGB")

    t0 = time.perf_counter()
    n_regions = 0
    for i, path in enumerate(files):
        img = open_full(path)  # stage 1: thumbnail
        img.thumbnail((320, 320))
        img.save(work / f"{i}.jpg", quality=85)
        img = open_full(path)  # stage 2: hashes (pHash of the dihedral variants, dHash)
        for k in range(4):
            rot = img.rotate(90 * k, expand=True)
            imagehash.phash(rot)
            imagehash.phash(ImageOps.mirror(rot))
        imagehash.dhash(img)
        enc.encode_images([open_full(path)])  # stage 3: whole-photo embedding
        img = open_full(path)  # stage 4: detection
        dets = usable_detections(det.detect([img])[0], 10)
        img = open_full(path)  # stage 5: region embeddings
        boxes = [d.box for d in dets] + tile_boxes(img.width, img.height)
        enc.encode_images([img.crop(crop_box(b)) for b in boxes])
        n_regions += len(boxes)
    wall = time.perf_counter() - t0
    shutil.rmtree(work, ignore_errors=True)
    forward = enc.forward_seconds + det.forward_seconds
    return {
        "photos": len(files),
        "regions": n_regions,
        "decodes": decodes,
        "wall_s": round(wall, 2),
        "photos_per_s": round(len(files) / wall, 2),
        "forward_s": round(forward, 2),
        "forward_share": round(forward / wall, 3),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", choices=("camera", "web", "mixed"), default="mixed")
    ap.add_argument("--photos", type=int, default=40)
    ap.add_argument("--clip-model", default="ViT-B-32")
    ap.add_argument("--detector", default="yolo11n.yaml")
    ap.add_argument("--mode", choices=("once", "naive"), help=argparse.SUPPRESS)
    ap.add_argument("--files", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.mode:
        files = [Path(p) for p in Path(args.files).read_text().splitlines()]
        result = run_once(args, files) if args.mode == "once" else run_naive(args, files)
        print(json.dumps(result))
        return 0
    files = select_photos(args.set, args.photos)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as fh:
        fh.write("\n".join(str(f) for f in files))
    results = {}
    for mode in ("once", "naive"):
        cmd = [
            sys.executable,
            __file__,
            "--mode",
            mode,
            "--files",
            fh.name,
            "--clip-model",
            args.clip_model,
            "--detector",
            args.detector,
        ]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        results[mode] = json.loads(out.stdout.strip().splitlines()[-1])
    os.unlink(fh.name)
    once, naive = results["once"], results["naive"]
    print(
        json.dumps(
            {
                "benchmark": "indexing",
                "set": args.set,
                "photos": len(files),
                "models": {"clip": f"{args.clip_model} (random init)", "detector": args.detector},
                "decode_once": once,
                "naive_per_stage": naive,
                "speedup_vs_naive": round(naive["wall_s"] / once["wall_s"], 2),
                "targets": {"speedup_vs_naive": 2.5, "forward_share": 0.85, "peak_rss_mb": 1536},
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
