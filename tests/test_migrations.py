"""Migrations build exactly the schema the code uses, and go down and up again cleanly."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from watcher.store import Store, migrate
from watcher.store.schema import HEAD_REVISION, add_partial_indexes, metadata

add_partial_indexes()


def test_head_revision_constant_matches_the_newest_migration():
    assert migrate.head() == HEAD_REVISION


def _diff(engine):
    with engine.connect() as conn:
        return [d for d in compare_metadata(MigrationContext.configure(conn), metadata)]


def test_migrated_sqlite_schema_equals_the_tables_in_code(tmp_path):
    store = Store(f"sqlite:///{tmp_path}/w.db")
    assert store.schema_revision() == HEAD_REVISION
    assert _diff(store.engine) == []


def test_sqlite_downgrade_to_base_and_upgrade_again(tmp_path):
    store = Store(f"sqlite:///{tmp_path}/w.db")
    migrate.downgrade(store.engine, "base")
    assert set(inspect(store.engine).get_table_names()) <= {"alembic_version"}
    migrate.upgrade(store.engine)
    assert store.schema_revision() == HEAD_REVISION
    assert _diff(store.engine) == []


def test_current_schema_skips_alembic_on_open(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path}/w.db"
    Store(url).close()

    def boom(*a, **k):
        raise AssertionError("alembic ran although the schema is current")

    monkeypatch.setattr(migrate, "upgrade", boom)
    Store(url).close()


def test_postgresql_migrations_build_the_same_schema_and_go_down_and_up(pg_url):
    store = Store(pg_url)
    assert store.schema_revision() == HEAD_REVISION
    assert _diff(store.engine) == []
    migrate.downgrade(store.engine, "base")
    assert set(inspect(store.engine).get_table_names()) <= {"alembic_version"}
    migrate.upgrade(store.engine)
    assert _diff(store.engine) == []
    store.close()
