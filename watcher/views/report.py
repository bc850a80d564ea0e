"""The static HTML report (`watcher report`): verdicts, live and withdrawn evidence, the timeline chart and
source health, read from the database without a probe."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..clock import iso, readable, utcnow
from ..durations import offset
from ..evidence import Authority, Outcome, SignalRow
from ..store import Store, redact_url
from ..store.queries import report_counts
from ..text import safe
from ._common import href as _href
from .timeline import Timeline, timeline

if TYPE_CHECKING:
    from ..config import Config

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
REPORT_TEMPLATE = "report.html.j2"


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
    from ..cycle import all_targets, verdicts

    now = now or utcnow()
    live = store.live_signals([t.id for t in all_targets(config, store) if t.id])  # read once, used twice
    vs = verdicts(config, store, live=live)
    targets = [v.target for v in vs]
    live_by: dict[str, list[EvidenceRow]] = {t: [] for t in targets}
    live_per_source: Counter[str] = Counter()
    for r in live:
        live_by.setdefault(r.target, []).append(_live_evidence(r))
    counts = report_counts(store, targets, vanished_shown=VANISHED_SHOWN)
    live_per_source.update(counts.live_per_source)
    # vars(), not asdict(): asdict deep-copies every value of every row
    gone = {t: [_evidence(vars(r)) for r in rows] for t, rows in counts.vanished.items()}
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


def _live_evidence(r: SignalRow) -> EvidenceRow:
    """A live signal (as the verdicts read it) as the report shows it."""
    assert r.id is not None and r.last_seen is not None  # read from the table, so it has them
    return EvidenceRow(id=r.id, source=r.source, url=r.url, authority=r.authority, level=r.level,
                       evidence_type=r.evidence_type, model_id=r.model_id, excerpt=safe(r.excerpt),
                       location=safe(r.location), published=r.published, first_seen=r.first_seen,
                       last_seen=r.last_seen, vanished_at=None)


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
    env.filters["utc"] = _utc
    env.filters["iso"] = iso
    env.filters["href"] = _href
    env.filters["since"] = _since
    return env.get_template(REPORT_TEMPLATE).render(report=data)


def _utc(dt: datetime | None, seconds: bool = False) -> str:
    """A stored time as `2026-05-01 12:00 UTC`, or a dash."""
    return readable(dt, seconds) if dt else "–"


def _bytecode_cache(jinja2: Any) -> Any:
    try:
        return jinja2.FileSystemBytecodeCache()
    except (OSError, RuntimeError):  # no usable temp dir: compile every time, as before
        return None



def _since(dt: datetime, start: datetime) -> str:
    """'+3 d 4 h' after `start`, for the timeline."""
    return offset(dt - start)
