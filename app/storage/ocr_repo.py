"""SQL of the OCR feature: write the lines a pass read, find photos due for OCR, FTS5 candidates."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Engine, and_, delete, func, insert, or_, select, text

from app.core.models import Box, Photo, PhotoState
from app.core.records import OcrRecord
from app.storage.repository import _photo
from app.storage.schema import photos
from app.storage.schema_ocr import ocr_lines, ocr_state

_CHUNK = 500


def normalize(value: str) -> str:
    """Casefolded letters and digits only, accents dropped: "Wi-Fi  Password:" → "wifipassword".

    OCR drops and invents spaces and punctuation ("HE'SFORUS", "Mother-inCager"), and the bundled model
    has no accented letters ("düşünmek" is read "dusunmek"), so lines and queries are compared without them.
    """
    value = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", value).casefold())
    return "".join(ch for ch in value if ch.isalnum() and not unicodedata.combining(ch))


@dataclass(frozen=True, slots=True)
class StoredLine:
    id: int
    photo_id: int
    seq: int
    text: str
    norm: str
    box: Box
    confidence: float


def _line(row) -> StoredLine:
    return StoredLine(
        row.id, row.photo_id, row.seq, row.text, row.norm, (row.x0, row.y0, row.x1, row.y1), row.confidence
    )


class OcrRepository:
    """Reads and writes the OCR tables on the library's engine (same database as :class:`PhotoRepository`)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def photos_needing_ocr(self, ocr_key: str) -> list[Photo]:
        """Indexed photos not read with ``ocr_key``, or read before their bytes changed."""
        done = and_(
            ocr_state.c.photo_id == photos.c.id,
            ocr_state.c.ocr_key == ocr_key,
            ocr_state.c.content_hash == photos.c.content_hash,
        )
        q = (
            select(photos)
            .where(photos.c.state == PhotoState.INDEXED, ~select(ocr_state.c.photo_id).where(done).exists())
            .order_by(photos.c.id)
        )
        with self.engine.connect() as conn:
            return [_photo(r) for r in conn.execute(q)]

    def read_count(self) -> int:
        """Photos read by OCR (any engine)."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(ocr_state)).scalar_one())

    def write_batch(self, records: Sequence[OcrRecord]) -> int:
        """Replace the lines of each photo in one transaction; returns the number of lines written."""
        written = 0
        with self.engine.begin() as conn:
            for rec in records:
                if conn.execute(select(photos.c.id).where(photos.c.id == rec.photo_id)).first() is None:
                    continue  # deleted while the pass ran
                conn.execute(delete(ocr_lines).where(ocr_lines.c.photo_id == rec.photo_id))
                conn.execute(delete(ocr_state).where(ocr_state.c.photo_id == rec.photo_id))
                rows = [
                    {
                        "photo_id": rec.photo_id,
                        "seq": i,
                        "text": line.text,
                        "norm": normalize(line.text),
                        "x0": line.box[0],
                        "y0": line.box[1],
                        "x1": line.box[2],
                        "y1": line.box[3],
                        "confidence": line.confidence,
                    }
                    for i, line in enumerate(rec.lines)
                ]
                rows = [r for r in rows if r["norm"]]
                if rows:
                    conn.execute(insert(ocr_lines), rows)
                conn.execute(
                    insert(ocr_state).values(
                        photo_id=rec.photo_id, ocr_key=rec.ocr_key, content_hash=rec.content_hash, lines=len(rows)
                    )
                )
                written += len(rows)
        return written

    def candidate_line_ids(self, norm_query: str, limit: int = 2000) -> list[int]:
        """Lines sharing trigrams with the (normalised) query, most relevant first (BM25).

        Any shared trigram is enough, so a line with an OCR error in the word is still a candidate; the
        ranking decides. Queries shorter than a trigram fall back to a substring scan.
        """
        if not norm_query:
            return []
        with self.engine.connect() as conn:
            if len(norm_query) < 3:
                q = select(ocr_lines.c.id).where(ocr_lines.c.norm.contains(norm_query, autoescape=True)).limit(limit)
                return [r[0] for r in conn.execute(q)]
            grams = sorted({norm_query[i : i + 3] for i in range(len(norm_query) - 2)})
            match = " OR ".join('"' + g.replace('"', '""') + '"' for g in grams)
            rows = conn.execute(
                text("SELECT rowid FROM ocr_fts WHERE ocr_fts MATCH :m ORDER BY rank LIMIT :n"),
                {"m": match, "n": limit},
            )
            return [r[0] for r in rows]

    def current_lines_of_photos(self, line_ids: Iterable[int]) -> dict[int, list[StoredLine]]:
        """All current lines (reading order) of the photos owning ``line_ids``; stale reads are left out."""
        ids = list(dict.fromkeys(line_ids))
        owners: set[int] = set()
        with self.engine.connect() as conn:
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                owners.update(r[0] for r in conn.execute(select(ocr_lines.c.photo_id).where(ocr_lines.c.id.in_(chunk))))
            return self._lines_of(conn, owners)

    def lines_of(self, photo_id: int) -> list[StoredLine]:
        with self.engine.connect() as conn:
            return self._lines_of(conn, {photo_id}).get(photo_id, [])

    def ocr_key_of(self, photo_id: int) -> str | None:
        """The engine key the photo's current lines were read with, None when not (or no longer) read."""
        fresh = and_(ocr_state.c.photo_id == photos.c.id, ocr_state.c.content_hash == photos.c.content_hash)
        q = select(ocr_state.c.ocr_key).select_from(ocr_state.join(photos, fresh)).where(photos.c.id == photo_id)
        with self.engine.connect() as conn:
            row = conn.execute(q).first()
        return row[0] if row else None

    @staticmethod
    def _lines_of(conn, photo_ids: set[int]) -> dict[int, list[StoredLine]]:
        out: dict[int, list[StoredLine]] = {}
        pids = sorted(photo_ids)
        fresh = and_(
            ocr_state.c.photo_id == ocr_lines.c.photo_id,
            or_(ocr_state.c.content_hash == photos.c.content_hash, photos.c.content_hash.is_(None)),
        )
        for start in range(0, len(pids), _CHUNK):
            chunk = pids[start : start + _CHUNK]
            q = (
                select(ocr_lines)
                .join(photos, photos.c.id == ocr_lines.c.photo_id)
                .join(ocr_state, fresh)
                .where(ocr_lines.c.photo_id.in_(chunk), photos.c.state == PhotoState.INDEXED)
                .order_by(ocr_lines.c.photo_id, ocr_lines.c.seq)
            )
            for row in conn.execute(q):
                out.setdefault(row.photo_id, []).append(_line(row))
        return out
