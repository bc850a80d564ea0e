"""The notice outbox in SQL: enqueue in the probe's transaction, claim, renew, mark sent/retry/failed,
re-queue; a release still waiting absorbs the confirmations of its burst. What the decider reads about
the evidence (who confirms a target, discovered ids, releases) is in `facts.py`.

Each (channel, key) pair is unique, so a notice made due twice (a retried cycle, two replicas)
exists once; a claim is a conditional UPDATE, so two dispatchers never hold the same notice.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select, update

from . import schema as S
from .sql import db_now, fit, insert_ignore

N = S.notices


@dataclass(frozen=True, slots=True)
class QueuedNotice:
    """A notice for one channel, on its way into the outbox."""

    channel: str
    key: str
    kind: str
    target: str | None
    payload: Mapping[str, Any]  # JSON: what the templates render
    at: datetime | None = None  # due then (the database's clock), or else...
    delay: float = 0.0  # ...this many seconds from the database's now


@dataclass(frozen=True, slots=True)
class ClaimedNotice:
    """A notice taken from the outbox under a claim, to be sent."""

    id: int
    channel: str
    key: str
    kind: str
    target: str | None
    payload: dict[str, Any]
    created_at: datetime
    attempts: int
    next_attempt_at: datetime


def enqueue(conn: Connection, rows: Iterable[QueuedNotice], now: datetime) -> int:
    """Insert notices; an existing (channel, key) is left as is. `now` is when it was made due; it is
    due from the database's now."""
    due = db_now(conn)
    values = [dict(channel=fit(r.channel, 200), key=fit(r.key, 400), kind=fit(r.kind, 40),
                   target=fit(r.target, 200),
                   payload=json.dumps(r.payload, default=str, ensure_ascii=False), created_at=now,
                   state="pending", attempts=0,
                   next_attempt_at=r.at or due + timedelta(seconds=r.delay))
              for r in rows]
    return insert_ignore(conn, N, ["channel", "key"], values)


def _due(now: datetime, channels: Sequence[str] | None) -> list[Any]:
    """Pending, its time come, and claimed by nobody (or by someone whose claim ran out)."""
    cond = [N.c.state == "pending", N.c.next_attempt_at <= now,
            or_(N.c.claimed_until.is_(None), N.c.claimed_until < now)]
    if channels is not None:
        cond.append(N.c.channel.in_(list(channels)))
    return cond


def any_due(conn: Connection, *, channels: Sequence[str] | None = None, now: datetime | None = None) -> bool:
    """A read-only look: is anything due? (So an idle dispatcher takes no write lock.)"""
    if now is None and conn.dialect.name == "postgresql":
        # the database's clock inside the query: this look runs every second per replica, one round trip
        now = func.timezone("UTC", func.statement_timestamp())  # type: ignore[assignment]
    return conn.execute(select(N.c.id).where(*_due(db_now(conn) if now is None else now, channels))
                        .limit(1)).first() is not None


def claim_due(conn: Connection, owner: str, ttl: float, *, channels: Sequence[str] | None = None,
              limit: int = 100, now: datetime | None = None) -> tuple[str, list[ClaimedNotice]]:
    """Take up to `limit` pending notices whose time has come, under a fresh claim token; returns the
    token and the notices with their payloads. Times are the database's (`db_now`)."""
    now = now or db_now(conn)
    cond = _due(now, channels)
    pick = select(N.c.id).where(and_(*cond)).order_by(N.c.id).limit(limit)
    if conn.dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    token = secrets.token_hex(16)
    ids = [r[0] for r in conn.execute(pick)]
    if not ids:
        return token, []
    claimed = conn.execute(update(N).where(N.c.id.in_(ids), *cond).values(
        claimed_by=owner[:100], claim_token=token, claimed_until=now + timedelta(seconds=ttl))
        .returning(N.c.id)).scalars().all()
    rows = conn.execute(select(N.c.id, N.c.channel, N.c.key, N.c.kind, N.c.target, N.c.payload, N.c.created_at,
                               N.c.attempts, N.c.next_attempt_at).where(N.c.id.in_(claimed)).order_by(N.c.id))
    return token, [ClaimedNotice(r.id, r.channel, r.key, r.kind, r.target, json.loads(r.payload), r.created_at,
                                 r.attempts, r.next_attempt_at) for r in rows]


def _held(ids: Sequence[int], token: str) -> list[Any]:
    """The fence: only the claim that took these notices (its token) may touch them."""
    return [N.c.id.in_(list(ids)), N.c.claim_token == token, N.c.state == "pending"]


def renew(conn: Connection, ids: Sequence[int], token: str, ttl: float) -> bool:
    """Extend the claim to a full `ttl` from now (the database's now) right before a send; False when
    the claim is no longer this token's (it ran out and another dispatcher took the notices)."""
    now = db_now(conn)
    # The token alone decides: any other claim would have replaced it (a claim is one atomic UPDATE).
    res = conn.execute(update(N).where(*_held(ids, token)).values(
        claimed_until=now + timedelta(seconds=ttl)))
    return res.rowcount == len(set(ids))


def release(conn: Connection, ids: Sequence[int], token: str) -> int:
    """Let go of claimed notices without an attempt (a stopping dispatcher), so nobody waits for the claim."""
    return conn.execute(update(N).where(*_held(ids, token)).values(
        claimed_by=None, claimed_until=None, claim_token=None)).rowcount


def mark_sent(conn: Connection, ids: Sequence[int], token: str) -> int:
    now = db_now(conn)
    return conn.execute(update(N).where(*_held(ids, token)).values(
        state="sent", sent_at=now, last_attempt_at=now, attempts=N.c.attempts + 1, claimed_by=None,
        claimed_until=None, claim_token=None, last_error=None)).rowcount


