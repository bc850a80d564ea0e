"""Probe runs and stored documents as provenance: the lookups `watcher explain` makes, and `prune`,
which deletes the runs and documents nothing needs (never evidence)."""

from __future__ import annotations

import time
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, or_, select

from . import schema as S
from .sql import chunks

if TYPE_CHECKING:
    from . import Store


@dataclass(frozen=True)
class RunInfo:
    """One probe run as explain shows it."""

    id: int
    source_id: int
    started_at: datetime
    outcome: str
    http_status: int | None
    bytes: int | None
    duration_ms: int
    snapshot_id: int | None
    error: str | None


@dataclass(frozen=True)
class SnapshotInfo:
    id: int
    content_hash: str
    size: int
    content_type: str | None
    first_seen: datetime


def load_run(conn: Any, run_id: int | None) -> RunInfo | None:
    if run_id is None:
        return None
    r = S.probe_runs
    row = conn.execute(select(r).where(r.c.id == run_id)).one_or_none()
    return None if row is None else RunInfo(
        id=row.id, source_id=row.source_id, started_at=row.started_at, outcome=row.outcome,
        http_status=row.http_status, bytes=row.bytes, duration_ms=row.duration_ms, snapshot_id=row.snapshot_id,
        error=row.error)


def latest_snapshot_run(conn: Any, source_id: int, before: RunInfo, *, inclusive: bool,
                         not_snapshot: int | None = None) -> RunInfo | None:
    """The source's latest run before `before` (or at it, `inclusive`) that stored a document, other than
    `not_snapshot`. `prune` keeps exactly these runs (see `_diff_bases`), so explain works after it."""
    r = S.probe_runs
    earlier = or_(r.c.started_at < before.started_at,
                  and_(r.c.started_at == before.started_at, r.c.id <= before.id if inclusive else r.c.id < before.id))
    q = select(r.c.id).where(r.c.source_id == source_id, earlier, r.c.snapshot_id.is_not(None))
    if not_snapshot is not None:
        q = q.where(r.c.snapshot_id != not_snapshot)
    run_id = conn.execute(q.order_by(r.c.started_at.desc(), r.c.id.desc()).limit(1)).scalar()
    return load_run(conn, run_id)


def load_snapshot(conn: Any, snapshot_id: int | None) -> SnapshotInfo | None:
    if snapshot_id is None:
        return None
    s = S.snapshots
    row = conn.execute(select(s.c.id, s.c.content_hash, s.c.size, s.c.content_type, s.c.first_seen)
                       .where(s.c.id == snapshot_id)).one_or_none()
    return None if row is None else SnapshotInfo(row.id, row.content_hash, row.size, row.content_type, row.first_seen)


def load_body(conn: Any, snapshot_id: int | None) -> bytes | None:
    data = conn.execute(select(S.snapshots.c.body).where(S.snapshots.c.id == snapshot_id)).scalar()
    return zlib.decompress(data) if data is not None else None


# ---------------------------------------------------------------------------------- prune
@dataclass(frozen=True)
class PruneResult:
    cutoff: datetime
    dry_run: bool
    runs_before: int
    runs_removed: int
    runs_kept_old: int  # unchanged runs older than the cutoff kept because something needs them
    snapshots_before: int
    snapshots_removed: int
    snapshot_bytes_removed: int  # compressed bytes of the snapshots removed
    seconds: float = 0.0
    kept_because: dict[str, int] = field(default_factory=dict)  # reason -> old unchanged runs kept


def prune(store: Store, cutoff: datetime, *, dry_run: bool = False, batch: int = 20_000) -> PruneResult:
    """Delete probe runs that changed nothing and are older than `cutoff`, then the snapshots nothing refers to.

    Kept: every run that added or removed a signal (changed); every run a signal names (first, last,
    vanished); the newest run of each source; and, for each changed run, the run that read the document it
    is compared against (so `explain` still shows its diff). Signals are never deleted.

    The runs go `batch` per transaction, so a SQLite daemon's writes wait a fraction of a second, not the
    whole prune; each transaction also keeps what probes recorded since the plan need, and the snapshots
    are chosen in the last one, from what refers to them then.
    """
    t0 = time.perf_counter()
    r, snap = S.probe_runs, S.snapshots
    with store.engine.connect() as conn:
        runs_before = conn.execute(select(func.count()).select_from(r)).scalar_one()
        snapshots_before = conn.execute(select(func.count()).select_from(snap)).scalar_one()
        planned_upto = conn.execute(select(func.coalesce(func.max(r.c.id), 0))).scalar_one()
        referenced = _named_by_signals(conn)
        newest = _newest_runs(conn)
        bearing = _bearing(conn)
        bases = _diff_bases(bearing)
        old = conn.execute(select(r.c.id).where(r.c.changed.is_(False), r.c.started_at < cutoff)).scalars().all()
        reasons: Counter[str] = Counter()
        doomed: list[int] = []
        for rid in old:
            why = ("named by a signal" if rid in referenced else "newest of its source" if rid in newest
                   else _BASE if rid in bases else None)
            if why:
                reasons[why] += 1
            else:
                doomed.append(rid)
        if dry_run:
            gone = set(doomed)
            needed = {s for rid, _, s, _ in bearing if s is not None and rid not in gone}
            orphans, freed = _orphans(conn, needed)
    removed = 0
    if not dry_run:
        for chunk in chunks(doomed, batch):
            with store.write() as conn:
                late = _bases_since(conn, planned_upto)  # changes recorded while we prune keep their bases
                ids = [rid for rid in chunk if rid not in late]
                reasons[_BASE] += len(chunk) - len(ids)
                for part in chunks(ids):
                    conn.execute(r.delete().where(r.c.id.in_(part)))
                removed += len(ids)
        with store.write() as conn:
            needed = set(conn.execute(select(r.c.snapshot_id).distinct().where(r.c.snapshot_id.is_not(None)))
                         .scalars())
            orphans, freed = _orphans(conn, needed)
            for part in chunks(orphans):
                conn.execute(snap.delete().where(snap.c.id.in_(part)))
    return PruneResult(cutoff=cutoff, dry_run=dry_run, runs_before=runs_before,
                       runs_removed=len(doomed) if dry_run else removed, runs_kept_old=sum(reasons.values()),
                       snapshots_before=snapshots_before, snapshots_removed=len(orphans),
                       snapshot_bytes_removed=int(freed), seconds=round(time.perf_counter() - t0, 3),
                       kept_because=dict(reasons))


