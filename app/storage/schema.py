"""Tables of the library database (SQLAlchemy Core). Changing them needs a migration in migrations.py."""

from __future__ import annotations

from sqlalchemy import (
    REAL,
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
)

metadata = MetaData()

meta = Table(
    "meta",
    metadata,
    Column("key", Text, primary_key=True),
    Column("value", Text, nullable=False),
)

folders = Table(
    "folders",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("path", Text, nullable=False, unique=True),
    Column("added_at", REAL, nullable=False),
)

photos = Table(
    "photos",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("folder_id", Integer, ForeignKey("folders.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("path", Text, nullable=False, unique=True),
    Column("size", BigInteger, nullable=False),
    Column("mtime_ns", BigInteger, nullable=False),
    Column("state", Text, nullable=False, index=True),  # PhotoState
    Column("error", Text),
    Column("content_hash", Text, index=True),
    Column("width", Integer),  # after EXIF orientation, full resolution
    Column("height", Integer),
    Column("format", Text),
    Column("taken_at", Text),
    Column("clip_model", Text),  # model id of the whole-photo embedding, NULL = none yet
    Column("regions_key", Text),  # "<clip model>|<detector>" the region pass ran with, NULL = not yet
    Column("indexed_at", REAL),
)

regions = Table(
    "regions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("photo_id", Integer, ForeignKey("photos.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("kind", Text, nullable=False),  # RegionKind
    Column("x0", REAL, nullable=False),
    Column("y0", REAL, nullable=False),
    Column("x1", REAL, nullable=False),
    Column("y1", REAL, nullable=False),
    Column("label", Text),
    Column("confidence", REAL),
)

embeddings = Table(
    "embeddings",
    metadata,
    Column("region_id", Integer, ForeignKey("regions.id", ondelete="CASCADE"), primary_key=True),
    Column("model", Text, primary_key=True),
    Column("vector", LargeBinary, nullable=False),  # float16, L2-normalised
    Index("ix_embeddings_model", "model", "region_id"),
)

hashes = Table(
    "hashes",
    metadata,
    Column("photo_id", Integer, ForeignKey("photos.id", ondelete="CASCADE"), primary_key=True),
    Column("kind", Text, primary_key=True),  # imaging.hashes kinds
    Column("value", BigInteger, nullable=False),  # signed 64-bit
    Index("ix_hashes_kind_value", "kind", "value"),
)
