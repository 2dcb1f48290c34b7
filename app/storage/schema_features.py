"""Table of the crop-search local features (one row per indexed photo), on ``schema.metadata``."""

from __future__ import annotations

from sqlalchemy import REAL, Column, ForeignKey, Integer, LargeBinary, Table, Text

from app.storage.schema import metadata

local_features = Table(
    "local_features",
    metadata,
    # AUTOINCREMENT: a rewritten row always gets a larger seq, so the FAISS cache can catch up on the
    # rows with seq above the largest it has seen instead of being rebuilt.
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("photo_id", Integer, ForeignKey("photos.id", ondelete="CASCADE"), nullable=False, unique=True),
    Column("version", Text, nullable=False),  # local_features.FEATURES_VERSION the codes were made with
    Column("count", Integer, nullable=False),
    Column("codes", LargeBinary, nullable=False),  # count x 32 bytes: 256-bit codes
    # count x 6 bytes (features_repo.GEOMETRY): position, orientation and size of each keypoint
    Column("xy", LargeBinary, nullable=False),
    Column("scale", REAL, nullable=False),  # photo pixels per working-image pixel
    sqlite_autoincrement=True,
)
