"""Process identity on the operating system: the SQLite single-daemon lock, and which lease owners
are provably dead. Both are `fcntl.flock` locks on files, which the kernel drops when a process dies
however it dies, so neither a reused PID, a shared hostname nor another PID namespace can fool them.

The daemon lock is `<database>.lock` beside a SQLite file. Each process that takes leases or claims
also holds `<owner>.lock` in a directory of owner files (beside the SQLite file; for PostgreSQL under
the temporary directory): an owner whose file exists and can be locked has died; one whose file we
cannot see (another host, another container's /tmp) is never taken for dead.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from ..errors import LockedError

try:
    import fcntl

    HAS_FLOCK = True
except ImportError:  # pragma: no cover - not POSIX: no OS locks, nothing is ever reaped
    HAS_FLOCK = False

_held: dict[str, IO[str]] = {}  # path -> open file holding its lock: kept for the process's lifetime


def _sqlite_path(url: str) -> Path | None:
    from sqlalchemy.engine import make_url

    u = make_url(url)
    if not u.drivername.startswith("sqlite") or not u.database or u.database == ":memory:":
        return None
    return Path(u.database).resolve()


def _try_lock(path: Path) -> IO[str] | None:
    """The file open and exclusively locked, or None when a live process holds it."""
    f = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held open for the process's lifetime
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.close()
        return None
    return f


def acquire_daemon(url: str, owner: str) -> None:
    """Take the SQLite single-daemon lock for this process's lifetime; LockedError naming the holder
    when another live process has it. A no-op on PostgreSQL (replicas share it by design)."""
    db = _sqlite_path(url)
    if db is None or not HAS_FLOCK:
        return
    path = db.with_name(db.name + ".lock")
    f = _try_lock(path)
    if f is None:
        try:
            holder = path.read_text(encoding="utf-8").strip() or "unknown"
        except OSError:
            holder = "unknown"
        raise LockedError(f"another watcher daemon ({holder}) is running on this SQLite database; "
                          "stop it first, or use PostgreSQL to run replicas")
    f.seek(0)
    f.truncate()
    f.write(owner + "\n")
    f.flush()
    _held[str(path)] = f


def release_daemon(url: str) -> None:
    db = _sqlite_path(url)
    if db is None:
        return
    f = _held.pop(str(db.with_name(db.name + ".lock")), None)
    if f is not None:
        f.close()  # closing drops the lock; the file stays (unlinking it would race a newcomer)


def _owner_dir(url: str) -> Path:
    db = _sqlite_path(url)
    if db is not None:
        return db.with_name(db.name + ".owners")
    digest = hashlib.sha1(url.encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"watcher-owners-{os.getuid()}-{digest}"


def _owner_file(url: str, owner: str) -> Path:
    return _owner_dir(url) / (hashlib.sha1(owner.encode()).hexdigest()[:20] + ".lock")


def register(url: str, owner: str) -> None:
    """Say, for this process's lifetime, that `owner` is alive (see `dead_checker`)."""
    if not HAS_FLOCK:
        return
    path = _owner_file(url, owner)
    if str(path) in _held:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        f = _try_lock(path)
    except OSError:
        return  # an unwritable directory: this owner is simply never reaped, only expired
    if f is not None:
        _held[str(path)] = f


def dead_checker(url: str) -> Callable[[str], bool]:
    """A test for `Store.reap`: True only for an owner that registered here and whose process is gone."""

    def dead(owner: str) -> bool:
        if not HAS_FLOCK:
            return False
        path = _owner_file(url, owner)
        if str(path) in _held or not path.exists():
            return False
        f = _try_lock(path)
        if f is None:
            return False  # locked: alive, whatever its PID looks like from here
        try:
            path.unlink()
        except OSError:
            pass
        f.close()
        return True

    return dead


def sweep(url: str) -> int:
    """Remove the files of owners that are gone (after `Store.reap` has freed what they held), so the
    directory does not grow by one file per `run --once`; returns how many were removed."""
    if not HAS_FLOCK:
        return 0
    removed = 0
    try:
        paths = list(_owner_dir(url).glob("*.lock"))
    except OSError:
        return 0
    for path in paths:
        if str(path) in _held:
            continue
        try:
            f = _try_lock(path)
        except OSError:
            continue
        if f is None:
            continue  # a live owner
        try:
            path.unlink()
            removed += 1
        except OSError:
            pass
        f.close()
    return removed
