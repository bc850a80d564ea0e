"""OpenAI's OpenAPI spec (YAML or JSON). An id that the `model` property or parameter accepts (an
enum value, const, default or example, also through anyOf/oneOf/allOf and the $ref'd model-id schemas)
yields spec_value; an id the spec only names in prose (a description, a size note) yields spec_mention.

Locations are JSON paths whose selectors name things rather than count them (`enum[=gpt-image-2]`,
`parameters[name=model]`), so a new model inserted earlier in a list does not make old evidence new.

YAML is read as libyaml's event stream, never composed into nodes: a 3 MB spec parses in a fraction
of a second, a duplicate anchor (legal YAML, common in real spec versions) is no error, and aliases
are never expanded (a billion-laughs document costs nothing). The walk is iterative; libyaml itself
refuses nesting past 1,000 levels, which is a parse error (real specs nest a few dozen deep).

A big block-style spec is read one entry of `paths` and `components.schemas` at a time (see "the
chunked read" below): libyaml checks every entry in C, and only those that can change the answer are
walked; entries are remembered by their bytes, so a spec that changed a little is read a little.
Anything less plain than real specs are, and any error, goes to the whole walk, which decides.
"""

from __future__ import annotations

import bisect
import codecs
import functools
import json
import re
import zlib
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    import yaml
    from yaml._yaml import CParser
    from yaml.events import (
        AliasEvent,
        DocumentStartEvent,
        MappingEndEvent,
        MappingStartEvent,
        ScalarEvent,
        SequenceEndEvent,
        SequenceStartEvent,
        StreamStartEvent,
    )
else:  # bound by _load_yaml() on first use
    yaml = None

from ..errors import ParseError
from ..evidence import EvidenceType, Signal, Signals
from ..targets import Matcher
from ..text import charset, clip, decode
from . import Anchor, Document, Kind
from ._text import snippet

_COMBINERS = frozenset({"anyOf", "oneOf", "allOf"})
_VALUE_KEYS = frozenset({"example", "default", "const"})
_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})
_SCHEMA_REF = "#/components/schemas/"
_PLAIN_KEY = re.compile(r"^[A-Za-z_$][\w$-]*$")
# libyaml counts these as line breaks too; a document holding one takes the slower exact path.
_OTHER_BREAKS = ("\r", "\x85", "\u2028", "\u2029")

Label = str | int

# A frame is one open mapping or sequence on the path from the root to the current node. It is a
# small list rather than an object because the YAML loop touches one per event, 130,000 times:
# [is_map, current key, current index, expecting a key, value of its `name` key (a parameter's)].
IS_MAP, KEY, INDEX, WANT_KEY, NAME = range(5)
Frame = list[Any]
# A path as seen at one node: each open frame with the label it was at.
Path = tuple[tuple[Frame, Label], ...]


def _new_frame(is_map: bool) -> Frame:
    return [is_map, "", 0, is_map, None]


@dataclass(frozen=True)
class _Candidate:
    path: Path  # for a key, the path ends at the key itself
    text: str
    is_key: bool


class _Walk:
    """Consumes mapping/sequence/scalar events and keeps what the spec's model semantics need.

    The YAML loop inlines the common cases of these methods for speed; they stay the reference.
    """

    def __init__(self, matcher: Matcher) -> None:
        self.matcher = matcher
        self.stack: list[Frame] = []
        self.candidates: list[_Candidate] = []
        self.refs: list[tuple[Path, str]] = []  # $ref to a schema, where it is
        self.root_keys: set[str] = set()
        self.root_kind: str | None = None

    def path(self) -> Path:
        return tuple((f, f[KEY] if f[IS_MAP] else f[INDEX]) for f in self.stack)

    def node_done(self) -> None:
        if self.stack:
            top = self.stack[-1]
            if top[IS_MAP]:
                top[WANT_KEY] = not top[WANT_KEY]
            else:
                top[INDEX] += 1

    def start(self, is_map: bool) -> None:
        if not self.stack:
            if self.root_kind is None:
                self.root_kind = "mapping" if is_map else "sequence"
        elif self.stack[-1][IS_MAP] and self.stack[-1][WANT_KEY]:
            self.stack[-1][KEY] = "?"  # a complex key; nothing of ours lives under one
        self.stack.append(_new_frame(is_map))

    def end(self) -> None:
        if self.stack:
            self.stack.pop()
        self.node_done()

    def ref(self, value: str) -> None:
        if value.startswith(_SCHEMA_REF):
            self.refs.append((self.path(), value[len(_SCHEMA_REF) :]))

    def scalar(self, value: str, candidate: bool) -> None:
        stack = self.stack
        if not stack:
            if self.root_kind is None:
                self.root_kind = "scalar"
            return
        top = stack[-1]
        if top[IS_MAP] and top[WANT_KEY]:
            if candidate:
                self.candidates.append(_Candidate(self.path()[:-1] + ((top, value),), value, True))
            top[KEY] = value
            top[WANT_KEY] = False
            if len(stack) == 1:
                self.root_keys.add(value)
            return
        if top[IS_MAP]:
            if top[KEY] == "name":
                top[NAME] = value
            elif top[KEY] == "$ref":
                self.ref(value)
        if candidate:
            self.candidates.append(_Candidate(self.path(), value, False))
        self.node_done()


