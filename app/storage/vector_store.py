"""Keeps one VectorIndex per model in step with the embeddings table: load, rebuild, apply, save.

Beside them, one :class:`RegionCatalog` maps the indexes' ids (region ids) to photos and boxes in memory.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np

from app.storage.region_catalog import RegionCatalog
from app.storage.repository import PhotoRepository, VectorChanges
from app.storage.vector_index import VectorIndex

log = logging.getLogger(__name__)


class VectorStore:
    """The FAISS caches of a library. ``can_save`` is False for a process without the writer lock."""

    def __init__(self, repo: PhotoRepository, folder: Path, can_save: bool) -> None:
        self._repo, self._folder, self.can_save = repo, folder, can_save
        self._indexes: dict[str, VectorIndex] = {}
        self.catalog = RegionCatalog(repo.engine)
        self._lock = threading.Lock()
        self.rebuilt: list[str] = []

    def get(self, model: str) -> VectorIndex | None:
        """The index for ``model`` (None when no vector of it exists), loaded or rebuilt on first use."""
        with self._lock:
            if model in self._indexes:
                return self._indexes[model]
            count = self._repo.embedding_count(model)
            if count == 0:
                return None
            generation = self._repo.generation(model)
            index = VectorIndex.load(self._folder, model, generation, count)
            if index is None:
                index = self._rebuild(model, generation)
            self._indexes[model] = index
            return index

    def _rebuild(self, model: str, generation: int) -> VectorIndex:
        log.info("rebuilding the vector index for %s from the database", model)
        index: VectorIndex | None = None
        for ids, vecs in self._repo.iter_embeddings(model):
            if index is None:
                index = VectorIndex(model, vecs.shape[1])
            index.add(ids, vecs)
        assert index is not None
        index.compact()
        index.generation = generation
        self.rebuilt.append(model)
        if self.can_save:
            index.save(self._folder, generation)
        return index

    def ensure_all(self) -> None:
        """Load or rebuild the index of every model that has vectors."""
        for model in self._repo.embedding_models():
            self.get(model)

    def apply(self, changes: VectorChanges) -> None:
        """Mirror a committed batch. Indexes not loaded yet are left to load (or rebuild) later."""
        self.catalog.note_changes(
            (i for items in changes.added.values() for i, _ in items),
            (i for ids in changes.removed.values() for i in ids),
        )
        for model in set(changes.added) | set(changes.removed):
            index = self._indexes.get(model)
            if index is None:
                if changes.added.get(model):
                    index = self.get(model)  # loads what the DB now holds, this batch included
                continue
            if changes.removed.get(model):
                index.remove(changes.removed[model])
            if changes.added.get(model):
                items = changes.added[model]
                index.add(np.array([i for i, _ in items], dtype=np.int64), np.vstack([v for _, v in items]))

    def save(self) -> None:
        """Write every loaded index whose generation moved, atomically."""
        if not self.can_save:
            return
        with self._lock:
            items = list(self._indexes.items())
        for model, index in items:
            generation = self._repo.generation(model)
            if index.compact():  # grew past the exact-scan size during this run
                index.generation = -1
            if generation != index.generation:
                index.save(self._folder, generation)
