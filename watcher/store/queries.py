"""The read side's queries: one signal's provenance (explain, show), each source's first sighting of a target
(timeline), the report's counts and withdrawn evidence, and the newest signals and notices (feed).

Each function takes a Store and returns frozen dataclasses, so that no module outside `store/` builds SQL or
imports SQLAlchemy; what the rows mean to people (context, diffs, HTML, Atom) stays in the callers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, case, func, select

from . import schema as S
from . import wrap_exceptions
from .runs import (
    RunInfo,
    SnapshotInfo,
    latest_snapshot_run,
    load_body,
    load_run,
    load_snapshot,
)

if TYPE_CHECKING:
    from . import Store


@dataclass(frozen=True)
class StoredSignal:
    """One row of `signals` with its source's name: every column, as stored."""

    id: int
    source_id: int
    target: str
    model_id: str
    key_hash: str
    url: str
    authority: str
    level: str
    evidence_type: str
    excerpt: str
    location: str
    published: str | None
    first_seen: datetime
    last_seen: datetime
    first_probe_run_id: int
    last_probe_run_id: int
    first_snapshot_id: int | None
    vanished_at: datetime | None
    vanished_probe_run_id: int | None
    missed_at: datetime | None
    source: str


def _signals() -> Any:
    sig, src = S.signals, S.sources
    return select(sig, src.c.name.label("source")).join(src, src.c.id == sig.c.source_id)


def _signal(row: Any) -> StoredSignal:
    return StoredSignal(**row._mapping)


@dataclass(frozen=True)
class Provenance:
    """Where a signal came from: its runs, the stored document it was found in and, for the diff, the
    source's previous different document (None when not asked for or not stored)."""

    signal: StoredSignal
    first_run: RunInfo | None
    last_run: RunInfo | None
    vanished_run: RunInfo | None
    snapshot: SnapshotInfo | None
    snapshot_note: str | None  # how the snapshot was found, or why there is none
    body: bytes | None
    base_run: RunInfo | None = None
    base_snapshot: SnapshotInfo | None = None
    base_body: bytes | None = None


def provenance(store: Store, signal_id: int, *, with_base: bool = True) -> Provenance | None:
    """Signal `signal_id`'s provenance, read in one connection; None when there is no such signal.
    `with_base` also reads the source's previous different document (what `explain` diffs against)."""
    sig = S.signals
    with wrap_exceptions(store.url), store.engine.connect() as conn:
        row = conn.execute(_signals().where(sig.c.id == signal_id)).one_or_none()
        if row is None:
            return None
        signal = _signal(row)
        first = load_run(conn, signal.first_probe_run_id)
        last = load_run(conn, signal.last_probe_run_id) if with_base else None
        vanished = load_run(conn, signal.vanished_probe_run_id) if with_base else None
        snapshot, note = _snapshot_of(conn, signal, first)
        body = load_body(conn, snapshot.id) if snapshot else None
        base_run = base_snap = base_body = None
        if with_base and snapshot is not None and first is not None:
            base_run = latest_snapshot_run(conn, signal.source_id, first, inclusive=False, not_snapshot=snapshot.id)
            if base_run is not None:
                base_snap = load_snapshot(conn, base_run.snapshot_id)
                base_body = load_body(conn, base_run.snapshot_id) if base_snap else None
    return Provenance(signal=signal, first_run=first, last_run=last, vanished_run=vanished, snapshot=snapshot,
                      snapshot_note=note, body=body, base_run=base_run, base_snapshot=base_snap, base_body=base_body)


def _snapshot_of(conn: Any, signal: StoredSignal, first: RunInfo | None) -> tuple[SnapshotInfo | None, str | None]:
    """The stored document a signal was found in, and a note on how it was found or why there is none."""
    snap_id, note = signal.first_snapshot_id, None
    if snap_id is None and first is not None:
        # A stored copy read again (304) because the targets or parsers changed: the document is the
        # source's last one read before that run.
        prior = latest_snapshot_run(conn, signal.source_id, first, inclusive=True)
        snap_id = prior.snapshot_id if prior else None
        note = (f"the run answered {first.outcome}; the evidence was found when the stored copy read "
                f"by run #{prior.id} was parsed again" if prior else "no stored document for this run")
    snapshot = load_snapshot(conn, snap_id)
    if snap_id is not None and snapshot is None:
        note = f"snapshot #{snap_id} is no longer stored"
    return snapshot, note


@dataclass(frozen=True)
class FirstSighting:
    """The first signal of one level at one source for a target, with that (source, level)'s state now."""

    signal_id: int
    source: str
    level: str
    first_seen: datetime
    evidence_type: str
    model_id: str
    authority: str
    url: str
    live: bool  # some signal of this source and level has not vanished
    last_seen: datetime
    vanished_at: datetime | None  # the latest vanishing of this source and level


