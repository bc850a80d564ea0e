"""The registry of source kinds: each `sources/<kind>.py` declares itself once as `KIND = Kind(...)`.

A kind is a pure parser (`Document`, `Matcher` -> signals) plus what the rest of watcher needs to know
about it: the evidence types it yields, the config keys it accepts, and its *anchor*, the structure
the parser relies on (the `ImageModel` alias, the changelog's dated entries), which tells a document
that no longer names the target ("absent") from one whose format changed ("broken").

Names are found by listing the package's modules (`_`-prefixed ones are helpers), so `names()` imports
no parser; a kind's module is imported the first time `get()` asks for it. A parser raises ParseError
only when the document truly does not parse; that is recorded as `parse_error`, never as absence.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
import sys
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import UnknownKindError
from ..evidence import EvidenceType, Level, Signal
from ..targets import Matcher


@dataclass(frozen=True)
class Document:
    """A fetched document as a parser sees it."""

    body: bytes
    url: str = ""
    status: int = 200
    content_type: str | None = None
    target: str | None = None  # the source's own target when its URL names {target}


Parser = Callable[[Document, Matcher], list[Signal]]


@dataclass(frozen=True)
class Anchor:
    """Whether a document still has the structure its kind's parser relies on."""

    found: bool  # the structure is there: a document without the target there means "absent"
    summary: str  # for people: "ImageModel alias: 7 ids", "changelog: 183 dated entries, newest 2026-07-22"


@dataclass(frozen=True)
class Option:
    """An extra `[[sources]]` key a kind accepts. `check` returns the value to keep, or raises
    ValueError whose message says what is allowed."""

    name: str
    check: Callable[[object], object]
    help: str = ""


@dataclass(frozen=True)
class Kind:
    """One source kind, as its module declares it."""

    name: str
    parse: Parser
    anchor: Callable[[Document], Anchor]  # cheap-ish and never raises; used to tell absent from broken
    evidence_types: tuple[EvidenceType, ...]
    reads: str = ""  # what documents it reads, for `watcher kinds` and the README table
    options: tuple[Option, ...] = ()
    # A 404 means "no such model" rather than a broken source. Only ever true of kinds whose URL names
    # `{target}` (GET /v1/models/{id}, a model's page), and only for such sources.
    not_found_is_absent: bool = False

    @property
    def description(self) -> str:
        """The first paragraph of the kind module's docstring."""
        doc = sys.modules[self.parse.__module__].__doc__ or ""
        return " ".join(doc.strip().split("\n\n", 1)[0].split())

    def evidence(self, level: Level) -> tuple[EvidenceType, ...]:
        return tuple(t for t in self.evidence_types if t.level is level)

    def option(self, name: str) -> Option | None:
        return next((o for o in self.options if o.name == name), None)


@functools.cache
def names() -> tuple[str, ...]:
    """Every kind's name, sorted, without importing any parser."""
    return tuple(sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")))


def get(name: str) -> Kind:
    """The kind called `name`, its module imported on first use."""
    if name not in names():
        raise UnknownKindError(f"unknown source kind {name!r}; known: {', '.join(names())}")
    kind = importlib.import_module(f"{__name__}.{name}").KIND
    if not isinstance(kind, Kind) or kind.name != name:  # a module that forgot to declare itself
        raise UnknownKindError(f"watcher.sources.{name} does not declare KIND = Kind(name={name!r}, ...)")
    return kind


def parser(kind: str) -> Parser:
    return get(kind).parse


def describe(kind: str) -> str:
    """The first paragraph of the kind's module docstring, for `watcher kinds` and the README."""
    return get(kind).description


def table() -> str:
    """The README's kinds table, from the registry (a test keeps the README equal to it)."""

    def types(kind: Kind, level: Level) -> str:
        return ", ".join(f"`{t.value}`" for t in kind.evidence(level))

    rows = ["| kind | reads | confirmed evidence | mentioned evidence |", "| --- | --- | --- | --- |"]
    for name in names():
        k = get(name)
        rows.append(f"| `{name}` | {k.reads} | {types(k, Level.CONFIRMED)} | {types(k, Level.MENTIONED)} |")
    return "\n".join(rows)