# --- reading the two syntaxes ------------------------------------------------------------------

_NO_LINE = 1 << 62


def _candidate_lines(text: str, matcher: Matcher) -> list[int] | None:
    """Line numbers (0-based, as libyaml counts) holding a match; None when lines are ambiguous."""
    if any(brk in text for brk in _OTHER_BREAKS):
        return None
    lines: list[int] = []
    pos = line = 0
    for m in matcher.find(text):
        line += text.count("\n", pos, m.start)
        pos = m.start
        if not lines or lines[-1] != line:
            lines.append(line)
    return lines


def _load_yaml() -> None:
    """PyYAML and libyaml's parser, imported when a spec is first read (about 11 ms that a run whose
    spec answers 304, or a `report`, need not pay)."""
    if globals()["yaml"] is not None:
        return
    import yaml as yaml_module
    from yaml import events
    from yaml._yaml import CParser as parser

    # Module globals, so the walk's hot loop reads them as globals (not attributes).
    globals().update(CParser=parser, AliasEvent=events.AliasEvent, MappingEndEvent=events.MappingEndEvent,
                     MappingStartEvent=events.MappingStartEvent, ScalarEvent=events.ScalarEvent,
                     SequenceEndEvent=events.SequenceEndEvent, SequenceStartEvent=events.SequenceStartEvent,
                     StreamStartEvent=events.StreamStartEvent, DocumentStartEvent=events.DocumentStartEvent)
    globals()["yaml"] = yaml_module  # last: `yaml` bound means everything above is


def _walk_yaml(text: str, walk: _Walk) -> None:
    _load_yaml()
    parser = CParser(text)
    try:
        _walk_events(parser, walk, _candidate_lines(text, walk.matcher))
    except yaml.YAMLError as exc:
        raise ParseError(f"invalid YAML: {exc}") from None
    finally:
        parser.dispose()


def _walk_events(parser: CParser, walk: _Walk, lines: list[int] | None) -> None:
    """Feeds the parser's events to the walk until the stream ends; `lines` are the lines holding a
    match (None: ask the matcher of every scalar)."""
    could_match = walk.matcher.could_match
    stack = walk.stack
    root_keys = walk.root_keys
    li = 0
    next_line = lines[0] if lines else _NO_LINE
    get_event = parser.get_event
    while True:
        ev: Any = get_event()  # None after the stream's end: one call per event, not two
        if ev is None:
            break
        kind = type(ev)
        if kind is ScalarEvent:
            value = ev.value
            if lines is None:
                hit = could_match(value)
            elif ev.end_mark.line >= next_line:
                # Scalars come in document order, so the next matching line only moves forward.
                first = ev.start_mark.line
                while next_line < first:
                    li += 1
                    next_line = lines[li] if li < len(lines) else _NO_LINE
                hit = next_line <= ev.end_mark.line
            else:
                hit = False
            if hit or not stack:
                walk.scalar(value, hit)
                continue
            top = stack[-1]  # the rest is walk.scalar(value, False), inlined
            if top[IS_MAP]:
                if top[WANT_KEY]:
                    top[KEY] = value
                    top[WANT_KEY] = False
                    if len(stack) == 1:
                        root_keys.add(value)
                else:
                    key = top[KEY]
                    if key == "name":
                        top[NAME] = value
                    elif key == "$ref":
                        walk.ref(value)
                    top[WANT_KEY] = True
            else:
                top[INDEX] += 1
        elif kind is MappingStartEvent or kind is SequenceStartEvent:
            is_map = kind is MappingStartEvent  # the rest is walk.start(is_map), inlined
            if stack:
                top = stack[-1]
                if top[IS_MAP] and top[WANT_KEY]:
                    top[KEY] = "?"
            elif walk.root_kind is None:
                walk.root_kind = "mapping" if is_map else "sequence"
            stack.append([is_map, "", 0, is_map, None])
        elif kind is MappingEndEvent or kind is SequenceEndEvent:
            stack.pop()
            if stack:  # walk.node_done(), inlined
                top = stack[-1]
                if top[IS_MAP]:
                    top[WANT_KEY] = not top[WANT_KEY]
                else:
                    top[INDEX] += 1
        elif kind is AliasEvent:
            walk.node_done()


