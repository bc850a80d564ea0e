"""A generated SDK source file (openai-python, openai-node, openai-go). An id that is a value of a type
(a Python `Literal[...]`, a TypeScript string-literal union, a Go `ImageModel = "..."` constant)
yields sdk_value, located by the type or constant name; an id anywhere else (doc comments, docstrings,
other strings) yields sdk_mention, located by the symbol the text documents or sits in.

The language comes from the URL's extension, else from the text. Strings and comments are found by
one regular expression per language; declarations by lines of the text with those masked out.
"""

from __future__ import annotations

import bisect
import functools
import re
from dataclasses import dataclass
from urllib.parse import urlparse

from ..challenge import is_challenge
from ..evidence import EvidenceType, Signal, Signals
from ..targets import Matcher
from ..text import clip, decode
from . import Anchor, Document, Kind
from ._text import document_text, snippet

_PY_TOKENS = re.compile(
    r"""(?P<comment>\#[^\n]*)
    |(?P<string>[rRbBuUfF]{0,2}
        (?:'''(?:[^\\]|\\.)*?(?:'''|\Z)
          |\"\"\"(?:[^\\]|\\.)*?(?:\"\"\"|\Z)
          |'(?:[^'\\\n]|\\.)*(?:'|(?=\n)|\Z)
          |"(?:[^"\\\n]|\\.)*(?:"|(?=\n)|\Z)))""",
    re.VERBOSE | re.DOTALL,
)
_TS_TOKENS = re.compile(
    r"""(?P<comment>//[^\n]*|/\*.*?(?:\*/|\Z))
    |(?P<string>'(?:[^'\\\n]|\\.)*(?:'|(?=\n)|\Z)
      |"(?:[^"\\\n]|\\.)*(?:"|(?=\n)|\Z)
      |`(?:[^`\\]|\\.)*(?:`|\Z))""",
    re.VERBOSE | re.DOTALL,
)
_GO_TOKENS = re.compile(
    r"""(?P<comment>//[^\n]*|/\*.*?(?:\*/|\Z))
    |(?P<string>"(?:[^"\\\n]|\\.)*(?:"|(?=\n)|\Z)
      |`[^`]*(?:`|\Z)
      |'(?:[^'\\\n]|\\.)*(?:'|(?=\n)|\Z))""",
    re.VERBOSE | re.DOTALL,
)
_TOKENS = {"python": _PY_TOKENS, "typescript": _TS_TOKENS, "go": _GO_TOKENS}
_EXTENSIONS = {
    ".py": "python",
    ".pyi": "python",
    ".ts": "typescript",
    ".mts": "typescript",
    ".cts": "typescript",
    ".js": "typescript",
    ".mjs": "typescript",
    ".go": "go",
}


@dataclass(frozen=True)
class _Token:
    kind: str  # "string" or "comment"
    start: int
    end: int
    inner_start: int  # the string's value without prefix and quotes
    inner_end: int


def _language(doc: Document, text: str) -> str:
    path = urlparse(doc.url).path.lower()
    for ext, lang in _EXTENSIONS.items():
        if path.endswith(ext):
            return lang
    head = text[:20000]
    if re.search(r"^package\s+\w+\s*$", head, re.MULTILINE):
        return "go"
    if re.search(r"^\s*(?:export|interface)\s|^import\s.*\sfrom\s+['\"]", head, re.MULTILINE):
        return "typescript"
    return "python"


def _tokens(text: str, lang: str) -> list[_Token]:
    out: list[_Token] = []
    for m in _TOKENS[lang].finditer(text):
        start, end = m.span()
        if m.lastgroup == "comment":
            prev = out[-1] if out else None
            if prev and prev.kind == "comment" and not text[prev.end : start].strip() and text[start] in "/#":
                out[-1] = _Token("comment", prev.start, end, prev.start, end)  # a run of line comments
            else:
                out.append(_Token("comment", start, end, start, end))
            continue
        body = m.group()
        prefix = len(body) - len(body.lstrip("rRbBuUfF")) if lang == "python" else 0
        quote = body[prefix : prefix + 3] if body[prefix : prefix + 3] in ('"""', "'''") else body[prefix]
        inner_start = start + prefix + len(quote)
        inner_end = end - len(quote) if body.endswith(quote) and end - len(quote) >= inner_start else end
        out.append(_Token("string", start, end, inner_start, inner_end))
    return out


