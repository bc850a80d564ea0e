"""An Atom or RSS feed (GitHub releases, a blog). An entry whose title or content names the target
yields feed_entry, with the entry's date as `published`; the feed's own title naming it yields
page_mention.

An entry is located by its id, else its link, so it stays the same evidence however the feed grows.
A body that is not a feed at all (HTML, broken XML with nothing in it) is a parse error, never absence.
"""

from __future__ import annotations

import io
import time
from typing import Any

from ..errors import ParseError
from ..evidence import EvidenceType, Signal, Signals
from ..targets import Matcher
from ..text import EXCERPT_MAX, clip, oneline
from . import Anchor, Document, Kind
from ._text import html_text, snippet


def _text_of(detail: Any, value: str) -> str:
    """Plain text of a title, summary or content; HTML (as feedparser labels it, or as it looks) stripped."""
    kind = detail.get("type", "") if isinstance(detail, dict) else ""
    if "html" in kind or (not kind and "<" in value):
        return html_text(value)
    return oneline(value)


def _published(entry: Any) -> str | None:
    """The entry's date as ISO 8601 UTC, as feedparser normalised it."""
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        parsed = entry.get(key)
        if parsed:
            try:
                return time.strftime("%Y-%m-%dT%H:%M:%SZ", parsed)
            except (TypeError, ValueError):
                continue
    return None


def _entry_text(entry: Any) -> str:
    """The entry's summary and content as plain text, each once."""
    parts = [
        _text_of(c, c["value"]) for c in entry.get("content") or []
        if isinstance(c, dict) and isinstance(c.get("value"), str)
    ]
    # feedparser answers `summary` with the content when there is no summary of its own
    summary = entry.get("summary")
    if isinstance(summary, str):
        text = _text_of(entry.get("summary_detail"), summary)
        if text and text not in parts:
            parts.insert(0, text)
    return " ".join(p for p in parts if p)


def _read(doc: Document) -> Any:
    import feedparser  # 17 ms of import, only for runs that read a feed

    headers = {"content-type": doc.content_type or "application/xml"}
    try:
        # A stream, never bytes or str: feedparser opens a str that looks like a URL or a file path.
        return feedparser.parse(io.BytesIO(doc.body), response_headers=headers)
    except Exception as exc:  # feedparser's lenient parsers can fail in many ways on hostile bytes
        raise ParseError(f"not a feed: {type(exc).__name__}: {exc}") from None


def parse(doc: Document, matcher: Matcher) -> list[Signal]:
    result = _read(doc)
    entries = result.get("entries") or []
    feed = result.get("feed") or {}
    if not entries and (not result.get("version") or (result.get("bozo") and not feed.get("title"))):
        reason = result.get("bozo_exception") or "no feed elements"
        raise ParseError(f"not a feed: {reason}")

    found = Signals()
    feed_title = feed.get("title") or ""
    for m in matcher.find(feed_title):
        found.add(m.target, m.model_id, EvidenceType.PAGE_MENTION, "feed", snippet(feed_title, m.start, m.end))
    for entry in entries:
        title = _text_of(entry.get("title_detail"), entry.get("title") or "")
        body = _entry_text(entry)
        location = entry.get("id") or entry.get("link") or title
        if not location:
            continue
        hits = list(matcher.find(f"{title}\n{body}"))
        if not hits:
            continue
        excerpt = clip(f"{title} — {body[: EXCERPT_MAX * 2]}" if title and body else title or body[: EXCERPT_MAX * 2])
        for m in hits:
            found.add(m.target, m.model_id, EvidenceType.FEED_ENTRY, str(location), excerpt, _published(entry))
    return found.kept


def anchor(doc: Document) -> Anchor:
    """The feed's entries (a feed with none has nothing to say absent)."""
    try:
        result = _read(doc)
    except ParseError:
        return Anchor(False, "not a feed")
    entries = result.get("entries") or []
    if not entries:
        return Anchor(False, "feed: no entries")
    dates = [d for d in (_published(e) for e in entries) if d]
    newest = f", newest {max(dates)[:10]}" if dates else ""
    return Anchor(True, f"feed: {len(entries)} entries{newest}")


KIND = Kind(
    name="feed",
    parse=parse,
    anchor=anchor,
    evidence_types=(EvidenceType.FEED_ENTRY, EvidenceType.PAGE_MENTION),
    reads="Atom or RSS",
)
