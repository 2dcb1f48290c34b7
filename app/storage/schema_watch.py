"""Tables of the live-folders feature: which library folders are offline (drive unmounted, share gone)."""

from __future__ import annotations

from sqlalchemy import REAL, Column, ForeignKey, Integer, Table

from app.storage.schema import metadata

# A row means the folder is offline since ``since``: its photos stay indexed (embeddings, hashes) but
# are not on disk now. Deleted when the folder comes back.
folder_offline = Table(
    "folder_offline",
    metadata,
    Column("folder_id", Integer, ForeignKey("folders.id", ondelete="CASCADE"), primary_key=True),
    Column("since", REAL, nullable=False),
)
