"""The vocabulary of evidence: authorities, outcomes, levels, evidence types, signals, verdicts.

Pure values; nothing here touches the network or the database.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime


class Authority(str, enum.Enum):
    FIRST_PARTY = "first_party"
    CONSUMER = "consumer"
    THIRD_PARTY = "third_party"


class Outcome(str, enum.Enum):
    """How one probe ended. Exactly one per probe."""

    OK = "ok"
    NOT_MODIFIED = "not_modified"
    # A per-target URL of a kind whose 404 means "no such model" (GET /v1/models/{id}, a model's page).
    ABSENT = "absent"
    # Broken, not absent: the source could not show what it holds, so its evidence stays as it was.
    NOT_FOUND = "not_found"  # 404 or 410 for a document that should exist (a moved file, a renamed branch)
    EMPTY = "empty"  # 200 with an empty body
    TRUNCATED = "truncated"  # the body ended before its Content-Length or last chunk
    FORMAT_CHANGED = "format_changed"  # 200, but the structure the parser anchors on is gone (a re-export)
    BLOCKED = "blocked"
    HTTP_ERROR = "http_error"
    NETWORK_ERROR = "network_error"
    TIMEOUT = "timeout"
    TOO_LARGE = "too_large"
    REDIRECTED_OFF_SOURCE = "redirected_off_source"
    PARSE_ERROR = "parse_error"
    NOT_CONFIGURED = "not_configured"

    @property
    def answered(self) -> bool:
        """Only these outcomes may say that a target is absent at a source."""
        return self in ANSWERED

    @property
    def failed(self) -> bool:
        """The source could not be read (not_configured is not watched, so it is not a failure)."""
        return not self.answered and self is not Outcome.NOT_CONFIGURED


ANSWERED = frozenset({Outcome.OK, Outcome.NOT_MODIFIED, Outcome.ABSENT})


class Level(str, enum.Enum):
    CONFIRMED = "confirmed"  # the source lists the id as something you can use
    MENTIONED = "mentioned"  # the source names the id in prose only


class EvidenceType(str, enum.Enum):
    MODEL_LIST_ENTRY = "model_list_entry"
    MODEL_RETRIEVE = "model_retrieve"
    SPEC_VALUE = "spec_value"
    SPEC_MENTION = "spec_mention"
    SDK_VALUE = "sdk_value"
    SDK_MENTION = "sdk_mention"
    PRICING_ROW = "pricing_row"
    CHANGELOG_ENTRY = "changelog_entry"
    MODEL_PAGE = "model_page"
    FEED_ENTRY = "feed_entry"
    API_EXAMPLE = "api_example"  # a guide's code example sets `model` to the id
    MODEL_LISTED = "model_listed"  # an index of model pages links the id's page
    PAGE_MENTION = "page_mention"

    @property
    def level(self) -> Level:
        return _LEVELS[self]


_LEVELS = {
    EvidenceType.MODEL_LIST_ENTRY: Level.CONFIRMED,
    EvidenceType.MODEL_RETRIEVE: Level.CONFIRMED,
    EvidenceType.SPEC_VALUE: Level.CONFIRMED,
    EvidenceType.SPEC_MENTION: Level.MENTIONED,
    EvidenceType.SDK_VALUE: Level.CONFIRMED,
    EvidenceType.SDK_MENTION: Level.MENTIONED,
    EvidenceType.PRICING_ROW: Level.CONFIRMED,
    EvidenceType.CHANGELOG_ENTRY: Level.CONFIRMED,
    EvidenceType.MODEL_PAGE: Level.CONFIRMED,
    EvidenceType.FEED_ENTRY: Level.CONFIRMED,
    EvidenceType.API_EXAMPLE: Level.CONFIRMED,
    EvidenceType.MODEL_LISTED: Level.CONFIRMED,
    EvidenceType.PAGE_MENTION: Level.MENTIONED,
}

# Bounds that keep a hostile page (the target named ten thousand times) from flooding the store.
SIGNALS_PER_TYPE_MAX = 20


@dataclass(frozen=True)
class Signal:
    """One piece of evidence that a parser found in one document.

    `target` is the watched id; `model_id` is what the document actually says (the target itself
    or one of its dated snapshots). `location` says where: a JSON path, a line, a table row.
    """

    target: str
    model_id: str
    evidence_type: EvidenceType
    excerpt: str
    location: str
    published: str | None = None  # a date the document gives (a changelog entry's), ISO 8601

    @property
    def level(self) -> Level:
        return self.evidence_type.level

    @property
    def key(self) -> tuple[str, str, str, str]:
        """What makes two sightings the same evidence, cycle after cycle."""
        return (self.target, self.evidence_type.value, self.location, self.model_id)


@dataclass(frozen=True, slots=True)
class SignalRow:
    """One stored piece of evidence as it travels from the store to the decider and the notices: the
    signal, where it was seen (source name, url, authority) and since when. Plain strings, as stored."""

    source: str  # the source's name
    target: str
    model_id: str
    level: str  # a Level's value
    evidence_type: str  # an EvidenceType's value
    excerpt: str
    location: str
    url: str
    authority: str  # an Authority's value
    first_seen: datetime
    id: int | None = None  # the row's id; None for a row this probe is inserting
    published: str | None = None  # the date the source gives for it, when it gives one
    last_seen: datetime | None = None  # the last answer that showed it

    @property
    def confirmed(self) -> bool:
        return self.level == Level.CONFIRMED.value


class Verdict(str, enum.Enum):
    CONFIRMED = "confirmed"
    MENTIONED = "mentioned"
    NO_EVIDENCE = "no_evidence"
    UNKNOWN = "unknown"


class Signals:
    """Collects a parser's signals, keeping at most SIGNALS_PER_TYPE_MAX per target and type and
    dropping repeats of a key, as it goes.

    The excerpt may be given as a function: it is built only for a signal that is kept, so a page
    naming the target ten thousand times costs ten thousand matches, not ten thousand excerpts.
    """

    def __init__(self) -> None:
        self.kept: list[Signal] = []
        self._keys: set[tuple[str, str, str, str]] = set()
        self._per_type: dict[tuple[str, EvidenceType], int] = {}

    def add(self, target: str, model_id: str, evidence_type: EvidenceType, location: str,
            excerpt: str | Callable[[], str], published: str | None = None) -> None:
        key = (target, evidence_type.value, location, model_id)
        if key in self._keys or self._per_type.get((target, evidence_type), 0) >= SIGNALS_PER_TYPE_MAX:
            return
        self._keys.add(key)
        self._per_type[(target, evidence_type)] = self._per_type.get((target, evidence_type), 0) + 1
        text = excerpt() if callable(excerpt) else excerpt
        self.kept.append(Signal(target, model_id, evidence_type, text, location, published))

