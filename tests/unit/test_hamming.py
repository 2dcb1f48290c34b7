"""The multi-index Hamming search: compiled and numpy paths agree, and both find what brute force finds."""

from __future__ import annotations

import numpy as np
import pytest

from app.search import hamming_kernels
from app.search.hamming import MultiIndex


def _planted(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    table = rng.integers(0, 2**63, size=n, dtype=np.int64).view(np.uint64)
    queries = table[rng.choice(n, 300, replace=False)].copy()
    for i in range(len(queries)):  # flip 0..5 bits: all within the exact-recall radius of 3 blocks x 1 bit
        for b in rng.choice(64, int(rng.integers(0, 6)), replace=False):
            queries[i] ^= np.uint64(1) << np.uint64(int(b))
    return table, queries


def _pairs(found) -> set[tuple[int, int, int]]:
    return set(zip(found.query.tolist(), found.entry.tolist(), found.distance.tolist(), strict=True))


def _brute(table: np.ndarray, queries: np.ndarray, radius: int) -> set[tuple[int, int, int]]:
    d = np.bitwise_count(queries[:, None] ^ table[None, :])
    q, e = np.nonzero(d <= radius)
    return set(zip(q.tolist(), e.tolist(), d[q, e].astype(int).tolist(), strict=True))


def test_search_finds_exactly_what_brute_force_finds_within_five_bits(monkeypatch):
    table, queries = _planted(20_000, np.random.default_rng(1))
    index = MultiIndex(table, radius=5, blocks=3, block_radius=1, compiled=True)
    expected = _brute(table, queries, 5)
    assert len(expected) >= 300
    assert _pairs(index.search(queries)) == expected
    monkeypatch.setattr(hamming_kernels, "AVAILABLE", False)
    assert _pairs(MultiIndex(table, radius=5, blocks=3, block_radius=1).search(queries)) == expected


@pytest.mark.skipif(not hamming_kernels.AVAILABLE, reason="numba not installed: only the numpy path exists")
def test_compiled_and_numpy_paths_agree_at_radius_six(monkeypatch):
    table, queries = _planted(20_000, np.random.default_rng(2))
    compiled = _pairs(MultiIndex(table, radius=6, blocks=3, block_radius=1, compiled=True).search(queries))
    assert _pairs(MultiIndex(table, radius=6, blocks=3, block_radius=1, compiled=False).search(queries)) == compiled
