"""SQL of the duplicate finder (tables in ``schema_dupes``), on the library's engine."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Engine, delete, func, insert, select, update

from app.core.models import PhotoState
from app.storage.schema import folders, hashes, meta, photos
from app.storage.schema_dupes import (
    dupe_checked,
    dupe_pairs,
    dupe_verdicts,
    not_duplicates,
    protected_folders,
    trash_journal,
)

_CHUNK = 500
_CHECKS_KEY = "dupes:verify_version"


@dataclass(frozen=True, slots=True)
class PhotoRow:
    id: int
    path: str
    size: int
    content_hash: str
    width: int | None
    height: int | None
    format: str | None
    taken_at: str | None


@dataclass(frozen=True, slots=True)
class PairRow:
    a: int
    b: int
    tier: str
    distance: int | None
    transform: str | None
    correlation: float | None
    inliers: int | None
    cosine: float | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the pixels said about two contents (``hash_a < hash_b``) compared as hash variant ``kind``."""

    hash_a: str
    hash_b: str
    kind: int
    tier: str | None
    correlation: float | None
    inliers: int | None
    note: str | None


@dataclass(frozen=True, slots=True)
class JournalEntry:
    id: int
    batch: int
    path: str
    trash_path: str | None
    info_path: str | None
    content_hash: str
    size: int


