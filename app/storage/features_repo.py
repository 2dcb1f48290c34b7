"""SQL of the crop-search local features: written in the fast pass's transaction, read by the cache."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
from sqlalchemy import Connection, Engine, delete, func, insert, select, text
from sqlalchemy.exc import OperationalError

from app.storage.schema import photos
from app.storage.schema_features import local_features

_CHUNK = 500
# Per keypoint, 8 bytes: position as uint16 in 1/8 pixel, orientation in 1/256 turns, size as 24 steps
# an octave (3 %): enough for the vote's similarity-transform bins. And its vocabulary cell (the IVF
# list of a large library), so opening the library never re-assigns millions of codes.
GEOMETRY = np.dtype([("x", "<u2"), ("y", "<u2"), ("angle", "u1"), ("size", "u1"), ("cell", "<u2")])
_XY_FIXED = 8.0
_SIZE_STEPS = 24.0


@dataclass(slots=True)
class StoredFeatures:
    photo_id: int
    codes: np.ndarray  # (n, 32) uint8
    geometry: np.ndarray  # (n,) GEOMETRY records (``unpack_geometry`` gives floats)
    scale: float

    @property
    def count(self) -> int:
        return len(self.codes)


def pack_geometry(xy: np.ndarray) -> np.ndarray:
    """(n, 5) float x, y, angle (degrees), size (pixels), cell -> (n,) GEOMETRY records."""
    xy = np.asarray(xy, np.float32)
    xy = xy.reshape(len(xy), -1) if len(xy) else np.zeros((0, 5), np.float32)
    out = np.zeros(len(xy), GEOMETRY)
    out["x"] = np.clip(np.round(xy[:, 0] * _XY_FIXED), 0, 65535)
    out["y"] = np.clip(np.round(xy[:, 1] * _XY_FIXED), 0, 65535)
    out["angle"] = np.round(xy[:, 2] * (256 / 360)).astype(np.int64) % 256
    out["size"] = np.clip(np.round(np.log2(np.maximum(xy[:, 3], 1.0)) * _SIZE_STEPS), 0, 255)
    if xy.shape[1] > 4:
        out["cell"] = xy[:, 4]
    return out


def unpack_geometry(geo: np.ndarray) -> np.ndarray:
    """(n,) GEOMETRY records -> (n, 4) float32 x, y, angle (degrees), size (pixels); cells stay in the records."""
    out = np.empty((len(geo), 4), np.float32)
    out[:, 0] = geo["x"] / _XY_FIXED
    out[:, 1] = geo["y"] / _XY_FIXED
    out[:, 2] = geo["angle"] * (360 / 256)
    out[:, 3] = np.exp2(geo["size"] / _SIZE_STEPS)
    return out


def write_features(
    conn: Connection, photo_id: int, version: str, codes: np.ndarray, xy: np.ndarray, scale: float
) -> None:
    """Replace a photo's features (inside the caller's transaction); ``xy`` is (n, 5), see ``pack_geometry``."""
    conn.execute(delete(local_features).where(local_features.c.photo_id == photo_id))
    fixed = pack_geometry(xy)
    conn.execute(
        insert(local_features).values(
            photo_id=photo_id,
            version=version,
            count=len(codes),
            codes=np.ascontiguousarray(codes, np.uint8).tobytes(),
            xy=fixed.tobytes(),
            scale=float(scale),
        )
    )


def delete_features(conn: Connection, photo_id: int) -> None:
    conn.execute(delete(local_features).where(local_features.c.photo_id == photo_id))


def _decode(row) -> StoredFeatures:
    codes = np.frombuffer(row.codes, np.uint8).reshape(row.count, len(row.codes) // max(1, row.count))
    geo = np.frombuffer(row.xy, GEOMETRY, count=row.count)
    return StoredFeatures(row.photo_id, codes, geo, row.scale)


class FeaturesRepository:
    """Reads of the ``local_features`` table (writes go through the fast-pass transaction)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def signature(self) -> tuple[int, int]:
        """(row count, largest seq): changes whenever a row is added, rewritten or deleted."""
        with self.engine.connect() as conn:
            n, top = conn.execute(select(func.count(), func.max(local_features.c.seq))).one()
        return int(n), int(top or 0)

    def ids_and_seqs(self) -> dict[int, int]:
        with self.engine.connect() as conn:
            return dict(conn.execute(select(local_features.c.photo_id, local_features.c.seq)).all())

    def iter_after(self, seq: int, version: str, chunk: int = 2000) -> Iterator[tuple[int, StoredFeatures]]:
        """(seq, features) of rows written after ``seq`` with ``version``, in seq order."""
        last = seq
        with self.engine.connect() as conn:
            while True:
                rows = conn.execute(
                    select(local_features)
                    .where(local_features.c.seq > last)
                    .order_by(local_features.c.seq)
                    .limit(chunk)
                ).all()
                if not rows:
                    return
                for r in rows:
                    if r.version == version:
                        yield r.seq, _decode(r)
                last = rows[-1].seq

    def features_of(self, photo_ids: Iterable[int]) -> dict[int, StoredFeatures]:
        wanted, out = list(dict.fromkeys(int(i) for i in photo_ids)), {}
        with self.engine.connect() as conn:
            for i in range(0, len(wanted), _CHUNK):
                q = select(local_features).where(local_features.c.photo_id.in_(wanted[i : i + _CHUNK]))
                for r in conn.execute(q):
                    out[r.photo_id] = _decode(r)
        return out

    def photos_without_features(self, version: str) -> list[tuple[int, str]]:
        """(id, path) of indexed photos with no features of ``version`` (indexed before crop search)."""
        with self.engine.connect() as conn:
            have = select(local_features.c.photo_id).where(local_features.c.version == version)
            rows = conn.execute(
                select(photos.c.id, photos.c.path)
                .where(photos.c.state == "indexed")
                .where(photos.c.id.not_in(have))
                .order_by(photos.c.id)
            )
            return [(r.id, r.path) for r in rows]

    def write_many(self, items: Iterable[tuple[int, str, np.ndarray, np.ndarray, float]]) -> None:
        """Backfill: (photo id, version, codes, xy, scale) in one transaction."""
        with self.engine.begin() as conn:
            for pid, version, codes, xy, scale in items:
                exists = conn.execute(select(photos.c.id).where(photos.c.id == pid)).first()
                if exists is not None:
                    write_features(conn, pid, version, codes, xy, scale)

    def stored_bytes(self) -> tuple[int, int]:
        """(photos with features, bytes on disk of the table and its indexes: pages, overflow pages
        and their slack included where SQLite's ``dbstat`` is available, else the blobs' lengths)."""
        with self.engine.connect() as conn:
            n, size = conn.execute(
                select(func.count(), func.sum(func.length(local_features.c.codes) + func.length(local_features.c.xy)))
            ).one()
            try:
                pages = conn.execute(
                    text(
                        "SELECT sum(pgsize) FROM dbstat WHERE name IN "
                        "(SELECT name FROM sqlite_master WHERE tbl_name = 'local_features')"
                    )
                ).scalar()
                size = pages or size
            except OperationalError:  # SQLite built without dbstat
                pass
        return int(n), int(size or 0)
