"""The FAISS index of local-feature codes, built in memory from the ``local_features`` table.

The table is the only place codes are stored: a saved FAISS copy would hold every code a second time
(it did, and cost more than the table itself). Building a flat binary index is a copy, so it is
rebuilt on open. Past ``IVF_FROM`` codes an ``IndexBinaryIVF`` is used whose coarse quantizer is the
fixed vocabulary shipped with the app; each keypoint's cell was computed when its photo was indexed
and is stored with it, so the IVF too is filled without assigning millions of codes on open (200k
codes took 6 s against 512 lists on the loaded 2-core machine: ~10 min for 10,000 photos' 4.5M).

Every stored keypoint is one row: FAISS ids are row numbers, and per row the index keeps its photo
id and geometry (position, orientation, size), which the vote needs to check that the matches agree
on one transform. Kept in step with SQLite by a per-photo ``seq`` (rows with a larger seq are
rewritten photos) and by dropping photos the table no longer has.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from app.storage.features_repo import GEOMETRY, FeaturesRepository, StoredFeatures, unpack_geometry
from app.storage.vector_index import ReadWriteLock

log = logging.getLogger(__name__)

IVF_FROM = 400_000  # codes (~900 photos): below, an exact scan is fast enough
NPROBE = 32  # of 2,048 lists
_LEGACY = ("local_features.faissb", "local_features.seqs.npy", "local_features.json")


@dataclass(slots=True)
class Neighbours:
    """Nearest stored codes of each query code: all (n, k); missing neighbours have photo id -1."""

    distances: np.ndarray  # Hamming distances
    photo_ids: np.ndarray
    rows: np.ndarray  # keypoint rows (one stored keypoint each)
    geometry: np.ndarray  # (n, k, 4) float32: x, y, angle, size in the photo's working image


class FeatureIndex:
    """Codes -> keypoint rows -> (photo id, geometry), with a per-photo seq to catch up with the table."""

    def __init__(self, bits: int, index: faiss.IndexBinary | None = None) -> None:
        self.bits = bits
        self._index = index if index is not None else faiss.IndexBinaryIDMap2(faiss.IndexBinaryFlat(bits))
        self._photo = np.zeros(0, np.int64)  # row -> photo id, -1 once the photo is gone
        self._geo = np.zeros(0, GEOMETRY)
        self.rows: dict[int, tuple[int, int]] = {}  # photo id -> (first row, end row)
        self.seqs: dict[int, int] = {}  # photo id -> seq of the table row it holds
        self.signature = (0, 0)
        self._lock = ReadWriteLock()

    @property
    def ntotal(self) -> int:
        return int(self._index.ntotal)

    @property
    def is_ivf(self) -> bool:
        return isinstance(self._index, faiss.IndexBinaryIVF)

    def search(self, codes: np.ndarray, k: int) -> Neighbours:
        q = np.ascontiguousarray(codes, dtype=np.uint8)
        with self._lock.reading():
            if self._index.ntotal == 0 or len(q) == 0:
                dist = np.full((len(q), k), self.bits, np.int32)
                rows = np.full((len(q), k), -1, np.int64)
            else:
                dist, rows = self._index.search(q, k)
            safe = np.maximum(rows, 0)
            pids = np.where(rows >= 0, self._photo[safe] if len(self._photo) else -1, -1)
            geo = self._geo[safe] if len(self._geo) else np.zeros(safe.shape, GEOMETRY)
        return Neighbours(dist, pids, rows, unpack_geometry(geo.ravel()).reshape(*rows.shape, 4))

    def add(self, items: list[tuple[int, StoredFeatures]]) -> None:
        """(seq, features) rows, replacing what those photos had."""
        if not items:
            return
        self.remove([f.photo_id for _, f in items if f.photo_id in self.seqs])
        with self._lock.writing():
            start = len(self._photo)
            photo, geo, codes = [], [], []
            for seq, f in items:
                self.seqs[f.photo_id] = seq
                n = len(f.codes)
                self.rows[f.photo_id] = (start, start + n)
                start += n
                if n:
                    photo.append(np.full(n, f.photo_id, np.int64))
                    geo.append(f.geometry)
                    codes.append(f.codes)
            if not codes:
                return
            ids = np.arange(len(self._photo), start, dtype=np.int64)
            self._photo = np.concatenate([self._photo, *photo])
            self._geo = np.concatenate([self._geo, *geo])
            x = np.ascontiguousarray(np.vstack(codes), np.uint8)
            if self.is_ivf:  # the cells stored with the keypoints are their lists
                cells = np.ascontiguousarray(np.concatenate(geo)["cell"], np.int64)
                self._index.add_core(len(x), faiss.swig_ptr(x), faiss.swig_ptr(ids), faiss.swig_ptr(cells))
            else:
                self._index.add_with_ids(x, ids)

    def remove(self, photo_ids: list[int]) -> None:
        if not photo_ids:
            return
        with self._lock.writing():
            ranges = [self.rows.pop(pid) for pid in photo_ids if pid in self.rows]
            dead = np.concatenate([np.arange(a, b, dtype=np.int64) for a, b in ranges] or [np.zeros(0, np.int64)])
            if len(dead):
                self._index.remove_ids(faiss.IDSelectorBatch(dead))
                self._photo[dead] = -1
            for pid in photo_ids:
                self.seqs.pop(pid, None)


def _ivf_from(centroids: np.ndarray, bits: int) -> faiss.IndexBinaryIVF:
    quantizer = faiss.IndexBinaryFlat(bits)
    quantizer.add(np.ascontiguousarray(centroids, np.uint8))
    ivf = faiss.IndexBinaryIVF(quantizer, bits, len(centroids))
    ivf.own_fields = True
    quantizer.this.disown()
    ivf.is_trained = True
    ivf.nprobe = NPROBE
    return ivf


class FeatureStore:
    """Keeps one in-memory FeatureIndex in step with the table: build on first use, catch up after."""

    def __init__(
        self,
        repo: FeaturesRepository,
        folder: Path,
        version: str,
        can_save: bool,
        vocabulary: np.ndarray | None = None,
        bits: int = 256,
    ) -> None:
        self._repo, self._folder, self._version, self.can_save = repo, folder, version, can_save
        self._vocabulary, self._bits = vocabulary, bits
        self._index: FeatureIndex | None = None
        self._lock = threading.Lock()

    def get(self) -> FeatureIndex:
        """The index, brought up to date with the table first (cheap when nothing changed)."""
        with self._lock:
            sig = self._repo.signature()
            grown = self._index is not None and not self._index.is_ivf and self._index.ntotal > IVF_FROM
            if self._index is None or (grown and self._vocabulary is not None):
                self._index = self._build()
            if self._index.signature != sig:
                self._catch_up(self._index)
                self._index.signature = sig
            return self._index

    def _build(self) -> FeatureIndex:
        rows = list(self._repo.iter_after(0, self._version))
        n = sum(len(f.codes) for _, f in rows)
        if n <= IVF_FROM or self._vocabulary is None:
            index = FeatureIndex(self._bits)
        else:
            log.info("local-feature index: %d codes, IVF", n)
            index = FeatureIndex(self._bits, _ivf_from(self._vocabulary, self._bits))
        for i in range(0, len(rows), 2000):
            index.add(rows[i : i + 2000])
        return index

    def _catch_up(self, index: FeatureIndex) -> None:
        in_db = self._repo.ids_and_seqs()
        index.remove([pid for pid, seq in index.seqs.items() if in_db.get(pid) != seq])
        start = min((seq for pid, seq in in_db.items() if index.seqs.get(pid) != seq), default=None)
        if start is None:
            return
        batch: list[tuple[int, StoredFeatures]] = []
        for seq, feats in self._repo.iter_after(start - 1, self._version):
            if index.seqs.get(feats.photo_id) != seq:
                batch.append((seq, feats))
            if len(batch) >= 2000:
                index.add(batch)
                batch = []
        index.add(batch)

    def save(self) -> None:
        """Nothing of the index itself is saved; files of the old saved-copy format are removed."""
        if not self.can_save:
            return
        for name in _LEGACY:
            (self._folder / name).unlink(missing_ok=True)

    def file_bytes(self) -> int:
        """Bytes of files kept beside the table: none (the vocabulary ships with the app, 64 KB)."""
        return sum((self._folder / n).stat().st_size for n in _LEGACY if (self._folder / n).exists())

    def stored_bytes(self) -> tuple[int, int]:
        """(photos with features, bytes of their codes and geometry in the database)."""
        return self._repo.stored_bytes()
