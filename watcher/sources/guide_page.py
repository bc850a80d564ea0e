"""A docs guide with code examples, HTML or its Markdown twin (the image generation guide). A code
example that sets the model to the target yields api_example, located by its section heading and
language; the target named in prose, in a heading or in an example that does not set it as the model
yields page_mention. Display names (`GPT Image 2`) never count.

The model is "set" in each style the real guide uses: `model: "X"`, `model="X"`, `"model": "X"`,
`Model: "X"` (Go), `openai.ImageModel("X")`, `.model("X")` (Java), `-F "model=X"` and `--model X`.
A Responses API example that sets a mainline model (`model: "gpt-5.6"`) and calls the image tool
confirms that mainline model only; a `model` inside the image tool's config is set like any other.
"""

from __future__ import annotations

import functools
import re

from ..evidence import EvidenceType, Signal, Signals
from ..targets import Matcher
from ..text import clip
from . import Anchor, Document, Kind
from ._text import add_mentions, blocks, document_text, id_hits, read_blocks, snippet

TOP = "(top)"
_VALUE = r"""["'`]([A-Za-z0-9][A-Za-z0-9._:-]{0,200})["'`]"""
# Each alternative captures the id a code example passes as the model.
_SETS_MODEL = re.compile(
    r"(?<![\w.$-])[\"']?model[\"']?\s*(?::|=>|=)\s*" + _VALUE  # model: "X", model="X", "model": "X", Model: "X"
    + r"|\b\w*Model\(\s*" + _VALUE + r"\s*\)"  # openai.ImageModel("X"), ChatModel.of("X") is not one
    + r"|\.model\(\s*" + _VALUE + r"\s*\)"  # Java builders: .model("X")
    + r"|(?:-F|--form|-d|--data(?:-urlencode)?)\s+[\"']?model=[\"']?([A-Za-z0-9][A-Za-z0-9._:-]{0,200})"  # curl forms
    + r"|--model(?:\s+|=)[\"']?([A-Za-z0-9][A-Za-z0-9._:-]{0,200})",  # a CLI flag
    re.IGNORECASE,
)


def _set_models(code: str) -> list[tuple[str, int, int]]:
    """(value, start, end) of each model id the code sets."""
    out = []
    for m in _SETS_MODEL.finditer(code):
        group = next(g for g in range(1, (m.lastindex or 0) + 1) if m.group(g) is not None)
        out.append((m.group(group), m.start(group), m.end(group)))
    return out


def parse(doc: Document, matcher: Matcher) -> list[Signal]:
    text = document_text(doc)
    found = Signals()
    heading = ""
    for block in blocks(text, doc.content_type):
        if block.kind == "heading":
            heading = clip(block.text, 120)
        if block.kind != "code":
            hits = id_hits(matcher, block.text)
            add_mentions(found, hits, "title" if block.kind == "title" else (heading or TOP), block.text)
            continue
        if not matcher.could_match(block.text):
            continue
        where = f"{heading or TOP} > {block.lang or 'code'}"
        set_at: set[int] = set()
        for value, start, end in _set_models(block.text):
            m = matcher.match_value(value)
            if m is not None:
                set_at.add(start)
                found.add(m.target, m.model_id, EvidenceType.API_EXAMPLE, where,
                          functools.partial(snippet, block.text, start, end, before=80, after=240))
        others = [m for m in id_hits(matcher, block.text) if m.start not in set_at]
        add_mentions(found, others, where, block.text)
    return found.kept


def anchor(doc: Document) -> Anchor:
    """Code examples that set a model."""
    items = read_blocks(doc)
    if items is None:
        return Anchor(False, "a bot-challenge page")
    code = [b for b in items if b.kind == "code"]
    setting = [b for b in code if _set_models(b.text)]
    return Anchor(bool(setting), f"guide: {len(code)} code examples, {len(setting)} set a model")


KIND = Kind(
    name="guide_page",
    parse=parse,
    anchor=anchor,
    evidence_types=(EvidenceType.API_EXAMPLE, EvidenceType.PAGE_MENTION),
    reads="a docs guide, HTML or Markdown; `api_example` is a code example that sets `model` to the target "
          "(`model: \"X\"`, `model=\"X\"`, `openai.ImageModel(\"X\")`, `.model(\"X\")`, `-F model=X`, `--model X`)",
)
