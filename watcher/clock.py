"""Time in one place: naive UTC for storage, the local zone for people.

Leases, claims and back-off never compare against this clock on PostgreSQL: they take the database's
(`store.sql.db_now`), so replicas whose wall clocks disagree still agree on who holds what. Intervals
inside one process use `time.monotonic()`.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from . import faults


def utcnow() -> datetime:
    """Naive UTC, microseconds kept: what the database stores."""
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    skew = faults.clock_skew()
    return now + timedelta(seconds=skew) if skew else now


def aware(dt: datetime | None) -> datetime | None:
    if dt is None:
        return None
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)


def iso(dt: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z, for JSON and CSV."""
    a = aware(dt)
    return a.isoformat().replace("+00:00", "Z") if a else None


def local(dt: datetime | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """The time in the machine's local zone, for tables people read."""
    a = aware(dt)
    return a.astimezone().strftime(fmt) if a else "-"