_BASE = "read a document a change is compared against"


def _named_by_signals(conn: Any) -> set[int]:
    sig = S.signals
    out: set[int] = set()
    for row in conn.execute(select(sig.c.first_probe_run_id, sig.c.last_probe_run_id, sig.c.vanished_probe_run_id)):
        out.update(x for x in row if x is not None)
    return out


def _newest_runs(conn: Any) -> set[int]:
    r = S.probe_runs
    out = set()
    for sid in conn.execute(select(S.sources.c.id)).scalars():
        rid = conn.execute(select(r.c.id).where(r.c.source_id == sid)
                           .order_by(r.c.started_at.desc(), r.c.id.desc()).limit(1)).scalar()
        if rid is not None:
            out.add(rid)
    return out


def _bearing(conn: Any) -> list[Any]:
    """(id, source_id, snapshot_id, changed) of the runs that stored a document or changed something,
    by source, in time order: all `_diff_bases` needs."""
    r = S.probe_runs
    return list(conn.execute(select(r.c.id, r.c.source_id, r.c.snapshot_id, r.c.changed)
                        .where(or_(r.c.snapshot_id.is_not(None), r.c.changed))
                        .order_by(r.c.source_id, r.c.started_at, r.c.id)).all())


def _bases_since(conn: Any, after_id: int) -> set[int]:
    """The runs the changes recorded after run `after_id` are compared against, by explain's own query."""
    r = S.probe_runs
    keep: set[int] = set()
    for rid in conn.execute(select(r.c.id).where(r.c.changed, r.c.id > after_id)).scalars():
        run = load_run(conn, rid)
        if run is None:
            continue
        doc = run if run.snapshot_id is not None else latest_snapshot_run(conn, run.source_id, run, inclusive=True)
        if doc is None:
            continue
        keep.add(doc.id)
        base = latest_snapshot_run(conn, run.source_id, run, inclusive=False, not_snapshot=doc.snapshot_id)
        if base is not None:
            keep.add(base.id)
    return keep


def _orphans(conn: Any, needed: set[int]) -> tuple[list[int], int]:
    """The snapshots neither a run in `needed`, a signal nor a source refers to, and their compressed bytes."""
    snap, sig, src = S.snapshots, S.signals, S.sources
    needed = needed | {x for x in conn.execute(select(sig.c.first_snapshot_id).distinct()).scalars() if x is not None}
    needed.update(x for x in conn.execute(select(src.c.snapshot_id)).scalars() if x is not None)
    orphans = [sid for sid in conn.execute(select(snap.c.id)).scalars() if sid not in needed]
    freed = 0
    for part in chunks(orphans):
        freed += conn.execute(select(func.coalesce(func.sum(func.length(snap.c.body)), 0))
                              .where(snap.c.id.in_(part))).scalar_one()
    return orphans, int(freed)


def _diff_bases(runs: Sequence[Any]) -> set[int]:
    """The runs `explain` compares each changed run's document against (see `_latest_snapshot_run`).

    `runs`: (id, source_id, snapshot_id, changed) of every run that stored a document or changed
    something, by source and then in time order. For a changed run that stored a document D, the base is
    the source's latest earlier run that stored another document; for one that stored none (a 304 whose
    stored copy was parsed again), also the latest earlier run that stored any, the document parsed.
    """
    keep: set[int] = set()
    source = None
    last: tuple[int, int] | None = None  # (run, snapshot) the latest run that stored a document
    before_last: tuple[int, int] | None = None  # the latest run that stored a document other than last's
    for rid, sid, snapshot, changed in runs:
        if sid != source:
            source, last, before_last = sid, None, None
        if changed:
            doc = snapshot if snapshot is not None else (last[1] if last else None)
            if snapshot is None and last is not None:
                keep.add(last[0])
            if doc is not None:
                base = last if last is not None and last[1] != doc else before_last
                if base is not None:
                    keep.add(base[0])
        if snapshot is not None:
            if last is not None and last[1] != snapshot:
                before_last = last
            last = (rid, snapshot)
    return keep
