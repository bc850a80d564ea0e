"""A model's own docs page, HTML or its Markdown twin (the source's `{target}` is the page's model).
When the page's <title>, its first h1 (the first Markdown `#` heading) or a `Model ID: gpt-image-2`
line names the target as an id, that yields model_page; other mentions yield page_mention. Display
names (`# GPT-Image-2`) never count. A page that names nothing is an answer too: absent.

Locations are `title`, `h1`, `model-id`, or for a mention its nearest heading.
"""

from __future__ import annotations

import functools
import re

from ..evidence import EvidenceType, Signal, Signals
from ..targets import Matcher
from ..text import clip
from . import Anchor, Document, Kind
from ._text import blocks, document_text, id_hits, read_blocks, snippet

# The label of the id line; what follows it (the id) is the matcher's business.
_MODEL_ID_LABEL = re.compile(r"\bmodel[\s_-]*id\b[\s:：|=`'\"]*", re.IGNORECASE)
TOP = "(top)"


def _id_positions(text: str) -> set[int]:
    """Offsets where a value right after a `Model ID` label starts."""
    return {m.end() for m in _MODEL_ID_LABEL.finditer(text)}


def _is_label(text: str) -> bool:
    """A block that is only the label (<dt>Model ID</dt>), whose value is the next block."""
    m = _MODEL_ID_LABEL.match(text)
    return m is not None and m.end() == len(text)


def parse(doc: Document, matcher: Matcher) -> list[Signal]:
    text = document_text(doc)
    own = doc.target.lower() if doc.target else None  # without one, any target the page is about
    found = Signals()
    heading = ""
    seen_h1 = False
    after_label = False
    for block in blocks(text, doc.content_type):
        slot: str | None = None
        if block.kind == "title":
            slot = "title"
        elif block.kind == "heading":
            heading = block.text
            if block.level == 1 and not seen_h1:
                seen_h1 = True
                slot = "h1"
        id_starts = _id_positions(block.text) | ({0} if after_label else set())
        after_label = _is_label(block.text)
        for m in id_hits(matcher, block.text):  # `# GPT-Image-1.5` is a display name
            where = slot or ("model-id" if m.start in id_starts else None)
            if where is not None and (own is None or m.target == own):
                kind, location = EvidenceType.MODEL_PAGE, where
            else:
                kind, location = EvidenceType.PAGE_MENTION, slot or heading or TOP
            found.add(m.target, m.model_id, kind, location, functools.partial(snippet, block.text, m.start, m.end))
    return found.kept


def anchor(doc: Document) -> Anchor:
    """A model page's own name: its <title>, first h1, or a `Model ID` line."""
    items = read_blocks(doc)
    if items is None:
        return Anchor(False, "a bot-challenge page")
    parts: list[str] = []
    for b in items:
        if b.kind == "title" and not any(p.startswith("title") for p in parts):
            parts.append(f"title {clip(b.text, 60)!r}")
        elif b.kind == "heading" and b.level == 1 and not any(p.startswith("h1") for p in parts):
            parts.append(f"h1 {clip(b.text, 60)!r}")
        elif _MODEL_ID_LABEL.search(b.text) and not any(p.startswith("Model ID") for p in parts):
            parts.append("Model ID line")
    return Anchor(bool(parts), "model page: " + (", ".join(parts) if parts else "no title, h1 or Model ID line"))


KIND = Kind(
    name="model_page",
    parse=parse,
    anchor=anchor,
    evidence_types=(EvidenceType.MODEL_PAGE, EvidenceType.PAGE_MENTION),
    reads="the model's own docs page; `model_page` is the id in its title, main heading or `Model ID:` line",
    not_found_is_absent=True,  # /models/{target}: no page for that model yet
)
