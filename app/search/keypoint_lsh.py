"""Candidate pairs of photos that share many keypoints, from their stored binary codes, without all pairs.

Why: a copy turned by an arbitrary angle (or straightened: turned a few degrees and cropped) has a pHash
30 bits from the original's, so the hash path never proposes it. Its SIFT keypoints are rotation-invariant:
about half of the original's stored index keypoints come back, each with a 256-bit code ~18 bits from the
original's (measured on the quality set: straighten copies, median).

Bit-sampling LSH (Indyk & Motwani) over those codes: each code is cut into ``BLOCKS`` blocks of 32 bits and
each block is a bucket key. A matching keypoint keeps one block intact with probability ~0.09 per block,
so a copy collides with its original dozens of times; two unrelated codes almost never share a 32-bit
block. Photos are voted for per collision, and a pair with ``MIN_VOTES`` votes is a candidate. A bucket
holding more than ``MAX_BUCKET`` codes is a common pattern (flat sky, a repeated texture) that says
nothing, and is skipped: so the pairs enumerated are at most ``keys * MAX_BUCKET / 2``, linear in the
library, and the cost is one sort per block.

Measured on the ``bench_dupes_quality`` set (3,475 photos, 1.44 M codes): with 8 blocks, buckets of at
most 16 and 12 votes, 12,047 candidate pairs; every straighten and rotation copy pair among them, 36 % of
the Holidays/UKBench other-shot pairs (the pixel check then decides). 8 votes gave 13,899 pairs and
no more copies: 1,850 more checks of unrelated photos. Visual-word min-hash (Chum et al.
2008) over the stored vocabulary cells was tried first and dropped: the cells are too unstable under a
turn (41 % of the repeated keypoints keep their cell), so a straightened copy's word-set Jaccard is
0.13 (median) against 0.03 for unrelated photos, far too close for min-hash bands.
"""

from __future__ import annotations

import numpy as np

BLOCKS = 8  # 32-bit blocks of a 256-bit code, each one bucket key
MAX_BUCKET = 16
MIN_VOTES = 12


def candidate_pairs(
    codes: np.ndarray, owner: np.ndarray, new_rows: np.ndarray | None = None, min_votes: int = MIN_VOTES
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs of photos (a < b, rows as in ``owner``) with at least ``min_votes`` colliding code blocks.

    ``codes`` is (n, 32) uint8, one row per keypoint, ``owner`` (n,) the photo row of each. With
    ``new_rows`` only pairs touching one of those rows are returned (a scan compares new photos with the
    library, not the library with itself again). Returns (a, b, votes).
    """
    owner = np.asarray(owner, np.int64)
    n = int(owner.max()) + 1 if len(owner) else 0
    z = np.zeros(0, np.int64)
    if n == 0:
        return z, z, z
    is_new = np.ones(n, bool) if new_rows is None else np.zeros(n, bool)
    if new_rows is not None:
        is_new[np.asarray(new_rows, np.int64)] = True
    blocks = np.ascontiguousarray(codes, np.uint8).view(np.uint32)[:, :BLOCKS]
    new_kp = None if new_rows is None else is_new[owner]
    if new_kp is not None and new_kp.mean() > 0.05:
        new_kp = None  # many new photos: sorting everything is cheaper than filtering (pairs still touch them)
    found = []
    for j in range(blocks.shape[1]):
        col, who_all = blocks[:, j], owner
        if new_kp is not None:  # only buckets holding a new photo's key matter: sort just those codes
            pick = _sharing(col, np.unique(col[new_kp]))
            col, who_all = col[pick], owner[pick]
        order = np.lexsort((who_all, col))
        keys, who = col[order], who_all[order]
        starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
        sizes = np.diff(np.r_[starts, len(keys)])
        usable = (sizes >= 2) & (sizes <= MAX_BUCKET)
        # Every pair inside a usable bucket, vectorised: position p pairs with the rest of its bucket.
        in_usable = np.repeat(usable, sizes)
        end = np.repeat(starts + sizes, sizes)[in_usable]
        pos = np.flatnonzero(in_usable)
        count = end - pos - 1
        first = np.repeat(pos, count)
        second = first + 1 + np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
        a, b = who[first], who[second]
        keep = (a != b) & (is_new[a] | is_new[b])
        found.append(np.minimum(a[keep], b[keep]) * n + np.maximum(a[keep], b[keep]))
    pair, votes = np.unique(np.concatenate(found), return_counts=True)
    pair, votes = pair[votes >= min_votes], votes[votes >= min_votes]
    return pair // n, pair % n, votes


_FILTER_BITS = 24


def _sharing(keys: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Indices of ``keys`` equal to one of ``wanted`` (sorted, unique). A bit table of the low 24 bits
    passes a few hundredths of the library first, so a scan of a few new photos never sorts it all."""
    table = np.zeros(1 << _FILTER_BITS, bool)
    table[wanted & ((1 << _FILTER_BITS) - 1)] = True
    idx = np.flatnonzero(table[keys & np.uint32((1 << _FILTER_BITS) - 1)])
    sub = keys[idx]
    at = np.minimum(np.searchsorted(wanted, sub), len(wanted) - 1)
    return idx[wanted[at] == sub] if len(wanted) else idx[:0]
