"""Tables of tags ("what is in this photo") and colour descriptors, on ``schema.metadata``.

Automatic tags (detector labels, CLIP zero-shot words) and the user's own choices live apart, so that
re-indexing rewrites the automatic ones and never touches what the user said: the tags a photo shows
are (automatic - removed by the user) + added by the user.
"""

from __future__ import annotations

from sqlalchemy import REAL, Column, ForeignKey, Index, Integer, LargeBinary, Table, Text

from app.storage.schema import metadata

photo_tags = Table(
    "photo_tags",
    metadata,
    Column("photo_id", Integer, ForeignKey("photos.id", ondelete="CASCADE"), primary_key=True),
    Column("tag", Text, primary_key=True),  # normalised: lower case, single spaces
    Column("source", Text, primary_key=True),  # "detector" | "zeroshot"
    Column("score", REAL, nullable=False),  # detector: best confidence; zeroshot: calibrated z-score
    Column("count", Integer, nullable=False),  # detector: boxes with this label; zeroshot: 1
    Column("model", Text, nullable=False),  # regions key (detector) or zero-shot key that produced it
    Index("ix_photo_tags_tag", "tag", "photo_id"),
)

user_tags = Table(
    "user_tags",
    metadata,
    Column("photo_id", Integer, ForeignKey("photos.id", ondelete="CASCADE"), primary_key=True),
    Column("tag", Text, primary_key=True),
    Column("action", Text, nullable=False),  # "add" | "remove": the user's last word on this tag
    Column("at", REAL, nullable=False),
    Index("ix_user_tags_tag", "tag", "action", "photo_id"),
)

tag_state = Table(
    "tag_state",
    metadata,
    Column("photo_id", Integer, ForeignKey("photos.id", ondelete="CASCADE"), primary_key=True),
    Column("detector_key", Text),  # the photo's regions_key its detector tags were made from
    Column("zeroshot_key", Text),  # "<clip model>|<vocabulary>|<calibration>" of its zero-shot tags
)

photo_colours = Table(
    "photo_colours",
    metadata,
    # AUTOINCREMENT: a rewritten row gets a larger seq, so the in-memory matrix catches up by seq.
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("photo_id", Integer, ForeignKey("photos.id", ondelete="CASCADE"), nullable=False, unique=True),
    Column("version", Text, nullable=False),  # imaging.colour.COLOUR_VERSION
    Column("hist", LargeBinary, nullable=False),  # 64 bytes: share of the photo per palette colour x255
    sqlite_autoincrement=True,
)

TAGS_TABLES = [photo_tags, user_tags, tag_state, photo_colours]
