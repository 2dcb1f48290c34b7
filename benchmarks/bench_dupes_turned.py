"""Cost of the turned-copy candidate step (``search.keypoint_lsh``): on a real library's stored keypoint codes,
and on a synthetic library of N photos made from them (each photo a library photo's codes with 20 % of the
bits flipped: unrelated photos that keep part of the codes' bit bias, common patterns included).

    .venv/bin/python -m benchmarks.bench_dupes_turned --library /tmp/dupes3/dq/library [--synthetic 100000]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from app.imaging.local_features import FEATURES_VERSION
from app.search.keypoint_lsh import candidate_pairs
from app.storage.database import open_engine
from app.storage.features_repo import FeaturesRepository


def _timed(codes: np.ndarray, owner: np.ndarray, new: np.ndarray | None) -> tuple[float, int]:
    t0 = time.perf_counter()
    a, _, _ = candidate_pairs(codes, owner, new)
    return round(time.perf_counter() - t0, 2), len(a)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--library", type=Path, required=True, help="a library folder (its shoebox.db is read)")
    ap.add_argument("--synthetic", type=int, default=100_000)
    args = ap.parse_args()
    repo = FeaturesRepository(open_engine(args.library / "shoebox.db"))
    t0 = time.perf_counter()
    feats = [f for _, f in repo.iter_after(0, FEATURES_VERSION) if f.count]
    load = round(time.perf_counter() - t0, 2)
    codes = np.concatenate([f.codes for f in feats])
    owner = np.concatenate([np.full(f.count, i, np.int64) for i, f in enumerate(feats)])
    full, pairs = _timed(codes, owner, None)
    few, _ = _timed(codes, owner, np.arange(20))
    out = {"photos": len(feats), "codes": len(codes), "read_s": load, "full_s": full, "pairs": pairs, "new20_s": few}
    print(json.dumps({"library": out}), flush=True)
    rng = np.random.default_rng(0)
    n = args.synthetic
    src = rng.integers(0, len(feats), n)
    parts = []
    for i in range(0, n, 1000):
        bits = np.unpackbits(np.concatenate([feats[s].codes for s in src[i : i + 1000]]), axis=1)
        parts.append(np.packbits(bits ^ (rng.random(bits.shape, dtype=np.float32) < 0.2), axis=1))
    codes = np.concatenate(parts)
    owner = np.concatenate([np.full(feats[s].count, i, np.int64) for i, s in enumerate(src)])
    out = {"photos": n, "codes": len(codes), "codes_mb": codes.nbytes >> 20}
    for k in (1, 100, 1000):
        out[f"new{k}_s"] = _timed(codes, owner, np.arange(k))[0]
    out["full_s"] = _timed(codes, owner, None)[0]
    print(json.dumps({"synthetic": out}), flush=True)


if __name__ == "__main__":
    main()
