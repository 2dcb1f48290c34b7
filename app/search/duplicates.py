"""Duplicate candidates from the stored hashes, and groups with a suggested keeper.

A photo's primary pHash is looked up in a multi-index over every photo's 17 table entries: the 8 dihedral
pHashes (so a mirrored or rotated copy is a few bits away, not 30) and 9 sub-crop pHashes (so a small crop
of a photo is a few bits from one of them). Candidate pairs are then confirmed by pixels
(``imaging.pair_verify``) before they count as ``same``; identical bytes need no confirmation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from app.core.dupes import DupePhoto
from app.imaging.hashes import CROP_KINDS, PHASH_KINDS
from app.search.hamming import MultiIndex, as_u64

TABLE_KINDS = PHASH_KINDS + CROP_KINDS  # entry kind index: 0-7 dihedral turns, 8-16 sub-crops
# Kind of a pair proposed by shared keypoints (``search.keypoint_lsh``), not by a pHash: a copy turned by an
# arbitrary angle, checked through its keypoints (``imaging.turned_verify``).
TURNED_KIND = len(TABLE_KINDS)
CANDIDATE_RADIUS = 6  # pHash bits; balanced pHashes differ by even counts, so 6 == "under 8"
BLOCKS, BLOCK_RADIUS = 3, 1  # 3 blocks of 21-22 bits probed at radius 1: exact recall up to 5 bits


@dataclass(slots=True)
class HashTable:
    """Hashes of the photos being grouped, as arrays (row i is photo ``ids[i]``)."""

    ids: np.ndarray  # int64 photo ids
    primary: np.ndarray  # uint64 pHash
    entries: np.ndarray  # uint64, one per (photo, kind) present
    entry_row: np.ndarray  # int64 row of the photo an entry belongs to
    entry_kind: np.ndarray  # int8 index into TABLE_KINDS

    @classmethod
    def from_mapping(cls, hashes: dict[int, dict[str, int]]) -> HashTable:
        """From photo id -> {kind: signed value} (photos without a pHash are left out)."""
        ids = np.array(sorted(pid for pid, h in hashes.items() if "phash" in h), dtype=np.int64)
        primary = as_u64([hashes[int(p)]["phash"] for p in ids]) if len(ids) else np.zeros(0, np.uint64)
        vals, rows, kinds = [], [], []
        for row, pid in enumerate(ids):
            h = hashes[int(pid)]
            for k, kind in enumerate(TABLE_KINDS):
                if kind in h:
                    vals.append(h[kind])
                    rows.append(row)
                    kinds.append(k)
        return cls(
            ids,
            primary,
            as_u64(vals) if vals else np.zeros(0, np.uint64),
            np.array(rows, dtype=np.int64),
            np.array(kinds, dtype=np.int8),
        )

    @classmethod
    def from_arrays(cls, ids: np.ndarray, table: np.ndarray) -> HashTable:
        """From an (N, 17) uint64 matrix whose column 0 is the primary pHash (benchmarks, bulk loads)."""
        n, k = table.shape
        return cls(
            np.asarray(ids, np.int64),
            table[:, 0].copy(),
            table.ravel(),
            np.repeat(np.arange(n, dtype=np.int64), k),
            np.tile(np.arange(k, dtype=np.int8), n),
        )

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True, slots=True)
class Candidates:
    """Candidate pairs as rows of the table: entry ``kind`` of photo ``b`` is ``distance`` bits from photo ``a``.

    So ``b`` turned by ``TABLE_KINDS[kind]`` (or cropped that way) looks like ``a``.
    """

    a: np.ndarray
    b: np.ndarray
    distance: np.ndarray
    kind: np.ndarray

    def __len__(self) -> int:
        return len(self.a)

    def __add__(self, other: Candidates) -> Candidates:
        return Candidates(
            np.concatenate([self.a, other.a]),
            np.concatenate([self.b, other.b]),
            np.concatenate([self.distance.astype(np.int16), other.distance.astype(np.int16)]),
            np.concatenate([self.kind.astype(np.int8), other.kind.astype(np.int8)]),
        )


def find_candidates(table: HashTable, new_rows: np.ndarray | None = None, radius: int = CANDIDATE_RADIUS) -> Candidates:
    """Candidate pairs among the table's photos, each unordered pair once, closest variant kept.

    With ``new_rows``, only pairs touching those rows are searched (the library is not compared with
    itself again): new primaries against every entry, and every primary against the new rows' entries.
    """
    parts = []
    if new_rows is None:
        index = MultiIndex(table.entries, radius, BLOCKS, BLOCK_RADIUS)
        found = index.search(table.primary)
        parts.append((found.query, table.entry_row[found.entry], found.distance, table.entry_kind[found.entry]))
    else:
        new_rows = np.asarray(new_rows, dtype=np.int64)
        if not len(new_rows):
            return _empty()
        index = MultiIndex(table.entries, radius, BLOCKS, BLOCK_RADIUS)
        found = index.search(table.primary[new_rows])
        parts.append(
            (new_rows[found.query], table.entry_row[found.entry], found.distance, table.entry_kind[found.entry])
        )
        is_new = np.zeros(len(table), bool)
        is_new[new_rows] = True
        sel = np.nonzero(is_new[table.entry_row])[0]
        small = MultiIndex(table.entries[sel], radius, BLOCKS, BLOCK_RADIUS)
        found = small.search(table.primary)
        entry = sel[found.entry]
        parts.append((found.query, table.entry_row[entry], found.distance, table.entry_kind[entry]))
    a, b, d, k = (np.concatenate(x) for x in zip(*parts, strict=True))
    keep = a != b
    a, b, d, k = a[keep], b[keep], d[keep], k[keep]
    # One row per unordered pair: the smallest distance, dihedral turns before crops on a tie.
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    order = np.lexsort((k, d, hi, lo))
    lo_s, hi_s = lo[order], hi[order]
    first = np.ones(len(order), bool)
    first[1:] = (lo_s[1:] != lo_s[:-1]) | (hi_s[1:] != hi_s[:-1])
    pick = order[first]
    return Candidates(a[pick], b[pick], d[pick], k[pick])


class Links:
    """Union-find over photo rows: which photos are already known copies of each other.

    A candidate pair whose photos are already linked through other confirmed pairs needs no pixel check:
    it cannot change the groups (a group is a connected component). Checking the closest pairs first
    leaves about one check per photo of a group instead of one per pair.
    """

    def __init__(self, n: int) -> None:
        self._parent = np.arange(n, dtype=np.int64)

    def find(self, i: int) -> int:
        parent = self._parent
        root = i
        while parent[root] != root:
            root = int(parent[root])
        while parent[i] != root:  # path compression
            parent[i], i = root, int(parent[i])
        return root

    def union(self, i: int, j: int) -> None:
        ri, rj = self.find(i), self.find(j)
        if ri != rj:
            self._parent[max(ri, rj)] = min(ri, rj)

    def linked(self, i: int, j: int) -> bool:
        return self.find(i) == self.find(j)


def _empty() -> Candidates:
    z = np.zeros(0, np.int64)
    return Candidates(z, z, np.zeros(0, np.int16), np.zeros(0, np.int8))


def connected_groups(n: int, a: np.ndarray, b: np.ndarray) -> list[np.ndarray]:
    """Union-find over ``n`` nodes and edges ``a[i]-b[i]``: the components with two or more nodes."""
    if not len(a):
        return []
    graph = coo_matrix((np.ones(len(a), np.int8), (a, b)), shape=(n, n))
    count, labels = connected_components(graph, directed=False)
    sizes = np.bincount(labels, minlength=count)
    members = np.nonzero(sizes[labels] >= 2)[0]
    members = members[np.argsort(labels[members], kind="stable")]
    bounds = np.nonzero(np.diff(labels[members]))[0] + 1
    return np.split(members, bounds) if len(members) else []


_REENCODED_FORMATS = {"JPEG", "WEBP", "GIF"}


def choose_keeper(photos: Sequence[DupePhoto]) -> tuple[int, str]:
    """Index of the suggested keeper and the reason, by visible rules in order.

    Protected (reference) folder first, then largest pixel count, then original over re-encoded
    (camera metadata kept, or a lossless/raw format), then larger file, then earliest capture date.
    """

    def pixels(p: DupePhoto) -> int:
        return (p.width or 0) * (p.height or 0)

    def original(p: DupePhoto) -> int:
        return int(p.taken_at is not None) + int((p.format or "").upper() not in _REENCODED_FORMATS)

    def date(p: DupePhoto) -> str:
        return p.taken_at or "9999"  # no capture date sorts last

    rules = [
        ("in a protected folder", lambda p: -int(p.protected)),
        ("largest picture", lambda p: -pixels(p)),
        ("original rather than re-encoded", lambda p: -original(p)),
        ("largest file", lambda p: -p.size),
        ("earliest capture date", date),
        ("first by path", lambda p: p.path),
    ]
    # Each rule only breaks the ties the rules before it left: two equally large copies are still told
    # apart by format, file size and date, and the reason names every rule that decided something.
    pool = list(range(len(photos)))
    decided: list[str] = []
    for name, key in rules:
        best = min(key(photos[i]) for i in pool)
        winners = [i for i in pool if key(photos[i]) == best]
        if len(winners) < len(pool):
            decided.append(f"{name}{_detail(name, photos[winners[0]])}")
        pool = winners
        if len(pool) == 1:
            break
    k = pool[0]
    return k, f"keep {_short(photos[k])}: {', then '.join(decided) if decided else 'all equal'}"


def _short(p: DupePhoto) -> str:
    return p.path.rsplit("/", 1)[-1]


def _detail(rule: str, p: DupePhoto) -> str:
    if rule == "largest picture":
        return f" ({p.width}x{p.height})"
    if rule == "largest file":
        return f" ({p.size:,} bytes)"
    if rule == "earliest capture date":
        return f" ({p.taken_at})"
    if rule == "original rather than re-encoded":
        return f" ({p.format}{', camera metadata' if p.taken_at else ''})"
    return ""
