"""The code's layout as a contract: the store owns every query, so no module outside `watcher/store/`
imports SQLAlchemy, Alembic or a database driver (the read side asks the store for dataclasses)."""

from __future__ import annotations

import ast
from pathlib import Path

import watcher

PACKAGE = Path(watcher.__file__).parent
DATABASE_LIBRARIES = {"sqlalchemy", "alembic", "sqlite3", "psycopg", "psycopg2"}


def _imported(path: Path) -> set[str]:
    """The top-level names of every module `path` imports, at any depth (lazy imports included)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_only_the_store_talks_to_the_database() -> None:
    outside = [p for p in PACKAGE.rglob("*.py") if (PACKAGE / "store") not in p.parents]
    assert len(outside) > 20  # the scan sees the package, not an empty folder
    offenders = {str(p.relative_to(PACKAGE)): sorted(_imported(p) & DATABASE_LIBRARIES) for p in outside}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_scan_finds_a_lazy_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from sqlalchemy.exc import SQLAlchemyError\n    import alembic.command\n")
    assert _imported(module) & DATABASE_LIBRARIES == {"sqlalchemy", "alembic"}
