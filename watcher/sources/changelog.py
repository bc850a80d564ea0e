"""Release notes or a changelog, HTML or Markdown. A dated entry naming the target as an id yields
changelog_entry with the entry's date as `published`; a mention outside any dated entry yields
page_mention. Display names (`GPT-Image-2`, "GPT-6 Sol") never count.

Entries are delimited by headings (Markdown `#` to `####`, HTML h1 to h4). A heading is dated when it
carries a full date (`## 2.13.0 (2025-12-16)`, `<h2>May 5, 2026</h2>`, a <time datetime>) or when it
is a day (`### Apr 21`) under a month heading (`## April, 2026`), as on OpenAI's docs changelog; the
same day may head several entries. Such an entry may open with a tag line (`Feature · Model:
gpt-image-2 · API: v1/images/generations`), whose `Model:` tags are the entry's models.

The location is the path from the dated heading down (`2.13.0 (2025-12-16) > Features`); a day
heading is written as its ISO date followed by the entry's first tag (`2026-04-21 > Feature`). Neither
moves when newer entries are added above.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from ..evidence import EvidenceType, Signal, Signals
from ..targets import Matcher
from ..text import clip
from . import Anchor, Document, Kind
from ._text import Block, add_mentions, blocks, day_in, document_text, find_date, id_hits, month_year, read_blocks

ENTRY_LEVELS = 4  # headings deeper than h4 are text inside an entry
TOP = "(top)"
_TAG_SEP = "·"


@dataclass(frozen=True)
class _Heading:
    block: Block
    date: str | None  # the date this heading gives its entries
    label: str  # how the location names it: its text, or the ISO date of a bare day heading
    year: int | None  # a month heading's year, for the day headings under it


@dataclass(frozen=True)
class TagLine:
    """An entry's first line of tags: `Feature · Model: gpt-image-2 · API: v1/images/edits`."""

    category: str
    models: tuple[str, ...]


def tag_line(text: str) -> TagLine | None:
    """The tag line, when `text` is one: a one-word category, then `Key: value` tags."""
    parts = [p.strip() for p in text.split(_TAG_SEP)]
    category = parts[0]
    if not category or len(category) > 24 or not category.replace("-", "").isalpha():
        return None
    models: list[str] = []
    for part in parts[1:]:
        key, sep, value = part.partition(":")
        if not sep or not key.strip() or not value.strip() or len(key) > 24:
            return None
        if key.strip().lower() == "model":
            models.append(value.strip())
    return TagLine(category, tuple(models))


def _heading(block: Block, stack: list[_Heading]) -> _Heading:
    full = block.date or find_date(block.text)
    if full:
        return _Heading(block, full, clip(block.text, 120), int(full[:4]))
    my = month_year(block.text)
    if my:
        return _Heading(block, None, clip(block.text, 120), my[0])
    year = next((h.year for h in reversed(stack) if h.year is not None), None)
    day = day_in(block.text, year) if year is not None else None
    if day:
        return _Heading(block, day, day, year)
    return _Heading(block, None, clip(block.text, 120), None)


def _excerpt(items: list[Block], i: int, tags: Block | None) -> str:
    """The block naming the model; a tag line or heading with the text that follows it."""
    block = items[i]
    if block.kind != "heading" and block is not tags:
        return clip(block.text)
    following = next((b.text for b in items[i + 1 :] if b.kind not in ("heading",) and b is not block), "")
    return clip(f"{block.text}: {following}" if following else block.text)


def parse(doc: Document, matcher: Matcher) -> list[Signal]:
    text = document_text(doc)
    items = blocks(text, doc.content_type)
    found = Signals()
    stack: list[_Heading] = []  # open headings
    tags: Block | None = None  # the current entry's tag line
    category = ""
    for i, block in enumerate(items):
        if block.kind == "heading" and block.level <= ENTRY_LEVELS:
            while stack and stack[-1].block.level >= block.level:
                stack.pop()
            stack.append(_heading(block, stack))
            tags, category = None, ""
        elif tags is None and stack and stack[-1].block is items[i - 1] and stack[-1].date and not category:
            line = tag_line(block.text)
            if line is not None:
                tags, category = block, line.category
        dated = next((j for j in range(len(stack) - 1, -1, -1) if stack[j].date), None)
        if block is tags:
            line = tag_line(block.text)
            assert line is not None
            # a tag is an id; `Model: GPT-Image-2` would be a display name, as anywhere else
            hits = [m for m in (matcher.match_value(v) for v in line.models if v == v.lower()) if m is not None]
        else:
            hits = id_hits(matcher, block.text)
        if not hits:
            continue
        if dated is None or block.kind == "title":
            where = "title" if block.kind == "title" else (stack[-1].label if stack else TOP)
            add_mentions(found, hits, where, block.text)
            continue
        path = [h.label for h in stack[dated:]]
        if category and stack[dated].label == stack[dated].date:  # a bare day: its tag tells entries apart
            path.insert(1, category)
        location = " > ".join(path)
        for m in hits:
            found.add(m.target, m.model_id, EvidenceType.CHANGELOG_ENTRY, location,
                      functools.partial(_excerpt, items, i, tags), published=stack[dated].date)
    return found.kept


def anchor(doc: Document) -> Anchor:
    """Dated entries: headings that carry a date, or day headings under a month heading."""
    items = read_blocks(doc)
    if items is None:
        return Anchor(False, "a bot-challenge page")
    stack: list[_Heading] = []
    dates: list[str] = []
    for block in items:
        if block.kind == "heading" and block.level <= ENTRY_LEVELS:
            while stack and stack[-1].block.level >= block.level:
                stack.pop()
            stack.append(_heading(block, stack))
            if stack[-1].date:
                dates.append(stack[-1].date)
    if not dates:
        return Anchor(False, "changelog: no dated entries")
    return Anchor(True, f"changelog: {len(dates)} dated entries, newest {max(dates)}")


KIND = Kind(
    name="changelog",
    parse=parse,
    anchor=anchor,
    evidence_types=(EvidenceType.CHANGELOG_ENTRY, EvidenceType.PAGE_MENTION),
    reads="release notes or a changelog, HTML or Markdown (`## April, 2026` + `### Apr 21` is a date); "
          "`changelog_entry` is a dated entry whose text or `Model:` tags name the target, with its date",
)
