"""Colour descriptors: SQL (written in the fast pass's transaction, back-filled later) and the in-memory
matrix with its FAISS indexes that answer colour and palette queries.

The matrix (photos x 64 bytes) is read from SQLite once and then kept up to date by ``seq``: rows
written since the last look are read and patched in; a row count that does not add up (deletions)
reloads it. At 100,000 photos it is 6.4 MB; the float copies FAISS searches are built on first use.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import faiss
import numpy as np
from sqlalchemy import Connection, Engine, delete, func, insert, select

from app.core.models import PhotoState
from app.storage.schema import photos
from app.storage.schema_tags import photo_colours

BINS = 64
RECOUNT_S = 10.0


@contextmanager
def _one_thread() -> Iterator[None]:
    """Run FAISS on the calling thread alone. One query over a flat index gains nothing from OpenMP, and on
    a busy machine waiting for a second thread cost 40 ms where the scan itself takes under 1 ms
    (measured at 100,000 photos). ``omp_set_num_threads`` is per calling thread, so others are untouched."""
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def write_colour(conn: Connection, photo_id: int, version: str, hist: bytes) -> None:
    """Replace a photo's descriptor (inside the caller's transaction)."""
    conn.execute(delete(photo_colours).where(photo_colours.c.photo_id == photo_id))
    conn.execute(insert(photo_colours).values(photo_id=photo_id, version=version, hist=hist))


def delete_colour(conn: Connection, photo_id: int) -> None:
    conn.execute(delete(photo_colours).where(photo_colours.c.photo_id == photo_id))


class ColourRepository:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def photos_without_colour(self, version: str) -> list[tuple[int, str]]:
        """(id, path) of indexed photos with no descriptor of ``version`` (indexed before colour search)."""
        have = select(photo_colours.c.photo_id).where(photo_colours.c.version == version)
        q = (
            select(photos.c.id, photos.c.path)
            .where(photos.c.state == PhotoState.INDEXED, photos.c.id.not_in(have))
            .order_by(photos.c.id)
        )
        with self.engine.connect() as conn:
            return [(r.id, r.path) for r in conn.execute(q)]

    def write_many(self, items: Iterable[tuple[int, str, bytes]]) -> None:
        """Back-fill: (photo id, version, descriptor) in one transaction; photos deleted meanwhile are skipped."""
        with self.engine.begin() as conn:
            for pid, version, hist in items:
                if conn.execute(select(photos.c.id).where(photos.c.id == pid)).first() is not None:
                    write_colour(conn, pid, version, hist)

    def descriptor_of(self, photo_id: int) -> bytes | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(photo_colours.c.hist).where(photo_colours.c.photo_id == photo_id)).first()
        return bytes(row[0]) if row else None

    def last_seq(self) -> int:
        """The largest seq: O(1) (seq is the rowid), changes whenever a row is written."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.max(photo_colours.c.seq))).scalar() or 0)

    def count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(photo_colours)).scalar() or 0)

    def rows_after(self, seq: int, version: str) -> tuple[np.ndarray, np.ndarray, int]:
        """(photo ids, (n, 64) uint8 descriptors, largest seq) of ``version`` rows written after ``seq``."""
        q = (
            select(photo_colours.c.seq, photo_colours.c.photo_id, photo_colours.c.version, photo_colours.c.hist)
            .where(photo_colours.c.seq > seq)
            .order_by(photo_colours.c.seq)
        )
        ids: list[int] = []
        blobs: list[bytes] = []
        last = seq
        with self.engine.connect() as conn:
            for s, pid, v, hist in conn.execute(q):
                last = s
                if v == version and len(hist) == BINS:
                    ids.append(pid)
                    blobs.append(hist)
        mat = np.frombuffer(b"".join(blobs), np.uint8).reshape(-1, BINS) if blobs else np.zeros((0, BINS), np.uint8)
        return np.array(ids, np.int64), mat, last


