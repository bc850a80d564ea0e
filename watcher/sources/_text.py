"""Shared reading for the parsers: HTML and Markdown as a list of blocks, dates, excerpts, mentions.

Decoding, sanitising and `is_html` live in `watcher.text`, challenge detection in `watcher.challenge`.
Pure: no I/O. Nothing here raises on any input except `document_text`, which refuses a bot-challenge
page with ParseError so that a block page is never read as "answered, absent".
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import warnings
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, TypeGuard

if TYPE_CHECKING:
    from bs4.element import CData, NavigableString, Tag
else:  # bound by _bs4() when the first HTML page is parsed (every node these helpers see comes from one)
    CData = NavigableString = Tag = None

from ..challenge import is_challenge
from ..errors import ParseError
from ..evidence import EvidenceType, Signals
from ..targets import Match, Matcher
from ..text import clip, decode, is_html
from . import Document

# --- bot challenges ---------------------------------------------------------------------------


def read_blocks(doc: Document) -> list[Block] | None:
    """The document's blocks for an anchor check; None for a challenge page."""
    text = decode(doc.body, doc.content_type)
    return None if is_challenge(text) else blocks(text, doc.content_type)


def document_text(doc: Document) -> str:
    """The decoded body of a text document; a challenge page is not the document, so ParseError."""
    text = decode(doc.body, doc.content_type)
    if is_challenge(text):
        raise ParseError("the body is a bot-challenge page, not the document")
    return text


# --- excerpts ---------------------------------------------------------------------------------


def snippet(text: str, start: int, end: int, before: int = 160, after: int = 200) -> str:
    """An excerpt of `text` around [start, end), white space collapsed, cut at word boundaries."""
    lo = max(0, start - before)
    hi = min(len(text), end + after)
    if lo > 0:
        space = text.find(" ", lo, start)
        lo = space + 1 if space != -1 else lo
    if hi < len(text):
        space = text.rfind(" ", end, hi)
        hi = space if space != -1 else hi
    out = clip(text[lo:hi])
    return ("…" if lo > 0 else "") + out + ("…" if hi < len(text) else "")


# --- dates ------------------------------------------------------------------------------------

_MONTHS = {
    name: i
    for i, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ],
        start=1,
    )
    for name in names
}
_MONTH_RE = "|".join(sorted(_MONTHS, key=len, reverse=True))
_ISO_DATE = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")
_MDY = re.compile(rf"\b({_MONTH_RE})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})\b", re.IGNORECASE)
_DMY = re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+({_MONTH_RE})\.?,?\s+(\d{{4}})\b", re.IGNORECASE)


def _iso(year: str, month: int, day: str) -> str | None:
    try:
        return dt.date(int(year), month, int(day)).isoformat()
    except ValueError:
        return None


def find_date(text: str) -> str | None:
    """The first calendar date written in `text`, as ISO 8601 (`2026-05-05`), or None.

    Understands `2026-05-05`, `(2025-12-16)`, `May 5, 2026`, `Dec 16, 2025`, `5 May 2026`.
    """
    found: list[tuple[int, str]] = []
    for m in _ISO_DATE.finditer(text):
        iso = _iso(m.group(1), int(m.group(2)), m.group(3))
        if iso:
            found.append((m.start(), iso))
            break
    for pattern, order in ((_MDY, (3, 1, 2)), (_DMY, (3, 2, 1))):
        for m in pattern.finditer(text):
            year, month, day = (m.group(i) for i in order)
            iso = _iso(year, _MONTHS[month.lower()], day)
            if iso:
                found.append((m.start(), iso))
                break
    return min(found)[1] if found else None


_MONTH_YEAR = re.compile(rf"^\W*({_MONTH_RE})\.?,?\s+(\d{{4}})\W*$", re.IGNORECASE)
_MONTH_DAY = re.compile(rf"^\W*(?:({_MONTH_RE})\.?\s+(\d{{1,2}})|(\d{{1,2}})\s+({_MONTH_RE})\.?)(?:st|nd|rd|th)?\W*$",
                        re.IGNORECASE)


def month_year(text: str) -> tuple[int, int] | None:
    """(year, month) of a heading that is only a month and a year: `April, 2026`, `Apr 2026`."""
    m = _MONTH_YEAR.match(text)
    return (int(m.group(2)), _MONTHS[m.group(1).lower()]) if m else None


def day_in(text: str, year: int) -> str | None:
    """A heading that is only a month and a day (`Apr 21`, `21 April`), as an ISO date in `year`."""
    m = _MONTH_DAY.match(text)
    if not m:
        return None
    month, day = (m.group(1), m.group(2)) if m.group(1) else (m.group(4), m.group(3))
    return _iso(str(year), _MONTHS[month.lower()], day)


