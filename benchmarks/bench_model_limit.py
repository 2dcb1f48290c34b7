"""Model-only limit: the indexing forwards timed alone, to compare a pipeline's photos/s against.

    python benchmarks/bench_model_limit.py [--clip-model ViT-B-32] [--detector yolo11n.yaml] [--regions 4]

Times CLIP image forwards at the pipeline's batch size and detector forwards at its batch size on
1024x768 inputs (the working-image size), then prints the best photos/s each pass could reach if
it did nothing but model forwards: fast pass = one CLIP image per photo; region pass = one
detection + ``--regions`` CLIP crops per photo. JSON on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("YOLO_OFFLINE", "1")


def _forward_time(model, fn, repeats: int) -> float:
    """Median seconds of model forward per call (the model's own counter: preprocessing excluded)."""
    fn()  # warm-up, and the lazy load
    runs = []
    for _ in range(repeats):
        before = model.forward_seconds
        fn()
        runs.append(model.forward_seconds - before)
    return statistics.median(runs)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clip-model", default="ViT-B-32")
    ap.add_argument("--detector", default="yolo11n.yaml")
    ap.add_argument("--regions", type=float, default=4.0, help="regions embedded per photo in the region pass")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    import numpy as np
    from PIL import Image

    from app.ml.clip import ClipEncoder
    from app.ml.detector import ObjectDetector

    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 255, (768, 1024, 3), dtype=np.uint8)) for _ in range(16)]
    enc = ClipEncoder(args.clip_model, "none", batch_size=16, image_only=True)
    det = ObjectDetector(args.detector, batch_size=2)
    clip_s = _forward_time(enc, lambda: enc.encode_images(images), args.repeats) / len(images)
    det_s = _forward_time(det, lambda: det.detect(images[:2]), args.repeats) / 2
    print(
        json.dumps(
            {
                "benchmark": "model_limit",
                "clip_ms_per_image_batch16": round(clip_s * 1000, 1),
                "detector_ms_per_image_batch2": round(det_s * 1000, 1),
                "fast_pass_limit_photos_per_s": round(1 / clip_s, 2),
                "region_pass_limit_photos_per_s": round(1 / (det_s + args.regions * clip_s), 2),
                "regions_per_photo": args.regions,
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
