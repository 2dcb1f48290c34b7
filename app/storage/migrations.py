"""Numbered schema migrations. The DB records the version it is at; a newer DB is refused, never touched."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection

from app.storage import schema

SCHEMA_VERSION = 1


def _v1_initial(conn: Connection) -> None:
    schema.metadata.create_all(conn)


# MIGRATIONS[n] brings a database from version n to n + 1.
MIGRATIONS: dict[int, Callable[[Connection], None]] = {0: _v1_initial}