def _mask(text: str, tokens: list[_Token]) -> str:
    """The text with comments blanked and strings reduced to their quotes; offsets and lines kept."""
    parts: list[str] = []
    pos = 0
    for t in tokens:
        parts.append(text[pos : t.start])
        blank = re.sub(r"[^\n]", " ", text[t.start : t.end])
        if t.kind == "string" and len(blank) >= 2:
            blank = '"' + blank[1:-1] + '"'
        parts.append(blank)
        pos = t.end
    parts.append(text[pos:])
    return "".join(parts)


# --- declarations: where each symbol starts, qualified by its container -------------------------

_PY_CONTAINER = re.compile(r"^(\s*)(?:async\s+)?(?:class|def)\s+(\w+)")
_PY_MEMBER = re.compile(r"^(\s*)(\w+)\s*(?::(?!=)|=(?!=))")
_TS_DECL = re.compile(
    r"^\s*(?:export\s+)?(?:declare\s+)?(?:default\s+)?(?:abstract\s+)?(?:async\s+)?"
    r"(class|interface|namespace|module|type|enum|function\*?|const|let|var)\s+(\w+)"
)
_TS_MEMBER = re.compile(
    r"^\s*(?:(?:readonly|static|public|private|protected|async|declare|abstract|get|set)\s+)*"
    r"['\"]?(\w+)['\"]?\??\s*[:(<]"
)
_GO_TYPE = re.compile(r"^type\s+(\w+)")
_GO_FUNC = re.compile(r"^func\s+(?:\(\s*\w*\s*\*?(\w+)[^)]*\)\s*)?(\w+)")
_GO_TOPLEVEL = re.compile(r"^(?:const|var)\s+(\w+)")
_GO_SPEC = re.compile(r"^\s+(\w+)(?:\s+[\w.\[\]*]+)?\s*=")
_GO_FIELD = re.compile(r"^\s+(\w+)\s+[\w.\[\]*]")
_KEYWORDS = frozenset(
    "if else for while do switch case default return throw try catch finally new delete typeof "
    "await yield break continue import export from go defer select range func struct map chan "
    "package const var type interface except elif with lambda assert raise del global nonlocal".split()
)


def _python_decls(masked: str) -> list[tuple[int, str]]:
    decls: list[tuple[int, str]] = []
    containers: list[tuple[int, str]] = []  # (indent, name)
    depth = 0
    pos = 0
    for line in masked.split("\n"):
        if depth == 0 and line.strip():
            indent = len(line) - len(line.lstrip())
            while containers and containers[-1][0] >= indent:
                containers.pop()
            prefix = ".".join(name for _, name in containers)
            m = _PY_CONTAINER.match(line)
            if m:
                decls.append((pos, f"{prefix}.{m.group(2)}" if prefix else m.group(2)))
                containers.append((indent, m.group(2)))
            else:
                m = _PY_MEMBER.match(line)
                if m and m.group(2) not in _KEYWORDS:
                    decls.append((pos, f"{prefix}.{m.group(2)}" if prefix else m.group(2)))
        depth = max(0, depth + sum(line.count(c) for c in "([{") - sum(line.count(c) for c in ")]}"))
        pos += len(line) + 1
    return decls


def _brace_decls(masked: str, lang: str) -> tuple[list[tuple[int, str]], set[str], list[tuple[int, int]]]:
    """Declarations of a TypeScript or Go file; the TypeScript members that live in a type (an
    `interface` or `type` body, where `field: 'x'` is a literal type, not a value at run time); and
    the spans of Go `const (...)` groups."""
    decls: list[tuple[int, str]] = []
    typed: set[str] = set()
    const_groups: list[tuple[int, int]] = []
    group_start = -1
    containers: list[tuple[int, str, bool]] = []  # (depth inside it, name, is a type body)
    depth = 0
    pos = 0
    in_group = False  # inside a Go `const (` or `var (` group
    for line in masked.split("\n"):
        if lang == "go" and depth == 0:
            if re.match(r"^(?:const|var)\s*\(\s*$", line):
                in_group = True
                group_start = pos if line.startswith("const") else -1
            elif line.startswith(")") and in_group:
                in_group = False
                if group_start >= 0:
                    const_groups.append((group_start, pos))
        while containers and depth < containers[-1][0]:
            containers.pop()
        inside = containers[-1] if containers and depth == containers[-1][0] else None
        name: str | None = None
        opens: bool | None = None  # when the declaration opens a body: whether that body is a type
        if lang == "go":
            f = _GO_FUNC.match(line)
            m = _GO_TYPE.match(line) or _GO_TOPLEVEL.match(line)
            if f:
                name = f"{f.group(1)}.{f.group(2)}" if f.group(1) else f.group(2)
            elif m:
                name, opens = m.group(1), False
            elif depth > 0 or in_group:
                spec = (_GO_SPEC.match(line) if in_group else None) or (_GO_FIELD.match(line) if inside else None)
                if spec and spec.group(1) not in _KEYWORDS:
                    name = f"{inside[1]}.{spec.group(1)}" if inside else spec.group(1)
        else:
            m = _TS_DECL.match(line)
            member = _TS_MEMBER.match(line) if inside and not m else None
            if m and (depth == 0 or inside):
                name = f"{inside[1]}.{m.group(2)}" if inside else m.group(2)
                opens = m.group(1) in ("interface", "type") or bool(inside and inside[2])
            elif member and member.group(1) not in _KEYWORDS and inside:
                name = f"{inside[1]}.{member.group(1)}"
                opens = inside[2]
                if inside[2]:
                    typed.add(name)
        if name:
            decls.append((pos, name))
        opened = line.count("{") - line.count("}")
        if name and opens is not None and opened > 0:
            containers.append((depth + 1, name, opens))
        depth = max(0, depth + opened)
        pos += len(line) + 1
    return decls, typed, const_groups