def _walk_json(data: Any, walk: _Walk) -> None:
    could_match = walk.matcher.could_match
    todo: list[Any] = [data]
    end = object()  # marks where a mapping or sequence closes
    while todo:
        node = todo.pop()
        if node is end:
            walk.end()
        elif isinstance(node, dict):
            walk.start(True)
            todo.append(end)
            for key, value in reversed(list(node.items())):
                todo.append(value)
                todo.append(_Key(key))
        elif isinstance(node, list):
            walk.start(False)
            todo.append(end)
            todo.extend(reversed(node))
        elif isinstance(node, _Key):
            walk.scalar(node.text, could_match(node.text))
        elif isinstance(node, str):
            walk.scalar(node, could_match(node))
        else:  # numbers, booleans, null: nothing to match, but they take their place in the path
            walk.scalar("" if node is None else str(node), False)


class _Key:
    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


# --- deciding and describing ------------------------------------------------------------------


def _strip_combiners(labels: list[Label]) -> list[Label]:
    while len(labels) >= 2 and isinstance(labels[-1], int) and labels[-2] in _COMBINERS:
        labels = labels[:-2]
    return labels


def _is_model_slot(path: Path, labels: list[Label]) -> bool:
    """Whether `labels` (a prefix of `path`) ends at the schema of a `model` property or parameter."""
    if len(labels) >= 2 and labels[-2] == "properties" and labels[-1] == "model":
        return True
    if labels and labels[-1] == "schema":
        frame = path[len(labels) - 1][0]
        return bool(frame[NAME] == "model")
    return False


def _schema_name(labels: list[Label]) -> str | None:
    if len(labels) == 3 and labels[0] == "components" and labels[1] == "schemas":
        return str(labels[2])
    return None


def _model_schemas(refs: list[tuple[Path, str]]) -> set[str]:
    """Schemas a `model` slot refers to, and those they refer to through anyOf/oneOf/allOf."""
    roots: set[str] = set()
    edges: dict[str, set[str]] = {}
    for path, target in refs:
        labels = _strip_combiners([label for _, label in path][:-1])
        if _is_model_slot(path, labels):
            roots.add(target)
        else:
            source = _schema_name(labels)
            if source is not None:
                edges.setdefault(source, set()).add(target)
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(edges.get(name, ()))
    return seen


def _accepted(path: Path, model_schemas: set[str]) -> str | None:
    """How a model slot accepts the scalar at `path` ("enum of property `model`"), or None."""
    labels = [label for _, label in path]
    if len(labels) >= 2 and labels[-2] == "enum" and isinstance(labels[-1], int):
        kind, base = "enum", labels[:-2]
    elif labels and labels[-1] in _VALUE_KEYS:
        kind, base = str(labels[-1]), labels[:-1]
    else:
        return None
    base = _strip_combiners(base)
    if len(base) >= 2 and base[-2] == "properties" and base[-1] == "model":
        return f"{kind} of property `model`"
    if _is_model_slot(path, base):
        return f"{kind} of parameter `model`"
    schema = _schema_name(base)
    if schema in model_schemas:
        return f"{kind} of {schema}, the type of a `model`"
    return None


def _render(path: Path, value: str | None = None) -> str:
    """A JSON path with name-based selectors: `parameters[name=model]`, `enum[=gpt-image-2]`."""
    parts: list[str] = []
    for i, (_, label) in enumerate(path):
        if isinstance(label, int):
            child = path[i + 1][0] if i + 1 < len(path) else None
            if child is not None and child[IS_MAP] and child[NAME]:
                parts.append(f"[name={child[NAME]}]")
            elif child is None and value is not None:
                parts.append(f"[={value}]")
            else:
                parts.append(f"[{label}]")
        elif _PLAIN_KEY.match(label):
            parts.append(("." if parts else "") + label)
        else:
            parts.append(("." if parts else "") + json.dumps(label, ensure_ascii=False))
    return "".join(parts)


def _context(path: Path, operations: dict[str, list[str]]) -> str:
    """What the node belongs to: `POST /images/generations`, `schema CreateImageRequest (POST ...)`."""
    labels = [label for _, label in path]
    if len(labels) >= 3 and labels[0] in ("paths", "webhooks"):
        method = str(labels[2])
        if method in _METHODS:
            return f"{method.upper()} {labels[1]}"
        return f"{labels[0]} {labels[1]}"
    if len(labels) >= 3 and labels[0] == "components":
        kind = str(labels[1])
        name = str(labels[2])
        if kind == "schemas":
            ops = operations.get(name)
            return f"schema {name}" + (f" ({', '.join(ops[:3])})" if ops else "")
        return f"{kind} {name}"
    return str(labels[0]) if labels else "document"


