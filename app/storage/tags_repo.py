"""SQL of tags: automatic tags (detector, zero-shot) per photo, the user's additions and removals, and
the per-photo keys that say which automatic tags are current.

The tags a photo shows are ``(automatic - removed by the user) | added by the user``; every read here
applies that rule, so the user's word wins over any re-index.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, delete, func, insert, or_, select, text, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.core.models import Box, PhotoState, RegionKind
from app.storage.schema import meta, photos, regions
from app.storage.schema_tags import photo_tags, tag_state, user_tags

DETECTOR, ZEROSHOT, USER = "detector", "zeroshot", "user"
_CHUNK = 500
_SCAN_ABOVE = 2000


@dataclass(frozen=True, slots=True)
class TagRow:
    tag: str
    source: str  # "detector" | "zeroshot" | "user"
    score: float
    count: int
    model: str | None


_GENERATION = "tags:generation"


def _bump(conn: Connection) -> None:
    """Count a change of the tags, so in-memory tag indexes (this process or another) reload."""
    row = conn.execute(select(meta.c.value).where(meta.c.key == _GENERATION)).first()
    if row is None:
        conn.execute(insert(meta).values(key=_GENERATION, value="1"))
    else:
        conn.execute(update(meta).where(meta.c.key == _GENERATION).values(value=str(int(row[0]) + 1)))


def clear_auto_tags(conn: Connection, photo_id: int) -> None:
    """A photo's content changed (inside the fast pass's transaction): its automatic tags described the old
    picture, so they go and the tag pass makes them again; the user's own tags stay."""
    if conn.execute(delete(photo_tags).where(photo_tags.c.photo_id == photo_id)).rowcount:
        _bump(conn)
    conn.execute(delete(tag_state).where(tag_state.c.photo_id == photo_id))


def write_detector_tags(conn: Connection, items: Iterable[tuple[int, str, list[tuple[str, float, int]]]]) -> int:
    """Detector tags written by the region pass, inside its transaction (photos known to exist)."""
    return _write_auto(conn, DETECTOR, items, check=False)


def _write_auto(
    conn: Connection, source: str, items: Iterable[tuple[int, str, list[tuple[str, float, int]]]], check: bool = True
) -> int:
    key_col = tag_state.c.detector_key if source == DETECTOR else tag_state.c.zeroshot_key
    items = list(items)
    if check:
        alive: set[int] = set()
        for chunk in _chunks([pid for pid, _, _ in items]):
            alive.update(r[0] for r in conn.execute(select(photos.c.id).where(photos.c.id.in_(chunk))))
        items = [it for it in items if it[0] in alive]  # photos deleted while the pass ran are skipped
    if not items:
        return 0
    for chunk in _chunks([pid for pid, _, _ in items]):
        conn.execute(delete(photo_tags).where(photo_tags.c.photo_id.in_(chunk), photo_tags.c.source == source))
    rows = [
        {"photo_id": pid, "tag": t, "source": source, "score": sc, "count": n, "model": key}
        for pid, key, tags in items
        for t, sc, n in tags
    ]
    if rows:
        conn.execute(insert(photo_tags), rows)
    _bump(conn)
    stmt = sqlite_insert(tag_state)
    conn.execute(
        stmt.on_conflict_do_update(index_elements=["photo_id"], set_={key_col.name: stmt.excluded[key_col.name]}),
        [{"photo_id": pid, "detector_key": None, "zeroshot_key": None, key_col.name: key} for pid, key, _ in items],
    )
    return len(rows)


def _chunks(items: Sequence, size: int = _CHUNK) -> Iterable[Sequence]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