# --- what is a value ----------------------------------------------------------------------------


_BRACKET = re.compile(r"[\[\](){}]")
_LITERAL_OPEN = re.compile(r"\bLiteral\s*$")


def _python_literal_strings(masked: str, tokens: list[_Token]) -> set[int]:
    """Start offsets of the strings that sit directly inside a `Literal[...]`, in one pass."""
    starts = [t.start for t in tokens if t.kind == "string"]
    inside: set[int] = set()
    open_literal: list[bool] = []  # for each open bracket: is it a `Literal[`?
    i = 0
    for m in _BRACKET.finditer(masked):
        while i < len(starts) and starts[i] < m.start():
            if open_literal and open_literal[-1]:
                inside.add(starts[i])
            i += 1
        c = m.group()
        if c in "([{":
            start = m.start()
            open_literal.append(c == "[" and _LITERAL_OPEN.search(masked, max(0, start - 40), start) is not None)
        elif open_literal:
            open_literal.pop()
    return inside


def _neighbours(masked: str, start: int, end: int) -> tuple[str, str]:
    before = masked[max(0, start - 200) : start].rstrip()
    after = masked[end : end + 200].lstrip()
    return before[-2:], after[:2]


_TS_ALIAS_START = re.compile(r"\btype\s+\w+\s*(?:<[^=]*>)?\s*=\s*$")


def _ts_value(masked: str, token: _Token, in_type_body: bool) -> bool:
    """A union member (`| 'x'`), a type alias's right side, or a field's literal type in a type body."""
    before, after = _neighbours(masked, token.start, token.end)
    if (before.endswith("|") and before != "||") or (after.startswith("|") and after != "||"):
        return True
    if before.endswith("="):
        return _TS_ALIAS_START.search(masked[max(0, token.start - 300) : token.start]) is not None
    return before.endswith(":") and in_type_body


_GO_CONST_SPEC = re.compile(r"\s*(?:const\s+)?(\w+)(?:\s+[\w.]+)?\s*=\s*$")


def _go_const(masked: str, token: _Token, const_groups: list[tuple[int, int]]) -> str | None:
    """The constant's name when the string is the value of a Go const spec."""
    line_start = masked.rfind("\n", 0, token.start) + 1
    m = _GO_CONST_SPEC.match(masked, line_start, token.start)
    if not m:
        return None
    if masked.startswith("const", line_start):
        return m.group(1)
    i = bisect.bisect_right(const_groups, (token.start, len(masked))) - 1
    return m.group(1) if i >= 0 and const_groups[i][0] < token.start < const_groups[i][1] else None


# --- the parser -----------------------------------------------------------------------------------


def _comment_text(text: str) -> str:
    return re.sub(r"(?m)^\s*(?:/\*\*?|\*/|\*|//+|#+)\s?", " ", text).replace("*/", " ")


def _excerpt(text: str, token: _Token | None, start: int, end: int) -> str:
    """Words around a mention, within its comment or string, comment markers dropped."""
    if token is None:
        return snippet(text, start, end)
    lo = max(token.start, start - 160)
    hi = min(token.end, end + 200)
    raw = text[lo:hi]
    body = _comment_text(raw) if token.kind == "comment" else raw
    return ("…" if lo > token.start else "") + clip(body) + ("…" if hi < token.end else "")