def first_sightings(store: Store, target: str) -> tuple[FirstSighting, ...]:
    """When each source first showed each level for `target` (lower case), oldest first."""
    sig, src = S.signals, S.sources
    # The ranking reads only the (target, source_id, level, first_seen) index, which holds the id too;
    # the table is read for the first rows alone (ranking whole rows read every one: 3x slower).
    rank = func.row_number().over(partition_by=(sig.c.source_id, sig.c.level),
                                  order_by=(sig.c.first_seen, sig.c.id)).label("rank")
    ranked = select(sig.c.id, rank).where(sig.c.target == target).subquery()
    firsts = sig.alias("firsts")
    q = (select(firsts.c.id, firsts.c.source_id, firsts.c.level, firsts.c.first_seen, firsts.c.evidence_type,
                firsts.c.model_id, firsts.c.authority, firsts.c.url, src.c.name)
         .join_from(ranked, firsts, firsts.c.id == ranked.c.id).join(src, src.c.id == firsts.c.source_id)
         .where(ranked.c.rank == 1).order_by(firsts.c.first_seen, src.c.name, firsts.c.level))
    live_q = (select(sig.c.source_id, sig.c.level, func.max(sig.c.last_seen).label("last_seen"),
                     func.max(sig.c.vanished_at).label("vanished_at"),
                     func.sum(case((sig.c.vanished_at.is_(None), 1), else_=0)).label("live"))
              .where(sig.c.target == target).group_by(sig.c.source_id, sig.c.level))
    with wrap_exceptions(store.url), store.engine.connect() as conn:
        state = {(r.source_id, r.level): r for r in conn.execute(live_q)}
        rows = conn.execute(q).all()
    out = []
    for r in rows:
        now = state[(r.source_id, r.level)]
        out.append(FirstSighting(signal_id=r.id, source=r.name, level=r.level, first_seen=r.first_seen,
                                 evidence_type=r.evidence_type, model_id=r.model_id, authority=r.authority,
                                 url=r.url, live=bool(now.live), last_seen=now.last_seen,
                                 vanished_at=now.vanished_at))
    return tuple(out)


@dataclass(frozen=True)
class ReportCounts:
    """What the report reads besides the live signals and verdicts."""

    live_per_source: dict[str, int]  # source name -> live signals
    vanished: dict[str, tuple[StoredSignal, ...]]  # target -> its newest withdrawn signals, newest first
    vanished_total: dict[str, int]  # target -> all its withdrawn signals
    signals_total: int
    runs_total: int


def report_counts(store: Store, targets: Sequence[str], *, vanished_shown: int) -> ReportCounts:
    """The counts and withdrawn evidence the report shows for `targets`."""
    sig, src = S.signals, S.sources
    live_per_source: dict[str, int] = {}
    vanished: dict[str, tuple[StoredSignal, ...]] = {}
    vanished_total: dict[str, int] = {}
    with wrap_exceptions(store.url), store.engine.connect() as conn:
        for r in conn.execute(select(src.c.name, func.count()).join(sig, sig.c.source_id == src.c.id)
                              .where(sig.c.vanished_at.is_(None)).group_by(src.c.name)):
            live_per_source[r[0]] = r[1]
        for t in targets:
            cond = and_(sig.c.target == t, sig.c.vanished_at.is_not(None))
            vanished_total[t] = conn.execute(select(func.count()).select_from(sig).where(cond)).scalar_one()
            vanished[t] = tuple(_signal(r) for r in conn.execute(
                _signals().where(cond).order_by(sig.c.vanished_at.desc(), sig.c.id.desc()).limit(vanished_shown)))
        signals_total = conn.execute(select(func.count()).select_from(sig)).scalar_one()
        runs_total = conn.execute(select(func.count()).select_from(S.probe_runs)).scalar_one()
    return ReportCounts(live_per_source=live_per_source, vanished=vanished, vanished_total=vanished_total,
                        signals_total=signals_total, runs_total=runs_total)


@dataclass(frozen=True)
class NoticeRow:
    """One notice on one channel, as the feed shows it."""

    key: str
    channel: str
    kind: str
    target: str | None
    payload: str  # JSON
    state: str
    created_at: datetime


def newest_signals(store: Store, *, limit: int, target: str | None = None) -> tuple[StoredSignal, ...]:
    """The `limit` newest signals (by first sighting), of one target (lower case) or all."""
    sig = S.signals
    q = _signals()
    if target:
        q = q.where(sig.c.target == target)
    with wrap_exceptions(store.url), store.engine.connect() as conn:
        return tuple(_signal(r) for r in conn.execute(q.order_by(sig.c.first_seen.desc(), sig.c.id.desc())
                                                      .limit(limit)))


def newest_notices(store: Store, *, limit: int, target: str | None = None) -> tuple[NoticeRow, ...]:
    """The `limit` newest notice rows (one per channel), test notices left out, of one target or all."""
    n = S.notices
    q = select(n.c.key, n.c.channel, n.c.kind, n.c.target, n.c.payload, n.c.state, n.c.created_at)
    q = q.where(n.c.kind != "test")
    if target:
        q = q.where(n.c.target == target)
    with wrap_exceptions(store.url), store.engine.connect() as conn:
        return tuple(NoticeRow(**r._mapping) for r in conn.execute(q.order_by(n.c.created_at.desc(), n.c.id.desc())
                                                                   .limit(limit)))
