"""The evidence history for people: the filtered list, one signal's whole provenance (explain), when
each source first showed a target (timeline), the static HTML report, the Atom feed, and pruning.

Functions take a Store and return frozen dataclasses (or text/bytes for the report and feed); the
CLI only prints them. Everything here reads, except `prune`, which deletes only what nothing needs.
"""

from __future__ import annotations

import bisect
import difflib
import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from . import __version__
from .clock import iso, utcnow
from .durations import offset
from .evidence import Authority, Level, Outcome
from .links import human_link
from .store import Store, redact_url
from .store.queries import first_sightings, newest_notices, newest_signals, provenance, report_counts
from .store.runs import RunInfo, SnapshotInfo
from .targets import Matcher
from .text import decode, safe

if TYPE_CHECKING:
    from .config import Config

TEMPLATES = Path(__file__).parent / "templates"
REPORT_TEMPLATE = "report.html.j2"

def _shown(r: RunInfo | None) -> RunInfo | None:
    """A run with its error text made safe to print."""
    return None if r is None else replace(r, error=safe(r.error) or None)


# ---------------------------------------------------------------------------------- explain
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
class Diff:
    """The unified diff from the source's previous snapshot to the one the evidence first appeared in."""

    base_run: RunInfo  # the run that read the previous snapshot
    base_snapshot: SnapshotInfo
    lines: tuple[str, ...]  # ---/+++ headers, then the hunks shown
    hunks_shown: int
    hunks_total: int
    lines_omitted: int  # diff lines left out to stay short
    names_model_id: bool  # the hunks shown are those whose changed lines name the model id


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
_LINE_MAX = 200


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


def _cut(line: str, col: int, hit: bool) -> str:
    """A long line cut to _LINE_MAX characters: around `col` on a hit line, its start otherwise."""
    if len(line) <= _LINE_MAX:
        return line
    lo = max(0, col - 80) if hit else 0
    hi = min(len(line), lo + _LINE_MAX)
    return ("…" if lo else "") + line[lo:hi] + ("…" if hi < len(line) else "")


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


# -------------------------------------------------------------------------------- diff
def _diff(old: str, new: str, base_run: RunInfo, base: SnapshotInfo, snap: SnapshotInfo, model_id: str,
          matcher: Matcher, max_lines: int) -> Diff:
    a, b = old.split("\n"), new.split("\n")
    hunks = [h for h in _hunks(a, b) if h]
    names = [h for h in hunks if any(line[:1] in "+-" and _names(line[1:], model_id, matcher) for line in h[1:])]
    chosen = names or hunks
    out: list[str] = []
    shown = omitted = 0
    for h in chosen:
        room = max_lines - len(out)
        if room < 6:  # no room for a useful piece of another hunk
            omitted += len(h)
            continue
        if len(h) > room:
            kept = _around_model_id(h, room, model_id, matcher)
            omitted += len(h) - len(kept) + 1  # the "… more lines" note is not a diff line
            h = kept
        out.extend(h)
        shown += 1
    omitted += sum(map(len, hunks)) - sum(map(len, chosen))  # the hunks that do not name the model id
    header = [f"--- snapshot #{base.id} sha256:{base.content_hash[:12]} "
              f"({iso(base_run.started_at)}, run #{base_run.id})",
              f"+++ snapshot #{snap.id} sha256:{snap.content_hash[:12]}"]
    return Diff(base_run=base_run, base_snapshot=base, lines=tuple(header + [safe(_cut(x, 0, False)) for x in out])
                if out else (), hunks_shown=shown, hunks_total=len(hunks), lines_omitted=omitted,
                names_model_id=bool(names))


def _names(line: str, model_id: str, matcher: Matcher) -> bool:
    return model_id.lower() in line.lower() and any(m.model_id == model_id.lower() for m in matcher.find(line))


