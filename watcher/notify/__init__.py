"""Notices: made due inside the probe's transaction (the hook), delivered by the outbox dispatcher.

The store is imported where it is used: loading a configuration reads the channel types' declarations
(notify/registry.py) and must not pay for SQLAlchemy.

Delivery is at-least-once with a window of one: a notice is marked sent in its own transaction
right after the channel accepted it, so only a process killed between the two can send it again
(the webhook channel sends the key as Idempotency-Key, e-mail a Message-ID made from the key).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from .. import faults, metrics
from ..clock import utcnow
from ..config import ChannelConfig, Config
from ..decide import Notice, ProbeFacts, due_notices
from ..errors import DeliveryError

if TYPE_CHECKING:
    from ..store import Probe, ProbeRecord, SourceRow, Store

log = logging.getLogger(__name__)

BACKOFF_BASE = 2.0  # seconds; doubles per attempt
BACKOFF_MAX = 900.0  # never wait more than 15 minutes between attempts
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


def make_hook(config: Config):  # type: ignore[no-untyped-def]
    """The probe hook: decide what the stored probe made due and enqueue it in the same transaction."""
    from ..store import outbox

    configured = frozenset(config.target_ids)
    channels = [c for c in config.channels if c.configured]
    families = [t.family for t in config.targets if t.family]

    def hook(conn, src: SourceRow, record: ProbeRecord, probe: Probe) -> None:  # type: ignore[no-untyped-def]
        targets = sorted({r["target"] for r in record.added} | {r["target"] for r in record.vanished})
        # Unchanged evidence (the common case: a 304) needs no query; only health can change then.
        elsewhere = outbox.confirmed_sources(conn, targets, exclude_source_id=src.id) if targets else {}
        here = outbox.confirmed_sources(conn, targets) if targets else {}
        fams = _discover(conn, record, configured, families, probe.started_at) if families and targets else {}
        facts = ProbeFacts(
            source=src.name, url=src.url, authority=src.authority, outcome=record.outcome.value,
            error=probe.error, run_id=record.run_id, added=record.added, vanished=record.vanished,
            confirmed_elsewhere=elsewhere,
            confirmed_here_after=frozenset(t for t, names in here.items() if src.name in names),
            mentioned_before=frozenset(outbox.mentioned_before(conn, targets, record.run_id)) if targets
            else frozenset(),
            failure_streak=record.failure_streak, health_alerted=record.health_alerted,
            first_read=record.first_read, configured_targets=configured, families=fams)
        notices = due_notices(facts, alert_on=config.alert_on, failure_threshold=config.failure_threshold)
        for n in notices:
            if n.kind == "source_health":
                outbox.set_health_alerted(conn, src.id, n.payload["state"] == "down")
        if notices:
            enqueue(conn, channels, notices, probe.started_at)

    return hook


def _discover(conn, record: ProbeRecord, configured, families, now) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Ids first seen through a family become targets of their own; returns those new in this probe."""
    import fnmatch

    from ..store import outbox

    new: dict[str, str] = {}
    known = set(outbox.discovered(conn))
    for row in record.added:
        t = row["target"]
        if t in configured or t in known or t in new or row["authority"] != "first_party":
            continue
        fam = next((f for f in families if fnmatch.fnmatchcase(t, f)), None)
        if fam:
            new[t] = fam
    if new:
        outbox.add_discovered(conn, new, now)
    return new


def enqueue(conn, channels: Sequence[ChannelConfig], notices: Sequence[Notice], now) -> int:  # type: ignore[no-untyped-def]
    rows = [dict(channel=c.name, key=n.key, kind=n.kind, target=n.target, payload=dict(n.payload, key=n.key),
                 delay=CORROBORATION_GRACE if n.kind == "corroboration" else 0)
            for n in notices for c in channels if channel_takes(c, n.kind, n.target)]
    from ..store import outbox

    added = outbox.enqueue(conn, rows, now)
    for r in rows if added else ():  # nothing new: another process made the same notices due first
        if r["kind"] != "test":
            log.info("notice due: %s for %s to channel %s (%s)", r["kind"], r["target"] or "-", r["channel"],
                     r["key"], extra={"channel": r["channel"], "kind": r["kind"], "target": r["target"],
                                      "key": r["key"], "state": "pending"})
    return added


