"""Named locks with an expiry in the `locks` table: the SQLite daemon lock."""

from __future__ import annotations

import os
import socket
from datetime import timedelta

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from ..clock import utcnow
from . import schema as S

L = S.locks


def dead_here(owner: str) -> bool:
    """The owner (host:pid) was a process on this host that no longer runs: a crash, not a rival."""
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def acquire(store, name: str, owner: str, ttl: float) -> bool:  # type: ignore[no-untyped-def]
    """Take or renew the lock; False when another live owner holds it and it has not expired."""
    now = utcnow()
    until = now + timedelta(seconds=ttl)
    with store.write() as conn:
        res = conn.execute(update(L).where(L.c.name == name, or_(L.c.owner == owner, L.c.until < now))
                           .values(owner=owner, until=until))
        if res.rowcount == 1:
            return True
        held = conn.execute(select(L.c.owner).where(L.c.name == name)).scalar()
        if held is not None:
            if not dead_here(held):
                return False
            conn.execute(update(L).where(L.c.name == name, L.c.owner == held).values(owner=owner, until=until))
            return True
    try:
        with store.write() as conn:
            conn.execute(insert(L).values(name=name, owner=owner, until=until))
        return True
    except IntegrityError:
        return False


def holder(store, name: str) -> str | None:  # type: ignore[no-untyped-def]
    with store.engine.connect() as conn:
        return conn.execute(select(L.c.owner).where(L.c.name == name)).scalar()


def release(store, name: str, owner: str) -> None:  # type: ignore[no-untyped-def]
    with store.write() as conn:
        conn.execute(delete(L).where(L.c.name == name, L.c.owner == owner))
