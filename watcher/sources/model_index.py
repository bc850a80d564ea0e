"""An index of model pages, HTML or its Markdown twin (`models.md`). Each link to a model's page
(`- [GPT-Image-2](/api/docs/models/gpt-image-2.md): ...`) yields model_listed for the id the link's
path names; the id in prose yields page_mention. Link text is a display name and never counts.

A family target (`gpt-image-*`) thus discovers each new model page as it is linked. A listing is
located by the page it links to (`models/gpt-image-2`), so reordering or regrouping the index does
not make old evidence new.
"""

from __future__ import annotations

import re
import warnings

from ..challenge import is_challenge
from ..evidence import EvidenceType, Signal, Signals
from ..targets import Matcher
from ..text import clip, decode, is_html
from . import Anchor, Document, Kind
from ._text import _bs4, add_mentions, blocks, document_text, id_hits

TOP = "(top)"
# A Markdown link or image target, `[text](target "title")`; text may not hold `[` (linear time).
_MD_LINK = re.compile(r"\[([^\[\]\n]{0,1000})\]\(\s*<?([^()\s<>]{1,2000})>?(?:\s+[\"'][^\"'\n]*[\"'])?\s*\)")
# The id a model page's path names: .../models/<id>, .../models/<id>.md, with a query or fragment.
_MODEL_PATH = re.compile(r"(?:^|/)models/([A-Za-z0-9][A-Za-z0-9._:-]*?)(?:\.md|\.html?)?/?(?:[?#].*)?$")
_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.*?)[ \t#]*$", re.MULTILINE)


def _links(text: str, html: bool) -> list[tuple[str, str, str]]:
    """(link text, model id from the path, nearest heading) for each link to a model page."""
    out: list[tuple[str, str, str]] = []
    if html:
        bs4 = _bs4()  # imported on first use, as in _text
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", bs4.XMLParsedAsHTMLWarning)
            warnings.simplefilter("ignore", bs4.MarkupResemblesLocatorWarning)
            soup = bs4.BeautifulSoup(text, "html.parser")
        for a in soup.find_all("a", href=True):
            href = a.get("href")
            m = _MODEL_PATH.search(href) if isinstance(href, str) else None
            if m:
                h = a.find_previous(re.compile(r"^h[1-6]$"))
                heading = h.get_text(" ", strip=True) if isinstance(h, bs4.Tag) else ""
                out.append((a.get_text(" ", strip=True), m.group(1), heading))
        return out
    headings = [(h.start(), h.group(1)) for h in _HEADING.finditer(text)]
    for link in _MD_LINK.finditer(text):
        m = _MODEL_PATH.search(link.group(2))
        if m:
            heading = next((t for pos, t in reversed(headings) if pos < link.start()), "")
            out.append((link.group(1), m.group(1), heading))
    return out


def parse(doc: Document, matcher: Matcher) -> list[Signal]:
    text = document_text(doc)
    html = is_html(text, doc.content_type)
    found = Signals()
    listed: set[str] = set()
    for label, model_id, heading in _links(text, html):
        m = matcher.match_value(model_id)
        if m is not None and model_id == model_id.lower():
            listed.add(m.model_id)
            where = f"{clip(heading, 80)}: " if heading else ""
            found.add(m.target, m.model_id, EvidenceType.MODEL_LISTED, f"models/{m.model_id}",
                      clip(f"{where}[{label}] -> models/{model_id}"))
    heading = ""
    for block in blocks(text, doc.content_type):
        if block.kind == "heading":
            heading = clip(block.text, 120)
        hits = [m for m in id_hits(matcher, block.text) if m.model_id not in listed]  # a link's own text
        add_mentions(found, hits, "title" if block.kind == "title" else (heading or TOP), block.text)
    return found.kept


def anchor(doc: Document) -> Anchor:
    """Links to model pages."""
    text = decode(doc.body, doc.content_type)
    if is_challenge(text):
        return Anchor(False, "a bot-challenge page")
    ids = {model_id for _, model_id, _ in _links(text, is_html(text, doc.content_type))}
    return Anchor(bool(ids), f"model index: {len(ids)} model pages linked")


KIND = Kind(
    name="model_index",
    parse=parse,
    anchor=anchor,
    evidence_types=(EvidenceType.MODEL_LISTED, EvidenceType.PAGE_MENTION),
    reads="an index of model pages (`models.md`); `model_listed` is a link to the target's page "
          "(`/models/gpt-image-2`), never its display name",
)
