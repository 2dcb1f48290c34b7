"""The FAISS index of local-feature codes: a derived cache of the ``local_features`` table.

Binary codes (256 bits) under their photo's id: an exact ``IndexBinaryFlat`` while the library is
small, an ``IndexBinaryIVF`` (trained on the library's own codes) once it holds more than
``IVF_FROM`` codes, where the exact scan would cost more than the query budget. Kept in step with
SQLite by catching up on rows with a larger ``seq`` (rewritten photos) and dropping ids the table no
longer has (deleted photos), so a batch of new photos never costs a rebuild. Saved atomically with
a sidecar naming the (count, seq) it reflects; anything that does not match is rebuilt.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path

import faiss
import numpy as np

from app.storage.features_repo import FeaturesRepository
from app.storage.vector_index import ReadWriteLock

log = logging.getLogger(__name__)

BITS = 256
IVF_FROM = 400_000  # codes; ~1,250 photos
NPROBE = 12
_FILE = "local_features"


def _nlist(n: int) -> int:
    return int(min(8192, max(256, 2 ** round(np.log2(max(1, n) ** 0.5 * 4)))))


class FeatureIndex:
    """Codes -> photo ids, with a per-photo seq so it can catch up with the table."""

    def __init__(self, index: faiss.IndexBinary | None = None) -> None:
        self._index = index if index is not None else faiss.IndexBinaryIDMap2(faiss.IndexBinaryFlat(BITS))
        self.seqs: dict[int, int] = {}  # photo id -> seq of the row it holds
        self.signature = (0, 0)
        self._lock = ReadWriteLock()

    @property
    def ntotal(self) -> int:
        return int(self._index.ntotal)

    @property
    def is_ivf(self) -> bool:
        return isinstance(self._index, faiss.IndexBinaryIVF)

    def search(self, codes: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(Hamming distances, photo ids), each (n, k); missing neighbours have id -1."""
        q = np.ascontiguousarray(codes, dtype=np.uint8)
        with self._lock.reading():
            if self._index.ntotal == 0:
                return np.full((len(q), k), BITS, np.int32), np.full((len(q), k), -1, np.int64)
            return self._index.search(q, k)

    def add(self, items: list[tuple[int, int, np.ndarray]]) -> None:
        """(photo id, seq, codes) rows, replacing what those photos had."""
        if not items:
            return
        self.remove([pid for pid, _, _ in items if pid in self.seqs])
        codes = [c for _, _, c in items if len(c)]
        with self._lock.writing():
            if codes:
                ids = np.concatenate([np.full(len(c), pid, np.int64) for pid, _, c in items if len(c)])
                self._index.add_with_ids(np.ascontiguousarray(np.vstack(codes), np.uint8), ids)
            for pid, seq, _ in items:
                self.seqs[pid] = seq

    def remove(self, photo_ids: list[int]) -> None:
        if not photo_ids:
            return
        with self._lock.writing():
            self._index.remove_ids(faiss.IDSelectorBatch(np.asarray(photo_ids, np.int64)))
            for pid in photo_ids:
                self.seqs.pop(pid, None)

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        base = folder / _FILE
        with self._lock.reading():
            faiss.write_index_binary(self._index, str(base.with_suffix(".faissb.tmp")))
            seqs = np.array(sorted(self.seqs.items()), np.int64).reshape(-1, 2)
        os.replace(base.with_suffix(".faissb.tmp"), base.with_suffix(".faissb"))
        with open(base.with_suffix(".seqs.tmp"), "wb") as fh:
            np.save(fh, seqs)
        os.replace(base.with_suffix(".seqs.tmp"), base.with_suffix(".seqs.npy"))
        tmp = base.with_suffix(".json.tmp")
        tmp.write_text(json.dumps({"signature": list(self.signature), "ntotal": self.ntotal}), encoding="utf-8")
        os.replace(tmp, base.with_suffix(".json"))

    @classmethod
    def load(cls, folder: Path) -> FeatureIndex | None:
        base = folder / _FILE
        try:
            side = json.loads(base.with_suffix(".json").read_text(encoding="utf-8"))
            index = faiss.read_index_binary(str(base.with_suffix(".faissb")))
            seqs = np.load(base.with_suffix(".seqs.npy"))
        except (OSError, ValueError, RuntimeError) as exc:
            log.info("local-feature index not usable (%s): rebuilding", exc)
            return None
        if index.ntotal != side.get("ntotal") or index.d != BITS:
            return None
        obj = cls(index)
        obj.seqs = {int(a): int(b) for a, b in seqs}
        obj.signature = tuple(side["signature"])  # type: ignore[assignment]
        if obj.is_ivf:
            index.nprobe = NPROBE
        return obj

    @staticmethod
    def file_bytes(folder: Path) -> int:
        base = folder / _FILE
        return sum(p.stat().st_size for p in (base.with_suffix(".faissb"), base.with_suffix(".seqs.npy")) if p.exists())


