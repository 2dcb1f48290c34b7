"""Crop search benchmark: recall, box IoU, false verifications, latency and bytes of the exact path.

Builds its own queries from the shared corpus: COCO object boxes, random regions of 10-30 % of a
photo, small regions of 3-8 %, each rescaled by 0.6-1.0 and re-encoded at JPEG q70-90. Indexes the
library with no CLIP weights (the geometric path alone, as with ``--clip-pretrained none``) and
prints JSON. ``baseline_vote_only`` is the same queries ranked by descriptor votes alone (no RANSAC),
the prototype's first stage, so the verification's contribution is visible.
``recall@1_informative`` is recall@1 over the queries that are not flat (``crop_dense.is_plain``: grey
std >= 4), reported next to the strict figure, never instead of it: a flat patch is in every photo
with such an area.

    python -m benchmarks.bench_crop_search --photos 300 --queries 40      # development
    python -m benchmarks.bench_crop_search                                # full corpus
    python -m benchmarks.bench_crop_search --scale 10000 --queries 40 --features-only  # 10k photos
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import hashlib
import io
import json
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
from PIL import Image

from app.core.models import HitKind, SearchQuery
from app.imaging.decode import decode_bytes, read_file
from app.imaging.local_features import MAX_QUERY_KEYPOINTS, full_features, index_features
from app.search.crop_dense import is_plain
from app.services import Library
from benchmarks.common import CORPUS, corpus_photos, peak_rss_mb

KINDS = {"region": (0.10, 0.30), "small": (0.03, 0.08)}


def _related_group(rel: str) -> str | None:
    """Photos of the same scene (near-duplicate sets): a verified hit among them is not 'wrong'."""
    parts = rel.split("/")
    name = parts[-1]
    if rel.startswith("inria_holidays_thumbs/"):
        return "holidays:" + str(int(name[:6]) // 100)
    if rel.startswith("ukbench/"):
        return "ukbench:" + str(int("".join(c for c in name if c.isdigit())) // 4)
    if rel.startswith("imagededup_ukbench_variants/") and "00120" in name:
        return "ukbench120"
    if rel.startswith("mAP_indoor_frames/"):
        return "mAP-room"
    if rel.startswith("exif_samples/orientation/"):
        return "orientation:" + name.split("_")[0]
    if rel.startswith("immich_test_assets/metadata/faces/portrait"):  # one picture, two EXIF orientations
        return "orientation:immich-portrait"
    if rel.startswith("photoprism_examples/") and "4120" in name:
        return "IMG_4120"
    if rel.startswith(("coco_mini/", "coco_tiny/", "coco_cbir_crop_queries/targets/")):
        return "coco:" + name
    return None


SAME_SCENE_INLIERS = 100  # whole photo against whole photo: a burst pair fits with hundreds, others with none


def _same_scene_inliers(a: str, b: str) -> int:
    """Inliers of a homography between the two whole photos (0 if none): two shots of one scene that no
    dataset grouping knows (a COCO burst pair: 635 of 663 matches). Such a hit is a related shot, not
    a wrong one; the bench lists every pair it accepts this way (``same_scene_pairs_found``)."""
    from app.imaging.local_features import gray
    from app.search.crop_verify import verify

    def feats(rel: str):
        img = decode_bytes(read_file(CORPUS / rel), work_size=1024).image
        return full_features(gray(img)), img.size

    (fa, size), (fb, _) = feats(a), feats(b)
    v = verify(fa, size, fb, 1.0)
    return v.inliers if v is not None else 0


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _encode(img: Image.Image, rng: np.random.Generator) -> bytes:
    s = rng.uniform(0.6, 1.0)
    img = img.resize((max(8, round(img.width * s)), max(8, round(img.height * s))), Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=int(rng.integers(70, 91)))
    return buf.getvalue()


def _random_box(w: int, h: int, lo: float, hi: float, rng: np.random.Generator) -> tuple[int, int, int, int]:
    area = rng.uniform(lo, hi) * w * h
    aspect = rng.uniform(0.6, 1.6)
    bw = int(min(w, max(16, (area * aspect) ** 0.5)))
    bh = int(min(h, max(16, area / bw)))
    x, y = int(rng.integers(0, w - bw + 1)), int(rng.integers(0, h - bh + 1))
    return x, y, x + bw, y + bh


def _coco_boxes(library: set[str]) -> list[tuple[str, tuple[float, float, float, float]]]:
    out = []
    for sub in ("coco_mini", "coco_tiny"):
        for split in ("val2017", "train2017"):
            ann = CORPUS / sub / "annotations" / f"instances_{split}.json"
            if not ann.exists():
                continue
            data = json.loads(ann.read_text())
            files = {im["id"]: f"{sub}/{split}/{im['file_name']}" for im in data["images"]}
            for a in data["annotations"]:
                rel = files.get(a["image_id"])
                x, y, w, h = a["bbox"]
                if rel in library and w >= 40 and h >= 40 and not a.get("iscrowd"):
                    out.append((rel, (x, y, x + w, y + h)))
    return out


def make_queries(rels: list[str], n: int, seed: int) -> list[dict]:
    """(kind, source rel path, true box in full-res oriented pixels, encoded query bytes)."""
    rng = np.random.default_rng(seed)
    full: dict[str, Image.Image] = {}

    def image(rel: str) -> Image.Image:
        if rel not in full:
            full[rel] = decode_bytes(read_file(CORPUS / rel), work_size=100_000).image
        return full[rel]

    queries = []
    boxes = _coco_boxes(set(rels))
    for i in rng.permutation(len(boxes))[:n]:
        rel, box = boxes[i]
        crop = image(rel).crop(tuple(round(v) for v in box))
        queries.append({"kind": "object", "rel": rel, "box": box, "data": _encode(crop, rng)})
    for kind, (lo, hi) in KINDS.items():
        for _ in range(n):
            rel = rels[int(rng.integers(0, len(rels)))]
            img = image(rel)
            box = _random_box(img.width, img.height, lo, hi, rng)
            queries.append({"kind": kind, "rel": rel, "box": box, "data": _encode(img.crop(box), rng)})
    return queries


def _link_library(paths: list[Path], folder: Path) -> dict[str, str]:
    """Symlink the chosen photos into one folder; returns library path -> corpus-relative path."""
    mapping = {}
    for p in paths:
        rel = p.relative_to(CORPUS).as_posix()
        dest = folder / rel.replace("/", "__")
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not dest.is_symlink():  # a kept library (--library) already has its links
            dest.symlink_to(p)
        mapping[str(dest.resolve(strict=False))] = rel
        mapping[str(dest)] = rel
    return mapping


def evaluate(lib: Library, queries: list[dict], path_to_rel, equivalent, related) -> dict:
    per = defaultdict(lambda: defaultdict(list))
    wrong = []
    lat = []
    warp_ncc = defaultdict(list)  # pixel agreement of verified hits, by what the hit really is
    for q in queries:
        t0 = time.perf_counter()
        res = lib.search(SearchQuery(image=q["data"], top=5))
        lat.append(time.perf_counter() - t0)
        k = per[q["kind"]]
        hits = res.hits
        rels = [path_to_rel(h.path) for h in hits]
        ok = [equivalent(q["rel"], r) for r in rels]
        k["r1"].append(bool(ok[:1] and ok[0]))
        k["r5"].append(any(ok[:5]))
        k["verified1"].append(bool(hits and hits[0].kind == HitKind.EXACT and ok[0]))
        k["plain"].append(is_plain(decode_bytes(q["data"]).image))
        if not (ok[:1] and ok[0]):
            k["misses"].append(_diagnose(lib, q, path_to_rel, equivalent))
        if hits and ok[0] and hits[0].box is not None and path_to_rel(hits[0].path) == q["rel"]:
            k["iou"].append(_iou(hits[0].box, q["box"]))
        for h, r, good in zip(hits, rels, ok, strict=True):
            if h.kind == HitKind.EXACT:
                cls = "source" if good else "related shot" if related(q["rel"], r) else "wrong"
                warp_ncc[cls].append(float(h.details.get("ncc", 0.0)))
            if h.kind == HitKind.EXACT and not good:
                if related(q["rel"], r):
                    k["verified_on_related_shot"].append(1)
                else:
                    wrong.append({"query": q["kind"], "source": q["rel"], "hit": r, "inliers": h.inliers})
    out = {}
    for kind, k in per.items():
        plain = np.asarray(k["plain"], bool)
        informative = np.flatnonzero(~plain)
        out[kind] = {
            "queries": len(k["r1"]),
            "recall@1": round(float(np.mean(k["r1"])), 4),
            "recall@5": round(float(np.mean(k["r5"])), 4),
            "verified_at_rank1": round(float(np.mean(k["verified1"])), 4),
            # Next to the strict figures, never instead: queries with some grey-level variation (``is_plain``
            # false). A flat patch (a black square, grey sky) is in every photo with such an area.
            "informative_queries": informative.size,
            "recall@1_informative": round(float(np.mean(np.asarray(k["r1"])[~plain])), 4) if informative.size else None,
            "verified_at_rank1_informative": (
                round(float(np.mean(np.asarray(k["verified1"])[~plain])), 4) if informative.size else None
            ),
            "median_iou": round(float(np.median(k["iou"])), 4) if k["iou"] else None,
            "verified_on_related_shot": len(k["verified_on_related_shot"]),
            "misses_by_candidate_rank": dict(sorted(Counter(k["misses"]).items())),
        }
    out["verified_warp_ncc"] = {
        cls: {
            "hits": len(v),
            "min": round(min(v), 3),
            "p5": round(float(np.percentile(v, 5)), 3),
            "median": round(float(np.median(v)), 3),
            "max": round(max(v), 3),
        }
        for cls, v in sorted(warp_ncc.items())
    }
    out["verified_but_wrong"] = len(wrong)
    out["verified_but_wrong_examples"] = wrong[:5]
    out["latency_s"] = {
        "median": round(statistics.median(lat), 3),
        "p95": round(float(np.percentile(lat, 95)), 3),
        "max": round(max(lat), 3),
    }
    return out


def _diagnose(lib: Library, q: dict, path_to_rel, equivalent) -> str:
    """Where a missed query's true photo sat in the vote: 'kp=N rank=R' (R = none when not voted)."""
    res = lib.exact_search(decode_bytes(q["data"]).image)
    ids = [c.photo_id for c in res.candidates[:200]]
    photos = lib.repo.photos_by_ids(ids)
    rank = next((i for i, pid in enumerate(ids) if equivalent(q["rel"], path_to_rel(photos[pid].path))), None)
    bucket = "none" if rank is None else "1-8" if rank < 8 else "9-32" if rank < 32 else ">32"
    kp = "kp<50" if res.query_keypoints < 50 else "kp<200" if res.query_keypoints < 200 else "kp>=200"
    return f"{kp} rank {bucket}"


