"""The OpenAPI parser's chunked read (one top entry of a big spec at a time, remembered by its bytes)
must give exactly what the whole walk gives: the same signals in the same order, or the same
ParseError. Held to that on every real spec version, on hostile YAML, and on a few hundred mutations
of a small spec read one after another (so a remembered chunk never leaks into the next document).
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from watcher.errors import ParseError
from watcher.evidence import Signal
from watcher.sources import Document, openapi_spec
from watcher.targets import Matcher, Target
from watcher.text import decode

SPECS = Path(__file__).parent / "fixtures" / "openai" / "openai-openapi"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "openai" / "openai-openapi"
TARGETS = [["gpt-image-2", "gpt-4o"], ["gpt-image-3"], ["gpt-image-1"], ["gpt-4o-mini"],
           ["dall-e-3", "whisper-1", "gpt-4"], ["o1"], ["gpt-5"], ["tts-1"]]


def real_specs() -> list[Path]:
    seen: dict[bytes, Path] = {}
    for folder in (SPECS, SHARED):
        for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
            seen.setdefault(path.read_bytes(), path)
    return list(seen.values())


Outcome = list[Signal] | tuple[str, str]


def cold() -> None:
    """Nothing remembered, and past the first read (which, for a spec naming no target, is one C pass
    over the whole rather than the chunked read this file holds to the whole walk)."""
    openapi_spec.clear_cache()
    openapi_spec._read_one = True


def outcome(text: str, matcher: Matcher, *, chunked: bool) -> Outcome:
    """What the parser makes of the text's UTF-8 (chunked: as a probe reads it), or the whole walk of it."""
    body = text.encode("utf-8", "surrogatepass")
    try:
        if chunked:
            return openapi_spec.parse(Document(body), matcher)
        return openapi_spec._parse_text(decode(body), matcher, chunked=False)
    except ParseError as exc:
        return ("parse_error", str(exc))


