"""One probe cycle: claim, fetch, parse, store, decide. The only module that wires I/O together.

Fetching and parsing run in a small thread pool; the results that are in are stored together, in
one transaction, as soon as they are in (with those finishing within STORE_GRACE of the first), so a
crash loses at most the probes in flight.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from . import faults, metrics
from .clock import iso, utcnow
from .config import Config, SourceConfig
from .decide import TargetVerdict, decide_verdict
from .errors import ParseError
from .evidence import Level, Outcome, Signal, SignalRow
from .sources import Document
from .sources import get as get_kind
from .store import Probe, ProbeHook, ProbeRecord, SourceRow, SourceState, Store, content_hash
from .targets import Matcher, Target
from .text import redact_values
from .validators import MAX_ETAG, MAX_LAST_MODIFIED, sendable

if TYPE_CHECKING:
    from .fetch import Fetcher, FetchResult

log = logging.getLogger(__name__)

# Bump when a parser changes what it finds: stored documents are then parsed again.
PARSER_VERSION = "2"  # 2: docs changelog dates and tag lines, guide_page, model_index, pricing model cells
WORKERS = 8
MAX_RETRY_AFTER = 86400.0  # a server asking for more than a day of silence gets a day
# A finished probe waits this long for the probes finishing right after it, to share its transaction:
# a burst of 304s from one host arrives over a few milliseconds, and each transaction costs more CPU
# than the probes it stores.
STORE_GRACE = 0.02


@dataclass(frozen=True)
class SourceReport:
    name: str
    kind: str
    authority: str
    outcome: Outcome | None  # None: skipped, another process holds its lease
    status: int | None = None
    live: int = 0
    added: int = 0
    vanished: int = 0
    duration_ms: int = 0
    error: str | None = None


@dataclass
class CycleReport:
    sources: list[SourceReport] = field(default_factory=list)
    verdicts: list[TargetVerdict] = field(default_factory=list)
    started_at: datetime | None = None
    duration_ms: int = 0

    @property
    def unread(self) -> list[SourceReport]:
        return [s for s in self.sources if s.outcome is not None and s.outcome.failed]


_OWNER: dict[int, str] = {}


def owner_id() -> str:
    """Who holds a lease: host and PID to read, and a random part that makes it unique to this process
    start (two containers may both be `app:1`; a PID is reused)."""
    pid = os.getpid()
    if pid not in _OWNER:  # keyed by PID: a forked child is another owner
        _OWNER[pid] = f"{socket.gethostname()[:60]}:{pid}:{secrets.token_hex(6)}"
    return _OWNER[pid]


def all_targets(config: Config, store: Store | None = None) -> list[Target]:
    targets = list(config.targets)
    if store is not None and any(t.family for t in targets):
        targets += [Target(id=t) for t in store.discovered_targets()]
    return targets


def parse_key(kind: str, targets: Sequence[Target]) -> str:
    names = ",".join(sorted(t.name for t in targets))
    return hashlib.sha1(f"{PARSER_VERSION}|{kind}|{names}".encode()).hexdigest()[:16]


def probe(source: SourceConfig, state: SourceState | None, fetcher: Fetcher, targets: Sequence[Target],
          snapshot: Callable[[int], bytes | None]) -> Probe:
    """Fetch one source and parse what it answered. Never raises for anything a server does."""
    started = utcnow()
    t0 = time.perf_counter()
    if not source.configured:
        return Probe(outcome=Outcome.NOT_CONFIGURED, started_at=started, duration_ms=0,
                     error=f"environment variable {', '.join(source.missing_env)} is not set")
    # Validators only for a document we hold (a 304 means "what you have"), and only ones that can be
    # sent back: one that cannot (stored by an older version) would break every request.
    held = state if state is not None and state.snapshot_id is not None else None
    result = fetcher.fetch(source, etag=sendable(held.etag, MAX_ETAG) if held else None,
                           last_modified=sendable(held.last_modified, MAX_LAST_MODIFIED) if held else None)
    own_targets = [Target(id=source.target)] if source.target else list(targets)
    pkey = parse_key(source.kind, own_targets)
    body = result.body
    chash = content_hash(body) if body is not None else None
    signals: list[Signal] | None = None
    outcome, error = result.outcome, result.error
    unchanged = state is not None and state.parsed_with == pkey
    if outcome is Outcome.NOT_FOUND and source.target is not None and get_kind(source.kind).not_found_is_absent:
        outcome = Outcome.ABSENT  # GET /v1/models/{id}, a model's page: the server says "no such model"
    if outcome is Outcome.OK and body is not None and not body.strip():
        outcome, error = Outcome.EMPTY, f"HTTP {result.status} with an empty body"
    elif outcome is Outcome.OK and body is not None:
        if not (unchanged and state is not None and chash == state.content_hash):
            signals, outcome, error = _parse(source, body, result, own_targets, error)
    elif outcome is Outcome.NOT_MODIFIED and not held:
        # Nothing was ever read here: "not modified" says nothing about the target. Unknown, not absent.
        outcome, error = Outcome.HTTP_ERROR, "HTTP 304 Not Modified, but nothing was ever read from this source"
    elif outcome is Outcome.NOT_MODIFIED and not unchanged and state and state.snapshot_id:
        # The targets or the parsers changed since the stored copy was read: read it again.
        old = snapshot(state.snapshot_id)
        if old is not None:
            signals, parsed_outcome, perr = _parse(source, old, result, own_targets, error)
            if parsed_outcome is not Outcome.OK:
                outcome, error = parsed_outcome, perr
    return Probe(outcome=outcome, started_at=started, duration_ms=int((time.perf_counter() - t0) * 1000),
                 status=result.status, bytes_read=result.bytes_read, body=body if outcome is Outcome.OK else None,
                 content_type=result.content_type, content_hash=chash, etag=result.etag,
                 last_modified=result.last_modified, error=error, signals=signals, parsed_with=pkey,
                 retry_after=min(result.retry_after, MAX_RETRY_AFTER) if result.retry_after else None)


def redacted(p: Probe, hidden: frozenset[str]) -> Probe:
    """The probe without the configuration's secrets in anything that is stored or printed: a page may
    echo a key from the source's URL or headers right next to the model id."""
    if not hidden:
        return p
    sigs = None if p.signals is None else [
        replace(x, excerpt=redact_values(x.excerpt, hidden), location=redact_values(x.location, hidden))
        for x in p.signals]
    return replace(p, error=redact_values(p.error, hidden) if p.error else p.error, signals=sigs)


