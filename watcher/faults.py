"""Crash points for fault-injection tests: WATCHER_CRASH_AT=<point> kills the process right there.

The points are the steps of a cycle whose interruption must lose nothing: `after_fetch` (probed,
nothing stored), `after_store` (evidence and notices committed, nothing sent), `after_send` (a
channel took a notice that is not yet marked sent: the one window where a notice can go twice).
Unset (always, in production) this costs one dictionary lookup.
"""

from __future__ import annotations

import os

POINTS = ("after_fetch", "after_store", "after_send")


def point(name: str) -> None:
    if os.environ.get("WATCHER_CRASH_AT") == name:
        os._exit(70)  # as abrupt as SIGKILL: no cleanup, no flush, no commit