class TagsRepository:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # The tag pass: what is due, what it reads, what it writes

    def photos_due_detector(self) -> list[tuple[int, str]]:
        """(photo id, regions key) of indexed photos whose region pass ran since their detector tags were made."""
        q = (
            select(photos.c.id, photos.c.regions_key)
            .select_from(photos.outerjoin(tag_state, tag_state.c.photo_id == photos.c.id))
            .where(photos.c.state == PhotoState.INDEXED, photos.c.regions_key.is_not(None))
            .where(or_(tag_state.c.detector_key.is_(None), tag_state.c.detector_key != photos.c.regions_key))
            .order_by(photos.c.id)
        )
        with self.engine.connect() as conn:
            return [(r.id, r.regions_key) for r in conn.execute(q)]

    def object_labels(self, photo_ids: Sequence[int]) -> dict[int, list[tuple[str, int, float]]]:
        """Per photo: (label, boxes with it, best confidence) of its detector regions."""
        out: dict[int, list[tuple[str, int, float]]] = defaultdict(list)
        with self.engine.connect() as conn:
            for chunk in _chunks(list(photo_ids)):
                q = (
                    select(regions.c.photo_id, regions.c.label, func.count(), func.max(regions.c.confidence))
                    .where(regions.c.photo_id.in_(chunk), regions.c.kind == RegionKind.OBJECT)
                    .where(regions.c.label.is_not(None))
                    .group_by(regions.c.photo_id, regions.c.label)
                )
                for pid, label, n, conf in conn.execute(q):
                    out[pid].append((label, int(n), float(conf if conf is not None else 1.0)))
        return out

    def photos_of_model(self, model: str) -> list[int]:
        """Indexed photos whose whole-photo embedding is in ``model``'s space."""
        q = select(photos.c.id).where(photos.c.state == PhotoState.INDEXED, photos.c.clip_model == model)
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(q.order_by(photos.c.id))]

    def photos_due_zeroshot(self, model: str, key: str) -> list[int]:
        q = (
            select(photos.c.id)
            .select_from(photos.outerjoin(tag_state, tag_state.c.photo_id == photos.c.id))
            .where(photos.c.state == PhotoState.INDEXED, photos.c.clip_model == model)
            .where(or_(tag_state.c.zeroshot_key.is_(None), tag_state.c.zeroshot_key != key))
            .order_by(photos.c.id)
        )
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(q)]

    def write_auto(self, source: str, items: Iterable[tuple[int, str, list[tuple[str, float, int]]]]) -> int:
        """Replace the ``source`` tags of photos: (photo id, key, [(tag, score, count)]); returns rows written.

        One transaction, set-wise statements: the tag pass writes thousands of photos at a time.
        """
        with self.engine.begin() as conn:
            return _write_auto(conn, source, items)

    def drop_stale_zeroshot(self) -> int:
        """Zero-shot tags of a photo whose embedding is no longer in their model's space (model changed, no
        text tower to re-tag with): they described a vector that is gone."""
        # Correlated on the primary key: one look-up per row, not a scan of photos per row.
        current = (
            "EXISTS (SELECT 1 FROM photos p WHERE p.id = {t}.photo_id AND p.clip_model IS NOT NULL"
            " AND substr({t}.{col}, 1, length(p.clip_model) + 1) = p.clip_model || '|')"
        )
        with self.engine.begin() as conn:
            n = conn.execute(
                text(
                    "DELETE FROM photo_tags WHERE source = 'zeroshot' AND NOT "
                    + current.format(t="photo_tags", col="model")
                )
            ).rowcount
            conn.execute(
                text(
                    "UPDATE tag_state SET zeroshot_key = NULL WHERE zeroshot_key IS NOT NULL AND NOT "
                    + current.format(t="tag_state", col="zeroshot_key")
                )
            )
            if n:
                _bump(conn)
        return int(n or 0)

    def generation(self) -> int:
        with self.engine.connect() as conn:
            row = conn.execute(select(meta.c.value).where(meta.c.key == _GENERATION)).first()
        return int(row[0]) if row else 0

    def effective_rows(self) -> list[tuple[int, str, str, float]]:
        """(photo id, tag, source, score) of every tag every indexed photo shows (user additions as "user", 1.0)."""
        q = text(
            "SELECT t.photo_id, t.tag, t.source, t.score FROM photo_tags t JOIN photos p ON p.id = t.photo_id"
            " LEFT JOIN user_tags u ON u.photo_id = t.photo_id AND u.tag = t.tag AND u.action = 'remove'"
            " WHERE p.state = 'indexed' AND u.photo_id IS NULL"
            " UNION ALL SELECT u.photo_id, u.tag, 'user', 1.0 FROM user_tags u JOIN photos p ON p.id = u.photo_id"
            " WHERE u.action = 'add' AND p.state = 'indexed'"
        )
        with self.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(q)]  # type: ignore[misc]

    def calibration(self, key: str) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(meta.c.value).where(meta.c.key == f"tags:calibration:{key}")).first()
        return json.loads(row[0]) if row else None

    def save_calibration(self, key: str, value: dict) -> None:
        k = f"tags:calibration:{key}"
        with self.engine.begin() as conn:
            conn.execute(delete(meta).where(meta.c.key == k))
            conn.execute(insert(meta).values(key=k, value=json.dumps(value)))

    # The user's word

    def set_user_tag(self, photo_id: int, tag: str, action: str) -> None:
        """Record that the user added or removed ``tag`` on a photo (the last word wins)."""
        with self.engine.begin() as conn:
            conn.execute(delete(user_tags).where(user_tags.c.photo_id == photo_id, user_tags.c.tag == tag))
            conn.execute(insert(user_tags).values(photo_id=photo_id, tag=tag, action=action, at=time.time()))
            _bump(conn)

    # Reading

    def tags_of(self, photo_id: int) -> list[TagRow]:
        """The tags a photo shows, one row per (tag, source); the user's additions as source "user"."""
        with self.engine.connect() as conn:
            q = select(user_tags.c.tag, user_tags.c.action).where(user_tags.c.photo_id == photo_id)
            choices: dict[str, str] = {r[0]: r[1] for r in conn.execute(q)}
            auto = conn.execute(
                select(photo_tags)
                .where(photo_tags.c.photo_id == photo_id)
                .order_by(photo_tags.c.source, photo_tags.c.count.desc(), photo_tags.c.score.desc())
            ).all()
        out = [TagRow(t, USER, 1.0, 1, None) for t, a in sorted(choices.items()) if a == "add"]
        out += [
            TagRow(r.tag, r.source, float(r.score), int(r.count), r.model)
            for r in auto
            if choices.get(r.tag) != "remove"
        ]
        return out

    def removed_of(self, photo_id: int) -> list[str]:
        q = select(user_tags.c.tag).where(user_tags.c.photo_id == photo_id, user_tags.c.action == "remove")
        with self.engine.connect() as conn:
            return sorted(r[0] for r in conn.execute(q))

    def object_boxes(self, photo_ids: Sequence[int], label: str) -> dict[int, Box]:
        """The most confident detector box labelled ``label`` in each photo that has one."""
        out: dict[int, tuple[float, Box]] = {}
        wanted = list(photo_ids)
        base = select(regions).where(regions.c.kind == RegionKind.OBJECT, regions.c.label == label)
        with self.engine.connect() as conn:
            if len(wanted) > _SCAN_ABOVE:  # one pass over the label's regions beats thousands of look-ups
                keep = set(wanted)
                rows = (r for r in conn.execute(base) if r.photo_id in keep)
            else:
                rows = (r for chunk in _chunks(wanted) for r in conn.execute(base.where(regions.c.photo_id.in_(chunk))))
            for r in rows:
                conf = float(r.confidence if r.confidence is not None else 1.0)
                if r.photo_id not in out or conf > out[r.photo_id][0]:
                    out[r.photo_id] = (conf, (float(r.x0), float(r.y0), float(r.x1), float(r.y1)))
        return {pid: box for pid, (_, box) in out.items()}
