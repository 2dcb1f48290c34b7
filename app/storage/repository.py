"""Reads and writes of photos, folders, regions, hashes and embeddings. Returns core dataclasses.

Writes happen only on the single writer thread, one transaction per batch (``write_fast_batch``,
``write_region_batch``); they return the vector changes the caller applies to the FAISS caches.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import Connection, Engine, and_, delete, func, insert, select, update

from app.core.models import Folder, Photo, PhotoState, Region, RegionKind
from app.core.records import FastRecord, RegionPassRecord, RegionRecord
from app.storage.colour_repo import delete_colour, write_colour
from app.storage.features_repo import delete_features, write_features
from app.storage.schema import embeddings, folders, hashes, meta, photos, regions
from app.storage.tags_repo import clear_auto_tags, write_detector_tags

_CHUNK = 500  # SQLite's bound-parameter limit is 32766; stay far below it


@dataclass(slots=True)
class VectorChanges:
    """Vectors a committed batch added and removed, per model, for the FAISS caches."""

    added: dict[str, list[tuple[int, np.ndarray]]] = field(default_factory=lambda: defaultdict(list))
    removed: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))

    def merge(self, other: VectorChanges) -> None:
        for model, items in other.added.items():
            self.added[model].extend(items)
        for model, ids in other.removed.items():
            self.removed[model].extend(ids)


def _chunks(items: Sequence, size: int = _CHUNK) -> Iterator[Sequence]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _photo(row) -> Photo:
    return Photo(
        id=row.id,
        path=row.path,
        size=row.size,
        mtime_ns=row.mtime_ns,
        state=PhotoState(row.state),
        content_hash=row.content_hash,
        width=row.width,
        height=row.height,
        error=row.error,
        clip_model=row.clip_model,
        regions_key=row.regions_key,
        taken_at=row.taken_at,
    )


def _region(r: object) -> Region:
    return Region(r.id, r.photo_id, RegionKind(r.kind), (r.x0, r.y0, r.x1, r.y1), r.label, r.confidence)  # type: ignore[attr-defined]


class PhotoRepository:
    """The library's tables behind plain methods."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # Folders

    def add_folder(self, path: str) -> Folder:
        with self.engine.begin() as conn:
            row = conn.execute(select(folders).where(folders.c.path == path)).first()
            if row is None:
                fid = conn.execute(insert(folders).values(path=path, added_at=time.time())).inserted_primary_key[0]
                return Folder(fid, path)
            return Folder(row.id, row.path)

    def absorb_folder(self, child_id: int, parent_id: int) -> None:
        """A folder added above an existing one takes over its photos (one folder row per photo)."""
        with self.engine.begin() as conn:
            conn.execute(update(photos).where(photos.c.folder_id == child_id).values(folder_id=parent_id))
            conn.execute(delete(folders).where(folders.c.id == child_id))

    def folders(self) -> list[Folder]:
        with self.engine.connect() as conn:
            return [Folder(r.id, r.path) for r in conn.execute(select(folders).order_by(folders.c.path))]

    # Photo reads

    def photos_in_folders(self, folder_ids: Iterable[int]) -> list[Photo]:
        ids = list(folder_ids)
        with self.engine.connect() as conn:
            rows = conn.execute(select(photos).where(photos.c.folder_id.in_(ids))) if ids else []
            return [_photo(r) for r in rows]

    def photo_by_path(self, path: str) -> Photo | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(photos).where(photos.c.path == path)).first()
            return _photo(row) if row else None

    def photo(self, photo_id: int) -> Photo | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(photos).where(photos.c.id == photo_id)).first()
            return _photo(row) if row else None

    def photos_by_ids(self, ids: Iterable[int]) -> dict[int, Photo]:
        wanted, out = list(dict.fromkeys(int(i) for i in ids)), {}
        with self.engine.connect() as conn:
            for i in range(0, len(wanted), _CHUNK):
                for r in conn.execute(select(photos).where(photos.c.id.in_(wanted[i : i + _CHUNK]))):
                    out[r.id] = _photo(r)
        return out

    def regions_by_ids(self, ids: Iterable[int]) -> dict[int, Region]:
        """Regions by id (search maps FAISS ids, which are region ids, back to photos and boxes)."""
        wanted, out = list(dict.fromkeys(int(i) for i in ids)), {}
        with self.engine.connect() as conn:
            for i in range(0, len(wanted), _CHUNK):
                for r in conn.execute(select(regions).where(regions.c.id.in_(wanted[i : i + _CHUNK]))):
                    out[r.id] = _region(r)
        return out

    def photos_needing_regions(self, regions_key: str) -> list[Photo]:
        """Indexed photos whose region pass has not run with ``regions_key``."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(photos)
                .where(photos.c.state == PhotoState.INDEXED)
                .where((photos.c.regions_key.is_(None)) | (photos.c.regions_key != regions_key))
                .order_by(photos.c.id)
            )
            return [_photo(r) for r in rows]

    def regions_of(self, photo_id: int) -> list[Region]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(regions).where(regions.c.photo_id == photo_id).order_by(regions.c.id))
            return [_region(r) for r in rows]

    def hashes_of(self, photo_id: int) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(hashes.c.kind, hashes.c.value).where(hashes.c.photo_id == photo_id))
            return {r.kind: r.value for r in rows}

    def counts(self, regions_key: str | None) -> dict[str, int]:
        """Photo counts by state, plus region-pass progress for ``regions_key``."""
        with self.engine.connect() as conn:
            by_state = dict(conn.execute(select(photos.c.state, func.count()).group_by(photos.c.state)).all())
            regions_done = 0
            if regions_key:
                regions_done = conn.execute(
                    select(func.count()).select_from(photos).where(photos.c.regions_key == regions_key)
                ).scalar_one()
            n_regions = conn.execute(select(func.count()).select_from(regions)).scalar_one()
        return {
            "photos": sum(by_state.values()),
            "indexed": by_state.get(PhotoState.INDEXED, 0),
            "failed": by_state.get(PhotoState.FAILED, 0),
            "pending": by_state.get(PhotoState.PENDING, 0),
            "regions_done": regions_done,
            "regions": n_regions,
        }

    def failures(self) -> list[tuple[str, str]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(photos.c.path, photos.c.error).where(photos.c.state == PhotoState.FAILED).order_by(photos.c.path)
            )
            return [(r.path, r.error or "") for r in rows]

    # Embeddings and generations (the FAISS caches are rebuilt from these)

    def embedding_count(self, model: str) -> int:
        with self.engine.connect() as conn:
            return conn.execute(
                select(func.count()).select_from(embeddings).where(embeddings.c.model == model)
            ).scalar_one()

    def iter_embeddings(self, model: str, chunk: int = 50_000) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(region ids int64, vectors float32) in region-id order, ``chunk`` at a time."""
        last = -1
        with self.engine.connect() as conn:
            while True:
                rows = conn.execute(
                    select(embeddings.c.region_id, embeddings.c.vector)
                    .where(and_(embeddings.c.model == model, embeddings.c.region_id > last))
                    .order_by(embeddings.c.region_id)
                    .limit(chunk)
                ).all()
                if not rows:
                    return
                ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
                vecs = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float16).reshape(len(rows), -1)
                yield ids, vecs.astype(np.float32)
                last = int(ids[-1])

    def embedding_models(self) -> list[str]:
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(select(embeddings.c.model).distinct())]

    def generation(self, model: str) -> int:
        with self.engine.connect() as conn:
            row = conn.execute(select(meta.c.value).where(meta.c.key == _gen_key(model))).first()
            return int(row[0]) if row else 0

    # Writes (writer thread only)

    def insert_pending(self, folder_id: int, entries: Sequence[tuple[str, int, int]]) -> dict[str, int]:
        """Rows for new files (path, size, mtime_ns) in state pending; returns path -> photo id."""
        ids: dict[str, int] = {}
        with self.engine.begin() as conn:
            for chunk in _chunks(list(entries)):
                conn.execute(
                    insert(photos),
                    [
                        {"folder_id": folder_id, "path": p, "size": s, "mtime_ns": m, "state": PhotoState.PENDING}
                        for p, s, m in chunk
                    ],
                )
            for chunk in _chunks([e[0] for e in entries]):
                ids.update(conn.execute(select(photos.c.path, photos.c.id).where(photos.c.path.in_(chunk))).all())
        return ids

    def write_fast_batch(self, records: Sequence[FastRecord]) -> VectorChanges:
        """Commit one batch of fast-pass results in one transaction."""
        changes = VectorChanges()
        with self.engine.begin() as conn:
            for rec in records:
                if rec.size is not None:
                    conn.execute(
                        update(photos).where(photos.c.id == rec.photo_id).values(size=rec.size, mtime_ns=rec.mtime_ns)
                    )
                if rec.unchanged:
                    continue
                if rec.moved_from is not None:
                    changes.merge(self._move(conn, rec))
                elif rec.error is not None:
                    changes.merge(self._clear_analysis(conn, rec.photo_id))
                    delete_features(conn, rec.photo_id)
                    delete_colour(conn, rec.photo_id)
                    clear_auto_tags(conn, rec.photo_id)
                    conn.execute(
                        update(photos)
                        .where(photos.c.id == rec.photo_id)
                        .values(
                            state=PhotoState.FAILED,
                            error=rec.error,
                            content_hash=rec.content_hash,
                            clip_model=None,
                            regions_key=None,
                            indexed_at=time.time(),
                        )
                    )
                else:
                    changes.merge(self._write_fast(conn, rec))
            self._bump_generations(conn, changes)
        return changes

    def _write_fast(self, conn: Connection, rec: FastRecord) -> VectorChanges:
        changes = self._clear_analysis(conn, rec.photo_id)
        conn.execute(
            update(photos)
            .where(photos.c.id == rec.photo_id)
            .values(
                state=PhotoState.INDEXED,
                error=None,
                content_hash=rec.content_hash,
                width=rec.width,
                height=rec.height,
                format=rec.format,
                taken_at=rec.taken_at,
                clip_model=rec.clip_model if rec.embedding is not None else None,
                regions_key=None,
                indexed_at=time.time(),
            )
        )
        region = RegionRecord(
            RegionKind.PHOTO, (0.0, 0.0, float(rec.width), float(rec.height)), embedding=rec.embedding
        )
        self._insert_regions(conn, rec.photo_id, [region], rec.clip_model, changes)
        if rec.hashes:
            conn.execute(
                insert(hashes), [{"photo_id": rec.photo_id, "kind": k, "value": v} for k, v in rec.hashes.items()]
            )
        lf = rec.local_features
        if lf is not None:
            write_features(conn, rec.photo_id, lf.version, lf.codes, lf.xy, lf.scale)
        else:
            delete_features(conn, rec.photo_id)
        if rec.colour is not None and rec.colour_version:
            write_colour(conn, rec.photo_id, rec.colour_version, rec.colour)
        else:
            delete_colour(conn, rec.photo_id)
        clear_auto_tags(conn, rec.photo_id)
        return changes

    def _move(self, conn: Connection, rec: FastRecord) -> VectorChanges:
        """The file at ``rec.path`` is a vanished photo moved here: repoint it, drop the row it replaces."""
        new_row = conn.execute(select(photos).where(photos.c.id == rec.photo_id)).one()
        changes = self._clear_analysis(conn, rec.photo_id)
        conn.execute(delete(photos).where(photos.c.id == rec.photo_id))
        conn.execute(
            update(photos)
            .where(photos.c.id == rec.moved_from)
            .values(path=rec.path, folder_id=new_row.folder_id, size=new_row.size, mtime_ns=new_row.mtime_ns)
        )
        return changes

    def _insert_regions(
        self, conn: Connection, photo_id: int, items: Sequence[RegionRecord], model: str | None, changes: VectorChanges
    ) -> None:
        for item in items:
            rid = conn.execute(
                insert(regions).values(
                    photo_id=photo_id,
                    kind=item.kind,
                    x0=item.box[0],
                    y0=item.box[1],
                    x1=item.box[2],
                    y1=item.box[3],
                    label=item.label,
                    confidence=item.confidence,
                )
            ).inserted_primary_key[0]
            if item.embedding is not None and model:
                vec16 = np.asarray(item.embedding, dtype=np.float16)
                conn.execute(insert(embeddings).values(region_id=rid, model=model, vector=vec16.tobytes()))
                # FAISS gets the float16-rounded vector so a rebuild from SQLite is bit-identical.
                changes.added[model].append((rid, vec16.astype(np.float32)))

    def _clear_analysis(self, conn: Connection, photo_id: int, keep_photo_region: bool = False) -> VectorChanges:
        """Delete a photo's regions (and their vectors) and hashes; report the removed vectors."""
        changes = VectorChanges()
        q = select(regions.c.id).where(regions.c.photo_id == photo_id)
        if keep_photo_region:
            q = q.where(regions.c.kind != RegionKind.PHOTO)
        region_ids = [r[0] for r in conn.execute(q)]
        if region_ids:
            for chunk in _chunks(region_ids):
                for rid, model in conn.execute(
                    select(embeddings.c.region_id, embeddings.c.model).where(embeddings.c.region_id.in_(chunk))
                ):
                    changes.removed[model].append(rid)
                conn.execute(delete(embeddings).where(embeddings.c.region_id.in_(chunk)))
                conn.execute(delete(regions).where(regions.c.id.in_(chunk)))
        if not keep_photo_region:
            conn.execute(delete(hashes).where(hashes.c.photo_id == photo_id))
        return changes

    def write_region_batch(self, records: Sequence[RegionPassRecord]) -> VectorChanges:
        """Replace the object/tile regions of a batch of photos in one transaction."""
        changes = VectorChanges()
        with self.engine.begin() as conn:
            for rec in records:
                exists = conn.execute(select(photos.c.id).where(photos.c.id == rec.photo_id)).first()
                if exists is None:  # deleted while the pass ran
                    continue
                changes.merge(self._clear_analysis(conn, rec.photo_id, keep_photo_region=True))
                self._insert_regions(conn, rec.photo_id, rec.regions, rec.clip_model, changes)
                conn.execute(update(photos).where(photos.c.id == rec.photo_id).values(regions_key=rec.regions_key))
                if rec.detector_tags is not None:
                    write_detector_tags(conn, [(rec.photo_id, rec.regions_key, rec.detector_tags)])
            self._bump_generations(conn, changes)
        return changes

    def delete_photos(self, photo_ids: Sequence[int]) -> VectorChanges:
        """Forget photos (never touches files); returns the vectors to drop from FAISS."""
        changes = VectorChanges()
        with self.engine.begin() as conn:
            for pid in photo_ids:
                changes.merge(self._clear_analysis(conn, pid))
            for chunk in _chunks(list(photo_ids)):
                conn.execute(delete(photos).where(photos.c.id.in_(chunk)))
            self._bump_generations(conn, changes)
        return changes

    def _bump_generations(self, conn: Connection, changes: VectorChanges) -> None:
        for model in set(changes.added) | set(changes.removed):
            key = _gen_key(model)
            row = conn.execute(select(meta.c.value).where(meta.c.key == key)).first()
            if row is None:
                conn.execute(insert(meta).values(key=key, value="1"))
            else:
                conn.execute(update(meta).where(meta.c.key == key).values(value=str(int(row[0]) + 1)))


def _gen_key(model: str) -> str:
    return f"vectors:{model}:generation"
