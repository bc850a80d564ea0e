"""What the decider needs to know about the evidence, in SQL: which first-party sources confirm a target,
what was mentioned or confirmed before a probe, the ids a family discovered, a source's health flag, and
each target's release (its epoch, open or closed), which decides release or corroboration.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, or_, select, update

from ..decide import ReleaseState
from . import schema as S
from .sql import insert_ignore


def confirmed_sources(conn: Connection, targets: Sequence[str], exclude_source_id: int | None = None
                      ) -> dict[str, list[str]]:
    """target -> names of first-party sources with live confirmed evidence for it."""
    sig, src = S.signals, S.sources
    q = (select(sig.c.target, src.c.name).distinct().join(src, src.c.id == sig.c.source_id)
         .where(sig.c.target.in_(list(targets)), sig.c.vanished_at.is_(None), sig.c.level == "confirmed",
                sig.c.authority == "first_party"))
    if exclude_source_id is not None:
        q = q.where(sig.c.source_id != exclude_source_id)
    out: dict[str, list[str]] = {}
    for t, name in conn.execute(q):
        out.setdefault(t, []).append(name)
    return out


def discovered(conn: Connection) -> list[str]:
    """Ids first seen through a family target, in the order they were found."""
    D = S.discovered_targets
    return [r[0] for r in conn.execute(select(D.c.target).order_by(D.c.id))]


def add_discovered(conn: Connection, found: Mapping[str, str], now: datetime) -> None:
    """Record ids (id -> family) as targets of their own; one a replica recorded first is kept."""
    insert_ignore(conn, S.discovered_targets, ["target"],
                  [dict(target=t, family=f, discovered_at=now) for t, f in found.items()])


def set_health_alerted(conn: Connection, source_id: int, alerted: bool) -> None:
    """Whether a 'source down' notice stands for the source's current failure streak."""
    conn.execute(update(S.sources).where(S.sources.c.id == source_id).values(health_alerted=alerted))


def mentioned_before(conn: Connection, targets: Sequence[str], before_run_id: int) -> set[str]:
    sig = S.signals
    q = select(sig.c.target).distinct().where(sig.c.target.in_(list(targets)), sig.c.authority == "first_party",
                                              sig.c.first_probe_run_id < before_run_id)
    return {r[0] for r in conn.execute(q)}


# One advisory lock for every release decision on PostgreSQL ("watcher.releases" as a 63-bit number): held
# to the end of the transaction, taken before any release row is read or written, so decisions serialise
# without the deadlocks that per-target row locks taken in different orders by batched probes could make.
RELEASES_LOCK = 0x77617463_6872656C


def lock_releases(conn: Connection, targets: Sequence[str], now: datetime) -> dict[str, ReleaseState]:
    """The targets' releases, read under a lock held until the transaction ends, so that probes confirming
    a target at the same moment (one cycle's batches, replicas) decide one after the other and each sees
    what the one before decided. SQLite needs nothing more: a write transaction is already exclusive."""
    R = S.releases
    names = sorted(set(targets))
    if not names:
        return {}
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_advisory_xact_lock(RELEASES_LOCK)))
    insert_ignore(conn, R, ["target"], [dict(target=t, epoch=0, open=False, changed_at=now) for t in names])
    q = select(R.c.target, R.c.epoch, R.c.open).where(R.c.target.in_(names))
    return {r.target: ReleaseState(epoch=r.epoch, open=bool(r.open)) for r in conn.execute(q)}


def set_release(conn: Connection, target: str, *, epoch: int | None = None, open: bool, now: datetime) -> None:
    """Open a target's release at `epoch`, or close it (its evidence withdrawn everywhere)."""
    R = S.releases
    values: dict[str, Any] = dict(open=open, changed_at=now)
    if epoch is not None:
        values["epoch"] = epoch
    conn.execute(update(R).where(R.c.target == target).values(**values))


def confirmed_before(conn: Connection, source_id: int, targets: Sequence[str], run_id: int) -> set[str]:
    """Targets the source had live confirmed evidence for before probe run `run_id` (rows that run made
    vanish included)."""
    sig = S.signals
    q = select(sig.c.target).distinct().where(
        sig.c.source_id == source_id, sig.c.target.in_(list(targets)), sig.c.level == "confirmed",
        sig.c.first_probe_run_id < run_id,
        or_(sig.c.vanished_at.is_(None), sig.c.vanished_probe_run_id == run_id))
    return {r[0] for r in conn.execute(q)}
