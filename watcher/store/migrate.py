"""Alembic, driven from code: no alembic.ini, the scripts in migrations/ (or the wheel's copy)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine


def script_location() -> str:
    here = Path(__file__).resolve().parent.parent  # watcher/
    for candidate in (here / "_migrations", here.parent / "migrations"):
        if (candidate / "env.py").exists():
            return str(candidate)
    raise FileNotFoundError("migrations/ not found beside the watcher package")


def _config(engine: Engine, connection=None):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", script_location())
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    from alembic import command

    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Replicas starting together: one migrates, the others wait and then find it done.
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7274001)")
        command.upgrade(_config(engine, conn), revision)


def downgrade(engine: Engine, revision: str) -> None:
    from alembic import command

    with engine.begin() as conn:
        command.downgrade(_config(engine, conn), revision)


def current(engine: Engine) -> str | None:
    with engine.connect() as conn:
        from alembic.runtime.migration import MigrationContext

        return MigrationContext.configure(conn).get_current_revision()


class RevisionError(ValueError):
    """A revision Alembic does not know (or an ambiguous one): the message names it."""


@contextmanager
def revision_errors() -> Iterator[None]:
    """Alembic's CommandError as a RevisionError, so that the CLI need not import Alembic."""
    from alembic.util import CommandError

    try:
        yield
    except CommandError as exc:
        raise RevisionError(str(exc)) from None


def known_revisions() -> list[str]:
    """Every revision, oldest first."""
    from alembic.script import ScriptDirectory

    return [r.revision for r in ScriptDirectory(script_location()).walk_revisions()][::-1]


def head() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory(script_location()).get_current_head()