class ColourStore:
    """Every photo's descriptor as one matrix, kept in step with the database; FAISS for the searches.

    ``embed`` turns descriptors into the palette-similarity space (imaging.colour.palette_embedding);
    it is passed in so storage need not know the palette.
    """

    def __init__(self, repo: ColourRepository, version: str, embed) -> None:
        self.repo, self.version, self._embed = repo, version, embed
        self._lock = threading.Lock()
        self._ids = np.zeros(0, np.int64)
        self._hist = np.zeros((0, BINS), np.uint8)
        self._seq, self._count, self._counted = -1, -1, -1e9
        self._colour: faiss.Index | None = None
        self._palette: faiss.Index | None = None

    def _refresh(self) -> None:
        """Catch up with the database (caller holds the lock).

        Writes are seen at once (the largest seq, one O(1) read per query). Deletions (photos removed,
        cascading here) only leave rows whose photo is gone, which the facade drops from results, so the
        full row count is compared at most every ``RECOUNT_S`` seconds.
        """
        top = self.repo.last_seq()
        now = time.monotonic()
        if top == self._seq and now - self._counted < RECOUNT_S:
            return
        n = self.repo.count()
        self._counted = now
        if (n, top) == (self._count, self._seq):
            return
        if self._seq < 0 or n < self._count:  # first load, or rows deleted: read everything again
            ids, hist, last = self.repo.rows_after(-1, self.version)
            self._ids, self._hist = ids, hist.copy()
        else:
            ids, hist, last = self.repo.rows_after(self._seq, self.version)
            pos = {int(p): i for i, p in enumerate(self._ids.tolist())} if len(ids) else {}
            fresh = []
            for j, pid in enumerate(ids.tolist()):
                if pid in pos:
                    self._hist[pos[pid]] = hist[j]
                else:
                    fresh.append(j)
            if fresh:
                self._ids = np.concatenate([self._ids, ids[fresh]])
                self._hist = np.concatenate([self._hist, hist[fresh]])
            if len(self._ids) != n:  # a row moved to another version or vanished: start over
                ids, hist, last = self.repo.rows_after(-1, self.version)
                self._ids, self._hist = ids, hist.copy()
        self._count, self._seq = n, max(last, top)
        self._colour = self._palette = None

    def __len__(self) -> int:
        with self._lock:
            self._refresh()
            return len(self._ids)

    def histograms(self) -> tuple[np.ndarray, np.ndarray]:
        """(photo ids, their (n, 64) uint8 descriptors), copies: for scans the FAISS indexes do not answer
        (crop search's colour containment shortlist)."""
        with self._lock:
            self._refresh()
            return self._ids.copy(), self._hist.copy()

    def _colour_index(self) -> faiss.Index:
        if self._colour is None:
            index = faiss.IndexIDMap2(faiss.IndexFlatIP(BINS))
            if len(self._ids):
                index.add_with_ids(np.ascontiguousarray(self._hist, np.float32) / 255.0, self._ids)
            self._colour = index
        return self._colour

    def _palette_index(self) -> faiss.Index:
        if self._palette is None:
            emb = np.ascontiguousarray(self._embed(self._hist if len(self._ids) else np.zeros((1, BINS), np.uint8)))
            index = faiss.IndexIDMap2(faiss.IndexFlatIP(emb.shape[1]))
            if len(self._ids):
                index.add_with_ids(emb, self._ids)
            self._palette = index
        return self._palette

    def rank_colour(
        self, weights: np.ndarray, min_share: float, limit: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(photo ids, shares) of photos with at least ``min_share`` of the colour ``weights`` describe, best
        first, at most ``limit``."""
        q = np.asarray(weights, np.float32).reshape(1, BINS)
        with self._lock:
            self._refresh()
            index = self._colour_index()
            if index.ntotal == 0:
                return np.zeros(0, np.int64), np.zeros(0, np.float32)
            with _one_thread():
                if limit is not None:
                    scores, ids = index.search(q, min(limit, index.ntotal))
                    scores, ids = scores[0], ids[0]
                else:  # every photo above the threshold, without sorting all of them
                    _lims, scores, ids = index.range_search(q, float(min_share))
        keep = (ids >= 0) & (scores >= min_share)
        ids, scores = ids[keep].astype(np.int64), scores[keep]
        order = np.lexsort((ids, -scores))  # ties: lower id first
        return ids[order], scores[order]

    def shares(self, weights: np.ndarray, photo_ids: Iterable[int]) -> dict[int, float]:
        """The share of the colour in each of ``photo_ids`` that has a descriptor."""
        w = np.asarray(weights, np.float32).ravel() / 255.0
        with self._lock:
            self._refresh()
            ids, hist = self._ids, self._hist
        wanted = np.fromiter(photo_ids, np.int64)
        if not len(ids) or not len(wanted):
            return {}
        order = np.argsort(ids, kind="stable")
        pos = np.minimum(np.searchsorted(ids, wanted, sorter=order), len(ids) - 1)
        rows = order[pos]
        found = ids[rows] == wanted
        vals = hist[rows[found]].astype(np.float32) @ w
        return dict(zip(wanted[found].tolist(), vals.tolist(), strict=True))

    def rank_palette(self, descriptor: bytes, k: int, exclude: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(photo ids, similarity in [0, 1]) of the ``k`` photos with the palette closest to ``descriptor``."""
        q = self._embed(np.frombuffer(descriptor, np.uint8).reshape(1, BINS))
        with self._lock:
            self._refresh()
            index = self._palette_index()
            if index.ntotal == 0:
                return np.zeros(0, np.int64), np.zeros(0, np.float32)
            with _one_thread():
                scores, ids = index.search(np.ascontiguousarray(q, np.float32), min(index.ntotal, k + 1))
        keep = (ids[0] >= 0) & (ids[0] != (exclude if exclude is not None else -2))
        return ids[0][keep][:k].astype(np.int64), scores[0][keep][:k]
