"""Grouping at scale: synthetic 64-bit hashes (17 table entries a photo, as the library stores them) with
planted near-duplicates, through the real candidate search and union-find; a brute-force baseline on
the same 100,000 for the ratio. Pixel confirmation is not part of it (it runs on candidate pairs only).

    .venv/bin/python -m benchmarks.bench_dupes_scale [--sizes 100000 1000000] [--baseline 100000]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from app.search.duplicates import CANDIDATE_RADIUS, HashTable, connected_groups, find_candidates
from app.search.hamming import popcount


def synthetic(n: int, planted: int, rng: np.random.Generator) -> tuple[np.ndarray, set[tuple[int, int]]]:
    """(n, 17) hashes; ``planted`` photos get a primary 2, 4 or 6 bits from a random entry of another."""
    table = rng.integers(0, 2**63, size=(n, 17), dtype=np.int64).view(np.uint64)
    table |= rng.integers(0, 2, size=(n, 17), dtype=np.uint64) << np.uint64(63)
    src = rng.choice(n // 2, planted, replace=False)
    dst = n // 2 + rng.choice(n - n // 2, planted, replace=False)
    truth = set()
    for s, d in zip(src, dst, strict=True):
        entry = int(rng.integers(0, 17))
        bits = rng.choice(64, int(rng.choice([2, 4, 6])), replace=False)
        table[d, 0] = table[s, entry] ^ np.uint64(sum(1 << int(b) for b in bits))
        truth.add((int(min(s, d)), int(max(s, d))))
    return table, truth


def ours(table: np.ndarray) -> tuple[float, set[tuple[int, int]], int]:
    t0 = time.perf_counter()
    ht = HashTable.from_arrays(np.arange(len(table)), table)
    c = find_candidates(ht)
    groups = connected_groups(len(table), c.a, c.b)
    seconds = time.perf_counter() - t0
    return seconds, {(int(min(a, b)), int(max(a, b))) for a, b in zip(c.a, c.b, strict=True)}, len(groups)


def brute_force(table: np.ndarray, rows: int) -> float:
    """Every primary against every entry (vectorised numpy); timed on ``rows`` primaries, scaled to all."""
    entries = table.ravel()
    t0 = time.perf_counter()
    for i in range(rows):
        _ = np.nonzero(popcount(entries ^ table[i, 0]) <= CANDIDATE_RADIUS)[0]
    return (time.perf_counter() - t0) / rows * len(table)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--baseline", type=int, default=100_000)
    ap.add_argument("--baseline-rows", type=int, default=200, help="rows timed for the brute-force estimate")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    out: dict[str, object] = {"radius": CANDIDATE_RADIUS, "entries_per_photo": 17, "runs": []}
    for n in args.sizes:
        table, truth = synthetic(n, n // 100, rng)
        seconds, found, n_groups = ours(table)
        run: dict[str, object] = {
            "photos": n,
            "seconds": round(seconds, 2),
            "planted_pairs": len(truth),
            "planted_found": len(truth & found),
            "recall": round(len(truth & found) / len(truth), 4),
            "candidate_pairs": len(found),
            "groups": n_groups,
        }
        if n == args.baseline:
            bf = brute_force(table, args.baseline_rows)
            run["brute_force_seconds_estimated"] = round(bf, 1)
            run["speedup_vs_brute_force"] = round(bf / seconds, 1)
        out["runs"].append(run)  # type: ignore[union-attr]
        print(json.dumps(run), flush=True)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
