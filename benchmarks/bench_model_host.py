"""What the model process costs: start-up to the first vector, one indexing batch, one text query,
each in the model process against the same model in this process (the baseline).

    YOLO_OFFLINE=1 .venv/bin/python -m benchmarks.bench_model_host [--batches 5]

Random-init tiny models (open_clip shoebox-tiny, yolo11n.yaml). Images are working-size (1024 px long
side) corpus photos, as the fast pass sends them. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_COLD = """
import json, sys, time
t0 = time.perf_counter()
from PIL import Image
from pathlib import Path
from app.ml.host import ModelHost, ModelSpec
spec = ModelSpec("clip", {"model_name": "shoebox-tiny", "pretrained": "none", "image_only": True})
image = Image.new("RGB", (1024, 768), (120, 80, 40))
if __name__ == "__main__":
    if sys.argv[1] == "host":
        host = ModelHost({"image": spec})
        host.proxy("image").encode_images([image])
        out = {"first_vector_s": time.perf_counter() - t0, "torch_in_this_process": "torch" in sys.modules}
        host.close()
    else:
        spec.build().encode_images([image])
        out = {"first_vector_s": time.perf_counter() - t0, "torch_in_this_process": "torch" in sys.modules}
    print(json.dumps(out))
"""


def cold_start(runs: int) -> dict:
    out = {}
    for mode in ("in-process", "host"):
        times = []
        for _ in range(runs):
            res = subprocess.run(
                [sys.executable, "-c", _COLD, mode], cwd=ROOT, capture_output=True, text=True, check=True
            )
            times.append(json.loads(res.stdout.strip().splitlines()[-1])["first_vector_s"])
        out[mode] = round(statistics.median(times), 2)
    return {"first_vector_s": out, "runs": runs}


def warm_calls(batches: int) -> dict:
    from app.imaging.decode import decode_file
    from app.ml.host import ModelHost, ModelSpec
    from benchmarks.common import corpus_photos

    images = [decode_file(p, 1024, 178_000_000)[1].image for p in corpus_photos()[:16]]
    specs = {
        "image": ModelSpec("clip", {"model_name": "shoebox-tiny", "pretrained": "none", "image_only": True}),
        "text": ModelSpec(
            "clip",
            {"model_name": "shoebox-tiny", "pretrained": "none", "text_only": True, "forward_threads": 1},
        ),
        "detector": ModelSpec("detector", {"weights": "yolo11n.yaml", "batch_size": 2}),
    }
    host = ModelHost(specs)
    try:
        remote = {name: host.proxy(name) for name in specs}
        local = {name: spec.build() for name, spec in specs.items()}
        out: dict = {}
        for name, models in (("host", remote), ("in-process", local)):
            enc, txt, det = models["image"], models["text"], models["detector"]
            enc.encode_images(images[:2])  # load
            txt.encode_texts(["warm up"])
            det.detect(images[:1])
            batch = []
            for _ in range(batches):
                t = time.perf_counter()
                enc.encode_images(images)
                batch.append(time.perf_counter() - t)
            queries = []
            for i in range(20):  # new texts each time: the child's LRU would answer repeats
                t = time.perf_counter()
                txt.encode_texts([f"a photo of thing number {i} in {name}"])
                queries.append(time.perf_counter() - t)
            dets = []
            for _ in range(batches):
                t = time.perf_counter()
                det.detect(images[:2])
                dets.append(time.perf_counter() - t)
            out[name] = {
                "clip_batch_16_s": round(statistics.median(batch), 3),
                "text_query_ms": round(1000 * statistics.median(queries), 1),
                "detect_2_images_s": round(statistics.median(dets), 3),
            }
        out["images"] = (
            f"16 corpus photos decoded to 1024 px ({sum(im.width * im.height * 3 for im in images) >> 20} MB)"
        )
        return out
    finally:
        host.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--batches", type=int, default=5)
    ap.add_argument("--cold-runs", type=int, default=2)
    args = ap.parse_args()
    print(json.dumps({"cold_start": cold_start(args.cold_runs), "warm": warm_calls(args.batches)}, indent=2))


if __name__ == "__main__":
    main()
