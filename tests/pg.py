"""PostgreSQL for tests: a fresh database per test, dropped afterwards.

Uses the server on 127.0.0.1:5432 (trust auth). Where it cannot be reached the tests skip with the
reason, except in CI (CI=true), where they fail: CI has the server and must test on it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

HOST = os.environ.get("WATCHER_TEST_PG_HOST", "127.0.0.1")
PORT = int(os.environ.get("WATCHER_TEST_PG_PORT", "5432"))
USERS = ("postgres", "root")


def _admin():  # type: ignore[no-untyped-def]
    import psycopg

    last: Exception | None = None
    for user in USERS:
        try:
            return psycopg.connect(host=HOST, port=PORT, user=user, dbname="test", autocommit=True,
                                   connect_timeout=3), user
        except Exception as exc:  # noqa: BLE001 - try the next user, report the last failure
            last = exc
    raise RuntimeError(f"PostgreSQL at {HOST}:{PORT} unreachable: {last}")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A SQLAlchemy URL of a brand-new, empty PostgreSQL database."""
    try:
        conn, user = _admin()
    except Exception as exc:  # noqa: BLE001
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must test on PostgreSQL: {exc}")
        pytest.skip(str(exc))
    name = f"watcher_test_{uuid.uuid4().hex[:12]}"
    conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://{user}@{HOST}:{PORT}/{name}"
    finally:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()
