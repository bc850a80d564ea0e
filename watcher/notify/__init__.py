"""Notices: made due inside the probe's transaction (the hook), delivered by the outbox dispatcher.

The store is imported where it is used: loading a configuration reads the channel types' declarations
(notify/registry.py) and need not pay for SQLAlchemy.

Delivery is at-least-once with a window of one: a notice is marked sent in its own transaction
right after the channel accepted it (retried while the database is away, within the claim), so only a
process killed between the two, or a database away for longer than the claim, can send it again (the
webhook channel sends the key as Idempotency-Key, e-mail a Message-ID made from the key).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .. import faults, metrics
from ..clock import utcnow
from ..config import ChannelConfig, Config
from ..decide import Notice, ProbeFacts, ReleaseState, due_notices, release_changes
from ..errors import DeliveryError, StoreError, WatcherError
from ..evidence import Authority

if TYPE_CHECKING:
    from ..store import Probe, ProbeHook, ProbeRecord, SourceRow, Store, Transaction
    from ..store.outbox import ClaimedNotice

log = logging.getLogger(__name__)

BACKOFF_BASE = 2.0  # seconds; doubles per attempt
BACKOFF_MAX = 900.0  # never wait more than 15 minutes between attempts
SHUTDOWN_GRACE = 20.0  # seconds a stopping daemon keeps delivering a backlog (systemd waits 90 s by default)
CLAIM_TTL = 120.0  # a dispatcher that dies holding notices lets go of them after this
# Corroborations wait this long, so that the sources that confirm a model within the same minutes
# (SDK repositories update together) arrive as one message; a release never waits.
CORROBORATION_GRACE = 60.0


@dataclass(frozen=True)
class Delivery:
    """One message for one channel: a notice, or a release merged with its same-cycle corroborations."""

    channel: ChannelConfig
    kind: str
    target: str | None
    key: str
    ids: tuple[int, ...]
    payloads: tuple[dict[str, Any], ...]
    created_at: datetime | None = None  # when the head notice was made due (with ids[0]: unique per database)


def channel_takes(channel: ChannelConfig, kind: str, target: str | None) -> bool:
    if kind not in channel.kinds and kind != "test":
        return False
    return not (channel.targets and target is not None and target not in channel.targets)


def make_hook(config: Config) -> ProbeHook:
    """The probe hook: decide what the stored probe made due and enqueue it in the same transaction."""
    from ..store import facts as stored

    configured = frozenset(config.target_ids)
    channels = [c for c in config.channels if c.configured]
    families = [t.family for t in config.targets if t.family]

    def hook(conn: Transaction, src: SourceRow, record: ProbeRecord, probe: Probe) -> None:
        targets = sorted({r.target for r in record.added} | {r.target for r in record.vanished})
        if not targets:  # unchanged evidence (the common case: a 304) needs no query; only health can change
            facts = _facts(src, record, probe, configured, {}, frozenset(), frozenset(), {}, {}, frozenset())
            _enqueue_due(conn, src, facts, channels, config, probe)
            return
        now = probe.started_at
        # Lock the releases first, then read who confirms: a replica confirming the same target commits
        # before we read, or waits for our commit and then reads ours.
        confirming = sorted({r.target for r in (*record.added, *record.vanished)
                             if r.confirmed and r.authority == Authority.FIRST_PARTY.value})
        releases = stored.lock_releases(conn, confirming, now) if confirming else {}
        elsewhere = stored.confirmed_sources(conn, targets, exclude_source_id=src.id)
        here = stored.confirmed_sources(conn, targets)
        before = frozenset(stored.confirmed_before(conn, src.id, confirming, record.run_id)) if confirming \
            else frozenset()
        fams = _discover(conn, record, configured, families, now) if families else {}
        facts = _facts(src, record, probe, configured, elsewhere,
                       frozenset(t for t, names in here.items() if src.name in names),
                       frozenset(stored.mentioned_before(conn, targets, record.run_id)), fams, releases, before)
        changes = release_changes(facts)
        for target, epoch in changes.opened.items():
            stored.set_release(conn, target, epoch=epoch, open=True, now=now)
        for target in changes.closed:
            stored.set_release(conn, target, open=False, now=now)
        _enqueue_due(conn, src, facts, channels, config, probe)

    return hook


def _facts(src: SourceRow, record: ProbeRecord, probe: Probe, configured: frozenset[str],
           elsewhere: dict[str, list[str]], here_after: frozenset[str], mentioned_before: frozenset[str],
           families: dict[str, str], releases: dict[str, ReleaseState], before: frozenset[str]) -> ProbeFacts:
    return ProbeFacts(
        source=src.name, url=src.url, authority=src.authority, outcome=record.outcome.value,
        error=probe.error, run_id=record.run_id, added=record.added, vanished=record.vanished,
        confirmed_elsewhere=elsewhere, confirmed_here_after=here_after, mentioned_before=mentioned_before,
        failure_streak=record.failure_streak, health_alerted=record.health_alerted,
        first_read=record.first_read, configured_targets=configured, families=families, releases=releases,
        confirmed_here_before=before)


def _enqueue_due(conn: Any, src: SourceRow, facts: ProbeFacts, channels: Sequence[ChannelConfig],
                 config: Config, probe: Probe) -> None:
    from ..store import facts as stored

    notices = due_notices(facts, alert_on=config.alert_on, failure_threshold=config.failure_threshold)
    for n in notices:
        if n.kind == "source_health":
            stored.set_health_alerted(conn, src.id, n.payload["state"] == "down")
    if notices:
        enqueue(conn, channels, notices, probe.started_at)


def _discover(conn: Transaction, record: ProbeRecord, configured: frozenset[str], families: Sequence[str],
              now: datetime) -> dict[str, str]:
    """Ids first seen through a family become targets of their own; returns those new in this probe."""
    import fnmatch

    from ..store import facts as stored

    new: dict[str, str] = {}
    known = set(stored.discovered(conn))
    for row in record.added:
        t = row.target
        if t in configured or t in known or t in new or row.authority != Authority.FIRST_PARTY.value:
            continue
        fam = next((f for f in families if fnmatch.fnmatchcase(t, f)), None)
        if fam:
            new[t] = fam
    if new:
        stored.add_discovered(conn, new, now)
    return new


def enqueue(conn: Transaction, channels: Sequence[ChannelConfig], notices: Sequence[Notice], now: datetime) -> int:
    """Put notices in the outbox, one per channel that takes them. A corroboration first tries to join its
    release, if that release still waits to be sent on the channel (sources confirming in one cycle or
    daemon batch make one release naming them all); else it waits CORROBORATION_GRACE, or until the
    corroborations already waiting for the target go, so a window makes one message."""
    from ..store import outbox

    rows = []
    for n in notices:
        for c in channels:
            if n.kind == "corroboration" and n.joins and channel_takes(c, "release", n.target) and outbox.absorb(
                    conn, c.name, n.joins, confirmed_by=n.payload.get("confirmed_by") or (),
                    evidence=n.payload.get("evidence") or ()):
                continue
            if not channel_takes(c, n.kind, n.target):
                continue
            at, delay = None, 0.0
            if n.kind == "corroboration":
                at = outbox.corroboration_due(conn, c.name, n.target) if n.target is not None else None
                delay = CORROBORATION_GRACE if at is None else 0.0
            rows.append(outbox.QueuedNotice(channel=c.name, key=n.key, kind=n.kind, target=n.target,
                                            payload=dict(n.payload, key=n.key), at=at, delay=delay))
    added = outbox.enqueue(conn, rows, now)
    for r in rows if added else ():  # nothing new: another process made the same notices due first
        if r.kind != "test":
            log.info("notice due: %s for %s to channel %s (%s)", r.kind, r.target or "-", r.channel,
                     r.key, extra={"channel": r.channel, "kind": r.kind, "target": r.target,
                                   "key": r.key, "state": "pending"})
    return added


def group(rows: Sequence[ClaimedNotice], channels: dict[str, ChannelConfig]) -> list[Delivery]:
    """One delivery per notice, except for corroborations: those of one target that are due together
    travel as one message, inside the release when it is due with them. A model that shows up at
    five sources in one afternoon makes one release and one corroboration, not five messages."""
    out: list[Delivery] = []
    heads: dict[tuple[str, str | None], ClaimedNotice] = {}
    for r in rows:
        if r.kind == "release":
            heads[(r.channel, r.target)] = r
    for r in rows:
        if r.kind == "corroboration":
            heads.setdefault((r.channel, r.target), r)
    absorbed: dict[int, list[ClaimedNotice]] = {}
    for r in rows:
        head = heads.get((r.channel, r.target))
        if r.kind == "corroboration" and head is not None and head.id != r.id:
            absorbed.setdefault(head.id, []).append(r)
    skip = {r.id for group_ in absorbed.values() for r in group_}
    for r in rows:
        if r.id in skip or r.channel not in channels:
            continue
        members = [r] + absorbed.get(r.id, [])
        out.append(Delivery(channel=channels[r.channel], kind=r.kind, target=r.target, key=r.key,
                            ids=tuple(m.id for m in members), payloads=tuple(m.payload for m in members),
                            created_at=r.created_at))
    return out


def backoff(attempts: int, retry_after: float | None) -> float:
    """Seconds before the next attempt: the server's Retry-After when it gave one (at least a second,
    at most an hour), else exponential with jitter, capped at BACKOFF_MAX."""
    if retry_after is not None:
        return min(max(retry_after, 1.0), BACKOFF_MAX * 4)
    delay = min(BACKOFF_BASE * float(2 ** attempts), BACKOFF_MAX)
    return delay * (0.8 + 0.4 * random.random())


def told(d: Delivery, state: str, error: str | None = None) -> None:
    """The story line and the metric of one delivery attempt: sent (INFO), to retry (WARNING) or
    failed for good (ERROR), naming channel, kind, target and key."""
    metrics.notice(d.channel.name, state, len(d.ids))
    what = f"{d.kind} for {d.target or '-'} to channel {d.channel.name} ({d.key})"
    more = f" with {len(d.ids) - 1} more" if len(d.ids) > 1 else ""
    fields = {"channel": d.channel.name, "kind": d.kind, "target": d.target, "key": d.key, "state": state,
              "notices": len(d.ids)}
    if state == "sent":
        log.info("notice sent: %s%s", what, more, extra=fields)
    elif state == "retry":
        log.warning("notice not delivered, to retry: %s%s: %s", what, more, error, extra=fields)
    else:
        log.error("notice failed for good: %s%s: %s", what, more, error, extra=fields)


def deliver_due(config: Config, store: Store, owner: str, *, limit: int = 100,
                only: Sequence[str] | None = None, stop: threading.Event | None = None) -> dict[str, int]:
    """Deliver every notice that is due now (for the channels in `only`, or all); returns counts of
    sent, retried and failed. Once `stop` is set, no new send starts: the notices still claimed are
    let go at once (for another replica, or the next start), the sends in flight end by their deadline.

    One attempt per notice is in flight at a time: a claim carries a fresh token, is renewed to a full
    CLAIM_TTL right before each send, and every send ends within its channel's deadline (at most
    config.CHANNEL_DEADLINE_MAX, well inside the claim). Marking needs the token, so a dispatcher whose
    claim was taken over cannot mark what it no longer holds. Each channel claims and sends in its own
    thread: a slow one delays only its own notices.
    """
    from ..store import outbox

    channels = {c.name: c for c in config.channels if c.configured and (only is None or c.name in only)}
    counts = {"sent": 0, "retry": 0, "failed": 0}
    if not channels:
        return counts
    with store.engine.connect() as conn:
        if not outbox.any_due(conn, channels=list(channels)):
            metrics.dispatcher_lag((), utcnow())
            return counts  # the common case after a probe: no write lock taken for nothing
    from .channels import send

    count_lock = threading.Lock()

    def tally(what: str, n: int) -> None:
        with count_lock:
            counts[what] += n

    def deliver(token: str, attempts: dict[int, int], d: Delivery) -> None:
        with store.write() as conn:
            if not outbox.renew(conn, d.ids, token, CLAIM_TTL):
                log.info("channel %s: notice %s was taken over by another dispatcher", d.channel.name, d.key)
                return
        held_until = time.monotonic() + CLAIM_TTL
        try:
            send(d, config)
        except DeliveryError as exc:
            err = str(exc)
            if exc.permanent:
                _mark(store, lambda c: outbox.mark_failed(c, d.ids, token, err), d, held_until)
                tally("failed", len(d.ids))
            else:
                delay = backoff(attempts[d.ids[0]], exc.retry_after)
                _mark(store, lambda c: outbox.mark_retry(c, d.ids, token, err, delay), d, held_until)
                tally("retry", len(d.ids))
            told(d, "failed" if exc.permanent else "retry", err)
            return
        faults.point("after_send")
        # Sent: only the mark is retried from here, never the send.
        _mark(store, lambda c: outbox.mark_sent(c, d.ids, token), d, held_until)
        tally("sent", len(d.ids))
        told(d, "sent")

    def channel_pass(name: str) -> None:
        while True:
            with store.write() as conn:
                token, rows = outbox.claim_due(conn, owner, CLAIM_TTL, channels=[name], limit=limit)
            if not rows:
                return
            metrics.dispatcher_lag((r.next_attempt_at for r in rows), utcnow())
            attempts = {r.id: r.attempts for r in rows}
            deliveries = group(rows, channels)
            for i, d in enumerate(deliveries):
                if stop is not None and stop.is_set():
                    with store.write() as conn:
                        outbox.release(conn, [x for rest in deliveries[i:] for x in rest.ids], token)
                    return
                deliver(token, attempts, d)
            if len(rows) < limit:
                return

    if len(channels) == 1:
        channel_pass(next(iter(channels)))
        return counts
    with ThreadPoolExecutor(max_workers=len(channels), thread_name_prefix="deliver") as pool:
        futures = [pool.submit(channel_pass, name) for name in channels]
    for f in futures:
        f.result()  # a database failure surfaces once every channel has finished its sends
    return counts


class Dispatcher:
    """The daemon's outbox loop: each channel's pass runs in its own thread, at most one per channel at
    a time in this process, so a channel with a backlog of slow sends never holds up another's notices
    (other replicas claim their own)."""

    def __init__(self, config: Config, store: Store, owner: str) -> None:
        self.config, self.store, self.owner = config, store, owner
        self._busy = {c.name: threading.Lock() for c in config.channels if c.configured}
        self._pool = ThreadPoolExecutor(max_workers=max(1, len(self._busy)), thread_name_prefix="outbox")
        self._stop = threading.Event()

    def poll(self) -> None:
        """Start a pass for every channel that is not in one and has something due; returns at once."""
        from ..store import outbox

        free = [name for name, lock in self._busy.items() if not lock.locked()]
        if not free:
            return
        with self.store.engine.connect() as conn:
            if not outbox.any_due(conn, channels=free):
                return
        for name in free:
            lock = self._busy[name]
            if lock.acquire(blocking=False):
                self._pool.submit(self._pass, name, lock)

    def _pass(self, name: str, lock: threading.Lock) -> None:
        try:
            deliver_due(self.config, self.store, self.owner, only=[name], stop=self._stop)
        except WatcherError as exc:
            log.error("delivering notices to %s: %s", name, exc)
        except Exception:  # noqa: BLE001 - the daemon outlives a bad pass; the notices stay pending
            log.exception("delivering notices to %s failed", name)
        finally:
            lock.release()

    def close(self, grace: float = SHUTDOWN_GRACE) -> None:
        """Let the passes in flight deliver for up to `grace` seconds, then start no new send (what is
        still claimed is let go) and wait for the sends in flight, each ended by its deadline."""
        end = time.monotonic() + grace
        while any(lock.locked() for lock in self._busy.values()) and time.monotonic() < end:
            time.sleep(0.05)
        self._stop.set()
        self._pool.shutdown(wait=True)


MARK_RETRY_FIRST = 0.5  # seconds before retrying a mark the database refused; doubles, at most MARK_RETRY_MAX
MARK_RETRY_MAX = 5.0
MARK_MARGIN = 5.0  # stop retrying this long before the claim runs out: another dispatcher may then take it


def _mark(store: Store, fn: Callable[[Transaction], object], d: Delivery, held_until: float) -> None:
    """Record the outcome of a send, retrying while the database is away and the claim still holds.

    Given up (the database away for about CLAIM_TTL), the notice stays claimed until the claim runs out
    and is then sent again: the remaining window, documented in the README."""
    wait = MARK_RETRY_FIRST
    while True:
        try:
            with store.write() as conn:
                if fn(conn) != len(set(d.ids)):
                    log.warning("channel %s: notice %s was taken over before it could be marked",
                                d.channel.name, d.key)
                return
        except StoreError as exc:
            if time.monotonic() + wait > held_until - MARK_MARGIN:
                log.error("channel %s: notice %s was delivered but cannot be marked (%s); it may be sent "
                          "again once its claim runs out", d.channel.name, d.key, exc)
                return
            log.warning("channel %s: notice %s delivered; marking it failed (%s), retrying in %g s",
                        d.channel.name, d.key, exc, wait)
            time.sleep(wait)
            wait = min(wait * 2, MARK_RETRY_MAX)
