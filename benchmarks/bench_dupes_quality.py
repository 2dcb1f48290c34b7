"""Duplicate quality on a labelled set built from the corpus (``dupes_set``): pairwise precision and recall
per tier and per transform, with idealo's imagededup PHash (threshold 10) beside ours when installed.

    .venv/bin/python -m benchmarks.bench_dupes_quality [--originals 200]

A pair counts for tier `same` when the two photos are in one identical/same group; truth is "edited from
one original" (or byte-identical). Hard negatives (Holidays, UKBench: same scene or object, another shot)
must never be `same`.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from benchmarks import dupes_set


def _pairs_of(groups: list[list[str]]) -> set[frozenset[str]]:
    return {frozenset(p) for g in groups for p in itertools.combinations(sorted(g), 2)}


def evaluate(predicted: set[frozenset[str]], items, digest: dict[str, str]) -> dict[str, object]:
    by_group = defaultdict(list)
    transform = {}
    for path, group, tr in items:
        transform[path] = tr
        if not group.startswith("neg:"):
            by_group[group].append(path)
    truth = _pairs_of(list(by_group.values()))
    by_hash = defaultdict(list)
    for path, _g, _t in items:
        by_hash[digest[path]].append(path)
    truth |= _pairs_of([g for g in by_hash.values() if len(g) > 1])  # identical bytes are always copies
    tp = len(predicted & truth)
    per = {}
    for path, group, tr in items:
        if tr in ("original", "negative"):
            continue
        orig = next(p for p, g, t in items if g == group and t == "original")
        hit = frozenset((orig, path)) in predicted
        per.setdefault(tr, [0, 0])
        per[tr][0] += hit
        per[tr][1] += 1
    negatives = [p for p, g, t in items if g.startswith("neg:")]
    neg_group = {p: g for p, g, t in items if g.startswith("neg:")}
    hard_fp = sum(
        1
        for pr in predicted
        if all(p in neg_group for p in pr) and len({neg_group[p] for p in pr}) == 1 and len({digest[p] for p in pr}) > 1
    )
    return {
        "precision": round(tp / len(predicted), 4) if predicted else 1.0,
        "recall": round(tp / len(truth), 4),
        "pairs_predicted": len(predicted),
        "pairs_true": len(truth),
        "false_pairs": len(predicted) - tp,
        "hard_negative_pairs_called_same": hard_fp,
        "hard_negative_photos": len(negatives),
        "recall_per_transform": {k: round(v[0] / v[1], 3) for k, v in sorted(per.items())},
    }


def run_imagededup(items) -> tuple[set[frozenset[str]], float] | None:
    try:
        from imagededup.methods import PHash
    except ImportError:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        names = {}
        for i, (path, _g, _t) in enumerate(items):
            link = Path(tmp) / f"{i:05d}{path.suffix.lower()}"
            os.symlink(path, link)
            names[link.name] = path
        t0 = time.perf_counter()
        dupes = PHash(verbose=False).find_duplicates(image_dir=tmp, max_distance_threshold=10)
        seconds = time.perf_counter() - t0
    pairs = {frozenset((names[a], names[b])) for a, bs in dupes.items() for b in bs}
    return pairs, seconds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--originals", type=int, default=200)
    ap.add_argument("--keep", metavar="DIR", help="build the set and library here (default: a temp folder)")
    args = ap.parse_args()
    from app.services import Library

    work = Path(args.keep or tempfile.mkdtemp(prefix="shoebox-dupes-"))
    photos = work / "photos"
    (photos / "edits").mkdir(parents=True, exist_ok=True)
    items = dupes_set.build(photos / "edits", args.originals)
    # The library indexes one folder: copy the corpus files in, keeping their names unique.
    local = []
    for path, group, tr in items:
        if path.is_relative_to(photos):
            local.append((path, group, tr))
            continue
        dest = photos / "corpus" / path.relative_to(dupes_set.CORPUS)
        if not dest.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, dest)
        local.append((dest, group, tr))
    items = [(p.resolve(), g, t) for p, g, t in local]
    out: dict[str, object] = {"originals": args.originals, "photos": len(items)}
    with Library.open(work / "library", create=True, encoder=None, detector=None) as lib:
        t0 = time.perf_counter()
        lib.index([photos], regions=False)
        out["index_seconds"] = round(time.perf_counter() - t0, 1)
        t0 = time.perf_counter()
        groups = lib.duplicates()
        out["dupes_seconds"] = round(time.perf_counter() - t0, 1)
        digest = {}
        for path, _g, _t in items:
            photo = lib.repo.photo_by_path(str(path))
            digest[path] = photo.content_hash if photo else str(path)
    tiers = {}
    for tier in ("identical", "same", "similar"):
        tiers[tier] = [[Path(p.path) for p in g.photos] for g in groups if g.tier == tier]
    same_pairs = _pairs_of(tiers["identical"] + tiers["same"])
    out["ours_same"] = evaluate(same_pairs, items, digest)
    out["ours_similar_groups"] = len(tiers["similar"])
    out["ours_similar_pairs_on_hard_negatives"] = sum(
        1 for pr in _pairs_of(tiers["similar"]) if all(str(p).find("/corpus/") >= 0 for p in pr)
    )
    idd = run_imagededup(items)
    if idd is None:
        out["imagededup"] = "not installed"
    else:
        out["imagededup_phash_t10"] = evaluate(idd[0], items, digest) | {"seconds": round(idd[1], 1)}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
