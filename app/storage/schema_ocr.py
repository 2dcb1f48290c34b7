"""Tables of the OCR feature: recognised text lines, which photos were read with which engine, and an
FTS5 index (trigram tokenizer) over the lines' normalised text."""

from __future__ import annotations

from sqlalchemy import REAL, Column, ForeignKey, Integer, Table, Text

from app.storage.schema import metadata

ocr_lines = Table(
    "ocr_lines",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("photo_id", Integer, ForeignKey("photos.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("seq", Integer, nullable=False),  # reading order within the photo
    Column("text", Text, nullable=False),  # as recognised
    Column("norm", Text, nullable=False),  # casefolded letters and digits only: what FTS indexes and ranking compares
    Column("x0", REAL, nullable=False),  # box in pixels of the EXIF-oriented full-resolution photo
    Column("y0", REAL, nullable=False),
    Column("x1", REAL, nullable=False),
    Column("y1", REAL, nullable=False),
    Column("confidence", REAL, nullable=False),
)

# One row per photo read: the engine key and the bytes it was read from. A photo is due for OCR when it has
# no row for the current key, or the row's content hash is not the photo's (edited since).
ocr_state = Table(
    "ocr_state",
    metadata,
    Column("photo_id", Integer, ForeignKey("photos.id", ondelete="CASCADE"), primary_key=True),
    Column("ocr_key", Text, nullable=False),
    Column("content_hash", Text),
    Column("lines", Integer, nullable=False),
)

# External-content FTS5 table over ocr_lines.norm, kept in step by triggers (which also fire for the
# ON DELETE CASCADE from photos). Trigram: substring search, so words OCR glued together still match.
FTS_DDL = (
    "CREATE VIRTUAL TABLE ocr_fts USING fts5(norm, content='ocr_lines', content_rowid='id', tokenize='trigram')",
    "CREATE TRIGGER ocr_lines_ai AFTER INSERT ON ocr_lines BEGIN "
    "INSERT INTO ocr_fts(rowid, norm) VALUES (new.id, new.norm); END",
    "CREATE TRIGGER ocr_lines_ad AFTER DELETE ON ocr_lines BEGIN "
    "INSERT INTO ocr_fts(ocr_fts, rowid, norm) VALUES ('delete', old.id, old.norm); END",
)