def _operations(refs: list[tuple[Path, str]]) -> dict[str, list[str]]:
    """Schema name -> the operations whose request body refers to it directly."""
    out: dict[str, list[str]] = {}
    for path, target in refs:
        labels = [label for _, label in path]
        if len(labels) >= 4 and labels[0] == "paths" and labels[2] in _METHODS and labels[3] == "requestBody":
            op = f"{str(labels[2]).upper()} {labels[1]}"
            if op not in out.setdefault(target, []):
                out[target].append(op)
    return out


def _signals(walk: _Walk) -> list[Signal]:
    matcher = walk.matcher
    model_schemas = _model_schemas(walk.refs)
    operations = _operations(walk.refs)
    found = Signals()
    for cand in walk.candidates:
        context = _context(cand.path, operations)
        how = None if cand.is_key else _accepted(cand.path, model_schemas)
        whole = matcher.match_value(cand.text) if how else None
        if how and whole is not None:
            value = cand.text.strip()
            found.add(
                whole.target,
                whole.model_id,
                EvidenceType.SPEC_VALUE,
                _render(cand.path, value),
                clip(f"{context} accepts {value}: {how}"),
            )
            continue
        location = _render(cand.path)
        for m in matcher.find(cand.text):
            found.add(
                m.target,
                m.model_id,
                EvidenceType.SPEC_MENTION,
                location,
                functools.partial(_in_context, context, cand.text, m.start, m.end),
            )
    return found.kept


def _in_context(context: str, text: str, start: int, end: int) -> str:
    return clip(f"{context}: {snippet(text, start, end)}")


def _looks_like_json(text: str) -> bool:
    return text.lstrip("\ufeff \t\r\n")[:1] in ("{", "[")


_ROOT_KEYS = frozenset({"openapi", "swagger", "paths", "components"})
# A root key as a block mapping at the root writes it: at column 0, plain or quoted.
_ROOT_KEY_LINE = re.compile(r"""^["']?(?:openapi|swagger|paths|components)["']?[ \t]*:(?:[ \t]|$)""", re.MULTILINE)


def _nothing_to_find(text: str, matcher: Matcher, named: bool | None = None) -> bool:
    """Whether a YAML spec can be answered "no evidence" without the walk: no target's id occurs in the
    text at all (`named`, when the caller knows), libyaml reads the whole stream without error (in C,
    creating no Python objects: 5x cheaper than the events), and the root is a mapping with an OpenAPI
    key at column 0. A broken document raises ParseError here, as the walk would; anything less
    certain returns False, and the full walk decides."""
    _load_yaml()
    if matcher.could_name_any(text) if named is None else named:
        return False
    parser = CParser(text)
    try:
        parser.raw_parse()
    except yaml.YAMLError as exc:
        raise ParseError(f"invalid YAML: {exc}") from None
    finally:
        parser.dispose()
    parser = CParser(text)
    try:  # the first events: stream start, document start, then the root node
        first = [parser.get_event() for _ in range(3) if parser.check_event()]
    except yaml.YAMLError:
        return False
    finally:
        parser.dispose()
    root_is_mapping = len(first) == 3 and isinstance(first[2], MappingStartEvent)
    return root_is_mapping and _ROOT_KEY_LINE.search(text) is not None


# --- the chunked read: a big block-style spec, one top entry at a time -----------------------------
#
# A real spec is block YAML whose `paths`, `components` and `components.schemas` hold hundreds of
# entries, one line each at a fixed indentation. Each entry (a chunk) is read by libyaml on its own:
# every chunk is checked in C (raw_parse, no Python objects), and only the chunks that can change the
# answer are walked event by event. An answer needs the scalars on lines with a match (candidates),
# and, for a candidate inside schema X, every `$ref` to X: the operations whose request body names it,
# and whether X is the type of a `model` (a `model` slot refers to it, or a schema that is). A ref to X
# spells `#/components/schemas/X` in the text unless an escape hides it, so the chunks that spell it
# (or hold such an escape) are walked too, and so on for the schemas that refer to X.
#
# Why the chunks read alone give the same events as the whole: a line at the chunk's indentation
# that starts a simple key ends every construct of the chunk before it, unless it lies inside a
# quoted scalar or flow collection that spans lines; then the chunk before it does not parse on its
# own (the construct is still open at its end), and the whole walk decides. So does anything less
# plain: directives, `---`, tabs or other breaks at the start of a line, a key that is not a plain
# word. Results per chunk are memoised by their exact bytes: a history of small edits (a backtest, a
# spec that changed) reads only the chunks that changed.


