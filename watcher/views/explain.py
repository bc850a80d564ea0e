"""One signal's whole provenance (`watcher explain`): its runs, the lines around it in the stored document and
the diff against the source's previous document; and the stored document itself (`watcher show`)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from ..store import Store
from ..store.queries import provenance
from ..store.runs import RunInfo, SnapshotInfo
from ..targets import Matcher
from ..text import decode, safe
from ._common import cut as _cut
from ._common import jsonable as _jsonable
from ._common import shown as _shown
from .diff import Diff
from .diff import diff_documents as _diff


@dataclass(frozen=True)
class ContextLine:
    number: int  # 1-based line number in the snapshot
    text: str  # long lines are cut around the hit, with "…"
    hit: bool  # the excerpt or the model id is on this line


@dataclass(frozen=True)
class Context:
    """Where the evidence sits in the stored document."""

    found_by: str  # "excerpt" (its words in order), "location" (the model id after its words), "model id"
    line: int  # the first line of the hit
    total_lines: int
    lines: tuple[ContextLine, ...]


@dataclass(frozen=True)
class Explanation:
    """One signal's whole provenance: what, where, when it was first read, and what changed then."""

    id: int
    target: str
    model_id: str
    source: str
    url: str
    authority: str
    level: str
    evidence_type: str
    excerpt: str
    location: str
    published: str | None
    first_seen: datetime
    last_seen: datetime
    vanished_at: datetime | None
    first_run: RunInfo | None
    last_run: RunInfo | None
    vanished_run: RunInfo | None
    snapshot: SnapshotInfo | None
    snapshot_note: str | None  # how the snapshot was found, or why there is none
    context: Context | None
    context_note: str | None
    diff: Diff | None
    diff_note: str | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: times as ISO 8601 UTC."""
        return _jsonable(asdict(self))


def explain(store: Store, signal_id: int, *, context_lines: int = 2, max_diff_lines: int = 60) -> Explanation | None:
    """The provenance of signal `signal_id`, or None when there is no such signal."""

    p = provenance(store, signal_id)
    if p is None:
        return None
    row, snapshot, snap_note, body = p.signal, p.snapshot, p.snapshot_note, p.body
    first, last, vanished = (_shown(x) for x in (p.first_run, p.last_run, p.vanished_run))
    base_run, base_snap, base_body = p.base_run, p.base_snapshot, p.base_body

    context = context_note = diff = diff_note = None
    matcher = Matcher([row.target])
    if body is None:
        context_note = snap_note or "no stored document"
    else:
        text = decode(body, snapshot.content_type)  # type: ignore[union-attr]
        context = find_context(text, row.excerpt, row.model_id, row.location, matcher, context_lines)
        if context is None:
            context_note = "neither the excerpt nor the model id is in the stored document's text"
        if base_run is None or base_snap is None or base_body is None:
            diff_note = ("no earlier, different document from this source is stored: this was the first one read"
                         if base_run is None else f"the previous snapshot #{base_run.snapshot_id} is no longer stored")
        else:
            old = decode(base_body, base_snap.content_type)
            diff = _diff(old, text, base_run, base_snap, snapshot, row.model_id, matcher,  # type: ignore[arg-type]
                         max_diff_lines)
            if not diff.lines:
                diff_note = "the two documents have the same text"
    return Explanation(
        id=row.id, target=row.target, model_id=row.model_id, source=row.source, url=row.url,
        authority=row.authority, level=row.level, evidence_type=row.evidence_type, excerpt=safe(row.excerpt),
        location=safe(row.location), published=row.published, first_seen=row.first_seen, last_seen=row.last_seen,
        vanished_at=row.vanished_at, first_run=first, last_run=last, vanished_run=vanished, snapshot=snapshot,
        snapshot_note=snap_note, context=context, context_note=context_note, diff=diff, diff_note=diff_note)


@dataclass(frozen=True)
class StoredDocument:
    """The document behind a signal, as stored (`watcher show`)."""

    signal_id: int
    source: str
    url: str
    model_id: str
    first_run: RunInfo | None
    snapshot: SnapshotInfo | None
    note: str | None  # why there is no body, or how the snapshot was found
    body: bytes | None
    text: str | None  # the body decoded as the parsers decode it
    context: Context | None  # the lines around the evidence, when asked for


def stored_document(store: Store, signal_id: int, *, context_lines: int | None = None) -> StoredDocument | None:
    """The stored document in which signal `signal_id` was first found; None when there is no such signal.
    With `context_lines`, also the lines around the evidence (found as `explain` finds them)."""
    p = provenance(store, signal_id, with_base=False)
    if p is None:
        return None
    row, snapshot, note, body = p.signal, p.snapshot, p.snapshot_note, p.body
    first = _shown(p.first_run)
    text = decode(body, snapshot.content_type) if body is not None and snapshot else None  # type: ignore[union-attr]
    context = None
    if text is not None and context_lines is not None:
        context = find_context(text, row.excerpt, row.model_id, row.location, Matcher([row.target]), context_lines)
    return StoredDocument(signal_id=row.id, source=row.source, url=row.url, model_id=row.model_id,
                          first_run=first, snapshot=snapshot, note=note if body is None else None,
                          body=body, text=text, context=context)


_WORD = re.compile(r"[A-Za-z0-9_]{4,}")


def find_context(text: str, excerpt: str, model_id: str, location: str, matcher: Matcher,
                 around: int = 2) -> Context | None:
    """The lines of `text` around the evidence. Tried in turn: the excerpt's words in order (white space
    may differ); the model id after the location's words, found in order (a JSON path, a heading); the
    occurrence of the model id with the most of the excerpt's words nearby."""
    hits = [m for n, m in zip(range(2000), matcher.find(text)) if m.model_id == model_id.lower()]
    span, how = _find_excerpt(text, excerpt), "excerpt"
    if span is not None:  # the model id inside the excerpt, if it is there, is the line to look at
        span = next(((m.start, m.end) for m in hits if span[0] <= m.start < span[1]), span)
    else:
        span, how = _after_location(text, location, model_id, hits), "location"
    if span is None:
        span, how = _nearest_words(text, excerpt, location, model_id, hits), "model id"
    if span is None:
        return None
    start, end = span
    lines = text.split("\n")
    first = text.count("\n", 0, start)
    last = min(first + text.count("\n", start, end), first + 4)  # a long excerpt: its first lines are enough
    lo, hi = max(0, first - around), min(len(lines) - 1, last + around)
    offset = text.rfind("\n", 0, start) + 1 - sum(len(lines[i]) + 1 for i in range(lo, first))  # where line lo starts
    out = []
    for i in range(lo, hi + 1):
        line = lines[i].rstrip("\r")
        hit = first <= i <= last
        out.append(ContextLine(i + 1, safe(_cut(line, start - offset if i == first else 0, hit)), hit))
        offset += len(lines[i]) + 1
    return Context(found_by=how, line=first + 1, total_lines=len(lines), lines=tuple(out))