def group(rows: Sequence[dict[str, Any]], channels: dict[str, ChannelConfig]) -> list[Delivery]:
    """One delivery per notice, except for corroborations: those of one target that are due together
    travel as one message, inside the release when it is due with them. A model that shows up at
    five sources in one afternoon makes one release and one corroboration, not five messages."""
    out: list[Delivery] = []
    heads: dict[tuple[str, str | None], dict[str, Any]] = {}
    for r in rows:
        if r["kind"] == "release":
            heads[(r["channel"], r["target"])] = r
    for r in rows:
        if r["kind"] == "corroboration":
            heads.setdefault((r["channel"], r["target"]), r)
    absorbed: dict[int, list[dict[str, Any]]] = {}
    for r in rows:
        head = heads.get((r["channel"], r["target"]))
        if r["kind"] == "corroboration" and head is not None and head["id"] != r["id"]:
            absorbed.setdefault(head["id"], []).append(r)
    skip = {r["id"] for group_ in absorbed.values() for r in group_}
    for r in rows:
        if r["id"] in skip or r["channel"] not in channels:
            continue
        members = [r] + absorbed.get(r["id"], [])
        out.append(Delivery(channel=channels[r["channel"]], kind=r["kind"], target=r["target"], key=r["key"],
                            ids=tuple(m["id"] for m in members), payloads=tuple(m["payload"] for m in members),
                            created_at=r.get("created_at")))
    return out


def backoff(attempts: int, retry_after: float | None) -> float:
    """Seconds before the next attempt: the server's Retry-After when it gave one (at least a second,
    at most an hour), else exponential with jitter, capped at BACKOFF_MAX."""
    if retry_after is not None:
        return min(max(retry_after, 1.0), BACKOFF_MAX * 4)
    delay = min(BACKOFF_BASE * (2 ** attempts), BACKOFF_MAX)
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


def deliver_due(config: Config, store: Store, owner: str, *, limit: int = 100) -> dict[str, int]:
    """Deliver every notice that is due now; returns counts of sent, retried and failed."""
    from ..store import outbox

    channels = {c.name: c for c in config.channels if c.configured}
    counts = {"sent": 0, "retry": 0, "failed": 0}
    if not channels:
        return counts
    with store.engine.connect() as conn:
        if not outbox.any_due(conn, channels=list(channels)):
            metrics.dispatcher_lag((), utcnow())
            return counts  # the common case after a probe: no write lock taken for nothing
    from .channels import send

    while True:
        with store.write() as conn:
            rows = outbox.claim_due(conn, owner, CLAIM_TTL, channels=list(channels), limit=limit)
        if not rows:
            return counts
        metrics.dispatcher_lag((r["next_attempt_at"] for r in rows), utcnow())
        attempts = {r["id"]: r["attempts"] for r in rows}
        for d in group(rows, channels):
            try:
                send(d, config)
            except DeliveryError as exc:
                err = str(exc)
                with store.write() as conn:
                    if exc.permanent:
                        outbox.mark_failed(conn, d.ids, owner, err)
                        counts["failed"] += len(d.ids)
                    else:
                        at = utcnow() + timedelta(seconds=backoff(attempts[d.ids[0]], exc.retry_after))
                        outbox.mark_retry(conn, d.ids, owner, err, at)
                        counts["retry"] += len(d.ids)
                told(d, "failed" if exc.permanent else "retry", err)
                continue
            faults.point("after_send")
            with store.write() as conn:
                outbox.mark_sent(conn, d.ids, owner)
            counts["sent"] += len(d.ids)
            told(d, "sent")
        if len(rows) < limit:
            return counts
