"""Queries of the search feature that the shared repository does not have (same engine)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Engine, func, select

from app.core.models import PhotoState
from app.storage.schema import hashes, photos

_CHUNK = 500


class SearchRepository:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def photos_not_embedded_with(self, model: str) -> int:
        """Indexed photos whose whole-photo embedding is missing or from another model."""
        with self.engine.connect() as conn:
            return conn.execute(
                select(func.count())
                .select_from(photos)
                .where(photos.c.state == PhotoState.INDEXED)
                .where(photos.c.clip_model.is_(None) | (photos.c.clip_model != model))
            ).scalar_one()

    def identity(self, photo_ids: Iterable[int], kind: str = "phash") -> dict[int, tuple[str | None, int | None]]:
        """(content hash, perceptual hash of ``kind``) per photo id."""
        ids = list(dict.fromkeys(int(i) for i in photo_ids))
        out: dict[int, tuple[str | None, int | None]] = {}
        with self.engine.connect() as conn:
            for i in range(0, len(ids), _CHUNK):
                chunk = ids[i : i + _CHUNK]
                q = (
                    select(photos.c.id, photos.c.content_hash, hashes.c.value)
                    .select_from(photos.outerjoin(hashes, (hashes.c.photo_id == photos.c.id) & (hashes.c.kind == kind)))
                    .where(photos.c.id.in_(chunk))
                )
                for pid, digest, value in conn.execute(q):
                    out[pid] = (digest, value)
        return out
