"""Release notes or a changelog, HTML or Markdown. A dated entry naming the target yields
changelog_entry with the entry's date as `published`; a mention outside any dated entry yields
page_mention.

Entries are delimited by headings (Markdown `#` to `####`, HTML h1 to h4); under a dated heading
(`## 2.13.0 (2025-12-16)`, `<h2>May 5, 2026</h2>`, a <time datetime>) each list item or paragraph
is an entry of its own. The location is the heading path from the dated heading down
(`2.13.0 (2025-12-16) > Features`), which does not move when newer entries are added above it.
"""

from __future__ import annotations

from ..evidence import EvidenceType, Signal, Signals, bounded, clip
from ..targets import Matcher
from . import Anchor, Document, Kind
from ._text import Block, add_mentions, blocks, document_text, find_date, read_blocks

ENTRY_LEVELS = 4  # headings deeper than h4 are text inside an entry
TOP = "(top)"


def _date(heading: Block) -> str | None:
    return heading.date or find_date(heading.text)


def _entry_excerpt(items: list[Block], i: int) -> str:
    """A list item or paragraph is its own entry; a heading that names the model, with what follows."""
    block = items[i]
    if block.kind != "heading":
        return clip(block.text)
    following = next((b.text for b in items[i + 1 :] if b.kind != "heading"), "")
    return clip(f"{block.text}: {following}" if following else block.text)


def parse(doc: Document, matcher: Matcher) -> list[Signal]:
    text = document_text(doc)
    items = blocks(text, doc.content_type)
    found = Signals()
    stack: list[tuple[Block, str | None]] = []  # open headings with their dates
    for i, block in enumerate(items):
        if block.kind == "heading" and block.level <= ENTRY_LEVELS:
            while stack and stack[-1][0].level >= block.level:
                stack.pop()
            stack.append((block, _date(block)))
        hits = list(matcher.find(block.text))
        if not hits:
            continue
        dated = next((j for j in range(len(stack) - 1, -1, -1) if stack[j][1]), None)
        if dated is None or block.kind == "title":
            where = "title" if block.kind == "title" else (clip(stack[-1][0].text, 120) if stack else TOP)
            add_mentions(found, hits, where, block.text)
            continue
        location = " > ".join(clip(h.text, 120) for h, _ in stack[dated:])
        for m in hits:
            found.add(
                m.target,
                m.model_id,
                EvidenceType.CHANGELOG_ENTRY,
                location,
                lambda i=i: _entry_excerpt(items, i),
                published=stack[dated][1],
            )
    return bounded(found.kept)


def anchor(doc: Document) -> Anchor:
    """Dated entries: headings that carry a date."""
    items = read_blocks(doc)
    if items is None:
        return Anchor(False, "a bot-challenge page")
    dates = [d for b in items if b.kind == "heading" and b.level <= ENTRY_LEVELS and (d := _date(b))]
    if not dates:
        return Anchor(False, "changelog: no dated entries")
    return Anchor(True, f"changelog: {len(dates)} dated entries, newest {max(dates)}")


KIND = Kind(
    name="changelog",
    parse=parse,
    anchor=anchor,
    evidence_types=(EvidenceType.CHANGELOG_ENTRY, EvidenceType.PAGE_MENTION),
    reads="release notes or a changelog, HTML or Markdown; `changelog_entry` is a dated entry naming the "
          "target, with its date",
)