def vote_only_baseline(lib: Library, queries: list[dict], path_to_rel, equivalent) -> dict:
    """Recall@1 of the descriptor vote alone (no RANSAC), per kind."""
    from app.imaging.local_features import query_frame
    from app.search.crop import candidates

    index = lib.features().get()
    photos = {}
    per = defaultdict(list)
    for q in queries:
        img = decode_bytes(q["data"]).image
        g, f = query_frame(img)
        feats = full_features(g, MAX_QUERY_KEYPOINTS)
        if len(feats) == 0:
            per[q["kind"]].append(False)
            continue
        cands = candidates(feats, (img.width * f, img.height * f), index.search)
        if not cands:
            per[q["kind"]].append(False)
            continue
        pid = cands[0].photo_id
        if pid not in photos:
            photos[pid] = lib.repo.photo(pid).path
        per[q["kind"]].append(equivalent(q["rel"], path_to_rel(photos[pid])))
    return {k: round(float(np.mean(v)), 4) for k, v in per.items()}


def cbir_pairs(lib: Library, path_to_rel) -> dict:
    """coco_cbir_crop_queries: crops, close-ups and look-alikes of COCO val2017 targets."""
    rows = list(csv.DictReader((CORPUS / "coco_cbir_crop_queries" / "pairs.csv").open()))
    out = []
    for row in rows:
        res = lib.search(SearchQuery(image=str(CORPUS / "coco_cbir_crop_queries" / row["query"]), top=5))
        target = row["target"].split("/")[-1]
        names = [path_to_rel(h.path).split("/")[-1] for h in res.hits]
        top_exact = bool(res.hits and res.hits[0].kind == HitKind.EXACT)
        out.append(
            {
                "query": row["query"].split("/")[-1],
                "target": target,
                "rank1": bool(names[:1] and names[0] == target),
                "in_top5": target in names,
                "verified": top_exact and names[0] == target,
                "inliers": res.hits[0].inliers if top_exact else None,
                "dense_on_other": any(
                    h.details.get("method") == "dense correlation" and n != target
                    for h, n in zip(res.hits, names, strict=True)
                ),
            }
        )
    verified = [r["query"] for r in out if r["verified"]]
    return {
        "queries": len(out),
        "recall@1": round(float(np.mean([r["rank1"] for r in out])), 4),
        "recall@5": round(float(np.mean([r["in_top5"] for r in out])), 4),
        "verified": len(verified),
        "verified_queries (real crops)": verified,
        "wrong_verified": sum(1 for r in out if r["inliers"] is not None and not r["rank1"]),
        "dense_hit_on_another_photo": sum(1 for r in out if r["dense_on_other"]),
    }


