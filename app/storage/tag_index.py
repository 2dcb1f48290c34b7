"""Every photo's tags in memory, for instant tag search: tag -> (sorted photo ids, strengths).

Loaded from SQLite on first use and again whenever the tags' generation counter (bumped by every tag
write, in any process) moves; one tiny read per query checks it. At 100,000 photos with ~3 tags each
the load is well under a second and a query is a few numpy look-ups, where a SQL fetch of a common
tag's rows alone takes tens of milliseconds.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Sequence

import numpy as np

from app.storage.tags_repo import TagsRepository

Strength = Callable[[str, float], float]


class TagIndex:
    def __init__(self, repo: TagsRepository, strength: Strength) -> None:
        self.repo, self._strength = repo, strength
        self._lock = threading.Lock()
        self._gen = -1
        self._by_tag: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._counts: list[tuple[str, int, dict[str, int]]] = []

    def _refresh(self) -> None:
        gen = self.repo.generation()
        if gen == self._gen:
            return
        best: dict[str, dict[int, float]] = defaultdict(dict)
        sources: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for pid, tag, source, score in self.repo.effective_rows():
            s = self._strength(source, score)
            seen = best[tag]
            if s > seen.get(pid, -1.0):
                seen[pid] = s
            sources[tag][source] += 1  # rows are unique per (photo, tag, source)
        by_tag = {}
        for tag, found in best.items():
            ids = np.fromiter(found.keys(), np.int64, len(found))
            vals = np.fromiter(found.values(), np.float32, len(found))
            order = np.argsort(ids, kind="stable")
            by_tag[tag] = (ids[order], vals[order])
        self._by_tag, self._gen = by_tag, gen
        self._counts = sorted(((t, len(by_tag[t][0]), dict(sources[t])) for t in by_tag), key=lambda c: (-c[1], c[0]))

    def matching(self, tags: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(photo ids, mean strength) of the photos showing every one of ``tags``."""
        with self._lock:
            self._refresh()
            parts = [self._by_tag.get(t) for t in dict.fromkeys(tags)]
        if not parts or any(p is None for p in parts):
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        ids, total = parts[0]  # type: ignore[misc]
        total = total.astype(np.float64)
        for other_ids, other_vals in parts[1:]:  # type: ignore[misc]
            ids, a, b = np.intersect1d(ids, other_ids, assume_unique=True, return_indices=True)
            total = total[a] + other_vals[b]
        return ids, (total / len(parts)).astype(np.float32)

    def counts(self) -> list[tuple[str, int, dict[str, int]]]:
        """Every tag in use: (tag, photos showing it, photos per source), most used first."""
        with self._lock:
            self._refresh()
            return list(self._counts)

    def known(self) -> list[str]:
        with self._lock:
            self._refresh()
            return list(self._by_tag)
