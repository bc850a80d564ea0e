"""The repository the rest of watcher calls: sources' state, probe runs, snapshots, signals.

All SQL lives under watcher/store. SQLite is the default; nothing here is SQLite-only.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import wraps
from typing import Any

from sqlalchemy import (
    Connection,
    DateTime,
    Engine,
    Select,
    String,
    bindparam,
    create_engine,
    event,
    func,
    insert,
    or_,
    select,
    type_coerce,
    update,
)
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError

from ..errors import StoreError
from ..evidence import Authority, Outcome, Signal, SignalRow
from . import schema as S
from .runs import load_body
from .sql import chunks, db_now, fit, insert_ignore

MAX_TEXT = 2000  # characters of an error, excerpt or location kept: enough to read, never unbounded

@dataclass(frozen=True)
class SourceState:
    id: int
    name: str
    etag: str | None
    last_modified: str | None
    snapshot_id: int | None
    content_hash: str | None
    parsed_with: str | None
    last_outcome: str | None
    last_status: int | None
    last_error: str | None
    last_probe_at: datetime | None
    last_ok_at: datetime | None
    failure_streak: int
    health_alerted: bool
    next_due_at: datetime | None
    not_before: datetime | None = None  # in back-off (a server's Retry-After) until then


@dataclass(frozen=True)
class ProbeRecord:
    """What one probe did to the store: its run id and the evidence it added or saw vanish."""

    run_id: int
    source_id: int
    outcome: Outcome
    added: list[SignalRow] = field(default_factory=list)
    vanished: list[SignalRow] = field(default_factory=list)
    live: int = 0  # live signals at the source after this probe
    failure_streak: int = 0  # failed probes in a row, this one included
    health_alerted: bool = False  # a 'source down' notice stands for the current streak
    first_read: bool = False  # the source had never answered before this probe

    @property
    def changed(self) -> bool:
        return bool(self.added or self.vanished)


@dataclass(frozen=True)
class Probe:
    """One probe's result as the store records it (the fetcher's result, plus the parse)."""

    outcome: Outcome
    started_at: datetime
    duration_ms: int
    status: int | None = None
    bytes_read: int | None = None  # bytes of body read (None: none was, e.g. a network error)
    body: bytes | None = None
    content_type: str | None = None
    content_hash: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    error: str | None = None
    # None: the document was not (re)parsed, live evidence stays as it is;
    # a list: the complete evidence the source shows now (empty: absent).
    signals: list[Signal] | None = None
    parsed_with: str | None = None
    retry_after: float | None = None  # seconds a 429/503 asked us to wait: no probe of any kind before then


def next_due(slot: datetime | None, started: datetime, every: float) -> datetime:
    """When the source is next due. A probe that answers its scheduled slot, even late, keeps the
    schedule anchored to the slot, so a late start (a busy pool) never costs the next interval; any
    other probe (the first, a forced `run --once`, one after a long outage) starts a new schedule."""
    step = timedelta(seconds=every)
    if slot is not None and slot - step / 2 <= started < slot + step:
        return slot + step
    return started + step


def key_hash(sig: Signal) -> str:
    return hashlib.sha1("\x1f".join(sig.key).encode()).hexdigest()


def content_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


@contextmanager
def wrap_exceptions(url: str) -> Iterator[None]:
    """The store's boundary, the one place a database failure becomes a StoreError: it names the database
    (without its password) and the driver's first line, and says whether the database was unreachable."""
    try:
        yield
    except SQLAlchemyError as exc:
        raise StoreError(f"database {redact_url(url)}: {_reason(exc)}", unreachable=_unreachable(exc)) from None


