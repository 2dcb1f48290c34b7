"""Reads the gallery needs (light listings, per-folder counts) and forgetting a folder. SQL only."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine, case, delete, func, select

from app.core.gallery import GalleryItem
from app.core.models import PhotoState
from app.storage.repository import PhotoRepository, VectorChanges
from app.storage.schema import folders, photos

_LISTED = (PhotoState.INDEXED, PhotoState.FAILED)  # pending photos appear once the fast pass reached them


class GalleryRepository:
    """Gallery queries on the library's engine (the same ``Engine`` as :class:`PhotoRepository`)."""

    def __init__(self, repo: PhotoRepository) -> None:
        self.repo = repo
        self.engine: Engine = repo.engine

    def listing(self, folder_id: int | None = None) -> list[GalleryItem]:
        """Every indexed or failed photo (of one folder, or all), unsorted."""
        c = photos.c
        q = select(*_item_columns()).where(c.state.in_(_LISTED))
        if folder_id is not None:
            q = q.where(c.folder_id == folder_id)
        with self.engine.connect() as conn:
            return [_item(r) for r in conn.execute(q)]

    def item(self, photo_id: int) -> GalleryItem | None:
        c = photos.c
        with self.engine.connect() as conn:
            r = conn.execute(select(*_item_columns()).where(c.id == photo_id)).first()
        return _item(r) if r else None

    def folder_counts(self) -> dict[int, dict[str, int]]:
        """Per folder id: photos, indexed, pending, failed."""
        c = photos.c

        def n(state: PhotoState):
            return func.sum(case((c.state == state, 1), else_=0))

        q = select(c.folder_id, func.count(), n(PhotoState.INDEXED), n(PhotoState.PENDING), n(PhotoState.FAILED))
        with self.engine.connect() as conn:
            rows = conn.execute(q.group_by(c.folder_id)).all()
        return {r[0]: {"photos": r[1], "indexed": r[2] or 0, "pending": r[3] or 0, "failed": r[4] or 0} for r in rows}

    def remove_folder(self, folder_id: int) -> VectorChanges:
        """Forget a folder and its photos (never touches files); returns the vectors to drop."""
        with self.engine.connect() as conn:
            ids = [r[0] for r in conn.execute(select(photos.c.id).where(photos.c.folder_id == folder_id))]
        changes = self.repo.delete_photos(ids)
        with self.engine.begin() as conn:
            conn.execute(delete(folders).where(folders.c.id == folder_id))
        return changes


def _item_columns() -> tuple:
    """The photo columns a ``GalleryItem`` is made of, in its field order."""
    c = photos.c
    return (c.id, c.path, c.folder_id, c.state, c.content_hash, c.taken_at, c.mtime_ns, c.size, c.width,
            c.height, c.error)  # fmt: skip


def _item(r: Sequence) -> GalleryItem:
    return GalleryItem(r[0], r[1], r[2], PhotoState(r[3]), *r[4:])
