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


class VectorIndex:
    """Inner-product search over L2-normalised vectors keyed by region id."""

    def __init__(self, model: str, dim: int) -> None:
        self.model, self.dim = model, dim
        self.generation = 0
        self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        self._lock = ReadWriteLock()

    def __len__(self) -> int:
        return self._index.ntotal

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
            return int(self._index.remove_ids(faiss.IDSelectorBatch(arr)))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids) each of shape (n_queries, k); missing neighbours have id -1."""
        q = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        with self._lock.reading():
            return self._index.search(q, min(k, max(1, self._index.ntotal)))

    def contents(self) -> tuple[np.ndarray, np.ndarray]:
        """All (ids, vectors) sorted by id: for checks that a rebuild is identical."""
        with self._lock.reading():
            n = self._index.ntotal
            ids = faiss.vector_to_array(self._index.id_map).astype(np.int64)
            vecs = np.vstack([self._index.reconstruct(int(i)) for i in ids]) if n else np.zeros((0, self.dim))
        order = np.argsort(ids)
        return ids[order], vecs[order]

    def save(self, folder: Path, generation: int) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        base = folder / model_slug(self.model)
        with self._lock.reading():
            tmp = base.with_suffix(".faiss.tmp")
            faiss.write_index(self._index, str(tmp))
        os.replace(tmp, base.with_suffix(".faiss"))
        side = {"model": self.model, "dim": self.dim, "generation": generation, "count": len(self)}
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
        obj._index = index
        obj.generation = generation
        return obj

    @staticmethod
    def files(folder: Path, model: str) -> list[Path]:
        base = folder / model_slug(model)
        return [base.with_suffix(".faiss"), base.with_suffix(".json")]