def _guard(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A Store method inside `wrap_exceptions` for its database."""

    @wraps(fn)
    def wrapper(self: Store, *args: Any, **kwargs: Any) -> Any:
        with wrap_exceptions(self.url):
            return fn(self, *args, **kwargs)

    return wrapper


# Called inside the probe's transaction with what changed, so notices become due atomically.
# The open transaction a hook and the outbox functions work in; named here so that code outside store/
# can type it without importing SQLAlchemy (tests/test_layout.py).
Transaction = Connection
ProbeHook = Callable[[Transaction, "SourceRow", ProbeRecord, Probe], None]


@dataclass(frozen=True)
class SourceRow:
    id: int
    name: str
    kind: str
    url: str
    authority: str
    target: str | None = None


# ---------------------------------------------------------------------------------- history
@dataclass(frozen=True)
class HistoryFilter:
    """What `watcher history` narrows the signals to. Times are naive UTC; `until` is exclusive."""

    target: str | None = None
    source: str | None = None
    level: str | None = None
    authority: str | None = None
    evidence_type: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def where(self, q: Select[Any]) -> Select[Any]:
        sig, src = S.signals, S.sources
        if self.target:
            q = q.where(sig.c.target == self.target.lower())
        if self.source:
            q = q.where(src.c.name == self.source)
        if self.level:
            q = q.where(sig.c.level == self.level)
        if self.authority:
            q = q.where(sig.c.authority == self.authority)
        if self.evidence_type:
            q = q.where(sig.c.evidence_type == self.evidence_type)
        if self.since:
            q = q.where(sig.c.first_seen >= self.since)
        if self.until:
            q = q.where(sig.c.first_seen < self.until)
        return q


class _Statements:
    """The probe path's statements, built once: building a Core statement costs more CPU than running
    it on SQLite, and a statement object used again also finds its compiled form in the engine's cache
    at once. Lists of ids or names go in as expanding bind parameters."""

    @functools.cached_property
    def claim(self) -> Any:
        s = S.sources
        return update(s).where(
            s.c.id.in_(bindparam("b_ids", expanding=True)),
            or_(s.c.lease_until.is_(None), s.c.lease_until < bindparam("b_now"),
                s.c.lease_owner == bindparam("b_owner")),
            # a server's Retry-After holds for every kind of run, `run --once` included
            or_(s.c.not_before.is_(None), s.c.not_before <= bindparam("b_now")),
        ).values(lease_owner=bindparam("b_owner"), lease_until=bindparam("b_until")).returning(
            *s.c, select(S.snapshots.c.content_hash).where(S.snapshots.c.id == s.c.snapshot_id)
            .scalar_subquery().label("content_hash"))  # the claimed sources' state, in the same statement

    @functools.cached_property
    def claim_due(self) -> Any:
        s = S.sources
        # `b_due_by`: a scheduler's jitter may fire a little early; that is still this interval
        return self.claim.where(or_(s.c.next_due_at.is_(None), s.c.next_due_at <= bindparam("b_due_by")))

    @functools.cached_property
    def states(self) -> Any:
        s = S.sources
        return (select(s, S.snapshots.c.content_hash)
                .join(S.snapshots, S.snapshots.c.id == s.c.snapshot_id, isouter=True))

    @functools.cached_property
    def states_named(self) -> Any:
        return self.states.where(S.sources.c.name.in_(bindparam("b_names", expanding=True)))

    @functools.cached_property
    def before(self) -> Any:
        src_t = S.sources
        return select(src_t.c.id, src_t.c.failure_streak, src_t.c.health_alerted, src_t.c.last_ok_at,
                      src_t.c.next_due_at, src_t.c.etag, src_t.c.last_modified, src_t.c.snapshot_id,
                      src_t.c.parsed_with).where(src_t.c.id.in_(bindparam("b_ids", expanding=True)))

    @functools.cached_property
    def live(self) -> Any:
        sig = S.signals
        return (select(sig.c.source_id, sig.c.id, sig.c.key_hash, sig.c.target, sig.c.model_id, sig.c.evidence_type,
                       sig.c.level, sig.c.location, sig.c.excerpt, sig.c.first_seen, sig.c.url, sig.c.authority,
                       sig.c.missed_at)
                .where(sig.c.source_id.in_(bindparam("b_ids", expanding=True)), sig.c.vanished_at.is_(None)))

    @functools.cached_property
    def insert_runs(self) -> Any:
        runs = S.probe_runs
        return insert(runs).returning(runs.c.id, sort_by_parameter_order=True)

    @functools.cached_property
    def vanish(self) -> Any:
        sig = S.signals
        return update(sig).where(sig.c.id == bindparam("b_id")).values(
            vanished_at=bindparam("b_at"), vanished_probe_run_id=bindparam("b_run"))

    @functools.cached_property
    def seen_again(self) -> Any:
        sig = S.signals
        # evidence an answer missed keeps the last_seen of the answer that last showed it
        return (update(sig).where(sig.c.source_id == bindparam("b_sid"), sig.c.vanished_at.is_(None),
                                  sig.c.missed_at.is_(None))
                .values(last_seen=bindparam("b_at"), last_probe_run_id=bindparam("b_run")))

    @functools.cached_property
    def missed(self) -> Any:
        sig = S.signals
        return update(sig).where(sig.c.id == bindparam("b_id")).values(missed_at=bindparam("b_at"))

    @functools.cached_property
    def found_again(self) -> Any:
        sig = S.signals
        return update(sig).where(sig.c.id == bindparam("b_id")).values(missed_at=None)

    @functools.cached_property
    def after(self) -> Any:
        src_t = S.sources
        return update(src_t).where(src_t.c.id == bindparam("b_id")).values(
            last_outcome=bindparam("b_outcome"), last_status=bindparam("b_status"), last_error=bindparam("b_error"),
            last_probe_at=bindparam("b_at"), next_due_at=bindparam("b_due"), failure_streak=bindparam("b_streak"),
            last_ok_at=bindparam("b_ok"), etag=bindparam("b_etag"), last_modified=bindparam("b_lm"),
            snapshot_id=bindparam("b_snap"), parsed_with=bindparam("b_parsed"), not_before=bindparam("b_not_before"),
            lease_owner=None, lease_until=None)


_Q = _Statements()


class Store:
    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = url
        self._write_lock = threading.Lock()
        try:
            with wrap_exceptions(url):
                self.engine: Engine = _engine(url)
                self.dialect = self.engine.dialect.name
                if migrate:
                    self.ensure_schema()
        except ImportError as exc:  # a dialect SQLAlchemy knows, whose driver is not installed
            raise StoreError(f"database {redact_url(url)}: its driver is not installed ({exc.name or exc}); "
                             "supported: sqlite, postgresql+psycopg (pip install "
                             "'release-evidence-watcher[postgres]')") from None

    # ---------------------------------------------------------------- schema
    def schema_revision(self) -> str | None:
        with self.engine.connect() as conn:
            try:
                return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
            except (OperationalError, DBAPIError):
                conn.rollback()
                return None

    def ensure_schema(self) -> None:
        """Upgrade to the newest migration, importing Alembic only when the schema is behind."""
        if self.schema_revision() == S.HEAD_REVISION:
            return
        from .migrate import upgrade

        upgrade(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    # ---------------------------------------------------------------- sources
    @_guard
    def sync_sources(self, configs: Sequence[Any]) -> dict[str, SourceRow]:
        """Make sure each configured source has a row; keep kind, URL and authority current. Replicas
        starting together may all do this at once: the rows are inserted once, whoever wins."""
        src = S.sources
        want = {c.name: (c.kind, c.url_display, c.authority.value if isinstance(c.authority, Authority)
                         else str(c.authority), getattr(c, "target", None)) for c in configs}
        cols = (src.c.id, src.c.name, src.c.kind, src.c.url, src.c.authority)
        with self.write() as conn:
            rows = {r.name: r for r in conn.execute(select(*cols).where(src.c.name.in_(list(want))))}
            missing = [dict(name=n, kind=k, url=u, authority=a) for n, (k, u, a, _) in want.items() if n not in rows]
            if missing:
                insert_ignore(conn, src, ["name"], missing)
                rows = {r.name: r for r in conn.execute(select(*cols).where(src.c.name.in_(list(want))))}
            for name, (kind, url, auth, _) in want.items():
                r = rows[name]
                if (r.kind, r.url, r.authority) != (kind, url, auth):
                    conn.execute(update(src).where(src.c.id == r.id).values(kind=kind, url=url, authority=auth))
        return {n: SourceRow(rows[n].id, n, k, u, a, t) for n, (k, u, a, t) in want.items()}

    @_guard
    def states(self, names: Iterable[str] | None = None) -> dict[str, SourceState]:
        params = {} if names is None else {"b_names": list(names)}
        q = _Q.states if names is None else _Q.states_named
        with self.engine.connect() as conn:
            return {r.name: _state(r) for r in conn.execute(q, params)}

    @_guard
    def snapshot_body(self, snapshot_id: int) -> bytes | None:
        with self.engine.connect() as conn:
            return load_body(conn, snapshot_id)

    @_guard
    def now(self) -> datetime:
        """The database's clock (see `sql.db_now`)."""
        with self.engine.connect() as conn:
            return db_now(conn)

    # ---------------------------------------------------------------- leases
    @_guard
    def claim_many(self, source_ids: Sequence[int], owner: str, ttl: float, *, due_only: bool,
                   slack: float = 0.0, now: datetime | None = None) -> dict[int, SourceState]:
        """Take the probe lease on every given source that is free (and due, if asked); returns the ids
        taken, each with its source's state (what the probe needs: validators, stored copy, schedule).

        A conditional UPDATE … RETURNING: the database's row locks let exactly one claimant win
        each source, on PostgreSQL as on SQLite.
        """
        taken: dict[int, SourceState] = {}
        with self.write() as conn:
            now = now or db_now(conn)  # the database's clock: replicas' wall clocks may disagree
            params: dict[str, Any] = dict(b_now=now, b_owner=owner[:100], b_until=now + timedelta(seconds=ttl))
            if due_only:  # `slack`: a scheduler's jitter may fire a little early; that is still this interval
                params["b_due_by"] = now + timedelta(seconds=slack)
            for chunk in chunks(list(source_ids)):
                res = conn.execute(_Q.claim_due if due_only else _Q.claim, {**params, "b_ids": chunk})
                taken.update((r.id, _state(r)) for r in res)
        return taken

    @_guard
    def reap(self, is_dead: Callable[[str], bool]) -> int:
        """Free the source leases and notice claims of owners that `is_dead` says are gone (a process
        on this host killed mid-probe), so a restart need not wait for them to expire."""
        s, n = S.sources, S.notices
        freed = 0
        with self.write() as conn:
            owners = {r[0] for r in conn.execute(select(s.c.lease_owner).distinct().where(
                s.c.lease_owner.is_not(None)))}
            owners |= {r[0] for r in conn.execute(select(n.c.claimed_by).distinct().where(
                n.c.claimed_by.is_not(None)))}
            for owner in (o for o in owners if is_dead(o)):
                freed += conn.execute(update(s).where(s.c.lease_owner == owner).values(
                    lease_owner=None, lease_until=None)).rowcount
                freed += conn.execute(update(n).where(n.c.claimed_by == owner).values(
                    claimed_by=None, claimed_until=None)).rowcount
        return freed

    @_guard
    def release(self, source_id: int, owner: str) -> None:
        s = S.sources
        with self.write() as conn:
            conn.execute(update(s).where(s.c.id == source_id, s.c.lease_owner == owner).values(
                lease_owner=None, lease_until=None))

    # ---------------------------------------------------------------- probes
    def record_probe(self, src: SourceRow, probe: Probe, *, every: float,
                     hook: ProbeHook | None = None) -> ProbeRecord:
        """Store one probe and what it changed, in one transaction (with the hook's notices)."""
        return self.record_probes([(src, probe, every)], hook=hook)[0]

    def record_probes(self, items: Sequence[tuple[SourceRow, Probe, float]], *,
                      hook: ProbeHook | None = None) -> list[ProbeRecord]:
        """Store probes that finished together, each with the notices it makes due, in one transaction:
        all of them or none (a probe not stored is simply made again). A handful of statements for the
        whole batch, so fifty 304s cost about what one does."""
        names = ", ".join(src.name for src, _, _ in items)
        try:
            with self.write() as conn:
                records = self._record(conn, items)
                if hook is not None:
                    for (src, probe, _), record in zip(items, records, strict=True):
                        hook(conn, src, record, probe)
                return records
        except (SQLAlchemyError, StoreError) as exc:
            reason = _reason(exc) if isinstance(exc, SQLAlchemyError) else str(exc)
            unreachable = _unreachable(exc) if isinstance(exc, SQLAlchemyError) else exc.unreachable
            first = StoreError(f"could not record the probe of {names}: {reason}", unreachable=unreachable)
        if first.unreachable:
            raise first  # the database is away: the probes are simply made again
        if len(items) == 1:
            return [self._record_unstorable(items[0], first, hook)]
        # One probe the database refuses must not lose the others of its batch: each on its own.
        out: list[ProbeRecord] = []
        for item in items:
            try:
                out += self.record_probes([item], hook=hook)
            except StoreError:
                raise first from None
        return out

    def _record_unstorable(self, item: tuple[SourceRow, Probe, float], error: StoreError,
                           hook: ProbeHook | None) -> ProbeRecord:
        """A probe whose result the database refused is recorded as what it is for the user: the source
        could not be read (a parse_error that names the reason), so it is unknown, counts toward its
        failure streak and its health notice, and is probed again. If even that fails (the database
        is away), the original error is raised."""
        src, probe, every = item
        substitute = Probe(outcome=Outcome.PARSE_ERROR, started_at=probe.started_at,
                           duration_ms=probe.duration_ms, status=probe.status, bytes_read=probe.bytes_read,
                           error=f"could not store what the source answered: {error}"[:1000])
        try:
            with self.write() as conn:
                (record,) = self._record(conn, [(src, substitute, every)])
                if hook is not None:
                    hook(conn, src, record, substitute)
                return record
        except (SQLAlchemyError, StoreError):
            raise error from None

    def _snapshot(self, conn: Connection, probe: Probe) -> int | None:
        """The id of the stored copy of an OK probe's body, storing it (compressed) if it is new."""
        if probe.outcome is not Outcome.OK or probe.body is None:
            return None
        chash = probe.content_hash or content_hash(probe.body)
        snapshot_id: int | None = conn.execute(
            select(S.snapshots.c.id).where(S.snapshots.c.content_hash == chash)).scalar()
        if snapshot_id is None:
            snapshot_id = conn.execute(insert(S.snapshots).values(
                content_hash=chash, size=len(probe.body), content_type=fit(probe.content_type, 200),
                body=zlib.compress(probe.body, 6), first_seen=probe.started_at,
            ).returning(S.snapshots.c.id)).scalar_one()
        return snapshot_id

    def _record(self, conn: Connection, items: Sequence[tuple[SourceRow, Probe, float]]) -> list[ProbeRecord]:
        sig = S.signals
        ids = [src.id for src, _, _ in items]
        before = {r.id: r for r in conn.execute(_Q.before, {"b_ids": ids})}
        live: dict[int, dict[str, Any]] = {}
        for r in conn.execute(_Q.live, {"b_ids": ids}):
            live.setdefault(r.source_id, {})[r.key_hash] = r

        # Evidence vanishes only at the second answer in a row without it, so a flapping document does not
        # alternate withdrawn and release alerts. The first such answer marks it missed; an answer showing it
        # again clears the mark; a 304 or an unchanged body after a miss is the second answer. Outcomes that
        # are not answers (a 404 of a moved file, an empty or cut body, a lost anchor) change none of this.
        plans, missed, back = [], [], []
        for src, probe, every in items:
            here = live.get(src.id, {})
            seen = None
            if probe.outcome.answered:
                seen = [] if probe.outcome is Outcome.ABSENT else probe.signals  # "no such model": all of it
            added: list[Signal] = []
            gone: list[Any] = []
            if seen is not None:
                fresh = {key_hash(x): x for x in seen}
                added = [x for h, x in fresh.items() if h not in here]
                gone = [r for h, r in here.items() if h not in fresh and r.missed_at is not None]
                missed += [(r.id, probe.started_at) for h, r in here.items() if h not in fresh and r.missed_at is None]
                back += [r.id for h, r in here.items() if h in fresh and r.missed_at is not None]
            elif probe.outcome.answered:  # the same document as last time
                gone = [r for r in here.values() if r.missed_at is not None]
            plans.append((src, probe, every, self._snapshot(conn, probe), here, seen, added, gone))

        run_ids = conn.execute(_Q.insert_runs, [
            dict(source_id=src.id, started_at=probe.started_at, duration_ms=probe.duration_ms,
                 outcome=probe.outcome.value, http_status=probe.status, bytes=probe.bytes_read, snapshot_id=snap,
                 changed=bool(added or gone), error=fit(probe.error, MAX_TEXT))
            for src, probe, _, snap, _, _, added, gone in plans]).scalars().all()

        vanish = [dict(b_id=r.id, b_at=probe.started_at, b_run=run_id)
                  for (_, probe, _, _, _, _, _, gone), run_id in zip(plans, run_ids, strict=True) for r in gone]
        if vanish:
            conn.execute(_Q.vanish, vanish)
        if back:
            conn.execute(_Q.found_again, [dict(b_id=i) for i in back])
        # An answer that still shows the evidence moves its last_seen; a failure says nothing about it.
        seen_again = [dict(b_sid=src.id, b_at=probe.started_at, b_run=run_id)
                      for (src, probe, _, _, here, _, _, gone), run_id in zip(plans, run_ids, strict=True)
                      if probe.outcome.answered and len(here) > len(gone)]
        if seen_again:
            conn.execute(_Q.seen_again, seen_again)
        if missed:
            conn.execute(_Q.missed, [dict(b_id=i, b_at=at) for i, at in missed])
        added_rows: list[list[dict[str, Any]]] = []
        for (src, probe, _, snap, _, _, added, _), run_id in zip(plans, run_ids, strict=True):
            now = probe.started_at
            added_rows.append([dict(
                source_id=src.id, target=fit(x.target, 200), model_id=fit(x.model_id, 200), key_hash=key_hash(x),
                url=src.url, authority=src.authority, level=x.level.value, evidence_type=x.evidence_type.value,
                excerpt=fit(x.excerpt, MAX_TEXT), location=fit(x.location, MAX_TEXT), published=fit(x.published, 40),
                first_seen=now, last_seen=now,
                first_probe_run_id=run_id, last_probe_run_id=run_id, first_snapshot_id=snap) for x in added])
        flat = [row for rows in added_rows for row in rows]
        if flat:
            conn.execute(insert(sig), flat)
        # what the rest of watcher sees of them: the rows as stored (cut to the columns' sizes)
        added_signals = [[_signal_row(r, src.name) for r in rows]
                         for (src, *_), rows in zip(plans, added_rows, strict=True)]

        updates, records = [], []
        db_time = db_now(conn)  # the schedule and back-off are on the database's clock, like the leases
        for (src, probe, every, snap, here, seen, added, gone), run_id, new_rows in zip(
                plans, run_ids, added_signals, strict=True):
            b = before[src.id]
            now, outcome = probe.started_at, probe.outcome
            db_started = db_time - timedelta(milliseconds=probe.duration_ms)
            streak = 0 if outcome.answered else b.failure_streak + (outcome is not Outcome.NOT_CONFIGURED)
            etag, last_modified, snapshot_id = b.etag, b.last_modified, b.snapshot_id
            if outcome is Outcome.OK:
                etag, last_modified = probe.etag, probe.last_modified
                snapshot_id = snap if snap is not None else snapshot_id
            elif outcome is Outcome.ABSENT:
                etag = last_modified = snapshot_id = None
            updates.append(dict(
                b_id=src.id, b_outcome=outcome.value, b_status=probe.status, b_error=fit(probe.error, MAX_TEXT),
                b_at=now, b_due=next_due(b.next_due_at, db_started, every), b_streak=streak,
                b_not_before=db_time + timedelta(seconds=probe.retry_after) if probe.retry_after else None,
                b_ok=now if outcome.answered else b.last_ok_at, b_etag=etag, b_lm=fit(last_modified, 100),
                b_snap=snapshot_id,
                b_parsed=probe.parsed_with if probe.parsed_with is not None and seen is not None else b.parsed_with))
            records.append(ProbeRecord(
                run_id=run_id, source_id=src.id, outcome=outcome, added=new_rows,
                vanished=[_signal_row(r, src.name) for r in gone], live=len(here) - len(gone) + len(added),
                failure_streak=streak, health_alerted=b.health_alerted, first_read=b.last_ok_at is None))
        # the probe is done: its lease ends with it
        conn.execute(_Q.after, updates)
        return records

    # ---------------------------------------------------------------- reading
    @_guard
    def live_signals(self, targets: Iterable[str] | None = None) -> list[SignalRow]:
        """Evidence present now (not vanished), with its source's name."""
        sig, src = S.signals, S.sources
        q = (select(src.c.name.label("source"), sig.c.target, sig.c.model_id, sig.c.level, sig.c.evidence_type,
                    sig.c.excerpt, sig.c.location, sig.c.url, sig.c.authority, sig.c.first_seen, sig.c.id,
                    sig.c.published, sig.c.last_seen)
             .join(src, src.c.id == sig.c.source_id)
             .where(sig.c.vanished_at.is_(None))
             .order_by(sig.c.first_seen, sig.c.id))
        if targets is not None:
            q = q.where(sig.c.target.in_(list(targets)))
        with self.engine.connect() as conn:
            return [SignalRow(**r._mapping) for r in conn.execute(q)]

    def history(self, **filters: Any) -> list[dict[str, Any]]:
        """Signals with their source's name, oldest first; `filters` are HistoryFilter's fields."""
        return list(self.iter_signals(HistoryFilter(**filters)))

    @_guard
    def count_signals(self, f: HistoryFilter) -> int:
        sig, src = S.signals, S.sources
        q = f.where(select(func.count()).select_from(sig.join(src, src.c.id == sig.c.source_id)))
        with self.engine.connect() as conn:
            return int(conn.execute(q).scalar_one())

    def iter_signals(self, f: HistoryFilter, *, batch: int = 1000) -> Iterator[dict[str, Any]]:
        """The signals `f` selects, oldest first, streamed from the database `batch` rows at a time."""
        sig, src = S.signals, S.sources
        q = f.where(select(sig, src.c.name.label("source")).join(src, src.c.id == sig.c.source_id))
        q = q.order_by(sig.c.first_seen, sig.c.id)
        with wrap_exceptions(self.url), self.engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=batch).execute(q)
            for part in result.partitions():
                for r in part:
                    yield dict(r._mapping)

    def iter_signal_values(self, f: HistoryFilter, fields: Sequence[str], *, batch: int = 1000
                           ) -> Iterator[tuple[Any, ...]]:
        """For exports: the signals `f` selects, oldest first, each a tuple of `fields` (a signals column,
        or `source` for its source's name), with times as ISO 8601 UTC strings (`2026-05-01T12:00:00Z`)
        formatted from what is stored rather than converted through datetime objects. Streamed."""
        sig, src = S.signals, S.sources
        sqlite = self.dialect == "sqlite"
        cols: list[Any] = []
        times: list[int] = []
        for i, name in enumerate(fields):
            col = src.c.name.label("source") if name == "source" else sig.c[name]
            if isinstance(col.type, DateTime):
                times.append(i)
                if sqlite:  # the stored text itself, not SQLAlchemy's parse of it
                    col = type_coerce(col, String()).label(name)
            cols.append(col)
        q = f.where(select(*cols).select_from(sig.join(src, src.c.id == sig.c.source_id)))
        q = q.order_by(sig.c.first_seen, sig.c.id)
        with wrap_exceptions(self.url), self.engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=batch).execute(q)
            for part in result.partitions():
                for r in part:
                    if not times:
                        yield tuple(r)
                        continue
                    row = list(r)
                    for i in times:
                        row[i] = _iso_utc(row[i])
                    yield tuple(row)

    @_guard
    def discovered_targets(self) -> list[str]:
        """Ids first seen through a family target, now tracked on their own."""
        from . import facts

        with self.engine.connect() as conn:
            return facts.discovered(conn)

    @_guard
    def notices(self, *, state: str | None = None, channel: str | None = None, limit: int = 200
                ) -> list[dict[str, Any]]:
        """The outbox, newest first."""
        from . import outbox

        with self.engine.connect() as conn:
            return outbox.list_notices(conn, state=state, channel=channel, limit=limit)

    @_guard
    def requeue_notices(self, *, ids: Sequence[int] = (), channel: str | None = None,
                        all_failed: bool = False) -> list[int]:
        """Failed notices back to pending (`watcher alerts retry`); returns the ids re-queued."""
        from . import outbox

        with self.write() as conn:
            return outbox.requeue(conn, ids=ids, channel=channel, all_failed=all_failed)

    @_guard
    def dismiss_notices(self, ids: Sequence[int]) -> list[int]:
        """Failed notices given up on (`watcher alerts dismiss`); returns the ids dismissed."""
        from . import outbox

        with self.write() as conn:
            return outbox.dismiss(conn, ids)

    @_guard
    def channel_health(self) -> dict[str, dict[str, Any]]:
        """Per channel: notices sent, pending and failed, and the last error."""
        from . import outbox

        with self.engine.connect() as conn:
            return outbox.channel_health(conn)

    @_guard
    def count(self, table: str) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(S.metadata.tables[table])).scalar_one()

    # ---------------------------------------------------------------- plumbing
    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction (BEGIN IMMEDIATE on SQLite, so concurrent writers queue, never deadlock);
        a database failure inside it becomes a StoreError that names the database, not a traceback."""
        # SQLite has one writer at a time: threads of this process queue on a lock instead of on
        # SQLite's busy handler, which sleeps in growing steps (other processes still use it).
        sqlite = self.dialect == "sqlite"
        lock = self._write_lock if sqlite else contextlib.nullcontext()
        with wrap_exceptions(self.url), lock, self.engine.connect() as conn:
            _begin.immediate = sqlite
            try:
                trans = conn.begin()
            finally:
                _begin.immediate = False
            with trans:
                yield conn


class _BeginMode(threading.local):
    immediate = False  # set by Store.write around its BEGIN, in its own thread


_begin = _BeginMode()


def _engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves, below
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        def do_begin(dbapi_conn: Any) -> None:
            dbapi_conn.execute("BEGIN IMMEDIATE" if _begin.immediate else "BEGIN")

        # SQLAlchemy's recipe is a "begin" event listener; the dialect's own hook does the same without
        # giving the engine connection events, which cost a dispatch on every statement executed.
        engine.dialect.do_begin = do_begin  # type: ignore[method-assign,assignment]  # replaced on this engine only
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


def _signal_row(r: Any, source: str) -> SignalRow:
    """A signal row (a Row of _Q.live, or the dict just inserted) as the rest of watcher reads it."""
    m = r if isinstance(r, dict) else r._mapping
    return SignalRow(source=source, target=m["target"], model_id=m["model_id"], level=m["level"],
                     evidence_type=m["evidence_type"], excerpt=m["excerpt"], location=m["location"], url=m["url"],
                     authority=m["authority"], first_seen=m["first_seen"], id=m.get("id"),
                     published=m.get("published"), last_seen=m.get("last_seen"))


def _state(r: Any) -> SourceState:
    return SourceState(
        id=r.id, name=r.name, etag=r.etag, last_modified=r.last_modified, snapshot_id=r.snapshot_id,
        content_hash=r.content_hash, parsed_with=r.parsed_with, last_outcome=r.last_outcome,
        last_status=r.last_status, last_error=r.last_error, last_probe_at=r.last_probe_at,
        last_ok_at=r.last_ok_at, failure_streak=r.failure_streak, health_alerted=r.health_alerted,
        next_due_at=r.next_due_at, not_before=r.not_before)


def _iso_utc(value: datetime | str | None) -> str | None:
    """A stored naive-UTC time as ISO 8601 with a Z, as clock.iso writes it (microseconds only when
    there are any). SQLite hands back SQLAlchemy's text, `2026-05-01 12:00:00.000000`; PostgreSQL a datetime."""
    if value is None:
        return None
    if isinstance(value, str):
        if len(value) == 26 and value[10] == " " and value[19] == ".":
            micro = value[20:]
            return f"{value[:10]}T{value[11:19]}{'' if micro == '000000' else '.' + micro}Z"
        value = datetime.fromisoformat(value)  # anything else stored: the exact, slower way
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value.isoformat() + "Z"


def redact_url(url: str) -> str:
    """A database URL without its password."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a URL we cannot parse is shown only by its scheme
        return url.split(":", 1)[0] + "://…"


def database_reason(exc: BaseException) -> str | None:
    """The first line of a database failure's reason, or None when `exc` is not a database failure: how the
    CLI reports an error that escaped the store's boundary without importing SQLAlchemy itself."""
    return _reason(exc) if isinstance(exc, SQLAlchemyError) else None


def _unreachable(exc: SQLAlchemyError) -> bool:
    """The connection failed or broke (versus a statement the database refused)."""
    return isinstance(exc, (OperationalError, InterfaceError)) or bool(getattr(exc, "connection_invalidated", False))


def _reason(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    text = str(orig or exc).strip().splitlines()
    return text[0] if text else exc.__class__.__name__