def run_corpus(args) -> dict:
    paths = corpus_photos()
    if args.photos:
        rng = np.random.default_rng(args.seed)
        coco_targets = [p for p in paths if "coco_cbir_crop_queries/targets" in p.as_posix()]
        rest = [p for p in paths if p not in coco_targets]
        paths = coco_targets + [rest[i] for i in sorted(rng.permutation(len(rest))[: args.photos])]
    rels = [p.relative_to(CORPUS).as_posix() for p in paths]
    digests = {rel: hashlib.blake2b((CORPUS / rel).read_bytes(), digest_size=16).hexdigest() for rel in rels}
    groups = {rel: _related_group(rel) for rel in rels}

    def equivalent(a: str, b: str) -> bool:
        if a == b or digests.get(a) == digests.get(b):
            return True
        ga, gb = groups.get(a), groups.get(b)  # coco:NAME is the same COCO image in two subsets
        return ga is not None and ga == gb and (ga.startswith(("coco:", "orientation:")))

    same_scene: dict[tuple[str, str], int] = {}

    def related(a: str, b: str) -> bool:
        if groups.get(a) is not None and groups.get(a) == groups.get(b):
            return True
        if (a, b) not in same_scene:
            same_scene[(a, b)] = _same_scene_inliers(a, b)
        return same_scene[(a, b)] >= SAME_SCENE_INLIERS

    with contextlib.ExitStack() as stack:
        tmp = args.library or stack.enter_context(tempfile.TemporaryDirectory())
        mapping = _link_library(paths, Path(tmp) / "photos")
        path_to_rel = lambda p: mapping.get(p, p)  # noqa: E731
        queries = make_queries(rels, args.queries, args.seed)
        t0 = time.perf_counter()
        with Library.open(Path(tmp) / "lib", create=True, encoder=None, detector=None) as lib:
            stats = lib.index([Path(tmp) / "photos"])
            index_s = time.perf_counter() - t0
            lib.search(SearchQuery(image=queries[0]["data"]))  # warm-up: loads the FAISS cache
            result = {"photos": len(paths), "newly_indexed": stats.indexed, "index_seconds": round(index_s, 1)}
            result.update(evaluate(lib, queries, path_to_rel, equivalent, related))
            # Pairs no dataset grouping knows (COCO has burst pairs), found by verifying the whole photos.
            result["same_scene_pairs_found"] = [
                {"source": a, "hit": b, "whole_photo_inliers": n} for (a, b), n in same_scene.items() if n
            ]
            result["baseline_vote_only_recall@1"] = vote_only_baseline(lib, queries, path_to_rel, equivalent)
            result["coco_cbir_crop_queries"] = cbir_pairs(lib, path_to_rel)
            n, stored = lib.features().stored_bytes()
            result["bytes_per_photo"] = {
                "sqlite_table_on_disk": round(stored / max(1, n)),
                "faiss_files": round(lib.features().file_bytes() / max(1, n)),
                "total": round((stored + lib.features().file_bytes()) / max(1, n)),
            }
        sample = [CORPUS / r for r in rels[:: max(1, len(rels) // 60)]]
        result["index_cost_added_ms_per_photo"] = _feature_cost(sample)
    return result


def _feature_cost(sample: list[Path]) -> float:
    """Milliseconds index_features adds per photo on top of the fast pass's decode (one core)."""
    imgs = [decode_bytes(read_file(p)) for p in sample]
    t0 = time.perf_counter()
    for d in imgs:
        index_features(d.image, d.width)
    return round(1000 * (time.perf_counter() - t0) / len(imgs), 1)


def _variant(src: Path, i: int, dest: Path) -> None:
    rng = np.random.default_rng(i)
    img = decode_bytes(read_file(src), work_size=800).image
    if rng.random() < 0.5:
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    w, h = img.size
    cx, cy = rng.uniform(0, 0.12, 2)
    img = img.crop((int(cx * w), int(cy * h), int(w * (1 - rng.uniform(0, 0.12))), int(h * (1 - rng.uniform(0, 0.12)))))
    arr = np.asarray(img, np.float32) * rng.uniform(0.8, 1.2, 3) + rng.uniform(-20, 20, 3)
    img = Image.fromarray(arr.clip(0, 255).astype(np.uint8))
    img.save(dest, "JPEG", quality=85)


def _features_of(path: Path) -> tuple[str, int, int, object, bytes]:
    """Local features and colour descriptor of one variant; its grid thumbnail is written beside it (the
    dense path's colour shortlist and coarse screen need both, as in a real library)."""
    from app.imaging.colour import colour_descriptor
    from app.imaging.thumbnails import write_thumbnail

    d = decode_bytes(read_file(path))
    write_thumbnail(d.image, path.parent.parent / "thumbs" / path.name)
    return path.name, d.width, d.height, index_features(d.image, d.width), colour_descriptor(d.image)


def _cached_features(dests: list[Path], cache: Path, workers: int) -> dict[str, tuple]:
    """name -> (width, height, IndexFeatures) for every variant, computed once per features version."""
    import pickle
    from concurrent.futures import ProcessPoolExecutor

    from app.imaging.local_features import FEATURES_VERSION

    path = cache / f"features-{FEATURES_VERSION}-colour.pkl"
    have: dict[str, tuple] = {}
    if path.exists():
        with open(path, "rb") as fh:
            have = pickle.load(fh)
    todo = [d for d in dests if d.name not in have]
    if todo:
        with ProcessPoolExecutor(workers) as pool:
            for i, (name, w, h, f, colour) in enumerate(pool.map(_features_of, todo, chunksize=32)):
                have[name] = (w, h, f, colour)
                if i % 1000 == 999:
                    print(f"features: {i + 1}/{len(todo)}", file=sys.stderr, flush=True)
        with open(path.with_suffix(".tmp"), "wb") as fh:
            pickle.dump(have, fh)
        path.with_suffix(".tmp").replace(path)
    return have


def _index_features_only(lib: Library, folder: Path, dests: list[Path], cache: Path, workers: int) -> float:
    """Photo rows with local features, colour descriptors and thumbnails (no perceptual hashes, regions or
    CLIP), as the issue allows at scale.

    Returns the seconds spent writing rows and building the feature index (features come from the cache).
    """
    from app.imaging.colour import COLOUR_VERSION
    from app.imaging.local_features import FEATURES_VERSION, vocabulary_cells
    from app.storage.colour_repo import ColourRepository
    from app.storage.features_repo import FeaturesRepository

    feats = _cached_features(dests, cache, workers)
    t0 = time.perf_counter()
    fid = lib.repo.add_folder(str(folder)).id
    ids = lib.repo.insert_pending(fid, [(str(d), d.stat().st_size, d.stat().st_mtime_ns) for d in dests])
    repo = FeaturesRepository(lib.repo.engine)
    batch, sizes, colours = [], [], []
    for d in dests:
        w, h, f, colour = feats[d.name]
        xy = f.xy if f.xy.shape[1] == 5 else np.column_stack([f.xy, vocabulary_cells(f.codes)])
        batch.append((ids[str(d)], FEATURES_VERSION, f.codes, xy, f.scale))
        content_hash = hashlib.blake2b(d.name.encode(), digest_size=16).hexdigest()
        sizes.append((w, h, "indexed", content_hash, ids[str(d)]))
        colours.append((ids[str(d)], COLOUR_VERSION, colour))
        thumb = lib.paths.thumbnail_for(content_hash)
        thumb.parent.mkdir(parents=True, exist_ok=True)
        thumb.symlink_to(cache / "thumbs" / d.name)
        if len(batch) >= 500:
            repo.write_many(batch)
            batch = []
    repo.write_many(batch)
    with lib.repo.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE photos SET width = ?, height = ?, state = ?, content_hash = ? WHERE id = ?", sizes)
    ColourRepository(lib.repo.engine).write_many(colours)
    return time.perf_counter() - t0


def run_scale(args) -> dict:
    """``--scale N`` photos made from corpus photos by flips, crops and colour shifts.

    Variants and their features are cached under ``--cache`` so a rerun only indexes and queries.
    """
    from concurrent.futures import ProcessPoolExecutor

    src = corpus_photos()
    cache = Path(args.cache)
    folder = cache / "photos"
    folder.mkdir(parents=True, exist_ok=True)
    dests = [folder / f"v{i:05d}_{i % len(src):04d}.jpg" for i in range(args.scale)]
    todo = [i for i, d in enumerate(dests) if not d.exists()]
    t0 = time.perf_counter()
    if todo:
        with ProcessPoolExecutor(args.workers) as pool:
            list(pool.map(_variant, [src[i % len(src)] for i in todo], todo, [dests[i] for i in todo], chunksize=64))
    t_feat = time.perf_counter()
    _cached_features(dests, cache, args.workers)
    feature_s = time.perf_counter() - t_feat
    with (
        tempfile.TemporaryDirectory() as tmp,
        Library.open(Path(tmp) / "lib", create=True, encoder=None, detector=None) as lib,
    ):
        if args.features_only:
            write_s = _index_features_only(lib, folder, dests, cache, args.workers)
            indexed = len(dests)
        else:
            indexed = lib.index([folder]).indexed
            write_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        lib.features().get()
        load_s = time.perf_counter() - t1
        rng = np.random.default_rng(args.seed)
        lat, r1, verified = [], [], []
        for n in range(args.queries * 2):
            d = dests[int(rng.integers(0, len(dests)))]
            img = decode_bytes(read_file(d), work_size=100_000).image
            lo, hi = KINDS["small" if n % 2 else "region"]
            box = _random_box(img.width, img.height, lo, hi, rng)
            data = _encode(img.crop(box), rng)
            t0 = time.perf_counter()
            res = lib.search(SearchQuery(image=data, top=5))
            lat.append(time.perf_counter() - t0)
            top = res.hits[0].path if res.hits else ""
            same_source = top.split("_")[-1] == d.name.split("_")[-1]
            r1.append(bool(top) and (top == str(d) or (same_source and res.hits[0].kind == HitKind.EXACT)))
            verified.append(bool(res.hits and res.hits[0].kind == HitKind.EXACT))
            if args.verbose:
                kind = res.hits[0].kind.value if res.hits else "-"
                more = [(Path(h.path).name, h.kind.value, h.details.get("ncc")) for h in res.hits[:3]]
                line = f"{n} {d.name} -> {Path(top).name or '-'} {kind} ok={r1[-1]} {lat[-1]:.2f}s {more}"
                print(line, file=sys.stderr)
        n, stored = lib.features().stored_bytes()
        index = lib.features().get()
        files = lib.features().file_bytes()
        return {
            "photos": indexed,
            "features_only": args.features_only,
            "codes": index.ntotal,
            "ivf": index.is_ivf,
            "feature_extraction_s_per_photo_on_workers": round(feature_s / max(1, len(dests)), 4),
            "write_rows_s": round(write_s, 1),
            "feature_index_build_s": round(load_s, 2),
            "queries": len(lat),
            "recall@1_source_or_sibling_variant": round(float(np.mean(r1)), 4),
            "verified_at_rank1": round(float(np.mean(verified)), 4),
            "latency_s": {
                "median": round(statistics.median(lat), 3),
                "p95": round(float(np.percentile(lat, 95)), 3),
                "max": round(max(lat), 3),
            },
            "bytes_per_photo": {
                "sqlite_table_on_disk": round(stored / max(1, n)),
                "faiss_files": round(files / max(1, n)),
                "total": round((stored + files) / max(1, n)),
            },
            "peak_rss_mb": round(peak_rss_mb()),
        }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=0, help="random subset of the corpus (0 = all)")
    ap.add_argument("--queries", type=int, default=100, help="queries per kind")
    ap.add_argument("--verbose", action="store_true", help="--scale: one line per query on stderr")
    ap.add_argument("--scale", type=int, default=0, help="index this many generated variants instead")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(
        "--features-only",
        action="store_true",
        help="--scale: index only local features, colour descriptors and thumbnails (no hashes, regions)",
    )
    ap.add_argument("--workers", type=int, default=2, help="--scale: processes making variants and features")
    ap.add_argument(
        "--cache",
        default=str(Path(tempfile.gettempdir()) / "shoebox-crop-scale"),
        help="--scale: folder keeping the variants and their features between runs",
    )
    ap.add_argument(
        "--library",
        default="",
        help="keep the library in this folder and reuse it on the next run (only new photos are indexed)",
    )
    args = ap.parse_args()
    out = run_scale(args) if args.scale else run_corpus(args)
    json.dump(out, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
