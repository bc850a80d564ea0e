"""Durations as people write and read them: `parse_duration` reads `15m`, `36h`, `7d` from the
configuration and the CLI; `compact` writes a polling interval back the same way; `offset` writes how
long after a start something happened (`+3 d 4 h`). Pure: no I/O.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}
MAX_DURATION = 366 * 86400.0  # any longer is a typo, and past what a schedule's date arithmetic holds


def parse_duration(value: object) -> float:
    """'15m' -> 900.0 seconds; a bare number is seconds. Raises ValueError."""
    if isinstance(value, bool):
        raise ValueError("not a duration")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        m = _DURATION.match(str(value))
        if not m:
            raise ValueError("not a duration")
        seconds = float(m.group(1)) * _UNITS[m.group(2)]
    if not math.isfinite(seconds):
        raise ValueError("not a finite duration")
    if seconds <= 0:
        raise ValueError("must be positive")
    if seconds > MAX_DURATION:
        raise ValueError("longer than a year")
    return seconds


def compact(seconds: float) -> str:
    """A duration in the largest unit that divides it, as the configuration writes it: 900 -> '15m'."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def offset(delta: timedelta) -> str:
    """How long after a start: '+3 d 4 h', '+3 d', '+2 h 5 min', '+5 min' (never negative)."""
    secs = max(0, int(delta.total_seconds()))
    days, rest = divmod(secs, 86400)
    hours, rest = divmod(rest, 3600)
    if days:
        return f"+{days} d {hours} h" if hours else f"+{days} d"
    return f"+{hours} h {rest // 60} min" if hours else f"+{rest // 60} min"
