"""Numbered schema migrations. The DB records the version it is at; a newer DB is refused, never touched.

Each step creates exactly the tables (or columns) it introduces, so ``schema.metadata`` can describe the
latest layout while an old database still walks through every step in order. A feature that needs new
tables defines them in its own ``schema_<feature>.py`` on ``schema.metadata`` and adds one step here.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, text

from app.storage import schema, schema_dupes, schema_features, schema_ocr, schema_tags, schema_watch

_V1_TABLES = [schema.meta, schema.folders, schema.photos, schema.regions, schema.embeddings, schema.hashes]


def _v1_initial(conn: Connection) -> None:
    schema.metadata.create_all(conn, tables=_V1_TABLES)


def _watch_offline_folders(conn: Connection) -> None:
    schema_watch.folder_offline.create(conn)


def _dupes_tables(conn: Connection) -> None:
    schema.metadata.create_all(conn, tables=schema_dupes.DUPES_TABLES)


def _local_features(conn: Connection) -> None:
    schema_features.local_features.create(conn)


def _ocr_tables(conn: Connection) -> None:
    schema.metadata.create_all(conn, tables=[schema_ocr.ocr_lines, schema_ocr.ocr_state])
    for ddl in schema_ocr.FTS_DDL:
        conn.execute(text(ddl))


def _tags_tables(conn: Connection) -> None:
    schema.metadata.create_all(conn, tables=schema_tags.TAGS_TABLES)


def _dupe_verdicts(conn: Connection) -> None:
    schema_dupes.dupe_verdicts.create(conn)


# MIGRATIONS[n] brings a database from version n to n + 1.
MIGRATIONS: dict[int, Callable[[Connection], None]] = {
    0: _v1_initial,
    1: _watch_offline_folders,
    2: _dupes_tables,
    3: _local_features,
    4: _ocr_tables,
    5: _tags_tables,
    6: _dupe_verdicts,
}

SCHEMA_VERSION = max(MIGRATIONS) + 1
