"""The registry of source kinds: each kind is a module with a pure `parse(doc, matcher)`.

A parser turns one fetched document into signals and touches no network and no database. It raises
ParseError only when the document truly does not parse; that is recorded as `parse_error`, never
as absence. Modules are imported on first use, so a run pays only for the kinds it has.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

from ..evidence import Signal
from ..targets import Matcher

# kind -> module under watcher.sources; the config validates kinds against this table's keys.
KINDS: dict[str, str] = {
    "models_api": "models_api",
    "openapi_spec": "openapi_spec",
    "sdk_types": "sdk_types",
    "pricing_page": "pricing_page",
    "changelog": "changelog",
    "model_page": "model_page",
    "feed": "feed",
}


@dataclass(frozen=True)
class Document:
    """A fetched document as a parser sees it."""

    body: bytes
    url: str = ""
    status: int = 200
    content_type: str | None = None
    target: str | None = None  # the source's own target when its URL names {target}


Parser = Callable[[Document, Matcher], list[Signal]]


def module(kind: str) -> ModuleType:
    try:
        name = KINDS[kind]
    except KeyError:
        raise KeyError(f"unknown source kind {kind!r}; known: {', '.join(KINDS)}") from None
    return importlib.import_module(f"{__name__}.{name}")


def parser(kind: str) -> Parser:
    return module(kind).parse  # type: ignore[no-any-return]


def describe(kind: str) -> str:
    """The first paragraph of the kind's module docstring, for `watcher kinds` and the README."""
    doc = module(kind).__doc__ or ""
    return doc.strip().split("\n\n", 1)[0].replace("\n", " ")
