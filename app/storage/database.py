"""Open the library database: one engine, WAL, version check, migrations with a backup first."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, select, text
from sqlalchemy.exc import DatabaseError, OperationalError

from app.core.errors import LibraryError, LibraryTooNewError
from app.storage import schema
from app.storage.migrations import MIGRATIONS, SCHEMA_VERSION

_BUSY_TIMEOUT_MS = 30_000


def _on_connect(dbapi_conn: sqlite3.Connection, _record: object) -> None:
    cur = dbapi_conn.cursor()
    # WAL lets readers (UI, searches, a second process) run while the single writer commits.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
    cur.close()


def _read_version(engine: Engine) -> int:
    with engine.connect() as conn:
        has_meta = conn.execute(text("SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'")).first()
        if not has_meta:
            return 0
        row = conn.execute(select(schema.meta.c.value).where(schema.meta.c.key == "schema_version")).first()
        return int(row[0]) if row else 0


def open_engine(db_path: Path, create: bool = True) -> Engine:
    """Open (and create or migrate) the database at ``db_path``.

    Raises:
        LibraryTooNewError: the database was written by a newer Shoebox.
        LibraryError: the file is not a Shoebox database or cannot be opened.
    """
    if not db_path.exists() and not create:
        raise LibraryError(f"no Shoebox library at {db_path.parent}")
    engine = create_engine(f"sqlite:///{db_path}", connect_args={"check_same_thread": False})
    event.listen(engine, "connect", _on_connect)
    try:
        version = _read_version(engine)
    except (DatabaseError, OperationalError) as exc:
        engine.dispose()
        raise LibraryError(f"cannot open library database {db_path}: {exc.orig}") from exc
    if version > SCHEMA_VERSION:
        engine.dispose()
        raise LibraryTooNewError(
            f"library {db_path.parent} was made by a newer Shoebox (schema {version}, this one reads "
            f"up to {SCHEMA_VERSION}); update Shoebox to open it"
        )
    if version < SCHEMA_VERSION:
        _migrate(engine, db_path, version)
    return engine


def _migrate(engine: Engine, db_path: Path, version: int) -> None:
    if version > 0:
        # Vorta's rule: never migrate without a copy to go back to.
        shutil.copy2(db_path, db_path.with_name(f"{db_path.name}.v{version}.bak"))
    with engine.begin() as conn:
        while version < SCHEMA_VERSION:
            MIGRATIONS[version](conn)
            version += 1
        conn.execute(schema.meta.delete().where(schema.meta.c.key == "schema_version"))
        conn.execute(schema.meta.insert().values(key="schema_version", value=str(version)))