# Line breaks other than \n (libyaml counts them too), a BOM, and the Kelvin sign (a `k` to the matcher).
_UNPLAIN = (*_OTHER_BREAKS, "\ufeff", "\u212a")
# The BOMs decode() honours (UTF-32 LE's starts as UTF-16 LE's): a body with one is not read as UTF-8.
_BOMS = (codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_BE)


class _Unsure(Exception):
    """The chunked read cannot vouch for the answer; the whole walk decides."""


# Entries whose value is split into its own entries, and the indentation of those.
_SPLIT = {("paths",): 2, ("components",): 2, ("components", "schemas"): 4}
# A plain key opening a line: a word, a path (`/responses/{id}?beta=true`), without quotes or escapes.
_HEAD = re.compile(rb"([A-Za-z0-9_$./][A-Za-z0-9_$./{}?=&%+@!*()\[\],;<>|^~-]*):(?=[ \n])")
_BARE = re.compile(rb"[ ]*(?:#[^\n]*)?\n")  # the rest of `paths:` when its value is the lines below
_BLANK = re.compile(rb"(?:[ ]*(?:#[^\n]*)?\n)*")  # blank and comment lines
_SHALLOW_LINE = re.compile(rb"\n {0,4}(?=[^ \n])")  # 4: the deepest indentation in _SPLIT
_REF_TO = re.compile(rb"#/components/schemas/([^'\"\s\\]*)")
_HEX_ESCAPE = re.compile(rb"\\(?:/|x[0-7]|u00[0-7]|U000000[0-7])")  # an escape that spells an ASCII character
_NO_NAME = ("name", "schema")  # entries that set or read the NAME of the mapping they are in: always walked


class _Chunk(NamedTuple):
    start: int
    end: int
    key: str
    parents: tuple[str, ...]  # the keys above the entry: (), ("paths",), ("components", "schemas")...
    frames: tuple[Frame, ...]  # the mappings those keys are in, then the one the entry is in


_last_lines: tuple[bytes, list[tuple[int, int]]] = (b"", [])  # the document scanned last, and its lines


def _shallow_lines(data: bytes) -> list[tuple[int, int]]:
    """Every line indented by at most 4 (the deepest entries split), as (start, indentation), the first
    line aside. A regex pass over 3 MB costs 7 ms; a history of small edits rescans only what changed
    since the document before (the lines in a common prefix and suffix are the same, shifted)."""
    global _last_lines
    old, old_lines = _last_lines
    size = min(len(old), len(data))
    head = _common(old, data, size, False)
    tail = _common(old, data, size - head, True)
    shift = len(data) - len(old)
    cut = head - 5  # a line's entry depends on its \n and the 5 bytes after it
    lines = [e for e in old_lines if e[0] + 4 < cut] if head > 5 else []
    suffix = len(data) - tail
    for m in _SHALLOW_LINE.finditer(data, max(0, lines[-1][0] if lines else 0)):
        start = m.start() + 1
        if start >= suffix + 1:
            break
        if not lines or start > lines[-1][0]:
            lines.append((start, m.end() - start))
    lines.extend((p + shift, ind) for p, ind in old_lines if p - 1 >= len(old) - tail)
    _last_lines = (data, lines)
    return lines


def _common(a: bytes, b: bytes, limit: int, from_end: bool) -> int:
    """The length of the longest common prefix (or suffix) of a and b, at most `limit`: a binary search
    over slice comparisons (memcmp), about 1 ms for 3 MB."""
    lo, hi = 0, limit
    while lo < hi:
        mid = (lo + hi + 1) // 2
        same = a[len(a) - mid:len(a) - lo] == b[len(b) - mid:len(b) - lo] if from_end else a[lo:mid] == b[lo:mid]
        if same:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _chunks(data: bytes) -> list[_Chunk]:
    """The document's entries, split where _SPLIT says; _Unsure when its shape is not plain."""
    lines = _shallow_lines(data)
    if data[:1] not in b" \n":
        lines = [(0, 0), *lines]
    first = next((p for p, ind in lines if data[p + ind] != 0x23), None)
    if first is None or not _blank(data, 0, first):
        raise _Unsure
    out: list[_Chunk] = []
    _entries(data, lines, 0, len(lines), len(data), 0, (), ([True, "", 0, True, None],), out)
    return out