class DupesRepository:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # Reads

    def indexed_photos(self) -> dict[int, PhotoRow]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(photos).where(photos.c.state == PhotoState.INDEXED))
            return {
                r.id: PhotoRow(r.id, r.path, r.size, r.content_hash, r.width, r.height, r.format, r.taken_at)
                for r in rows
            }

    def all_hashes(self) -> dict[int, dict[str, int]]:
        out: dict[int, dict[str, int]] = {}
        with self.engine.connect() as conn:
            for pid, kind, value in conn.execute(select(hashes.c.photo_id, hashes.c.kind, hashes.c.value)):
                out.setdefault(pid, {})[kind] = value
        return out

    def checks_version(self) -> int | None:
        """Version of the pixel checks that made the stored pairs (None: a library from before it was kept)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(meta.c.value).where(meta.c.key == _CHECKS_KEY)).first()
        return int(row[0]) if row else None

    def restart_checks(self, version: int) -> None:
        """Forget which photos were compared and the pairs found, so the next scan judges every pair with
        checks ``version``. "Not a duplicate" decisions, protected folders and the trash journal stay."""
        with self.engine.begin() as conn:
            conn.execute(delete(dupe_pairs))
            conn.execute(delete(dupe_checked))
            conn.execute(delete(meta).where(meta.c.key == _CHECKS_KEY))
            conn.execute(insert(meta).values(key=_CHECKS_KEY, value=str(version)))

    def checked(self) -> dict[int, str]:
        with self.engine.connect() as conn:
            return dict(conn.execute(select(dupe_checked.c.photo_id, dupe_checked.c.content_hash)).all())

    def pairs(self) -> list[PairRow]:
        with self.engine.connect() as conn:
            return [PairRow(*r) for r in conn.execute(select(dupe_pairs)).all()]

    def verdicts(self, version: int) -> dict[tuple[str, str, int], Verdict]:
        """Stored pixel verdicts of check ``version``, by (hash_a, hash_b, kind)."""
        cols = [dupe_verdicts.c[c] for c in ("hash_a", "hash_b", "kind", "tier", "correlation", "inliers", "note")]
        with self.engine.connect() as conn:
            rows = conn.execute(select(*cols).where(dupe_verdicts.c.version == version))
            return {(r[0], r[1], r[2]): Verdict(*r) for r in rows}

    def notes(self, version: int) -> dict[tuple[str, str], str]:
        """Why each stored pair of contents is not the same picture (one note per pair)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(dupe_verdicts.c.hash_a, dupe_verdicts.c.hash_b, dupe_verdicts.c.note).where(
                    dupe_verdicts.c.version == version, dupe_verdicts.c.note.is_not(None)
                )
            )
            return {(a, b): note for a, b, note in rows}

    def not_duplicate_hashes(self) -> set[tuple[str, str]]:
        with self.engine.connect() as conn:
            return {(a, b) for a, b in conn.execute(select(not_duplicates.c.hash_a, not_duplicates.c.hash_b))}

    def protected(self) -> list[str]:
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(select(protected_folders.c.path).order_by(protected_folders.c.path))]

    def folder_of(self, photo_id: int) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(
                select(folders.c.path).join(photos, photos.c.folder_id == folders.c.id).where(photos.c.id == photo_id)
            ).scalar()

    def last_batch(self) -> list[JournalEntry]:
        """The most recent trash action not undone yet."""
        with self.engine.connect() as conn:
            batch = conn.execute(
                select(func.max(trash_journal.c.batch)).where(trash_journal.c.restored_at.is_(None))
            ).scalar()
            if batch is None:
                return []
            rows = conn.execute(
                select(trash_journal).where(trash_journal.c.batch == batch, trash_journal.c.restored_at.is_(None))
            )
            return [
                JournalEntry(r.id, r.batch, r.path, r.trash_path, r.info_path, r.content_hash, r.size) for r in rows
            ]

    # Writes

    def record_checked(self, items: Sequence[tuple[int, str]], pairs: Sequence[PairRow]) -> None:
        """Photos compared with the library and the pairs found, in one transaction (old pairs of them go)."""
        with self.engine.begin() as conn:
            ids = [pid for pid, _ in items]
            for i in range(0, len(ids), _CHUNK):
                chunk = ids[i : i + _CHUNK]
                conn.execute(delete(dupe_checked).where(dupe_checked.c.photo_id.in_(chunk)))
                conn.execute(
                    delete(dupe_pairs).where(dupe_pairs.c.photo_a.in_(chunk) | dupe_pairs.c.photo_b.in_(chunk))
                )
            if items:
                conn.execute(insert(dupe_checked), [{"photo_id": p, "content_hash": h} for p, h in items])
            if pairs:
                conn.execute(
                    insert(dupe_pairs).prefix_with("OR REPLACE"),
                    [
                        {
                            "photo_a": min(p.a, p.b),
                            "photo_b": max(p.a, p.b),
                            "tier": p.tier,
                            "distance": p.distance,
                            "transform": p.transform,
                            "correlation": p.correlation,
                            "inliers": p.inliers,
                            "cosine": p.cosine,
                        }
                        for p in pairs
                    ],
                )

    def save_verdicts(self, verdicts: Sequence[Verdict], version: int) -> None:
        if not verdicts:
            return
        with self.engine.begin() as conn:
            conn.execute(
                insert(dupe_verdicts).prefix_with("OR REPLACE"),
                [
                    {
                        "hash_a": v.hash_a,
                        "hash_b": v.hash_b,
                        "kind": v.kind,
                        "version": version,
                        "tier": v.tier,
                        "correlation": v.correlation,
                        "inliers": v.inliers,
                        "note": v.note,
                    }
                    for v in verdicts
                ],
            )

    def uncheck(self, photo_ids: Sequence[int]) -> None:
        """Compare these photos with the library again on the next scan."""
        with self.engine.begin() as conn:
            conn.execute(delete(dupe_checked).where(dupe_checked.c.photo_id.in_(list(photo_ids))))

    def add_not_duplicate(self, hash_a: str, hash_b: str) -> None:
        a, b = sorted((hash_a, hash_b))
        with self.engine.begin() as conn:
            conn.execute(
                insert(not_duplicates).prefix_with("OR IGNORE").values(hash_a=a, hash_b=b, decided_at=time.time())
            )

    def set_protected(self, path: str, on: bool) -> None:
        with self.engine.begin() as conn:
            if on:
                conn.execute(insert(protected_folders).prefix_with("OR IGNORE").values(path=path, added_at=time.time()))
            else:
                conn.execute(delete(protected_folders).where(protected_folders.c.path == path))

    def journal(self, entries: Iterable[dict]) -> int:
        """Write one trash action; returns its batch number."""
        with self.engine.begin() as conn:
            batch = (conn.execute(select(func.max(trash_journal.c.batch))).scalar() or 0) + 1
            rows = [dict(e, batch=batch, trashed_at=time.time()) for e in entries]
            if rows:
                conn.execute(insert(trash_journal), rows)
            return batch

    def mark_restored(self, entry_ids: Sequence[int]) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(trash_journal).where(trash_journal.c.id.in_(list(entry_ids))).values(restored_at=time.time())
            )