# --- blocks: HTML and Markdown alike ----------------------------------------------------------


@dataclass(frozen=True)
class Block:
    """One unit of visible text in reading order.

    kind: `title` (the HTML <title> or front-matter title), `heading` (with its level), `caption`
    (a table's), `row` (a table row, with its cells), `item` (a list item), `code` (a fenced block or
    a <pre>, with its language when the markup names one) or `text`.
    """

    kind: str
    text: str
    level: int = 0
    cells: tuple[str, ...] = ()
    date: str | None = None  # a machine-readable date the markup carries (<time datetime=...>)
    lang: str = ""  # a code block's language (```python, class="language-python")


def blocks(text: str, content_type: str | None = None) -> list[Block]:
    return html_blocks(text) if is_html(text, content_type) else markdown_blocks(text)


_INVISIBLE = ("script", "style", "noscript", "template")
_HEADINGS = {f"h{i}": i for i in range(1, 7)}
_BLOCK_TAGS = frozenset(
    "p div li dd dt blockquote pre section article header footer main nav aside figure figcaption "
    "ul ol dl table thead tbody tfoot form details summary address hr body".split()
)
_CELL_ROLES = ("cell", "gridcell", "columnheader", "rowheader")
_BREAKING = _BLOCK_TAGS | set(_HEADINGS) | {"tr", "td", "th", "caption", "title", "br", "li"}


# Hyphens that look like `-` (U+2010 hyphen, U+2011 non-breaking hyphen, U+2012 figure dash): docs
# tables write `2026‑03‑26` and could write an id the same way.
_HYPHENS = str.maketrans({"\u2010": "-", "\u2011": "-", "\u2012": "-"})


def _collapse(text: str) -> str:
    return " ".join(text.translate(_HYPHENS).split())


def _last_descendant(tag: Tag) -> Tag | NavigableString:
    node: Tag | NavigableString = tag
    while isinstance(node, Tag) and node.contents:
        node = node.contents[-1]  # type: ignore[assignment]
    return node


def _is_text(node: object) -> TypeGuard[NavigableString]:
    return type(node) in (NavigableString, CData)  # not Comment, Doctype, Declaration...


def _after_block(node: NavigableString) -> bool:
    """Whether a text node follows a block element (`<p>b</p>c`): the two are separate words."""
    prev = node.previous_sibling
    return isinstance(prev, Tag) and prev.name in _BREAKING


def _visible_text(tag: Tag) -> str:
    """Text of an element; block boundaries inside it (a nested table, paragraphs) separate words."""
    parts: list[str] = []
    for node in tag.descendants:
        if isinstance(node, Tag):
            if node.name in _BREAKING:
                parts.append(" ")
        elif _is_text(node):
            if _after_block(node):
                parts.append(" ")
            parts.append(str(node))
    return _collapse("".join(parts))


def _time_of(tag: Tag) -> str | None:
    t = tag.find("time")
    if isinstance(t, Tag):
        value = t.get("datetime")
        if isinstance(value, str):
            return find_date(value)
    return None


_LANG_CLASS = re.compile(r"^(?:language|lang)-([\w+#.-]+)$")


def _code_lang(pre: Tag) -> str:
    """The language a <pre> (or its <code>) names in a `language-x` class or a data-language."""
    for tag in (pre, pre.find("code")):
        if isinstance(tag, Tag):
            lang = tag.get("data-language") or tag.get("data-lang")
            if isinstance(lang, str) and lang:
                return lang.lower()
            for cls in tag.get("class") or ():
                m = _LANG_CLASS.match(cls)
                if m:
                    return m.group(1).lower()
    return ""


def _row_cells(row: Tag) -> tuple[str, ...]:
    if row.name == "tr":
        cells = [c for c in row.children if isinstance(c, Tag) and c.name in ("td", "th")]
    else:
        cells = [c for c in row.find_all(role=_CELL_ROLES)]
        if not cells:
            cells = [c for c in row.children if isinstance(c, Tag)]
    texts = tuple(_visible_text(c) for c in cells)
    return texts if any(texts) else (_visible_text(row),)


def _bs4() -> ModuleType:
    """bs4, imported on first use: its import costs about 50 ms, and most runs parse no HTML (a 304
    parses nothing; `report` and `history` parse nothing at all), yet every kind module imports this one."""
    import bs4
    from bs4 import element

    globals().update(CData=element.CData, NavigableString=element.NavigableString, Tag=element.Tag)
    return bs4