def _parse(source: SourceConfig, body: bytes, result: FetchResult, targets: Sequence[Target],
           error: str | None) -> tuple[list[Signal] | None, Outcome, str | None]:
    doc = Document(body=body, url=source.url_display, status=result.status or 200,
                   content_type=result.content_type, target=source.target)
    kind = get_kind(source.kind)
    try:
        signals = kind.parse(doc, Matcher(targets))
        # No confirmed evidence may mean "absent", which only a document with the parser's structure can
        # say: without it (a file that became a re-export, a page cut short) the source is broken instead.
        if not any(x.level is Level.CONFIRMED for x in signals):
            anchor = kind.anchor(doc)
            if not anchor.found:
                return None, Outcome.FORMAT_CHANGED, f"the document lost its structure: {anchor.summary}"[:500]
        return signals, Outcome.OK, error
    except ParseError as exc:
        return None, Outcome.PARSE_ERROR, str(exc)[:500]
    except Exception as exc:  # noqa: BLE001 - a parser bug is this source's parse_error, not a crash
        log.exception("parser %s failed on %s", source.kind, source.name)
        return None, Outcome.PARSE_ERROR, f"parser failed: {exc.__class__.__name__}: {str(exc)[:300]}"


def run_cycle(config: Config, store: Store, fetcher: Fetcher | None = None, *,
              names: Sequence[str] | None = None, due_only: bool = False, owner: str | None = None,
              hook: ProbeHook | None = None, lease_ttl: float | None = None, compute_verdicts: bool = True,
              due_slack: float = 0.0, rows: dict[str, SourceRow] | None = None,
              pool: Executor | None = None) -> CycleReport:
    """Probe the configured sources (or `names`), store what they say, and compute the verdicts.

    `rows`: the sources' rows from `store.sync_sources`, when the caller (the daemon) keeps them.
    `pool`: threads to fetch in, when the caller keeps them (otherwise each cycle starts its own)."""
    from .fetch import Fetcher

    report = CycleReport(started_at=utcnow())
    t0 = time.perf_counter()
    own_fetcher = fetcher is None
    fetcher = fetcher or Fetcher()
    owner = owner or owner_id()
    try:
        wanted = [s for s in config.sources if names is None or s.name in names]
        if rows is None or any(s.name not in rows for s in wanted):
            rows = store.sync_sources(wanted)
        # a probe ends by its deadline; the lease outlives that, so only a dead process loses one
        ttl = lease_ttl or max((s.deadline for s in wanted), default=60.0) * 2 + 5
        claimed = store.claim_many([rows[s.name].id for s in wanted], owner, ttl, due_only=due_only,
                                   slack=due_slack)
        todo = [s for s in wanted if rows[s.name].id in claimed]
        skipped = [s for s in wanted if rows[s.name].id not in claimed]
        if skipped and not due_only:
            waiting = store.states([s.name for s in skipped])
            now = store.now()
            for s in skipped:
                st = waiting.get(s.name)
                why = (f"skipped: in back-off until {iso(st.not_before)} (the server's Retry-After)"
                       if st and st.not_before and st.not_before > now
                       else "skipped: another watcher process is probing it")
                report.sources.append(SourceReport(s.name, s.kind, s.authority.value, None, error=why))
        if todo:
            states = {st.name: st for st in claimed.values()}  # read as the leases were taken
            targets = all_targets(config, store)
            with _Pool(len(todo), pool) as workers:
                pending = {workers.submit(probe, s, states.get(s.name), fetcher, targets, store.snapshot_body): s
                           for s in todo}
                while pending:
                    # Store what has finished, together: one transaction for a burst of 304s.
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    if len(done) < len(pending):
                        done, _ = wait(pending, timeout=STORE_GRACE)
                    batch = [(pending.pop(f), f) for f in done]
                    try:
                        items = [(rows[s.name], redacted(f.result(), config.secrets), s.every) for s, f in batch]
                        faults.point("after_fetch")
                        records = store.record_probes(items, hook=hook)  # also ends the leases
                    except BaseException:
                        for s, _ in batch:
                            try:
                                store.release(rows[s.name].id, owner)
                            except Exception:  # noqa: BLE001 - the lease expires by itself; keep the first error
                                log.debug("could not release the lease of %s", s.name)
                        raise
                    faults.point("after_store")
                    for (s, _), (_, p, _), rec in zip(batch, items, records, strict=True):
                        report.sources.append(_source_report(s, p, rec))
                        _tell(s, p, rec, states.get(s.name))
        order = {s.name: i for i, s in enumerate(wanted)}
        report.sources.sort(key=lambda r: order.get(r.name, 0))
        if compute_verdicts:
            report.verdicts = verdicts(config, store)
    finally:
        if own_fetcher:
            fetcher.close()
    report.duration_ms = int((time.perf_counter() - t0) * 1000)
    return report


