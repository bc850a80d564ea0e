"""A pricing page, HTML or its Markdown twin. A table row (<tr>, an element with role=row, a Markdown
`| a | b |` row) whose model cell (the first: `gpt-5.5 (<272K context length)` names `gpt-5.5`) names
the target yields pricing_row; the target in another cell (a deprecation's replacement) or anywhere
else on the page yields page_mention. Display names (`GPT Image 2`) never count.

A row is located by its table's heading or caption and its first cell (`Image generation >
gpt-image-2`), a mention by its nearest heading. Script, style, comments and attribute values (alt,
title, href) are not the page's text and never count.
"""

from __future__ import annotations

import functools

from ..evidence import EvidenceType, Signal, Signals
from ..targets import Matcher
from ..text import clip
from . import Anchor, Document, Kind
from ._text import add_mentions, blocks, document_text, id_hits, read_blocks

TOP = "(top)"  # where a mention before the first heading is


def parse(doc: Document, matcher: Matcher) -> list[Signal]:
    text = document_text(doc)
    found = Signals()
    heading = ""  # the nearest heading, for mentions
    context = ""  # the nearest heading or table caption, for rows
    for block in blocks(text, doc.content_type):
        if block.kind == "heading":
            heading = context = clip(block.text, 120)
        elif block.kind == "caption":
            context = clip(block.text, 120)
        hits = id_hits(matcher, block.text)
        if not hits:
            continue
        if block.kind == "row" and block.cells:
            key = clip(block.cells[0], 120)
            location = f"{context} > {key}" if context else key
            priced = {m.model_id for m in id_hits(matcher, block.cells[0])}  # the model cell
            for m in hits:
                if m.model_id in priced:
                    found.add(m.target, m.model_id, EvidenceType.PRICING_ROW, location,
                              functools.partial(clip, block.text))
                else:  # named in another column: a deprecation's replacement, a note
                    add_mentions(found, [m], location, block.text)
            continue
        add_mentions(found, hits, "title" if block.kind == "title" else (heading or TOP), block.text)
    return found.kept


def anchor(doc: Document) -> Anchor:
    """Pricing tables: rows of two cells or more."""
    items = read_blocks(doc)
    if items is None:
        return Anchor(False, "a bot-challenge page")
    rows = sum(1 for b in items if b.kind == "row" and len(b.cells) >= 2)
    return Anchor(rows > 0, f"pricing tables: {rows} rows")


KIND = Kind(
    name="pricing_page",
    parse=parse,
    anchor=anchor,
    evidence_types=(EvidenceType.PRICING_ROW, EvidenceType.PAGE_MENTION),
    reads="a pricing page, HTML or Markdown; `pricing_row` is a table row whose model cell names the target",
)
