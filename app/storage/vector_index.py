"""FAISS vector index per embedding model: a derived cache of the embeddings table.

Saved atomically (temp file + ``os.replace``) with a sidecar naming the DB generation it reflects;
a missing, unreadable, stale or other-model file is rebuilt from SQLite.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Iterable
from contextlib import contextmanager
from pathlib import Path

import faiss
import numpy as np

log = logging.getLogger(__name__)


class ReadWriteLock:
    """Many concurrent searches or one writer: FAISS CPU indexes allow parallel reads only."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writing = False

    @contextmanager
    def reading(self):
        with self._cond:
            while self._writing:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextmanager
    def writing(self):
        with self._cond:
            while self._writing or self._readers:
                self._cond.wait()
            self._writing = True
        try:
            yield
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()


def model_slug(model: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", model)


# Below this many vectors an exact scan is fast enough (~20 ms at 250k x 512 on 2 cores) and needs no
# training; above it the index becomes IVF with 8-bit codes: a query scans ~1/16 of the lists (~2 ms at
# 1M vectors instead of ~85 ms for the flat scan) and the vectors take a quarter of the memory.
IVF_MIN_VECTORS = 250_000
IVF_TRAIN_PER_LIST = 40  # k-means sample per list (faiss warns below 39)
IVF_PROBE_FRACTION = 16  # nprobe = nlist / this


def ivf_lists(n: int) -> int:
    """Inverted lists for ``n`` vectors: about sqrt(n), a power of two in [256, 4096]."""
    return int(min(4096, max(256, 2 ** round(np.log2(max(1.0, np.sqrt(n)))))))


class VectorIndex:
    """Inner-product search over L2-normalised vectors keyed by region id.

    Exact (flat) while small; :meth:`compact` turns a large one into IVF-SQ8 (approximate, see
    ``IVF_MIN_VECTORS``). Both keep arbitrary int64 ids, incremental adds and removes, and lookups of
    stored vectors by id (:meth:`vectors_of`).
    """

    def __init__(self, model: str, dim: int) -> None:
        self.model, self.dim = model, dim
        self.generation = 0
        self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        self._lock = ReadWriteLock()

    def __len__(self) -> int:
        return self._index.ntotal

    @property
    def kind(self) -> str:
        return "ivf" if isinstance(self._index, faiss.IndexIVF) else "flat"

    @property
    def nprobe(self) -> int:
        return max(1, self._index.nlist // IVF_PROBE_FRACTION) if self.kind == "ivf" else 0

    def memory_bytes(self) -> int:
        """Approximate resident size: vector codes, ids and the id -> vector map."""
        n = self._index.ntotal
        if self.kind == "ivf":
            codes = n * (self._index.code_size + 8)
            return codes + n * 16 + self._index.nlist * self.dim * 4  # + direct-map hash table, centroids
        return n * (self.dim * 4 + 8) + n * 32  # + IDMap2's reverse map

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids) == 0:
            return
        with self._lock.writing():
            self._index.add_with_ids(
                np.ascontiguousarray(vectors, dtype=np.float32), np.ascontiguousarray(ids, dtype=np.int64)
            )

    def remove(self, ids: Iterable[int]) -> int:
        arr = np.fromiter(ids, dtype=np.int64)
        if arr.size == 0:
            return 0
        with self._lock.writing():
            # IDSelectorArray: the only selector the IVF direct map's hash table accepts.
            return int(self._index.remove_ids(faiss.IDSelectorArray(arr)))

    def search(self, queries: np.ndarray, k: int, exhaustive: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids) each of shape (n_queries, k); missing neighbours have id -1.

        ``exhaustive`` probes every IVF list (exact up to the 8-bit codes; for "rank everything").
        """
        q = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        k = min(k, max(1, self._index.ntotal))
        with self._lock.reading():
            if self.kind == "ivf":
                params = faiss.SearchParametersIVF()
                params.nprobe = self._index.nlist if exhaustive else self.nprobe
                return self._index.search(q, k, params=params)
            return self._index.search(q, k)

    def vectors_of(self, ids: np.ndarray) -> np.ndarray:
        """The stored vectors of ``ids`` (float32, one row each); rows of unknown ids are NaN."""
        ids = np.asarray(ids, dtype=np.int64).ravel()
        out = np.full((len(ids), self.dim), np.nan, dtype=np.float32)
        with self._lock.reading():
            for row, rid in enumerate(ids.tolist()):
                try:
                    out[row] = self._index.reconstruct(rid)
                except RuntimeError:  # not in the index (faiss raises for unknown ids)
                    continue
        return out

    def _all_ids(self) -> np.ndarray:
        if self.kind == "ivf":
            inv = self._index.invlists
            parts = [
                faiss.rev_swig_ptr(inv.get_ids(i), inv.list_size(i)).copy()
                for i in range(self._index.nlist)
                if inv.list_size(i)
            ]
            return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)
        return faiss.vector_to_array(self._index.id_map).astype(np.int64)

    def contents(self) -> tuple[np.ndarray, np.ndarray]:
        """All (ids, vectors) sorted by id: for checks that a rebuild is identical."""
        with self._lock.reading():
            ids = np.sort(self._all_ids())
        vecs = self.vectors_of(ids) if len(ids) else np.zeros((0, self.dim), np.float32)
        return ids, vecs

    def compact(self, min_vectors: int = IVF_MIN_VECTORS) -> bool:
        """Turn a flat index of at least ``min_vectors`` vectors into IVF-SQ8; True if it did.

        Trained once on a sample of what it holds; later additions are assigned to those lists.
        """
        n = len(self)
        if self.kind != "flat" or n < min_vectors:
            return False
        with self._lock.reading():
            ids = faiss.vector_to_array(self._index.id_map).astype(np.int64)
            flat = faiss.downcast_index(self._index.index)
            vectors = faiss.rev_swig_ptr(flat.get_xb(), n * self.dim).reshape(n, self.dim).copy()
        nlist = ivf_lists(n)
        ivf = faiss.IndexIVFScalarQuantizer(
            faiss.IndexFlatIP(self.dim), self.dim, nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
        )
        sample = np.random.default_rng(0).choice(n, min(n, nlist * IVF_TRAIN_PER_LIST), replace=False)
        ivf.train(vectors[np.sort(sample)])
        ivf.set_direct_map_type(faiss.DirectMap.Hashtable)  # vectors_of() and remove() by id
        ivf.add_with_ids(vectors, ids)
        del vectors
        with self._lock.writing():
            self._index = ivf
        log.info("vector index for %s: %d vectors now IVF%d,SQ8", self.model, n, nlist)
        return True

    def save(self, folder: Path, generation: int) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        base = folder / model_slug(self.model)
        with self._lock.reading():
            tmp = base.with_suffix(".faiss.tmp")
            faiss.write_index(self._index, str(tmp))
        os.replace(tmp, base.with_suffix(".faiss"))
        side = {"model": self.model, "dim": self.dim, "generation": generation, "count": len(self), "kind": self.kind}
        tmp_side = base.with_suffix(".json.tmp")
        tmp_side.write_text(json.dumps(side), encoding="utf-8")
        os.replace(tmp_side, base.with_suffix(".json"))
        self.generation = generation

    @classmethod
    def load(cls, folder: Path, model: str, generation: int, count: int) -> VectorIndex | None:
        """The saved index if it matches the DB's generation and count, else None (caller rebuilds)."""
        base = folder / model_slug(model)
        try:
            side = json.loads(base.with_suffix(".json").read_text(encoding="utf-8"))
            if side.get("model") != model or side.get("generation") != generation:
                return None
            index = faiss.read_index(str(base.with_suffix(".faiss")))
        except (OSError, ValueError, RuntimeError) as exc:
            log.info("vector index for %s not usable (%s): rebuilding", model, exc)
            return None
        if index.ntotal != count or index.d != side.get("dim"):
            return None
        obj = cls(model, index.d)
        obj._index = index  # read_index returns the concrete type (IndexIDMap2 or IndexIVFScalarQuantizer)
        obj.generation = generation
        return obj

    @staticmethod
    def files(folder: Path, model: str) -> list[Path]:
        base = folder / model_slug(model)
        return [base.with_suffix(".faiss"), base.with_suffix(".json")]
