"""What the read-side views share: run texts made safe to print, JSON-ready values, links a person can follow."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from ..clock import iso
from ..links import human_link
from ..store.runs import RunInfo
from ..text import safe


def shown(r: RunInfo | None) -> RunInfo | None:
    """A run with its error text made safe to print."""
    return None if r is None else replace(r, error=safe(r.error) or None)


def jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def href(url: str | None) -> str | None:
    """Only http(s) URLs become links (a configured `javascript:` URL stays text); a raw GitHub file
    or a docs `.md` twin links to the page a person reads (see links.py)."""
    return human_link(url) if url and urlsplit(url).scheme in ("http", "https") else None


LINE_MAX = 200  # characters of a document line shown (context and diff lines)


def cut(line: str, col: int, hit: bool) -> str:
    """A long line cut to LINE_MAX characters: around `col` on a hit line, its start otherwise."""
    if len(line) <= LINE_MAX:
        return line
    lo = max(0, col - 80) if hit else 0
    hi = min(len(line), lo + LINE_MAX)
    return ("…" if lo else "") + line[lo:hi] + ("…" if hi < len(line) else "")