def html_blocks(text: str) -> list[Block]:
    """Visible text of an HTML page as blocks; script, style, noscript, template, comments dropped.

    Attribute values (alt, title, href) are never text. Iterative throughout, so deep nesting is safe.
    """
    bs4 = _bs4()
    with warnings.catch_warnings():
        # bs4 warns about XML-looking or URL-looking input; any input is fine here.
        for category in (bs4.XMLParsedAsHTMLWarning, bs4.MarkupResemblesLocatorWarning, bs4.GuessedAtParserWarning):
            warnings.simplefilter("ignore", category)
        soup = bs4.BeautifulSoup(text, "html.parser")
    for tag in soup.find_all(_INVISIBLE):
        if not tag.decomposed:  # one may sit inside another already gone
            tag.decompose()
    for br in soup.find_all("br"):
        br.replace_with(" ")
    out: list[Block] = []
    buf: list[str] = []
    kind = "text"

    def flush(next_kind: str) -> None:
        nonlocal kind
        joined = _collapse("".join(buf))
        if joined:
            out.append(Block(kind, joined))
        buf.clear()
        kind = next_kind

    skip_to: object = None  # the last node of a subtree already turned into one block
    for node in soup.descendants:
        if skip_to is not None:
            if node is skip_to:
                skip_to = None
            continue
        if isinstance(node, Tag):
            name = node.name
            if name in _HEADINGS or name in ("title", "caption", "pre") or name == "tr" or node.get("role") == "row":
                flush("text")
                if name == "pre":
                    block = Block("code", _visible_text(node), lang=_code_lang(node))
                elif name in _HEADINGS:
                    block = Block("heading", _visible_text(node), level=_HEADINGS[name], date=_time_of(node))
                elif name in ("title", "caption"):
                    block = Block(name, _visible_text(node))
                else:
                    cells = _row_cells(node)
                    block = Block("row", " | ".join(c for c in cells), cells=cells)
                if block.text:
                    out.append(block)
                last = _last_descendant(node)
                skip_to = last if last is not node else None
            elif name in _BLOCK_TAGS:
                flush("item" if name in ("li", "dd") else "text")
        elif _is_text(node):
            if _after_block(node):
                flush("text")
            buf.append(str(node))
    flush("text")
    return out


def html_text(fragment: str) -> str:
    """The visible text of an HTML fragment (a feed entry's summary), collapsed to one line."""
    return " ".join(b.text for b in html_blocks(fragment))


# Markdown: the subset release notes and docs twins use (GFM tables, ATX/setext headings, lists,
# fences, front matter). Inline HTML comments, scripts and styles are dropped, as in HTML.
# Only terminated ones: a stray `<style>` in a release note must not swallow the rest of the file.
_MD_DROP = re.compile(
    r"<!--.*?-->|<(script|style|noscript|template)\b[^>]*>.*?</\1\s*>", re.IGNORECASE | re.DOTALL
)
_MD_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9]*(?:\s[^<>]*)?/?>")  # no `-`: `<gpt-image-2>` is not a tag
_ATX = re.compile(r" {0,3}(#{1,6})(?:[ \t]|$)")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_ITEM = re.compile(r"^([ \t]*)(?:[*+-]|\d{1,9}[.)])[ \t]+(.*)$")
_TABLE_SEP = re.compile(r"^\s*\|?\s*:?-+:?\s*(?:\|\s*:?-+:?\s*)*\|?\s*$")
_LINK_DEF = re.compile(r"^ {0,3}\[[^\]]+\]:\s*\S")
# Link text may not hold another `[`, so a line of ten thousand `[` is read once, not once per `[`.
_IMAGE = re.compile(r"!\[[^\[\]]{0,1000}\](?:\([^()\n]{0,2000}\)|\[[^\[\]]{0,200}\])")
_LINK = re.compile(r"\[([^\[\]]{0,1000})\](?:\([^()\n]{0,2000}\)|\[[^\[\]]{0,200}\])")
_EMPHASIS = re.compile(r"\*\*|__|\*|`")
_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|])")


def md_inline(text: str) -> str:
    """Markdown inline markup to plain text: images (and their alt) dropped, links to their text."""
    text = _IMAGE.sub("", text)
    text = _LINK.sub(lambda m: m.group(1), text)
    text = _MD_TAG.sub("", text)
    text = _EMPHASIS.sub("", text)
    return _collapse(_ESCAPE.sub(r"\1", text))


def _split_row(line: str) -> tuple[str, ...]:
    cells = re.split(r"(?<!\\)\|", line.strip())
    if cells and not cells[0].strip():
        cells = cells[1:]
    if cells and not cells[-1].strip():
        cells = cells[:-1]
    return tuple(md_inline(c) for c in cells)


