"""Tag search on the COCO-annotated corpus photos, as if the detector were perfect; and tag search at scale.

Random-init detectors emit meaningless labels, so the plumbing is measured by construction: each COCO
photo's ground-truth boxes are written as its detections through the real storage (photos, regions as
the region pass writes them), the real tag pass (``Library.refresh_tags``) turns them into tags, and the
real query path (``Library.search(SearchQuery(tags=...))``) answers one query per COCO category.
Precision/recall are against "the photo has at least one annotation of that category". Two runs:

* ``all_boxes``: every annotation is a detection: the plumbing alone (must be 1.0 / 1.0);
* ``through_region_pass``: the detections go through what the region pass does with a detector's
  output: the detector returns at most ``detector_max_boxes`` (10) per photo; all of those become tags,
  and those with sides >= ``MIN_OBJECT_SIDE`` also regions. The recall lost to the 10-box cap shows.

Scale: ``--scale N`` synthetic photos (default 100,000) with Zipf-distributed labels go straight into
the tables; the tag pass is timed over all of them, then tag queries (common, rare, two tags) through
``Library.search`` against a baseline in the same run: the same question asked of the regions table
(``SELECT DISTINCT photo_id FROM regions WHERE label = ?``: what one would do without a tag table).

    .venv/bin/python -m benchmarks.bench_tags [--scale 100000] [--queries 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from app.core.models import RegionKind, SearchQuery
from app.core.records import FastRecord, RegionPassRecord, RegionRecord
from app.imaging.regions import MIN_OBJECT_SIDE, usable_detections
from app.indexing.tagging import detector_tags, label_counts
from app.services import Library
from benchmarks.common import CORPUS

KEY = "coco-ground-truth|perfect-detector"
COCO_SETS = [
    ("coco_mini", "train2017"),
    ("coco_mini", "val2017"),
    ("coco_tiny", "train2017"),
    ("coco_tiny", "val2017"),
]


def load_coco() -> list[tuple[Path, int, int, list[tuple[str, tuple[float, float, float, float]]]]]:
    """(file, width, height, [(category name, box x0 y0 x1 y1)]) of every annotated corpus photo."""
    out = []
    for folder, split in COCO_SETS:
        data = json.loads((CORPUS / folder / "annotations" / f"instances_{split}.json").read_text())
        names = {c["id"]: c["name"] for c in data["categories"]}
        boxes = defaultdict(list)
        for a in data["annotations"]:
            x, y, w, h = a["bbox"]
            boxes[a["image_id"]].append((names[a["category_id"]], (x, y, x + w, y + h)))
        for img in data["images"]:
            path = CORPUS / folder / split / img["file_name"]
            if path.exists():
                out.append((path, img["width"], img["height"], boxes.get(img["id"], [])))
    return out


def _insert_photos(lib: Library, photos: list[tuple[Path, int, int]]) -> list[int]:
    folder = lib.repo.add_folder(str(CORPUS))
    entries = [(str(p), p.stat().st_size, p.stat().st_mtime_ns) for p, _, _ in photos]
    ids = lib.repo.insert_pending(folder.id, entries)
    pids = [ids[e[0]] for e in entries]
    lib.repo.write_fast_batch(
        [
            FastRecord(pid, str(p), content_hash=f"gt{pid}", width=w, height=h)
            for pid, (p, w, h) in zip(pids, photos, strict=True)
        ]
    )
    return pids


def quality_run(coco: list, limits: bool) -> dict:
    from app.core.models import Detection

    with tempfile.TemporaryDirectory() as tmp, Library.open(tmp, create=True, encoder=None, detector=None) as lib:
        pids = _insert_photos(lib, [(p, w, h) for p, w, h, _ in coco])
        max_boxes = lib.settings.detector_max_boxes if limits else 10**6
        records, truth = [], defaultdict(set)
        gt_counts: dict[tuple[int, str], int] = defaultdict(int)
        for pid, (_, _, _, anns) in zip(pids, coco, strict=True):
            # What the region pass does with a detector's output: the detector returns at most max_boxes
            # (its max_det), every one of them becomes a tag, those big enough to embed become regions.
            dets = [Detection(box, name, 1.0) for name, box in anns][:max_boxes]
            kept = usable_detections(dets, max_boxes) if limits else dets
            regions = [RegionRecord(RegionKind.OBJECT, d.box, d.label, 1.0) for d in kept]
            records.append(RegionPassRecord(pid, KEY, "none", regions, detector_tags(label_counts(dets))))
            for name, _ in anns:
                truth[name].add(pid)
                gt_counts[(pid, name)] += 1
        t0 = time.perf_counter()
        lib.repo.write_region_batch(records)  # regions and detector tags, one transaction
        write_s = time.perf_counter() - t0
        assert lib.refresh_tags() == 0  # nothing left for the tag pass: the region pass wrote the tags
        tp = fp = fn = 0
        per_cat, latencies = {}, []
        for name in sorted(truth):
            t0 = time.perf_counter()
            hits = lib.search(SearchQuery(tags=(name,))).hits
            latencies.append((time.perf_counter() - t0) * 1000)
            got = {h.photo_id for h in hits}
            t, f, n = len(got & truth[name]), len(got - truth[name]), len(truth[name] - got)
            tp, fp, fn = tp + t, fp + f, fn + n
            per_cat[name] = (t / (t + f) if got else None, t / max(1, t + n))
        # Counts ("2 persons"): the stored count against the number of annotations.
        exact_counts = 0
        for (pid, name), n in gt_counts.items():
            rows = {r.tag: r.count for r in lib.photo_tags(lib.repo.photo(pid)).tags}
            exact_counts += rows.get(name) == n
        worst = sorted(per_cat.items(), key=lambda kv: kv[1][1])[:5]
        return {
            "photos": len(pids),
            "categories": len(truth),
            "photo_tag_pairs": sum(len(v) for v in truth.values()),
            "precision": round(tp / max(1, tp + fp), 4),
            "recall": round(tp / max(1, tp + fn), 4),
            "macro_precision": round(statistics.mean(p for p, _ in per_cat.values() if p is not None), 4),
            "categories_with_no_hit": sum(p is None for p, _ in per_cat.values()),
            "macro_recall": round(statistics.mean(r for _, r in per_cat.values()), 4),
            "count_exact": round(exact_counts / max(1, len(gt_counts)), 4),
            "lowest_recall": {k: round(v[1], 3) for k, v in worst},
            "region_batch_write_s": round(write_s, 3),
            "query_ms_median": round(statistics.median(latencies), 2),
            "query_ms_max": round(max(latencies), 2),
        }


def scale_run(n: int, queries: int, seed: int = 0) -> dict:
    from sqlalchemy import insert, text

    from app.storage.schema import folders, photos, regions

    rng = np.random.default_rng(seed)
    labels = [f"label{i:02d}" for i in range(80)]
    weights = 1.0 / np.arange(1, 81) ** 1.1  # Zipf-like: a few labels (person, car) are everywhere
    weights /= weights.sum()
    with tempfile.TemporaryDirectory() as tmp, Library.open(tmp, create=True, encoder=None, detector=None) as lib:
        t0 = time.perf_counter()
        with lib.repo.engine.begin() as conn:
            conn.execute(insert(folders).values(id=1, path="/synthetic", added_at=0.0))
            conn.execute(
                insert(photos),
                [
                    {"id": i + 1, "folder_id": 1, "path": f"/synthetic/{i:06d}.jpg", "size": 1, "mtime_ns": 1,
                     "state": "indexed", "width": 4000, "height": 3000, "regions_key": KEY}
                    for i in range(n)
                ],
            )  # fmt: skip
            rows = []
            for i in range(n):
                for lab in rng.choice(80, size=int(rng.integers(0, 6)), p=weights).tolist():
                    rows.append(
                        {"photo_id": i + 1, "kind": "object", "x0": 0.0, "y0": 0.0, "x1": 9.0, "y1": 9.0,
                         "label": labels[lab], "confidence": float(rng.uniform(0.25, 1.0))}
                    )  # fmt: skip
            conn.execute(insert(regions), rows)
        build_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        lib.refresh_tags()  # regions written without tags (as by a Shoebox before tags): the tag pass back-fills
        tag_pass_s = time.perf_counter() - t0

        def timed(fn) -> tuple[float, object]:
            out, times = None, []
            for _ in range(queries):
                t = time.perf_counter()
                out = fn()
                times.append((time.perf_counter() - t) * 1000)
            return statistics.median(times), out

        def baseline(tags: tuple[str, ...]) -> set[int]:
            sets = []
            with lib.repo.engine.connect() as conn:
                for t in tags:
                    q = text("SELECT DISTINCT photo_id FROM regions WHERE kind = 'object' AND label = :t")
                    sets.append({r[0] for r in conn.execute(q, {"t": t})})
            return set.intersection(*sets)

        cases = {"common": ("label00",), "rare": ("label60",), "two_tags": ("label00", "label01")}
        out = {}
        for name, tags in cases.items():
            ms_top, _ = timed(lambda tags=tags: lib.search(SearchQuery(tags=tags, top=50)))
            ms_default, _ = timed(lambda tags=tags: lib.search(SearchQuery(tags=tags)))
            ms_all, res = timed(lambda tags=tags: lib.search(SearchQuery(tags=tags, all=True)))
            ms_base, base = timed(lambda tags=tags: baseline(tags))
            assert {h.photo_id for h in res.hits} == base, name  # type: ignore[attr-defined]
            out[name] = {
                "matches": len(base),
                "search_top50_ms": round(ms_top, 2),
                "search_default_500_ms": round(ms_default, 2),
                "search_all_ms": round(ms_all, 2),
                "baseline_regions_scan_ms": round(ms_base, 2),
                "speedup_top50_vs_baseline": round(ms_base / ms_top, 1),
            }
        ms_counts, counts = timed(lib.tag_counts)
        return {
            "photos": n,
            "region_rows": len(rows),
            "build_s": round(build_s, 1),
            "tag_pass_s": round(tag_pass_s, 2),
            "tag_pass_photos_per_s": round(n / tag_pass_s),
            "queries": out,
            "tag_counts_ms": round(ms_counts, 1),
            "distinct_tags": len(counts),  # type: ignore[arg-type]
        }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=int, default=100_000, help="synthetic photos for the latency run (0: skip)")
    ap.add_argument("--queries", type=int, default=20, help="repeats per latency figure")
    args = ap.parse_args()
    coco = load_coco()
    report = {
        "corpus": str(CORPUS),
        "min_object_side": MIN_OBJECT_SIDE,
        "all_boxes": quality_run(coco, limits=False),
        "through_region_pass": quality_run(coco, limits=True),
    }
    if args.scale:
        report["scale"] = scale_run(args.scale, args.queries)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