@pytest.mark.parametrize("path", real_specs(), ids=lambda p: p.name)
def test_chunked_read_of_every_real_spec_gives_the_whole_walks_signals(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for targets in [*TARGETS, [Target(family="gpt-image-*")]]:
        matcher = Matcher(targets)
        cold()
        assert openapi_spec._chunked(text, matcher) is not None, "a real spec takes the chunked read"
        whole = outcome(text, matcher, chunked=False)
        assert outcome(text, matcher, chunked=True) == whole, targets
        assert outcome(text, matcher, chunked=True) == whole, targets  # again, from what it remembered


SMALL = """\
openapi: 3.1.0
info:
  title: t
  description: "mentions gpt-image-2 in prose"
paths:
  /images/generations:
    post:
      operationId: createImage
      requestBody:
        content:
          application/json:
            schema:
              $ref: '#/components/schemas/CreateImageRequest'
  /images/edits:
    post:
      parameters:
        - name: model
          in: query
          schema:
            $ref: '#/components/schemas/EditModel'
      requestBody:
        content:
          multipart/form-data:
            schema:
              $ref: "#/components/schemas/CreateImageRequest"
components:
  parameters:
    Model:
      name: model
      in: query
      schema:
        anyOf:
          - type: string
          - $ref: '#/components/schemas/ParamModel'
  schemas:
    CreateImageRequest:
      type: object
      properties:
        model:
          anyOf:
            - type: string
            - $ref: '#/components/schemas/ImageModel'
          example: gpt-image-2
        prompt:
          description: |
            Use gpt-image-2 for the best results.
    ImageModel:
      anyOf:
        - $ref: '#/components/schemas/ImageModelIds'
    ImageModelIds:
      type: string
      enum: [gpt-image-1, gpt-image-2]
    EditModel:
      type: string
      enum:
        - gpt-image-2
    ParamModel:
      enum: [gpt-image-2-2026-04-21]
    Unrelated:
      enum: [gpt-image-2]
x-oaiMeta:
  groups:
    - id: images
      description: gpt-image-2
"""


def edit(old: str, new: str) -> str:
    assert old in SMALL
    return SMALL.replace(old, new, 1)


# (name, document, whether the chunked read must answer it rather than hand it to the whole walk)
HOSTILE = [
    ("plain", SMALL, True),
    ("crlf", SMALL.replace("\n", "\r\n"), False),
    ("cr", SMALL.replace("\n", "\r"), False),
    ("nel", edit("t\n", "t\x85  more\n"), False),
    ("line separator", edit("t\n", "t\u2028gpt-image-2\n"), False),
    ("bom", "\ufeff" + SMALL, False),
    ("tab", edit("    Unrelated:", "\tUnrelated:"), False),
    ("directive", "%YAML 1.1\n---\n" + SMALL, False),
    ("document start", "---\n" + SMALL, False),
    ("two documents", SMALL + "---\n" + SMALL, False),
    ("document end", SMALL + "...\n", False),
    ("duplicate anchors", edit("      type: string\n      enum: [gpt-image-1",
                               "      type: &a string\n      format: &a x\n      enum: [*a, gpt-image-1"), True),
    ("alias as the model", edit("            - $ref: '#/components/schemas/ImageModel'",
                                "            - &m {$ref: '#/components/schemas/ImageModel'}\n            - *m"), True),
    ("flow schema", edit("    Unrelated:\n      enum: [gpt-image-2]",
                         "    Flow: {anyOf: [{$ref: '#/components/schemas/ImageModelIds'}], enum: [gpt-image-2]}\n"
                         "    Unrelated:\n      enum: [gpt-image-2]"), True),
    ("flow paths", edit("paths:\n", "paths: {}\nxpaths:\n"), True),
    ("block scalar with an id and a key-like line", edit(
        "            Use gpt-image-2 for the best results.",
        "            Use gpt-image-2 for the best results.\n    Fake:\n      enum: [gpt-image-2]"), False),
    ("block scalar holding a fake entry", edit(
        "            Use gpt-image-2 for the best results.",
        "            Use gpt-image-2.\n\n            Fake:\n              enum: [gpt-image-2]"), True),
    ("quoted scalar spanning a fake entry", edit(
        "    Unrelated:\n", "    Unrelated:\n      description: \"start\n    Fake:\n      $ref: '#/components/schemas/"
        "ImageModelIds'\n      end\"\n"), False),
    ("quoted scalar spanning a fake root key", SMALL.replace("openapi: 3.1.0\n", "").replace("paths:", "routes:")
     .replace("components:", "parts:").replace("  title: t\n", "  title: \"t\nopenapi: 3\n  end\"\n"), False),
    ("quoted scalar spanning a fake entry, no target there", edit(
        "    Unrelated:\n", "    Unrelated:\n      description: \"start\n    Fake:\n      type: string\n      end\"\n"),
     False),
    ("flow sequence spanning a fake entry", edit(
        "    Unrelated:\n      enum: [gpt-image-2]", "    Unrelated:\n      enum: [gpt-image-2,\n    Fake: 1]"), False),
    ("quoted keys inside an entry", edit("        prompt:", "        'prompt':\n          x: 1\n        \"model\":\n"
                                                           "          enum: [gpt-image-2]\n        other:"), True),
    ("quoted entry key", edit("    Unrelated:", "    \"Unrelated\":"), False),
    ("quoted root key", edit("x-oaiMeta:", "'x-oaiMeta':"), False),
    ("explicit key", edit("    Unrelated:\n      enum: [gpt-image-2]", "    ? Unrelated\n    : enum: [gpt-image-2]"),
     False),
    ("deep nesting", edit("      enum: [gpt-image-2]\nx-oaiMeta",
                          "      enum: [gpt-image-2]\n      deep: " + "[" * 300 + "gpt-image-2" + "]" * 300
                          + "\nx-oaiMeta"), True),
    ("too deep", edit("      enum: [gpt-image-2]\nx-oaiMeta",
                      "      enum: [gpt-image-2]\n      deep: " + "[" * 1100 + "]" * 1100 + "\nx-oaiMeta"), False),
    ("hex-escaped ref", edit("            $ref: '#/components/schemas/EditModel'",
                             "            $ref: \"\\x23\\/components\\/schemas/ImageModelIds\""), True),
    ("escaped line break in a ref", edit("        - $ref: '#/components/schemas/ImageModelIds'",
                                         "        - $ref: \"#/components/sche\\\n          mas/ImageModelIds\""), True),
    ("escaped quote before an escaped line break", edit(
        "  title: t", "  title: \"a \\\"quoted\\\" word, then a \\\n    break\""), True),
    ("schema called name and schema", edit("    Unrelated:", "    name: model\n    schema:\n"
                                           "      $ref: '#/components/schemas/Unrelated'\n    Unrelated:"), True),
    ("root called name and schema", edit("x-oaiMeta:", "name: model\nschema:\n  $ref: '#/components/schemas/"
                                         "Unrelated'\nx-oaiMeta:"), True),
    ("duplicate schema", SMALL.replace("x-oaiMeta:", "    ImageModelIds:\n      enum: [gpt-image-2-2026-04-21]\n"
                                       "x-oaiMeta:", 1), True),
    ("ref to a longer name", edit("        - $ref: '#/components/schemas/ImageModelIds'",
                                  "        - $ref: '#/components/schemas/ImageModelIdsX'"), True),
    ("ref as a block scalar", edit("        - $ref: '#/components/schemas/ImageModelIds'",
                                   "        - $ref: |-\n            #/components/schemas/ImageModelIds"), True),
    ("comments and blank lines", edit("paths:\n", "# gpt-image-2\npaths: # gpt-image-2\n\n  # a comment\n"
                                      "# another\n").replace("  schemas:\n", "  schemas:\n   # odd\n\n"), True),
    ("content left of the entries", edit("    Unrelated:", "   Odd: 1\n    Unrelated:"), False),
    ("deeper line before the first entry", edit("  schemas:\n", "  schemas:\n      stray: 1\n"), False),
    ("kelvin sign", edit("gpt-image-2 in prose", "gpt-image-2 and \u212a in prose"), False),
    ("not OpenAPI", SMALL.replace("openapi: 3.1.0\n", "").replace("paths:", "routes:").replace(
        "components:", "parts:"), False),
    ("root is a sequence", "- " + SMALL.replace("\n", "\n  "), False),
    ("broken in an entry without the target", edit("    Unrelated:", "    Broken: [1, 2\n    Unrelated:"), False),
    ("broken in an entry with the target", edit("      enum: [gpt-image-1, gpt-image-2]",
                                                "      enum: [gpt-image-1, gpt-image-2"), False),
    ("broken at the end", SMALL + "tail: \"open\n", False),
    ("unicode keys and values", edit("  title: t", "  title: \u00e9t\u00e9 \u2019gpt-image-2\u2019"), True),
]


@pytest.mark.parametrize("name,text,chunked", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_chunked_read_of_hostile_yaml_gives_the_whole_walks_answer(name: str, text: str, chunked: bool) -> None:
    for targets in (["gpt-image-2"], ["gpt-image-3"], [Target(family="gpt-image-*")]):
        matcher = Matcher(targets)
        whole = outcome(text, matcher, chunked=False)
        openapi_spec.clear_cache()
        assert outcome(text, matcher, chunked=True) == whole, (name, targets, "the process's first read")
        cold()
        assert outcome(text, matcher, chunked=True) == whole, (name, targets)
        if chunked:  # the chunked read answered it, not the whole walk behind it
            cold()
            assert openapi_spec._chunked(text, matcher) is not None, name


def mutate(text: str, rng: random.Random) -> str:
    lines = text.split("\n")
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(len(lines))
        op = rng.randrange(7)
        if op == 0:
            del lines[i]
        elif op == 1:
            lines.insert(i, lines[rng.randrange(len(lines))])
        elif op == 2:
            lines[i] = " " + lines[i]
        elif op == 3:
            lines[i] = lines[i][1:]
        elif op == 4:
            j = rng.randrange(len(lines[i]) + 1)
            lines[i] = lines[i][:j] + rng.choice(["\"", "'", "[", "{", "\\", ": ", " #", "&a ", "*a", "gpt-image-2",
                                                  "\\x41", "model"]) + lines[i][j:]
        elif op == 5:
            lines[i] = lines[i].replace("gpt-image-1", "gpt-image-2").replace("ImageModel", "EditModel")
        else:
            lines[i] = lines[i].replace("model", "name").replace("schema", "model")
    return "\n".join(lines)


def test_chunked_read_of_mutated_specs_one_after_another_gives_the_whole_walks_answer() -> None:
    rng = random.Random(13)
    matcher = Matcher(["gpt-image-2"])
    cold()
    taken = 0
    for _ in range(600):
        text = mutate(SMALL, rng)
        taken += openapi_spec._chunked(text, matcher) is not None
        assert outcome(text, matcher, chunked=True) == outcome(text, matcher, chunked=False), text
    assert taken > 200  # most mutations stay in the plain shape that the chunked read answers


def test_lines_rescanned_after_an_edit_are_the_lines_of_a_fresh_scan() -> None:
    rng = random.Random(7)
    base = SMALL.encode()
    spec = (SPECS / "openapi-2024-05-13-49cf3ae6.yaml").read_bytes()
    previous = b""
    for _ in range(300):
        doc = rng.choice([base, spec, previous])
        for _ in range(rng.randint(0, 3)):  # an edit anywhere, as in a history: insert, delete, replace
            i, j = sorted(rng.randrange(len(doc) + 1) for _ in range(2))
            doc = doc[:i] + rng.choice([b"", b"\n", b"  x: 1\n", b"\n    Y:\n", b" ", b"#", b"\n\n  "]) + doc[j:]
        fresh = [(m.start() + 1, m.end() - m.start() - 1) for m in openapi_spec._SHALLOW_LINE.finditer(doc)]
        assert openapi_spec._shallow_lines(doc) == fresh
        previous = doc
