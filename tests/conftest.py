"""Shared fixtures: real servers on 127.0.0.1 (see servers.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from servers import FixtureServer


@pytest.fixture
def http_server() -> Iterator[FixtureServer]:
    """A FixtureServer on 127.0.0.1, closed after the test."""
    with FixtureServer() as server:
        yield server


from pg import pg_url  # noqa: E402,F401  (PostgreSQL: a fresh database per test)
