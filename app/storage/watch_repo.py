"""SQL of the live-folders feature: photos under a path, repointing moved photos, offline folders.

Takes the same ``Engine`` as :class:`PhotoRepository`; writes happen on the single writer thread only.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence

from sqlalchemy import Engine, delete, func, insert, select, update

from app.core.models import Photo
from app.storage.repository import _CHUNK, _photo
from app.storage.schema import folders, photos
from app.storage.schema_watch import folder_offline


def _subtree_bounds(folder: str) -> tuple[str, str]:
    """Path range of everything strictly under ``folder``: [folder/, folder0), '0' being '/' + 1.

    A range (not LIKE) so the unique index on ``path`` answers it and no character needs escaping.
    """
    base = folder.rstrip(os.sep) + os.sep
    return base, base[:-1] + chr(ord(os.sep) + 1)


class WatchRepository:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def photos_under(self, folder: str) -> list[Photo]:
        lo, hi = _subtree_bounds(folder)
        with self.engine.connect() as conn:
            rows = conn.execute(select(photos).where(photos.c.path >= lo, photos.c.path < hi))
            return [_photo(r) for r in rows]

    def photos_at(self, paths: Iterable[str]) -> list[Photo]:
        wanted, out = list(dict.fromkeys(paths)), []
        with self.engine.connect() as conn:
            for i in range(0, len(wanted), _CHUNK):
                out.extend(
                    _photo(r) for r in conn.execute(select(photos).where(photos.c.path.in_(wanted[i : i + _CHUNK])))
                )
        return out

    def count_under(self, folder: str) -> int:
        lo, hi = _subtree_bounds(folder)
        with self.engine.connect() as conn:
            return conn.execute(
                select(func.count()).select_from(photos).where(photos.c.path >= lo, photos.c.path < hi)
            ).scalar_one()

    def repoint(self, moves: Sequence[tuple[int, str, int]]) -> None:
        """Moved photos (photo id, new path, folder id) keep their row, so every region, vector and hash."""
        with self.engine.begin() as conn:
            for pid, path, folder_id in moves:
                conn.execute(update(photos).where(photos.c.id == pid).values(path=path, folder_id=folder_id))

    # Offline folders

    def offline_folder_ids(self) -> set[int]:
        with self.engine.connect() as conn:
            return {r[0] for r in conn.execute(select(folder_offline.c.folder_id))}

    def set_offline(self, folder_id: int, offline: bool) -> bool:
        """Mark (or clear) a folder offline; True when that changed something."""
        with self.engine.begin() as conn:
            exists = conn.execute(
                select(folder_offline.c.folder_id).where(folder_offline.c.folder_id == folder_id)
            ).first()
            if offline and exists is None:
                if conn.execute(select(folders.c.id).where(folders.c.id == folder_id)).first() is None:
                    return False
                conn.execute(insert(folder_offline).values(folder_id=folder_id, since=time.time()))
                return True
            if not offline and exists is not None:
                conn.execute(delete(folder_offline).where(folder_offline.c.folder_id == folder_id))
                return True
        return False