def _entries(data: bytes, lines: list[tuple[int, int]], lo: int, hi: int, end: int, indent: int,
             parents: tuple[str, ...], frames: tuple[Frame, ...], out: list[_Chunk]) -> None:
    """The entries at `indent` among lines[lo:hi] (a region ending at byte `end`)."""
    heads = []
    for i in range(lo, hi):
        p, ind = lines[i]
        if ind > indent:
            continue  # inside an entry
        if data[p + ind] == 0x23:
            continue  # a comment line
        if ind < indent:
            raise _Unsure  # content left of the entries: not the plain shape
        m = _HEAD.match(data, p + ind)
        if m is None:
            raise _Unsure
        heads.append((i, m))
    if not heads:
        raise _Unsure
    for n, (i, m) in enumerate(heads):
        nxt = heads[n + 1][0] if n + 1 < len(heads) else hi
        stop = lines[nxt][0] if nxt < hi else end
        key = m.group(1).decode()
        inner = _SPLIT.get(parents + (key,))
        bare = _BARE.match(data, m.end()) if inner is not None else None
        if inner is not None and bare is not None:
            kid = next((j for j in range(i + 1, nxt) if lines[j][1] == inner and data[lines[j][0] + inner] != 0x23),
                       None)
            if kid is not None and _blank(data, bare.end(), lines[kid][0]):
                _entries(data, lines, i + 1, nxt, stop, inner, parents + (key,), frames + ([True, "", 0, True, None],),
                         out)
                continue
        out.append(_Chunk(lines[i][0], stop, key, parents, frames))


def _blank(data: bytes, start: int, end: int) -> bool:
    """Whether data[start:end] is whole lines, each blank or a comment."""
    m = _BLANK.match(data, start, end)
    return m is not None and m.end() == end


def _opaque(body: bytes) -> bool:
    """Whether a chunk can spell a ref without its plain text: a hex or `\\/` escape, or a double-quoted
    scalar broken by an escaped line break (found back from each backslash ending a line: its opening
    quote is the nearest unescaped one, and opens a node only after a space or `[{,:`). The quote is in
    the chunk: a scalar that began in the chunk before would hold this chunk's `key:` line, and a
    value with `: ` in it is no ref to a schema named by a plain key."""
    known = _opaque_chunks.get(body)
    if known is not None:
        return known
    found = _HEX_ESCAPE.search(body) is not None
    q = body.find(b"\\\n")
    while q != -1 and not found:
        o = body.rfind(b'"', 0, q)
        while o > 0:
            b = o
            while b > 0 and body[b - 1] == 0x5C:
                b -= 1
            if (o - b) % 2 == 0:
                break  # not an escaped quote
            o = body.rfind(b'"', 0, o)
        found = o > 0 and body[o - 1] in b" \t\n[{,:"
        q = body.find(b"\\\n", q + 1)
    _opaque_chunks[body] = found
    _remember(len(body))
    return found


# Process-wide, shared by the probe threads: each use is one set or dict operation (atomic in CPython),
# so a thread clearing them only costs another a second read.
_valid: set[bytes] = set()  # chunks libyaml read without error
_opaque_chunks: dict[bytes, bool] = {}
_walked: dict[tuple[Any, ...], tuple[list[_Candidate], list[tuple[Path, str]]]] = {}
# What is remembered is forgotten at once past this many bytes of entries; a process that read one
# 3 MB spec keeps about 7 MB (its entries, their walks, the last document and its lines).
_CACHE_BYTES = 32_000_000
_cached_bytes = 0
_read_one = False  # whether this process read a spec yet


def _remember(size: int) -> None:
    global _cached_bytes
    _cached_bytes += size
    if _cached_bytes > _CACHE_BYTES:
        clear_cache()


def clear_cache() -> None:
    """Forget the chunks and lines read so far (the benchmarks time a cold read)."""
    global _cached_bytes, _last_lines, _read_one
    _last_lines = (b"", [])
    _read_one = False
    _valid.clear()
    _opaque_chunks.clear()
    _walked.clear()
    _cached_bytes = 0


def _check(body: bytes) -> None:
    if body in _valid:
        return
    parser = CParser(body)
    try:
        parser.raw_parse()
    except yaml.YAMLError:
        raise _Unsure from None
    finally:
        parser.dispose()
    _valid.add(body)
    _remember(len(body))


def _check_rest(data: bytes, chunks: list[_Chunk], walked: Collection[int]) -> None:
    """libyaml reads every chunk that was not walked (a walk read it already). Entries of `paths` and
    `components.schemas` are read a run of neighbours at a time, with one parser: a run ends at a walked
    chunk (so that chunk's own start and end are checked), at the end of its parent, and after an entry
    whose key's CRC is 0 mod 16 (a point that stays put when entries around it change, so a run read
    before is remembered). A top-level entry is read on its own: its key must be one."""
    run = -1  # the start of the run being gathered, or -1
    for i, c in enumerate(chunks):
        if run >= 0 and (i in walked or c.frames[-1] is not chunks[i - 1].frames[-1]):
            _check(data[run:chunks[i - 1].end])
            run = -1
        if i in walked:
            continue
        if not c.parents:
            _check(data[c.start:c.end])
            continue
        if run < 0:
            run = c.start
        if zlib.crc32(c.key.encode()) % 16 == 0:
            _check(data[run:c.end])
            run = -1
    if run >= 0:
        _check(data[run:chunks[-1].end])


