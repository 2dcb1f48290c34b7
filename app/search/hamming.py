"""Near pairs of 64-bit hashes without comparing all pairs: multi-index hashing (Norouzi et al., 2012).

The 64 bits are cut into ``m`` blocks; two hashes within distance ``r`` agree to within
``floor(r / m)`` bits in at least one block (pigeonhole). Each block is a sorted table; a query probes
its own block value and every value within that block radius, and only hashes found that way are compared
in full. Everything is vectorised numpy over sorted arrays (no Python loop per hash).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np

# Below this many table entries (17 per photo: ~120,000 photos) the numpy path is within ~1.4x of the
# compiled one (0.33 s vs 0.24 s for 100,000 photos), and a process never pays numba's import and first-call
# load (~0.6 s holding the GIL: a frozen window the first time duplicates are computed). Above it the
# compiled path wins clearly (1M photos: ~5 s).
COMPILED_FROM = 2_000_000

_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)
_CHUNK = 1 << 21  # candidate pairs expanded at a time: bounds memory at ~100 MB


def as_u64(values: np.ndarray | list[int]) -> np.ndarray:
    """Signed 64-bit hashes (as SQLite stores them) to uint64 with the same bits."""
    return np.asarray(values, dtype=np.int64).view(np.uint64)


def popcount(x: np.ndarray) -> np.ndarray:
    return np.bitwise_count(x).astype(np.int16)


def _flip_masks(bits: int, radius: int) -> np.ndarray:
    masks = [0]
    for r in range(1, radius + 1):
        masks += [sum(1 << b for b in combo) for combo in combinations(range(bits), r)]
    return np.array(masks, dtype=np.uint64)


@dataclass(frozen=True, slots=True)
class NearPairs:
    """Matches of queries against table entries: query index, entry index, Hamming distance."""

    query: np.ndarray  # int64
    entry: np.ndarray  # int64
    distance: np.ndarray  # int16


class MultiIndex:
    """A table of 64-bit hashes searchable for everything within a Hamming radius.

    Args:
        hashes: uint64 table entries.
        compiled: use the numba kernels (default: from ``COMPILED_FROM`` entries on, when numba is there).
        radius: the largest distance reported.
        blocks: number of blocks ``m``.
        block_radius: bits probed per block (default ``radius // m``, which makes recall exact up to
            ``radius``). A smaller one trades recall above ``m * (block_radius + 1) - 1`` bits for speed.
    """

    def __init__(
        self,
        hashes: np.ndarray,
        radius: int,
        blocks: int = 4,
        block_radius: int | None = None,
        compiled: bool | None = None,
    ) -> None:
        self.hashes = np.ascontiguousarray(hashes, dtype=np.uint64)
        self._kernels = _compiled_kernels(len(self.hashes), compiled)
        kernels = self._kernels
        self.radius = radius
        self.blocks = blocks
        self._bits = [64 // blocks + (1 if i < 64 % blocks else 0) for i in range(blocks)]
        self._shifts = [sum(self._bits[i + 1 :]) for i in range(blocks)]
        self._block_radius = radius // blocks if block_radius is None else block_radius
        # Per block: entry order sorted by block value, and a direct-address table of where each value's
        # run starts (2^22 int32 at most: 16 MB), so a probe is two array reads instead of a binary search.
        self._sorted: list[tuple[np.ndarray, np.ndarray]] = []
        for b in range(blocks):
            keys = self._key(self.hashes, b).astype(np.uint32)
            counts = np.bincount(keys, minlength=1 << self._bits[b])
            starts = np.zeros(len(counts) + 1, np.int64 if len(keys) >= 2**31 else np.int32)
            np.cumsum(counts, out=starts[1:])
            if kernels is not None:  # the run starts are known: a counting sort is O(n)
                order = kernels.counting_order(keys, starts)
            else:  # order within a run does not matter, so an unstable sort on 32-bit keys
                order = np.argsort(keys, kind="quicksort").astype(np.int64)
            # The hashes themselves in block order too: a probe's run is then a contiguous slice to compare,
            # not a scatter of reads (about 2x faster at 1M photos, for 8 bytes an entry a block).
            self._sorted.append((starts, order, self.hashes[order]))
        self._masks = [_flip_masks(n, self._block_radius) for n in self._bits]

    def __len__(self) -> int:
        return len(self.hashes)

    def _key(self, h: np.ndarray, block: int) -> np.ndarray:
        mask = np.uint64((1 << self._bits[block]) - 1)
        return (h >> np.uint64(self._shifts[block])) & mask

    def search(self, queries: np.ndarray) -> NearPairs:
        """Every (query, entry) pair within ``radius``, each pair once."""
        queries = np.ascontiguousarray(queries, dtype=np.uint64)
        if self._kernels is not None:
            return self._search_compiled(queries)
        found_q, found_e, found_d = [], [], []
        for b in range(self.blocks):
            starts, order, sorted_hashes = self._sorted[b]
            qkeys = self._key(queries, b)
            probes = (qkeys[:, None] ^ self._masks[b][None, :]).ravel().astype(np.int64)
            lo = starts[probes].astype(np.int64)
            counts = starts[probes + 1] - lo
            hit = np.nonzero(counts)[0]
            if not len(hit):
                continue
            qidx = hit // len(self._masks[b])
            lo, counts = lo[hit], counts[hit]
            for qi, run_lo, c in _chunks(qidx, lo, counts):
                # Expand the runs: each query's hash repeated once per entry of its run, against the
                # contiguous slice of block-sorted hashes. The query index is recovered only for survivors.
                ends = np.cumsum(c)
                pos = np.arange(int(ends[-1])) + np.repeat(run_lo - (ends - c), c)
                d = np.bitwise_count(np.repeat(queries[qi], c) ^ sorted_hashes[pos])
                keep = np.nonzero(d <= self.radius)[0]
                q = qi[np.searchsorted(ends, keep, side="right")]
                entries, dist = order[pos[keep]], d[keep].astype(np.int16)
                if b:
                    # A pair already found through an earlier block is dropped here: the first block in
                    # which it is within the block radius is the only one that reports it.
                    first = ~self._found_earlier(queries[q], self.hashes[entries], b)
                    q, entries, dist = q[first], entries[first], dist[first]
                found_q.append(q)
                found_e.append(entries)
                found_d.append(dist)
        if not found_q:
            empty = np.zeros(0, np.int64)
            return NearPairs(empty, empty, np.zeros(0, np.int16))
        return NearPairs(np.concatenate(found_q), np.concatenate(found_e), np.concatenate(found_d))

    def _search_compiled(self, queries: np.ndarray) -> NearPairs:
        parts = []
        for b in range(self.blocks):
            starts, order, sorted_hashes = self._sorted[b]
            parts.append(
                self._kernels.scan_block(
                    queries,
                    self._shifts[b],
                    self._bits[b],
                    self._masks[b],
                    starts,
                    order,
                    sorted_hashes,
                    self.radius,
                    np.array(self._shifts[:b], np.int64),
                    np.array(self._bits[:b], np.int64),
                    self._block_radius,
                )
            )
        q, e, d = (np.concatenate(x) for x in zip(*parts, strict=True))
        return NearPairs(q, e, d)

    def _found_earlier(self, q: np.ndarray, e: np.ndarray, block: int) -> np.ndarray:
        earlier = np.zeros(len(q), bool)
        for b in range(block):
            earlier |= popcount(self._key(q, b) ^ self._key(e, b)) <= self._block_radius
        return earlier


def _compiled_kernels(entries: int, compiled: bool | None):
    if compiled is False or (compiled is None and entries < COMPILED_FROM):
        return None
    from app.search import hamming_kernels  # imports numba: only when it pays

    return hamming_kernels if hamming_kernels.AVAILABLE else None


def _chunks(qidx: np.ndarray, lo: np.ndarray, counts: np.ndarray):
    """Yield (query index, run start, run length) slices whose runs add up to about ``_CHUNK`` entries."""
    ends = np.cumsum(counts)
    start = 0
    while start < len(counts):
        base = ends[start - 1] if start else 0
        stop = max(int(np.searchsorted(ends, base + _CHUNK, side="right")), start + 1)
        yield qidx[start:stop], lo[start:stop], counts[start:stop]
        start = stop
