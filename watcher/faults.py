"""Fault injection for tests: crash points, and a skewed wall clock. Unset (always, in production)
each costs one dictionary lookup.

WATCHER_CRASH_AT=<point> kills the process right there. The points are the steps of a cycle whose
interruption must lose nothing: `after_fetch` (probed, nothing stored), `after_store` (evidence and
notices committed, nothing sent), `after_send` (a channel took a notice that is not yet marked sent:
the one window where a notice can go twice).

WATCHER_CLOCK_SKEW=<seconds> moves this process's wall clock (`clock.utcnow`), as on a host whose
clock is wrong: leases and claims must not care, since they use the database's clock.
"""

from __future__ import annotations

import os

POINTS = ("after_fetch", "after_store", "after_send")


def point(name: str) -> None:
    if os.environ.get("WATCHER_CRASH_AT") == name:
        os._exit(70)  # as abrupt as SIGKILL: no cleanup, no flush, no commit


def clock_skew() -> float:
    value = os.environ.get("WATCHER_CLOCK_SKEW")
    return float(value) if value else 0.0