def _walk_chunk(data: bytes, chunk: _Chunk, matcher: Matcher,
                hit: bool) -> tuple[list[_Candidate], list[tuple[Path, str]]]:
    body = data[chunk.start:chunk.end]
    memo = chunk.key not in _NO_NAME
    cache_key = (matcher.ids, matcher.families, chunk.parents, body)
    known = _walked.get(cache_key) if memo else None  # one lookup: another thread may clear the cache
    if known is not None:
        return known
    walk = _Walk(matcher)
    *above, wrapper = chunk.frames
    for frame, label in zip(above, chunk.parents, strict=True):
        frame[KEY] = label
        frame[WANT_KEY] = False
    wrapper[WANT_KEY] = True
    walk.stack.extend(chunk.frames)
    lines = _candidate_lines(body.decode(), matcher) if hit else []
    parser = CParser(body)
    try:  # stream start, document start, then the mapping the entry is in: the wrapper's frame
        first = [type(parser.get_event()) for _ in range(3)]
        if first != [StreamStartEvent, DocumentStartEvent, MappingStartEvent]:
            raise _Unsure
        _walk_events(parser, walk, lines)
    except yaml.YAMLError:
        raise _Unsure from None
    finally:
        parser.dispose()
    if len(walk.stack) != len(above) or wrapper[KEY] != chunk.key:
        raise _Unsure  # not one entry after all
    result = (walk.candidates, walk.refs)
    _valid.add(body)
    if memo:
        _walked[cache_key] = result
        _remember(len(body))
    return result


def _chunked(text: str, matcher: Matcher, data: bytes | None = None) -> list[Signal] | None:
    """The signals of a plain block-YAML spec read chunk by chunk, or None when the whole walk must
    decide (which also says precisely what is wrong with a broken document). `data`: the text's UTF-8.
    The process's first spec naming no target is checked whole (ParseError if broken)."""
    if data is None:
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError:
            return None
    if any(ch in text for ch in _UNPLAIN) or not all(p.isascii() and p for p in matcher.prefixes):
        return None  # (a family `*` has no prefix to look for)
    found_at = matcher.prefix_offsets(data)  # a superset of where the matcher's matches start
    global _read_one
    if not found_at and not _read_one:
        # The first spec naming no target: one C pass over the whole costs less than the entries'
        # (the next, likely a version of it, is read entry by entry). could_name_any would say False.
        _read_one = True
        return [] if _nothing_to_find(text, matcher, named=False) else None
    _load_yaml()
    try:
        chunks = _chunks(data)
        if not {c.parents[0] if c.parents else c.key for c in chunks} & _ROOT_KEYS:
            return None  # not an OpenAPI document: the whole walk says so
        starts = [c.start for c in chunks]

        def at(pos: int) -> int:
            return bisect.bisect_right(starts, pos) - 1

        hits = {at(pos) for pos in found_at}
        hits.discard(-1)
        if not hits:
            _check_rest(data, chunks, set())
            return []
        todo = set(hits) | {i for i, c in enumerate(chunks) if c.key in _NO_NAME}
        refs_to: dict[str, set[int]] | None = None  # read once a schema's refs are needed
        results: dict[int, tuple[list[_Candidate], list[tuple[Path, str]]]] = {}
        edges: dict[str, set[str]] = {}  # target -> schemas that refer to it at their top (anyOf...)
        needed: set[str] = set()  # schemas every ref to which was walked
        while todo:
            for i in sorted(todo):
                results[i] = found = _walk_chunk(data, chunks[i], matcher, i in hits)
                for cand in found[0]:  # a value in schema X reads by the refs to X: operations, type of `model`
                    if len(cand.path) >= 3 and cand.path[0][1] == "components" and cand.path[1][1] == "schemas":
                        needed.add(str(cand.path[2][1]))
                for path, target in found[1]:
                    source = _schema_name(_strip_combiners([label for _, label in path][:-1]))
                    if source is not None:
                        edges.setdefault(target, set()).add(source)
            asked, grown = set(), set(needed)  # X is a model's type if a schema referring to it is
            while grown:
                asked |= grown
                grown = {s for t in grown for s in edges.get(t, ())} - asked
            todo = set()
            if asked and refs_to is None:
                refs_to = {}
                for m in _REF_TO.finditer(data):
                    refs_to.setdefault(m.group(1).decode(errors="replace"), set()).add(at(m.start()))
                # A chunk that can spell a ref otherwise may refer to any of them.
                todo = {i for i, c in enumerate(chunks) if i not in results and _opaque(data[c.start:c.end])}
            for name in asked:  # the chunks spelling a ref to it
                todo |= refs_to.get(name, set()) if refs_to else set()
            needed = asked
            todo -= results.keys()
        _check_rest(data, chunks, results.keys())
    except _Unsure:
        return None
    walk = _Walk(matcher)
    for i in sorted(results):
        candidates, refs = results[i]
        walk.candidates.extend(candidates)
        walk.refs.extend(refs)
    return _signals(walk)


