"""Tables of the duplicate finder: checked photos, confirmed pairs, "not a duplicate", protected folders,
and the undo journal of trash actions."""

from __future__ import annotations

from sqlalchemy import REAL, Column, ForeignKey, Integer, Table, Text

from app.storage.schema import metadata

dupe_checked = Table(  # photos already compared with the library, by the content they had then
    "dupe_checked",
    metadata,
    Column("photo_id", Integer, ForeignKey("photos.id", ondelete="CASCADE"), primary_key=True),
    Column("content_hash", Text, nullable=False),
)

dupe_pairs = Table(  # confirmed same/similar pairs with their evidence (photo_a < photo_b)
    "dupe_pairs",
    metadata,
    Column("photo_a", Integer, ForeignKey("photos.id", ondelete="CASCADE"), primary_key=True),
    Column("photo_b", Integer, ForeignKey("photos.id", ondelete="CASCADE"), primary_key=True, index=True),
    Column("tier", Text, nullable=False),
    Column("distance", Integer),
    Column("transform", Text),
    Column("correlation", REAL),
    Column("inliers", Integer),
    Column("cosine", REAL),
)

not_duplicates = Table(  # by content, so a decision survives moves and re-indexing
    "not_duplicates",
    metadata,
    Column("hash_a", Text, primary_key=True),
    Column("hash_b", Text, primary_key=True),
    Column("decided_at", REAL, nullable=False),
)

protected_folders = Table(
    "protected_folders",
    metadata,
    Column("path", Text, primary_key=True),
    Column("added_at", REAL, nullable=False),
)

trash_journal = Table(
    "trash_journal",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("batch", Integer, nullable=False, index=True),
    Column("path", Text, nullable=False),  # where the file was
    Column("trash_path", Text),  # where it is now (None: the platform does not tell)
    Column("info_path", Text),  # freedesktop .trashinfo
    Column("content_hash", Text, nullable=False),
    Column("size", Integer, nullable=False),
    Column("trashed_at", REAL, nullable=False),
    Column("restored_at", REAL),
)

DUPES_TABLES = [dupe_checked, dupe_pairs, not_duplicates, protected_folders, trash_journal]

dupe_verdicts = Table(  # pixel verdicts by content pair, so a re-scan, a move or a re-index never re-checks
    "dupe_verdicts",
    metadata,
    Column("hash_a", Text, primary_key=True),  # hash_a < hash_b
    Column("hash_b", Text, primary_key=True),
    Column("kind", Integer, primary_key=True),  # the hash variant the pair was compared as
    Column("version", Integer, nullable=False),  # pair_verify.VERSION: verdicts of older checks are redone
    Column("tier", Text),  # "same", "similar" or NULL (no duplicate)
    Column("correlation", REAL),
    Column("inliers", Integer),
    Column("note", Text),  # why it is not the same picture, in words
)