def _find_excerpt(text: str, excerpt: str) -> tuple[int, int] | None:
    # Excerpts are cut ("…") and have their white space collapsed: look for their pieces, longest first,
    # as words in order with any white space between them.
    for piece in sorted((p.strip() for p in excerpt.split("…")), key=len, reverse=True):
        words = piece.split()[:40]
        if len(piece) < 12 or not words:
            continue
        m = re.search(r"\s+".join(re.escape(w) for w in words), text)
        if m:
            return m.start(), m.end()
    return None


def _after_location(text: str, location: str, model_id: str, hits: Sequence[Any]) -> tuple[int, int] | None:
    """The first occurrence of the model id after the location's words, each found after the one before,
    as a key (`word:`, `"word":`) where it is one: `components.schemas.CreateImageRequest.properties.model`
    walks down a YAML or JSON document, `Pricing > Image models` down a page's headings."""
    own = set(re.split(r"[^a-z0-9_]+", model_id.lower()))
    pos, found = 0, 0
    for word in _WORD.findall(location):
        if word.lower() in own:
            continue
        w = re.escape(word)
        m = (re.compile(rf"(?<![A-Za-z0-9_]){w}[\"']?\s*:").search(text, pos)
             or re.compile(rf"(?<![A-Za-z0-9_]){w}(?![A-Za-z0-9_])").search(text, pos))
        if m:
            pos, found = m.end(), found + 1
    if not found:
        return None
    return next(((m.start, m.end) for m in hits if m.start >= pos), None)


def _nearest_words(text: str, excerpt: str, location: str, model_id: str,
                   hits: Sequence[Any]) -> tuple[int, int] | None:
    words = {w.lower() for w in _WORD.findall(f"{excerpt} {location}")} - set(re.split(r"[^a-z0-9_]+", model_id))
    best: tuple[int, int] | None = None
    best_score = -1
    for m in hits:
        near = {w.lower() for w in _WORD.findall(text[max(0, m.start - 400):m.end + 400])}
        score = len(words & near)
        if score > best_score:
            best, best_score = (m.start, m.end), score
    return best