def mark_retry(conn: Connection, ids: Sequence[int], token: str, error: str, delay: float) -> int:
    """Try again `delay` seconds from now (the database's now)."""
    now = db_now(conn)
    return conn.execute(update(N).where(*_held(ids, token)).values(
        attempts=N.c.attempts + 1, next_attempt_at=now + timedelta(seconds=delay), last_error=error[:1000],
        last_attempt_at=now, claimed_by=None, claimed_until=None, claim_token=None)).rowcount


def mark_failed(conn: Connection, ids: Sequence[int], token: str, error: str) -> int:
    now = db_now(conn)
    return conn.execute(update(N).where(*_held(ids, token)).values(
        state="failed", attempts=N.c.attempts + 1, last_error=error[:1000], last_attempt_at=now,
        claimed_by=None, claimed_until=None, claim_token=None)).rowcount


def requeue(conn: Connection, *, ids: Sequence[int] = (), channel: str | None = None,
            all_failed: bool = False) -> list[int]:
    """Failed notices back to pending, due now (`watcher alerts retry`); returns the ids re-queued."""
    cond = [N.c.state == "failed"]
    if ids:
        cond.append(N.c.id.in_(list(ids)))
    if channel:
        cond.append(N.c.channel == channel)
    if not (ids or channel or all_failed):
        return []
    return list(conn.execute(update(N).where(*cond).values(
        state="pending", next_attempt_at=db_now(conn), claimed_by=None, claimed_until=None, claim_token=None)
        .returning(N.c.id)).scalars().all())


def dismiss(conn: Connection, ids: Sequence[int]) -> list[int]:
    """Failed notices the operator gives up on (`watcher alerts dismiss`): no longer shown as failed."""
    return list(conn.execute(update(N).where(N.c.id.in_(list(ids)), N.c.state == "failed").values(
        state="dismissed").returning(N.c.id)).scalars().all())


def list_notices(conn: Connection, *, state: str | None = None, channel: str | None = None,
                 limit: int = 200) -> list[dict[str, Any]]:
    q = select(N)
    if state:
        q = q.where(N.c.state == state)
    if channel:
        q = q.where(N.c.channel == channel)
    q = q.order_by(N.c.id.desc()).limit(limit)
    return [dict(r._mapping) for r in conn.execute(q)]


def channel_health(conn: Connection) -> dict[str, dict[str, Any]]:
    """Per channel: counts by state, and `last_error`: the error of its latest attempt when that attempt
    failed (a later success clears it; notices still failed are counted, and listed by `failed_notices`)."""
    out: dict[str, dict[str, Any]] = {}
    for r in conn.execute(select(N.c.channel, N.c.state, func.count()).group_by(N.c.channel, N.c.state)):
        out.setdefault(r[0], {"pending": 0, "sent": 0, "failed": 0, "dismissed": 0, "last_error": None})[r[1]] = r[2]
    latest = (select(N.c.channel, func.max(N.c.last_attempt_at).label("at")).where(N.c.last_attempt_at.is_not(None))
              .group_by(N.c.channel).subquery())
    for r in conn.execute(select(N.c.channel, N.c.state, N.c.last_error).join(
            latest, and_(latest.c.channel == N.c.channel, latest.c.at == N.c.last_attempt_at)).order_by(N.c.id)):
        out[r[0]]["last_error"] = r[2] if r[1] != "sent" else None
    return out


# ------------------------------------------------------------------ a release still waiting absorbs a burst
def absorb(conn: Connection, channel: str, key: str, *, confirmed_by: Sequence[str],
           evidence: Sequence[Mapping[str, Any]]) -> bool:
    """Add sources and their evidence to the notice (channel, key) if it is still waiting to be sent and
    nobody has claimed it; returns whether it did. A release claimed by a dispatcher is being sent as it
    is: a confirmation that arrives then must travel as a corroboration."""
    now = db_now(conn)  # claims are on the database's clock
    cond = [N.c.channel == channel, N.c.key == fit(key, 400), N.c.state == "pending",
            or_(N.c.claimed_until.is_(None), N.c.claimed_until < now)]
    q = select(N.c.id, N.c.payload).where(*cond)
    if conn.dialect.name == "postgresql":
        q = q.with_for_update()  # a claim in flight finishes first; then the row is no longer pending-unclaimed
    row = conn.execute(q).first()
    if row is None:
        return False
    payload = json.loads(row.payload)
    payload["confirmed_by"] = sorted(set(payload.get("confirmed_by") or ()) | set(confirmed_by))
    known = payload.setdefault("evidence", [])
    idents = {(e.get("source"), e.get("location"), e.get("model_id"), e.get("evidence_type")) for e in known}
    for e in evidence:
        if (e.get("source"), e.get("location"), e.get("model_id"), e.get("evidence_type")) not in idents:
            known.append(dict(e))
    done = conn.execute(update(N).where(N.c.id == row.id, *cond).values(
        payload=json.dumps(payload, default=str, ensure_ascii=False)))
    return done.rowcount == 1


def corroboration_due(conn: Connection, channel: str, target: str) -> datetime | None:
    """When the corroborations of `target` already waiting for `channel` go out (None: none waits), so a
    later one joins them: at most one corroboration message per window. On the database's clock."""
    now = db_now(conn)
    return conn.execute(select(func.min(N.c.next_attempt_at)).where(
        N.c.channel == channel, N.c.target == target, N.c.kind == "corroboration", N.c.state == "pending",
        or_(N.c.claimed_until.is_(None), N.c.claimed_until < now))).scalar()
