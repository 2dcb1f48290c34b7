"""SQL of the crop-search local features: written in the fast pass's transaction, read by the cache."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
from sqlalchemy import Connection, Engine, delete, func, insert, select

from app.storage.schema import photos
from app.storage.schema_features import local_features

_CODE_BYTES = 32  # 256-bit codes (local_features.CODE_BYTES)
_XY_FIXED = 8.0  # positions are stored as uint16 in 1/8 pixel: exact enough, 4 bytes a keypoint
_CHUNK = 500


@dataclass(slots=True)
class StoredFeatures:
    photo_id: int
    codes: np.ndarray  # (n, 32) uint8
    xy: np.ndarray  # (n, 2) float32, working-image pixels
    scale: float


def write_features(
    conn: Connection, photo_id: int, version: str, codes: np.ndarray, xy: np.ndarray, scale: float
) -> None:
    """Replace a photo's features (inside the caller's transaction)."""
    conn.execute(delete(local_features).where(local_features.c.photo_id == photo_id))
    fixed = np.clip(np.round(np.asarray(xy, np.float32) * _XY_FIXED), 0, 65535).astype("<u2")
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
    codes = np.frombuffer(row.codes, np.uint8).reshape(row.count, _CODE_BYTES)
    xy = np.frombuffer(row.xy, "<u2").reshape(row.count, 2).astype(np.float32) / _XY_FIXED
    return StoredFeatures(row.photo_id, codes, xy, row.scale)


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
        """(photos with features, bytes of codes and positions)."""
        with self.engine.connect() as conn:
            n, size = conn.execute(
                select(func.count(), func.sum(func.length(local_features.c.codes) + func.length(local_features.c.xy)))
            ).one()
        return int(n), int(size or 0)