def _train_ivf(sample: np.ndarray, n_total: int) -> faiss.IndexBinaryIVF:
    quantizer = faiss.IndexBinaryFlat(BITS)
    ivf = faiss.IndexBinaryIVF(quantizer, BITS, _nlist(n_total))
    ivf.own_fields = True
    quantizer.this.disown()
    ivf.train(np.ascontiguousarray(sample, np.uint8))
    ivf.nprobe = NPROBE
    return ivf


class FeatureStore:
    """Keeps one FeatureIndex in step with the table: load, catch up, rebuild as IVF when large, save."""

    def __init__(self, repo: FeaturesRepository, folder: Path, version: str, can_save: bool) -> None:
        self._repo, self._folder, self._version, self.can_save = repo, folder, version, can_save
        self._index: FeatureIndex | None = None
        self._lock = threading.Lock()
        self._dirty = False

    def get(self) -> FeatureIndex:
        """The index, brought up to date with the table first (cheap when nothing changed)."""
        with self._lock:
            sig = self._repo.signature()
            if self._index is None:
                self._index = FeatureIndex.load(self._folder) or FeatureIndex()
            if self._index.signature != sig:
                self._catch_up(sig)
            return self._index

    def _catch_up(self, sig: tuple[int, int]) -> None:
        index = self._index
        assert index is not None
        in_db = self._repo.ids_and_seqs()
        gone = [pid for pid, seq in index.seqs.items() if in_db.get(pid) != seq]
        index.remove(gone)
        start = min((seq for pid, seq in in_db.items() if index.seqs.get(pid) != seq), default=None)
        if start is not None:
            batch: list[tuple[int, int, np.ndarray]] = []
            for seq, feats in self._repo.iter_after(start - 1, self._version):
                if index.seqs.get(feats.photo_id) != seq:
                    batch.append((feats.photo_id, seq, feats.codes))
                if len(batch) >= 2000:
                    index.add(batch)
                    batch = []
            index.add(batch)
        if not index.is_ivf and index.ntotal > IVF_FROM:
            index = self._rebuild_ivf(index)
        index.signature = sig
        self._index = index
        self._dirty = True

    def _rebuild_ivf(self, flat: FeatureIndex) -> FeatureIndex:
        """Train an IVF on a sample of the codes and move every photo into it."""
        log.info("local-feature index: %d codes, switching to IVF", flat.ntotal)
        rows = list(self._repo.iter_after(0, self._version))
        all_codes = np.vstack([f.codes for _, f in rows if len(f.codes)])
        rng = np.random.default_rng(0)
        sample_n = min(len(all_codes), _nlist(len(all_codes)) * 64)
        sample = all_codes[rng.choice(len(all_codes), sample_n, replace=False)]
        ivf = FeatureIndex(_train_ivf(sample, len(all_codes)))  # IVF lists keep the ids themselves
        ivf.add([(f.photo_id, seq, f.codes) for seq, f in rows])
        return ivf

    def save(self) -> None:
        with self._lock:
            if self.can_save and self._index is not None and self._dirty:
                self._index.save(self._folder)
                self._dirty = False

    def file_bytes(self) -> int:
        """Bytes of the saved FAISS cache (codes, ids, per-photo seqs)."""
        return FeatureIndex.file_bytes(self._folder)

    def stored_bytes(self) -> tuple[int, int]:
        """(photos with features, bytes of their codes and positions in the database)."""
        return self._repo.stored_bytes()