class _Source:
    """One SDK file, tokenised and with its declarations, ready to place each match."""

    def __init__(self, doc: Document, text: str) -> None:
        self.text = text
        self.lang = _language(doc, text)
        self.tokens = _tokens(text, self.lang)
        self.masked = _mask(text, self.tokens)
        self.literal_strings: set[int] = set()
        self.const_groups: list[tuple[int, int]] = []
        if self.lang == "python":
            self.decls = _python_decls(self.masked)
            self.typed: set[str] = set()
            self.literal_strings = _python_literal_strings(self.masked, self.tokens)
        else:
            self.decls, self.typed, self.const_groups = _brace_decls(self.masked, self.lang)
        self._decl_pos = [p for p, _ in self.decls]
        self._token_starts = [t.start for t in self.tokens]

    def token_at(self, start: int, end: int) -> _Token | None:
        i = bisect.bisect_right(self._token_starts, start) - 1
        return self.tokens[i] if i >= 0 and self.tokens[i].end >= end else None

    def before(self, pos: int) -> tuple[int, str] | None:
        i = bisect.bisect_right(self._decl_pos, pos) - 1
        return self.decls[i] if i >= 0 else None

    def after(self, pos: int) -> tuple[int, str] | None:
        i = bisect.bisect_left(self._decl_pos, pos)
        return self.decls[i] if i < len(self.decls) else None

    def value_of(self, token: _Token) -> str | None:
        """The type or constant a string literal is a value of, or None when it is just a string."""
        if self.lang == "go":
            return _go_const(self.masked, token, self.const_groups)
        decl = self.before(token.start)
        if decl is None:
            return None
        if self.lang == "python":
            return decl[1] if token.start in self.literal_strings else None
        return decl[1] if _ts_value(self.masked, token, decl[1] in self.typed) else None

    def symbol_for_mention(self, token: _Token | None, pos: int) -> str:
        if token is not None and token.kind == "comment" and self.lang != "python":
            decl = self.after(token.end) or self.before(pos)  # a doc comment documents what follows
        else:
            decl = self.before(pos)  # a Python docstring follows what it documents
        return decl[1] if decl else "(file)"


def parse(doc: Document, matcher: Matcher) -> list[Signal]:
    text = document_text(doc)
    hits = list(matcher.find(text))
    if not hits:  # before a release, the usual case: no need to tokenize the file (8x the cost)
        return []
    src = _Source(doc, text)
    found = Signals()
    for m in hits:
        token = src.token_at(m.start, m.end)
        if token is not None and token.kind == "string":
            whole = matcher.match_value(text[token.inner_start : token.inner_end])
            symbol = src.value_of(token) if whole is not None and whole.model_id == m.model_id else None
            if symbol is not None:
                decl = src.before(token.start)
                lo = decl[0] if decl and token.start - decl[0] < 300 else max(0, token.start - 120)
                found.add(m.target, m.model_id, EvidenceType.SDK_VALUE, symbol, clip(text[lo : token.end + 1]))
                continue
        found.add(
            m.target,
            m.model_id,
            EvidenceType.SDK_MENTION,
            src.symbol_for_mention(token, m.start),
            functools.partial(_excerpt, text, token, m.start, m.end),  # built only if kept
        )
    return found.kept


_GO_TYPED_CONST = re.compile(r"\s*(?:const\s+)?\w+\s+([\w.]+)\s*=\s*$")


def anchor(doc: Document) -> Anchor:
    """A type whose values are string literals (a `Literal[...]` alias, a string-literal union, typed
    constants), preferring one named like a model type. A file that became a re-export has none."""
    text = decode(doc.body, doc.content_type)
    if is_challenge(text):
        return Anchor(False, "a bot-challenge page")
    src = _Source(doc, text)
    values: dict[str, int] = {}
    for token in src.tokens:
        if token.kind == "string" and token.inner_end > token.inner_start:
            symbol = src.value_of(token)
            if symbol is not None and src.lang == "go":  # group `ImageModelX ImageModel = "x"` by its type
                line = src.masked[src.masked.rfind("\n", 0, token.start) + 1 : token.start]
                typed = _GO_TYPED_CONST.match(line)
                symbol = typed.group(1) if typed else symbol
            if symbol is not None:
                values[symbol] = values.get(symbol, 0) + 1
    if not values:
        return Anchor(False, f"no string-literal type in this {src.lang} file")
    best = max(values, key=lambda name: ("model" in name.lower(), values[name]))
    return Anchor(True, f"{best} {'constants' if src.lang == 'go' else 'alias'}: {values[best]} ids")


KIND = Kind(
    name="sdk_types",
    parse=parse,
    anchor=anchor,
    evidence_types=(EvidenceType.SDK_VALUE, EvidenceType.SDK_MENTION),
    reads="generated SDK files: Python `Literal[...]`, TypeScript unions, Go constants",
)