def _tell(s: SourceConfig, p: Probe, rec: ProbeRecord, before: SourceState | None) -> None:
    """The story line of one probe: INFO when it changed the evidence or the source's health, DEBUG
    when it changed nothing (the common case: a 304 every interval). Also its metrics."""
    metrics.probe(s.name, p.outcome.value, p.outcome.answered, p.started_at)
    fields = {"source": s.name, "outcome": p.outcome.value, "http_status": p.status,
              "signals_added": len(rec.added), "signals_vanished": len(rec.vanished), "duration_ms": p.duration_ms}
    was_failed = bool(before and before.last_outcome and Outcome(before.last_outcome).failed)
    if p.outcome.failed and not was_failed:
        log.info("source %s could not be read: %s%s", s.name, p.outcome.value, f" ({p.error})" if p.error else "",
                 extra=fields)
    elif was_failed and not p.outcome.failed:
        log.info("source %s answers again: %s", s.name, p.outcome.value, extra=fields)
    if rec.changed:
        parts = ([f"+{len(rec.added)} signals ({_ids(rec.added)})"] if rec.added else []) + \
                ([f"-{len(rec.vanished)} vanished ({_ids(rec.vanished)})"] if rec.vanished else [])
        log.info("source %s: %s, %s; %d live", s.name, p.outcome.value, ", ".join(parts), rec.live, extra=fields)
    elif not (p.outcome.failed and not was_failed):
        log.debug("source %s: %s, nothing changed", s.name, p.outcome.value, extra=fields)


def _ids(rows: Sequence[SignalRow]) -> str:
    return ", ".join(sorted({r.model_id or r.target for r in rows}))


class _Pool:
    """Probes in a thread pool (the caller's, or one of the cycle's own); a single probe runs in the
    calling thread, as a finished Future: starting a pool thread costs more CPU than a whole 304."""

    def __init__(self, jobs: int, shared: Executor | None = None) -> None:
        self._own = shared is None and jobs > 1
        self._pool = (shared or ThreadPoolExecutor(max_workers=min(WORKERS, jobs))) if jobs > 1 else None

    def submit(self, fn: Callable[..., Probe], *args: Any) -> Future[Probe]:
        if self._pool is not None:
            return self._pool.submit(fn, *args)
        f: Future[Probe] = Future()
        try:
            f.set_result(fn(*args))
        except BaseException as exc:  # noqa: BLE001 - raised again by result(), where the lease is freed
            f.set_exception(exc)
        return f

    def __enter__(self) -> _Pool:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None and self._own:
            self._pool.shutdown(wait=True)


def _source_report(s: SourceConfig, p: Probe, rec: ProbeRecord) -> SourceReport:
    return SourceReport(name=s.name, kind=s.kind, authority=s.authority.value, outcome=p.outcome, status=p.status,
                        live=rec.live, added=len(rec.added), vanished=len(rec.vanished),
                        duration_ms=p.duration_ms, error=p.error)


def verdicts(config: Config, store: Store, *, live: list[SignalRow] | None = None) -> list[TargetVerdict]:
    """Every target's verdict from what the database holds now (no probe). `live`: the targets' live
    signals, when the caller has read them already (the report shows them too)."""
    targets = [t.id for t in all_targets(config, store) if t.id]
    states = store.states([s.name for s in config.sources])
    outcomes = {name: st.last_outcome for name, st in states.items()}
    if live is None:
        live = store.live_signals(targets)
    by_target: dict[str, list[SignalRow]] = {t: [] for t in targets}
    for row in live:
        by_target.setdefault(row.target, []).append(row)
    return [decide_verdict(t, config.sources, outcomes, by_target[t]) for t in targets]