def parse(doc: Document, matcher: Matcher) -> list[Signal]:
    body = doc.body
    if not body.startswith(_BOMS) and charset(doc.content_type) in (None, "utf-8"):
        try:  # what decode() does first for such a body; then the chunked read needs no encoding back
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            return _parse_text(text, matcher, utf8=body)
    return _parse_text(decode(body, doc.content_type), matcher)


def _parse_text(text: str, matcher: Matcher, *, chunked: bool = True, utf8: bytes | None = None) -> list[Signal]:
    """The signals of a spec; `utf8` is the text's UTF-8 when at hand. `chunked=False` reads a YAML
    spec whole (the reference the tests hold the chunked read to)."""
    walk = _Walk(matcher)
    data: Any = None
    parsed_json = False
    if _looks_like_json(text):
        try:
            data = json.loads(text)
            parsed_json = True
        except (ValueError, RecursionError):
            pass  # libyaml reads JSON too, and says precisely where it is broken (or too deep)
    if parsed_json:
        if isinstance(data, dict) and data.keys() & _ROOT_KEYS and not matcher.could_name_any(text):
            return []  # exact: with nothing to match the walk would find nothing, and the root is checked
        _walk_json(data, walk)
    else:
        found = _chunked(text, matcher, utf8) if chunked else None
        if found is not None:
            return found
        if _nothing_to_find(text, matcher):
            return []
        _walk_yaml(text, walk)
    if walk.root_kind != "mapping":
        raise ParseError("not an OpenAPI document: the top level is not a mapping")
    if not walk.root_keys & _ROOT_KEYS:
        raise ParseError("not an OpenAPI document: no openapi, paths or components at the top level")
    return _signals(walk)


_YAML_PATH = re.compile(r"^  ['\"]?/[^\n]*:[ \t]*$", re.MULTILINE)  # a path under `paths:`, two spaces in
_YAML_VERSION = re.compile(r"^(?:openapi|swagger):[ \t]*['\"]?([\w.]+)", re.MULTILINE)
_MODEL_KEY = re.compile(r"^[ \t-]*['\"]?model['\"]?[ \t]*:|\bname:[ \t]*['\"]?model['\"]?[ \t]*$|\"model\"\s*:",
                        re.MULTILINE)


def anchor(doc: Document) -> Anchor:
    """An OpenAPI document with paths and at least one `model` property or parameter. The whole
    document is read (libyaml events, no matching), so a body cut mid-structure has no anchor."""
    text = decode(doc.body, doc.content_type)
    walk = _Walk(Matcher([]))
    data: Any = None
    try:
        if _looks_like_json(text):
            data = json.loads(text)
            _walk_json(data, walk)
        else:
            _walk_yaml(text, walk)
    except (ValueError, RecursionError, ParseError):  # JSONDecodeError is a ValueError
        return Anchor(False, "not YAML or JSON")
    if walk.root_kind != "mapping" or "paths" not in walk.root_keys:
        return Anchor(False, "no OpenAPI `paths`")
    if isinstance(data, dict):
        paths = len(data["paths"]) if isinstance(data.get("paths"), dict) else 0
        version = str(data.get("openapi") or data.get("swagger") or "?")
    else:
        paths = len(_YAML_PATH.findall(text))
        m = _YAML_VERSION.search(text)
        version = m.group(1) if m else "?"
    models = len(_MODEL_KEY.findall(text))
    return Anchor(paths > 0 and models > 0, f"OpenAPI {version}: {paths} paths, {models} `model` slots")


KIND = Kind(
    name="openapi_spec",
    parse=parse,
    anchor=anchor,
    evidence_types=(EvidenceType.SPEC_VALUE, EvidenceType.SPEC_MENTION),
    reads="OpenAI's OpenAPI spec, YAML or JSON (3 MB); `spec_value` is an `enum`, `example`, `default` "
          "or `const` of a `model` property or parameter",
)