def _around_model_id(hunk: list[str], room: int, model_id: str, matcher: Matcher) -> list[str]:
    """A hunk too long to show whole: its header and `room - 2` lines around its first line naming the id."""
    body = hunk[1:]
    at = next((i for i, x in enumerate(body) if x[:1] in "+-" and _names(x[1:], model_id, matcher)), 0)
    lo = max(0, min(at - (room - 2) // 2, len(body) - (room - 2)))
    return [hunk[0]] + body[lo:lo + room - 2] + [f"… ({len(body) - (room - 2)} more lines of this hunk)"]


def _hunks(a: list[str], b: list[str], n: int = 3) -> list[list[str]]:
    """Unified-diff hunks of a -> b. Lines unique to both documents anchor them (as in patience diff),
    so difflib only aligns the short stretches between anchors: a 3 MB spec diffs in well under a second."""
    ops = _opcodes(a, b)
    out = []
    for group in _Grouped(ops).get_grouped_opcodes(n):
        i1, i2, j1, j2 = group[0][1], group[-1][2], group[0][3], group[-1][4]
        lines = [f"@@ -{_range(i1, i2)} +{_range(j1, j2)} @@"]
        for tag, x1, x2, y1, y2 in group:
            if tag == "equal":
                lines += [" " + x for x in a[x1:x2]]
                continue
            lines += ["-" + x for x in a[x1:x2]]
            lines += ["+" + y for y in b[y1:y2]]
        out.append(lines)
    return out


def _range(start: int, stop: int) -> str:
    length = stop - start
    first = start + 1 if length else start
    return f"{first}" if length == 1 else f"{first},{length}"


class _Grouped(difflib.SequenceMatcher):
    """difflib's hunk grouping over opcodes computed elsewhere."""

    def __init__(self, ops: list[tuple[str, int, int, int, int]]) -> None:
        self._ops = ops

    def get_opcodes(self) -> list[tuple[str, int, int, int, int]]:  # type: ignore[override]
        return self._ops


_GAP_MAX = 4_000_000  # a stretch between anchors bigger than this (lines a x lines b) is one replacement


def _opcodes(a: list[str], b: list[str]) -> list[tuple[str, int, int, int, int]]:
    ca, cb = Counter(a), Counter(b)
    pos_a = {x: i for i, x in enumerate(a) if ca[x] == 1}
    pairs = [(pos_a[y], j) for j, y in enumerate(b) if cb[y] == 1 and y in pos_a]
    anchors = _increasing(pairs) + [(len(a), len(b))]
    ops: list[tuple[str, int, int, int, int]] = []
    i0 = j0 = 0
    for i, j in anchors:
        if i - i0 or j - j0:
            if (i - i0) * (j - j0) > _GAP_MAX:
                ops.append(("replace", i0, i, j0, j))
            else:
                sm = difflib.SequenceMatcher(None, a[i0:i], b[j0:j], autojunk=False)
                ops += [(t, x1 + i0, x2 + i0, y1 + j0, y2 + j0) for t, x1, x2, y1, y2 in sm.get_opcodes()]
        if i < len(a):
            ops.append(("equal", i, i + 1, j, j + 1))
        i0, j0 = i + 1, j + 1
    merged: list[tuple[str, int, int, int, int]] = []
    for op in ops:  # join neighbouring equal runs, as difflib's own opcodes are
        if merged and op[0] == "equal" == merged[-1][0]:
            merged[-1] = ("equal", merged[-1][1], op[2], merged[-1][3], op[4])
        else:
            merged.append(op)
    return merged or [("equal", 0, len(a), 0, len(b))]


def _increasing(pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The longest run of pairs increasing in their first item (pairs come sorted by the second)."""
    tails: list[int] = []
    tail_at: list[int] = []
    prev: list[int] = [-1] * len(pairs)
    for k, (i, _) in enumerate(pairs):
        p = bisect.bisect_left(tails, i)
        if p == len(tails):
            tails.append(i)
            tail_at.append(k)
        else:
            tails[p], tail_at[p] = i, k
        prev[k] = tail_at[p - 1] if p else -1
    out = []
    k = tail_at[-1] if tail_at else -1
    while k != -1:
        out.append(pairs[k])
        k = prev[k]
    return out[::-1]


# ---------------------------------------------------------------------------------- timeline
@dataclass(frozen=True)
class TimelineEntry:
    """The first time one source showed one level for the target."""

    first_seen: datetime
    source: str
    authority: str
    level: str
    evidence_type: str
    model_id: str
    signal_id: int  # the signal to `watcher explain`
    url: str
    live: bool  # the source shows this level now
    last_seen: datetime  # the last time the source showed it
    vanished_at: datetime | None  # not live: since when the source no longer shows it


@dataclass(frozen=True)
class Timeline:
    target: str
    entries: tuple[TimelineEntry, ...]  # oldest first

    def first(self, level: str, authority: str = Authority.FIRST_PARTY.value) -> TimelineEntry | None:
        """The earliest entry of this level (confirmed also counts as public for 'mentioned')."""
        levels = {level} if level == Level.CONFIRMED.value else {Level.MENTIONED.value, Level.CONFIRMED.value}
        return next((e for e in self.entries if e.level in levels and e.authority == authority), None)

    def as_dict(self) -> dict[str, Any]:
        first_mentioned, first_confirmed = self.first("mentioned"), self.first("confirmed")
        return _jsonable({
            "target": self.target,
            "first_public": asdict(first_mentioned) if first_mentioned else None,
            "first_confirmed": asdict(first_confirmed) if first_confirmed else None,
            "entries": [asdict(e) for e in self.entries]})


def timeline(store: Store, target: str) -> Timeline:
    """When each source first showed each level (mentioned, confirmed) for `target`, oldest first."""
    target = target.lower()
    entries = [TimelineEntry(first_seen=f.first_seen, source=f.source, authority=f.authority, level=f.level,
                             evidence_type=f.evidence_type, model_id=f.model_id, signal_id=f.signal_id, url=f.url,
                             live=f.live, last_seen=f.last_seen, vanished_at=None if f.live else f.vanished_at)
               for f in first_sightings(store, target)]
    return Timeline(target=target, entries=tuple(entries))


# ---------------------------------------------------------------------------------- report
@dataclass(frozen=True)
class EvidenceRow:
    id: int
    source: str
    url: str
    authority: str
    level: str
    evidence_type: str
    model_id: str
    excerpt: str
    location: str
    published: str | None
    first_seen: datetime
    last_seen: datetime
    vanished_at: datetime | None


@dataclass(frozen=True)
class ChartMark:
    level: str
    at: datetime
    left: float  # percent of the chart's width


@dataclass(frozen=True)
class ChartRow:
    source: str
    authority: str
    marks: tuple[ChartMark, ...]


@dataclass(frozen=True)
class TargetReport:
    target: str
    verdict: str
    summary: str
    evidence: tuple[EvidenceRow, ...]  # live now: first-party first, confirmed first, oldest first
    vanished: tuple[EvidenceRow, ...]  # no longer shown, most recent first (at most VANISHED_SHOWN)
    vanished_total: int
    timeline: Timeline
    chart: tuple[ChartRow, ...]
    chart_start: datetime | None
    chart_end: datetime | None


@dataclass(frozen=True)
class SourceHealth:
    name: str
    kind: str
    authority: str
    url: str
    configured: bool
    last_outcome: str | None
    last_status: int | None
    last_probe_at: datetime | None
    last_ok_at: datetime | None
    failure_streak: int
    last_error: str | None
    live: int  # live signals at this source


@dataclass(frozen=True)
class Report:
    generated_at: datetime
    database: str  # the URL without its password
    version: str
    targets: tuple[TargetReport, ...]
    sources: tuple[SourceHealth, ...]
    signals_total: int
    runs_total: int


VANISHED_SHOWN = 50
_ORDER = {Authority.FIRST_PARTY.value: 0, Authority.CONSUMER.value: 1, Authority.THIRD_PARTY.value: 2}


def _failed(outcome: str | None) -> bool:
    try:
        return outcome is not None and Outcome(outcome).failed
    except ValueError:
        return True


def report(config: Config, store: Store, *, now: datetime | None = None) -> Report:
    """Everything the HTML report shows, read from the database (no probe)."""
    from .cycle import all_targets, verdicts

    now = now or utcnow()
    live = store.live_signals([t.id for t in all_targets(config, store) if t.id])  # read once, used twice
    vs = verdicts(config, store, live=live)
    targets = [v.target for v in vs]
    live_by: dict[str, list[EvidenceRow]] = {t: [] for t in targets}
    live_per_source: Counter[str] = Counter()
    for r in live:
        live_by.setdefault(r["target"], []).append(_evidence(r))
    counts = report_counts(store, targets, vanished_shown=VANISHED_SHOWN)
    live_per_source.update(counts.live_per_source)
    gone = {t: [_evidence(asdict(r)) for r in rows] for t, rows in counts.vanished.items()}
    gone_total, signals_total, runs_total = counts.vanished_total, counts.signals_total, counts.runs_total
    out = []
    for v in vs:
        tl = timeline(store, v.target)
        start, end, chart = _chart(tl, now)
        ev = sorted(live_by.get(v.target, []), key=lambda e: (_ORDER.get(e.authority, 3), e.level != "confirmed",
                                                               e.first_seen, e.id))
        out.append(TargetReport(target=v.target, verdict=v.verdict.value, summary=safe(v.summary()),
                                evidence=tuple(ev), vanished=tuple(gone.get(v.target, ())),
                                vanished_total=gone_total.get(v.target, 0), timeline=tl, chart=chart,
                                chart_start=start, chart_end=end))
    states = store.states([s.name for s in config.sources])
    health = []
    for s in config.sources:
        st = states.get(s.name)
        health.append(SourceHealth(
            name=s.name, kind=s.kind, authority=s.authority.value, url=s.url_display, configured=s.configured,
            last_outcome=(st.last_outcome if st else None) if s.configured else "not_configured",
            last_status=st.last_status if st else None, last_probe_at=st.last_probe_at if st else None,
            last_ok_at=st.last_ok_at if st else None, failure_streak=st.failure_streak if st else 0,
            # an answer's note ("HTTP 304 Not Modified since the last probe") is no error
            last_error=safe(st.last_error)[:500] or None if st and _failed(st.last_outcome) else None,
            live=live_per_source.get(s.name, 0)))
    return Report(generated_at=now, database=redact_url(store.url), version=__version__, targets=tuple(out),
                  sources=tuple(health), signals_total=signals_total, runs_total=runs_total)


def _evidence(r: dict[str, Any]) -> EvidenceRow:
    return EvidenceRow(id=r["id"], source=r["source"], url=r["url"], authority=r["authority"], level=r["level"],
                       evidence_type=r["evidence_type"], model_id=r["model_id"], excerpt=safe(r["excerpt"]),
                       location=safe(r["location"]), published=r["published"], first_seen=r["first_seen"],
                       last_seen=r["last_seen"], vanished_at=r["vanished_at"])


def _chart(tl: Timeline, now: datetime) -> tuple[datetime | None, datetime | None, tuple[ChartRow, ...]]:
    """One row per source, a mark where each level first appeared, on a scale from the first mark to now."""
    if not tl.entries:
        return None, None, ()
    start = tl.entries[0].first_seen
    end = max(now, tl.entries[-1].first_seen)
    span = (end - start).total_seconds() or 1.0
    rows: dict[str, list[ChartMark]] = {}
    auth: dict[str, str] = {}
    for e in tl.entries:
        rows.setdefault(e.source, []).append(
            ChartMark(e.level, e.first_seen, round(100 * (e.first_seen - start).total_seconds() / span, 2)))
        auth[e.source] = e.authority
    return start, end, tuple(ChartRow(name, auth[name], tuple(marks)) for name, marks in rows.items())


def render_report(data: Report, templates_dir: Path | None = None) -> str:
    """The report as one self-contained HTML page: no script, no external style, font or image."""
    import jinja2

    loaders: list[jinja2.BaseLoader] = [jinja2.FileSystemLoader(TEMPLATES)]
    if templates_dir:
        loaders.insert(0, jinja2.FileSystemLoader(str(templates_dir)))
    # Compiling the template is a fifth of a `watcher report`; Jinja's own cache (a private folder per
    # user in the temp dir, keyed by the template's source checksum) keeps the compiled code.
    env = jinja2.Environment(loader=jinja2.ChoiceLoader(loaders), autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True, bytecode_cache=_bytecode_cache(jinja2))
    env.filters["utc"] = lambda dt, seconds=False: dt.strftime(
        "%Y-%m-%d %H:%M:%S UTC" if seconds else "%Y-%m-%d %H:%M UTC") if dt else "–"
    env.filters["iso"] = iso
    env.filters["href"] = _href
    env.filters["since"] = _since
    return env.get_template(REPORT_TEMPLATE).render(report=data)


def _bytecode_cache(jinja2: Any) -> Any:
    try:
        return jinja2.FileSystemBytecodeCache()
    except (OSError, RuntimeError):  # no usable temp dir: compile every time, as before
        return None


def _href(url: str | None) -> str | None:
    """Only http(s) URLs become links (a configured `javascript:` URL stays text); a raw GitHub file
    or a docs `.md` twin links to the page a person reads (see links.py)."""
    return human_link(url) if url and urlsplit(url).scheme in ("http", "https") else None


def _since(dt: datetime, start: datetime) -> str:
    """'+3 d 4 h' after `start`, for the timeline."""
    return offset(dt - start)


# ---------------------------------------------------------------------------------- feed
ATOM = "http://www.w3.org/2005/Atom"
TAG = "tag:release-evidence-watcher.invalid,2026:"  # ids stay the same across runs, prunes and hosts
_NOTICE_TITLES = {
    "release": "{target}: first-party evidence (confirmed) from {source}",
    "corroboration": "{target}: corroborated by {source}",
    "mentioned": "{target}: mentioned in first-party prose at {source}",
    "withdrawn": "{target}: evidence withdrawn at {source}",
    "discovered": "{target}: new model in family {family}",
}


def atom_feed(store: Store, *, limit: int = 100, target: str | None = None, now: datetime | None = None) -> bytes:
    """An Atom feed of the newest evidence (signals) and notices, newest first, `limit` of each at most."""
    from xml.etree import ElementTree as ET

    now = now or utcnow()
    target = target.lower() if target else None
    signals = [asdict(r) for r in newest_signals(store, limit=limit, target=target)]
    notice_rows = [asdict(r) for r in newest_notices(store, limit=limit * 4, target=target)]
    entries: list[tuple[datetime, Any]] = []
    for r in signals:
        updated = max(r["first_seen"], r["vanished_at"] or r["first_seen"])
        gone = f" (vanished {iso(r['vanished_at'])})" if r["vanished_at"] else ""
        where = safe(r["location"])
        where = where if len(where) <= 80 else where[:79] + "…"
        title = (f"{r['target']}: {r['level']} at {r['source']} ({r['evidence_type']}: {where})"
                 f"{' – vanished' if gone else ''}")
        text = "\n".join([safe(r["excerpt"]), "", f"source: {r['source']} ({r['authority']})", f"url: {r['url']}",
                          f"model id: {r['model_id']}", f"location: {safe(r['location'])}",
                          f"first seen: {iso(r['first_seen'])}", f"last seen: {iso(r['last_seen'])}{gone}",
                          f"signal id: {r['id']} (watcher explain {r['id']})"])
        eid = f"{TAG}signal/{quote(r['source'], safe='')}/{r['key_hash']}/{r['first_seen']:%Y%m%dT%H%M%S%fZ}"
        entries.append((updated, dict(id=eid, title=title, updated=updated, published=r["first_seen"],
                                      link=_href(r["url"]), text=text, category=r["level"])))
    by_key: dict[str, dict[str, Any]] = {}
    for r in notice_rows:  # one entry per notice, whatever the number of channels it went to
        e = by_key.setdefault(r["key"], dict(r, channels=[]))
        e["channels"].append(f"{r['channel']}: {r['state']}")
        e["created_at"] = min(e["created_at"], r["created_at"])
    for r in list(by_key.values())[:limit]:
        try:
            payload = json.loads(r["payload"])
        except ValueError:
            payload = {}
        evidence = payload.get("evidence") or []
        first = evidence[0] if evidence and isinstance(evidence[0], dict) else {}
        source = payload.get("source") or first.get("source") or ""
        if r["kind"] == "source_health":
            title = (f"source {source} is down ({payload.get('outcome')})" if payload.get("state") == "down"
                     else f"source {source} answers again")
        else:
            title = _NOTICE_TITLES.get(r["kind"], "{target}: " + r["kind"]).format(
                target=r["target"] or "", source=source, family=payload.get("family", ""))
        lines = [f"notice: {r['kind']}", f"channels: {', '.join(sorted(r['channels']))}"]
        lines += [f"- {e.get('source')}: {e.get('level')} {e.get('evidence_type')}: {safe(e.get('excerpt'))}"
                  for e in evidence if isinstance(e, dict)]
        if payload.get("error"):
            lines.append(f"error: {safe(str(payload['error']))}")
        eid = f"{TAG}notice/{quote(r['key'], safe='')}"
        link = _href(first.get("url") or payload.get("url"))
        entries.append((r["created_at"], dict(id=eid, title=safe(title), updated=r["created_at"],
                                              published=r["created_at"], link=link, text="\n".join(lines),
                                              category=r["kind"])))
    entries.sort(key=lambda e: e[0], reverse=True)

    ET.register_namespace("", ATOM)

    def sub(parent: Any, tag: str, text: str | None = None, **attrs: str) -> Any:
        el = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
        if text is not None:
            el.text = safe(text)
        return el

    feed = ET.Element(f"{{{ATOM}}}feed")
    sub(feed, "id", f"{TAG}feed/{quote(target or 'all', safe='')}")
    sub(feed, "title", f"watcher: release evidence{' for ' + target.lower() if target else ''}")
    sub(feed, "updated", iso(entries[0][0] if entries else now))
    sub(sub(feed, "author"), "name", "watcher")
    sub(feed, "generator", "watcher", version=__version__)
    for _, e in entries:
        entry = sub(feed, "entry")
        sub(entry, "id", e["id"])
        sub(entry, "title", e["title"])
        sub(entry, "updated", iso(e["updated"]))
        sub(entry, "published", iso(e["published"]))
        if e["link"]:
            sub(entry, "link", href=e["link"], rel="alternate")
        sub(entry, "category", term=e["category"])
        sub(entry, "content", e["text"], type="text")
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True) + b"\n"


# ---------------------------------------------------------------------------------- plumbing
def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value