def markdown_blocks(text: str) -> list[Block]:
    """Markdown as blocks. Headings inside code fences are code, not headings.

    Hand-written rather than markdown-it-py because it is faster on the real captures, and the parsers
    read every docs page every cycle: markdown-it-py's tokenizer *alone* (before any block is built)
    takes 2 to 6 times as long as this whole function (changelog 54 kB: 19.2 ms against 5.3 ms;
    pricing 21 kB: 15.4 against 5.8; guide 103 kB: 9.2 against 4.3; models index 11 kB: 5.2 against
    0.9), which would double or triple each kind's whole parse. `benchmarks/bench_markdown.py` prints
    the figures. The subset handled is the one the docs twins use; `tests/fixtures/cases.toml` pins it.
    """
    text = _MD_DROP.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    lines = text.split("\n")
    out: list[Block] = []
    para: list[str] = []
    para_kind = "text"

    def flush() -> None:
        nonlocal para_kind
        joined = md_inline(" ".join(para))
        if joined:
            out.append(Block(para_kind, joined))
        para.clear()
        para_kind = "text"

    i = 0
    if lines and lines[0].strip() == "---":
        end = next((j for j in range(1, len(lines)) if lines[j].strip() in ("---", "...")), None)
        if end is not None:
            for line in lines[1:end]:
                key, _, value = line.partition(":")
                value = value.strip().strip("\"'")
                if key.strip().lower() == "title" and value:
                    out.append(Block("title", _collapse(value)))
                elif value:
                    out.append(Block("text", _collapse(value)))
            i = end + 1
    in_table = False
    while i < len(lines):
        line = lines[i]
        fence = _FENCE.match(line)
        if fence:
            flush()
            marker = fence.group(1)
            info = line[fence.end() :].strip().split()
            code: list[str] = []
            i += 1
            while i < len(lines) and not lines[i].lstrip().startswith(marker):
                code.append(lines[i])
                i += 1
            body = _collapse(" ".join(code))
            if body:
                out.append(Block("code", body, lang=info[0].strip("{}.").lower() if info else ""))
            i += 1
            in_table = False
            continue
        stripped = line.strip()
        if not stripped:
            flush()
            in_table = False
            i += 1
            continue
        atx = _ATX.match(line)
        if atx:
            flush()
            title = line[atx.end() :].strip()
            closing = title.rstrip("#")
            if closing != title and (not closing or closing[-1] in " \t"):
                title = closing  # an optional closing sequence: `## Title ##`
            title = md_inline(title)
            out.append(Block("heading", title, level=len(atx.group(1)), date=None))
            in_table = False
            i += 1
            continue
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if "|" in stripped and (in_table or stripped.startswith("|") or _TABLE_SEP.match(nxt) and "-" in nxt):
            if _TABLE_SEP.match(stripped) and "-" in stripped:
                i += 1
                continue
            flush()
            cells = _split_row(stripped)
            if any(cells):
                out.append(Block("row", " | ".join(cells), cells=cells))
            in_table = True
            i += 1
            continue
        setext = _SETEXT.match(nxt) if para_kind == "text" and not _ITEM.match(line) else None
        if setext:
            para.append(line)
            heading = md_inline(" ".join(para))
            para.clear()
            out.append(Block("heading", heading, level=1 if setext.group(1)[0] == "=" else 2))
            i += 2
            continue
        if _LINK_DEF.match(line):
            i += 1
            continue
        item = _ITEM.match(line)
        if item and not (set(stripped) <= {"-", "*", " "} and len(stripped) >= 3):  # not a rule
            flush()
            para_kind = "item"
            para.append(item.group(2))
        elif set(stripped) <= {"-", "*", "_", " "} and len(stripped.replace(" ", "")) >= 3:
            flush()  # a thematic break
        else:
            para.append(stripped)
        i += 1
    flush()
    return out


def id_hits(matcher: Matcher, text: str) -> list[Match]:
    """The places `text` names a target *as an id*: spelled as ids are, in lower case. `GPT-Image-2`
    is a display name (of `gpt-image-2`), and so is `GPT-6` in "GPT-6 Sol" (of `gpt-6-sol`)."""
    return [m for m in matcher.find(text) if text[m.start : m.end] == m.model_id]


def add_mentions(found: Signals, hits: list[Match], location: str, text: str) -> None:
    """Each hit as a page mention at `location`, its excerpt cut from `text` around it."""
    for m in hits:
        found.add(m.target, m.model_id, EvidenceType.PAGE_MENTION, location,
                  functools.partial(snippet, text, m.start, m.end))
