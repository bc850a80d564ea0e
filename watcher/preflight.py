"""`watcher sources --check`: probe each configured source once, store nothing, and say whether its
document still has the structure its kind's parser anchors on.

A stale URL (a branch renamed, a page moved) or a format change shows here at setup time, instead of
later as a false withdrawal. Uses the real Fetcher and the kind's own `anchor` and `parse`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

from .config import Config, SourceConfig
from .errors import ParseError
from .evidence import Level, Outcome
from .fetch import Fetcher
from .sources import Document, get
from .targets import Matcher, Target


@dataclass(frozen=True)
class SourceCheck:
    """What one probe of one source found."""

    source: str
    kind: str
    outcome: Outcome
    status: int | None
    bytes_read: int
    anchor_found: bool
    anchor: str  # the anchor's summary, or why there is none
    confirmed: tuple[str, ...] = ()  # targets the document confirms today
    mentioned: tuple[str, ...] = ()
    skipped: bool = False  # not configured (a key not set): not probed, not a failure

    @property
    def ok(self) -> bool:
        return self.skipped or self.anchor_found


def check_source(source: SourceConfig, targets: Sequence[Target], fetcher: Fetcher) -> SourceCheck:
    kind = get(source.kind)
    if not source.configured:
        return SourceCheck(source.name, source.kind, Outcome.NOT_CONFIGURED, None, 0, False,
                           f"not configured: set {', '.join(source.missing_env)}", skipped=True)
    result = fetcher.fetch(source)
    head = SourceCheck(source.name, source.kind, result.outcome, result.status, result.bytes_read, False,
                       result.error or result.outcome.value)
    if result.outcome is Outcome.NOT_FOUND and kind.not_found_is_absent and source.target:
        # GET /v1/models/{id}, a model's page: "no such model (yet)" is an answer, not a broken source
        return replace(head, anchor_found=True, anchor=f"no page for {source.target} (yet): absent")
    if result.outcome is not Outcome.OK or result.body is None:
        return head
    doc = Document(body=result.body, url=source.url_display, status=result.status or 200,
                   content_type=result.content_type, target=source.target)
    found = kind.anchor(doc)
    own = [Target(id=source.target)] if source.target else list(targets)
    try:
        signals = kind.parse(doc, Matcher(own))
    except ParseError as exc:
        return replace(head, outcome=Outcome.PARSE_ERROR, anchor=f"{found.summary}; parse_error: {exc}")
    confirmed = tuple(sorted({s.target for s in signals if s.level is Level.CONFIRMED}))
    mentioned = tuple(sorted({s.target for s in signals if s.level is Level.MENTIONED} - set(confirmed)))
    return replace(head, anchor_found=found.found, anchor=found.summary, confirmed=confirmed, mentioned=mentioned)


def check_sources(config: Config, fetcher: Fetcher, names: Sequence[str] = ()) -> Iterator[SourceCheck]:
    """Each configured source (or only `names`), probed once, in the config's order."""
    for source in config.sources:
        if not names or source.name in names or source.name.split("/", 1)[0] in names:
            yield check_source(source, config.targets, fetcher)
