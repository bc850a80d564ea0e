"""SQL that differs by dialect, in one place."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Table


def insert_ignore(conn: Connection, table: Table, conflict: Sequence[str], rows: Sequence[dict[str, Any]]) -> int:
    """INSERT … ON CONFLICT DO NOTHING: rows whose `conflict` columns exist already are skipped, so two
    processes inserting the same thing at once both succeed and it exists once."""
    if not rows:
        return 0
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return conn.execute(insert(table).on_conflict_do_nothing(index_elements=list(conflict)), list(rows)).rowcount or 0
