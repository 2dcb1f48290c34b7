"""Compiled inner loops of the multi-index (numba): probe runs without materialising every comparison.

The numpy path in ``hamming`` expands each probed run into arrays (query repeated, positions, XORs) before
comparing, which is memory-bound: ~300 M comparisons at 1 M photos. Here each comparison is a register XOR and
popcount, and only matches are written. ``AVAILABLE`` is False when numba is missing; ``hamming`` then falls
back to numpy (same results, slower).
"""

from __future__ import annotations

import numpy as np

try:
    from numba import njit
except ImportError:  # pragma: no cover - numba is a dependency; keep working without it
    AVAILABLE = False
else:
    AVAILABLE = True

if AVAILABLE:

    @njit(cache=True, nogil=True)
    def _popcount(x):  # SWAR popcount of a uint64
        x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
        x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
        x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
        return (x * np.uint64(0x0101010101010101)) >> np.uint64(56)

    @njit(cache=True, nogil=True)
    def counting_order(keys, starts):
        """Entry indices grouped by block key (``starts`` = run starts per key): an O(n) counting sort."""
        pos = starts[:-1].astype(np.int64)
        order = np.empty(len(keys), np.int64)
        for i in range(len(keys)):
            k = keys[i]
            order[pos[k]] = i
            pos[k] += 1
        return order

    @njit(cache=True, nogil=True)
    def scan_block(
        queries, shift, bits, masks, starts, order, sorted_hashes, radius, prev_shifts, prev_bits, block_radius
    ):
        """(query, entry, distance) of every entry within ``radius`` probed through this block, skipping pairs
        an earlier block (``prev_*``) already reports (the first block within ``block_radius`` owns a pair)."""
        cap = max(1024, len(queries))
        out_q = np.empty(cap, np.int64)
        out_e = np.empty(cap, np.int64)
        out_d = np.empty(cap, np.int16)
        n = 0
        key_mask = np.uint64((1 << bits) - 1)
        keys = (queries >> np.uint64(shift)) & key_mask
        # Queries in key order, one flip mask at a time: consecutive probes then read neighbouring runs
        # (a key with one bit flipped keeps the sort order locally), not random places in ~100 MB of table.
        qorder = np.argsort(keys)
        for m in masks:
            for qi in qorder:
                q = queries[qi]
                probe = np.int64(keys[qi] ^ m)
                for j in range(starts[probe], starts[probe + 1]):
                    h = sorted_hashes[j]
                    d = _popcount(q ^ h)
                    if d > radius:
                        continue
                    seen = False
                    for p in range(len(prev_shifts)):
                        pm = np.uint64((1 << prev_bits[p]) - 1)
                        ps = np.uint64(prev_shifts[p])
                        if _popcount(((q >> ps) & pm) ^ ((h >> ps) & pm)) <= block_radius:
                            seen = True
                            break
                    if seen:
                        continue
                    if n == cap:
                        cap *= 2
                        out_q = _grow(out_q, cap)
                        out_e = _grow(out_e, cap)
                        out_d = _grow(out_d, cap)
                    out_q[n] = qi
                    out_e[n] = order[j]
                    out_d[n] = d
                    n += 1
        return out_q[:n], out_e[:n], out_d[:n]

    @njit(cache=True, nogil=True)
    def _grow(a, cap):
        b = np.empty(cap, a.dtype)
        b[: len(a)] = a
        return b
