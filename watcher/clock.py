"""Time in one place: naive UTC for storage, the local zone for people.

Leases, claims and back-off never compare against this clock on PostgreSQL: they take the database's
(`store.sql.db_now`), so replicas whose wall clocks disagree still agree on who holds what. Intervals
inside one process use `time.monotonic()`.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import overload

from . import faults


def utcnow() -> datetime:
    """Naive UTC, microseconds kept: what the database stores."""
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    skew = faults.clock_skew()
    return now + timedelta(seconds=skew) if skew else now


@overload
def aware(dt: datetime) -> datetime: ...
@overload
def aware(dt: None) -> None: ...
def aware(dt: datetime | None) -> datetime | None:
    if dt is None:
        return None
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)


def iso(dt: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z, for JSON and CSV."""
    a = aware(dt)
    return a.isoformat().replace("+00:00", "Z") if a else None


def local(dt: datetime | None, fmt: str = "%Y-%m-%d %H:%M:%S %Z") -> str:
    """The time in the machine's local zone, with the zone's name, for tables people read."""
    a = aware(dt)
    return a.astimezone().strftime(fmt) if a else "-"


def readable(dt: datetime | None, seconds: bool = True) -> str:
    """A time in a message people read: UTC to the second (or minute), zone named (2026-04-21 17:03:09 UTC).
    isoformat, not strftime: 10x faster, and a report of 10,000 signals formats 4,000 times."""
    a = aware(dt)
    return a.replace(tzinfo=None).isoformat(" ", "seconds" if seconds else "minutes") + " UTC" if a else ""
