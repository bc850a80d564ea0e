"""When each source first showed a target at each level (`watcher timeline`, the report's chart)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from ..evidence import Authority, Level
from ..store import Store
from ..store.queries import first_sightings
from ._common import jsonable as _jsonable


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
