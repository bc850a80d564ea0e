"""SQL that differs by dialect, in one place."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, Table

from ..clock import utcnow

T = TypeVar("T")


def chunks(items: Sequence[T], size: int = 500) -> Iterator[list[T]]:
    """`items` in slices small enough to bind in one statement (SQLite's default limit is 32,766)."""
    for i in range(0, len(items), size):
        yield list(items[i:i + size])


def insert_ignore(conn: Connection, table: Table, conflict: Sequence[str], rows: Sequence[dict[str, Any]]) -> int:
    """INSERT … ON CONFLICT DO NOTHING: rows whose `conflict` columns exist already are skipped, so two
    processes inserting the same thing at once both succeed and it exists once."""
    if not rows:
        return 0
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        stmt = pg_insert(table).on_conflict_do_nothing(index_elements=list(conflict))
        return conn.execute(stmt, list(rows)).rowcount or 0
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    lite = sqlite_insert(table).on_conflict_do_nothing(index_elements=list(conflict))
    return conn.execute(lite, list(rows)).rowcount or 0


def db_now(conn: Connection) -> datetime:
    """The one clock that leases, claims and back-off compare against: the database server's on
    PostgreSQL (replicas on hosts with different wall clocks agree on it); on SQLite, the single host's."""
    if conn.dialect.name == "postgresql":
        now: datetime = conn.exec_driver_sql("SELECT statement_timestamp() AT TIME ZONE 'UTC'").scalar_one()
        return now
    return utcnow()


def fit(value: str | None, size: int) -> str | None:
    """A string cut to its column's size: PostgreSQL refuses a longer one (SQLite would keep it)."""
    return value[:size] if value is not None and len(value) > size else value
