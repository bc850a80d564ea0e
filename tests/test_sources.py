"""Every source-kind parser: real OpenAI documents and hand-written pages in, signals out.

Most behaviour is the table in fixtures/cases.toml (a document beside what must come out of it);
the tests below it cover what a table cannot: hostile input, bounds, stability of locations.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fixturepaths import fixture_path
from watcher.errors import ParseError
from watcher.evidence import SIGNALS_PER_TYPE_MAX, EvidenceType, Signal, Signals
from watcher.sources import Anchor, Document, _text, describe, get, names, parser
from watcher.targets import Matcher
from watcher.text import EXCERPT_MAX, decode, is_html

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

FIXTURES = Path(__file__).parent / "fixtures"
CASES = tomllib.loads((FIXTURES / "cases.toml").read_text(encoding="utf-8"))["case"]
SPECS = FIXTURES / "openai" / "openai-openapi"
LOOKALIKES = ["gpt-image-20", "gpt-image-2.5", "gpt-image-2-mini", "gpt-image-2_beta", "gpt-image-2.5-turbo"]


def fixture(name: str) -> bytes:
    return fixture_path(name).read_bytes()


def run(kind: str, body: bytes | str, target: str = "gpt-image-2", **doc: object) -> list[Signal]:
    data = body.encode() if isinstance(body, str) else body
    doc.setdefault("target", target)
    return parser(kind)(Document(data, **doc), Matcher([target]))  # type: ignore[arg-type]


def keys(signals: list[Signal]) -> set[tuple[str, str, str]]:
    return {(s.evidence_type.value, s.model_id, s.location) for s in signals}


def outcome(kind: str, body: bytes, **doc: object) -> list[Signal] | str:
    """What a parser made of a body: its signals, or "parse_error". Anything else fails the test."""
    try:
        signals = run(kind, body, **doc)
    except ParseError:
        return "parse_error"
    assert isinstance(signals, list)
    assert_well_formed(signals)
    return signals


def assert_well_formed(signals: list[Signal]) -> None:
    assert all(isinstance(s, Signal) for s in signals)
    assert len({s.key for s in signals}) == len(signals), "the same evidence twice"
    for s in signals:
        assert len(s.excerpt) <= EXCERPT_MAX
        assert s.location, f"{s} has no location"
    per_type: dict[tuple[str, EvidenceType], int] = {}
    for s in signals:
        per_type[(s.target, s.evidence_type)] = per_type.get((s.target, s.evidence_type), 0) + 1
    assert all(n <= SIGNALS_PER_TYPE_MAX for n in per_type.values())


# --- the table ----------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_fixture_case(case: dict) -> None:
    doc = Document(
        fixture(case["file"]),
        url=case.get("url", ""),
        content_type=case.get("content_type"),
        target=case.get("page_target", case["target"]),
    )
    parse = parser(case["kind"])
    matcher = Matcher([case["target"]])
    if case.get("error"):
        with pytest.raises(ParseError):
            parse(doc, matcher)
        return
    signals = parse(doc, matcher)
    assert_well_formed(signals)
    assert all(s.target == case["target"] for s in signals)
    got = {(s.evidence_type.value, s.model_id, s.location): s for s in signals}
    expected = {(e["type"], e["model"], e["at"]): e for e in case.get("expect", [])}
    for key, e in expected.items():
        assert key in got, f"missing {key}; got {sorted(got)}"
        if "published" in e:
            assert got[key].published == e["published"]
    if case.get("only"):
        assert set(got) == set(expected), f"unexpected {sorted(set(got) - set(expected))}"
    for evidence_type in case.get("never", []):
        assert not [s for s in signals if s.evidence_type.value == evidence_type]


def test_every_case_file_exists_and_every_kind_is_covered() -> None:
    assert {c["kind"] for c in CASES} == set(names())
    for c in CASES:
        assert fixture_path(c["file"]).is_file(), c["file"]


@pytest.mark.parametrize("kind", names())
def test_every_kind_describes_the_evidence_it_yields(kind: str) -> None:
    text = describe(kind)
    assert "yield" in text and len(text) > 60


# --- the registry ----------------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]

# A real document per kind whose anchor structure is present (its summary says what was found).
ANCHORED: dict[str, tuple[str, str, str]] = {
    "changelog": ("openai/developers-docs/changelog-2026-07-22.md", "", "144 dated entries, newest 2026-07-22"),
    "feed": ("docs/releases.atom", "", "3 entries"),
    "model_page": ("docs/model-gpt-image-2.md", "", "Model ID line"),
    "models_api": ("docs/models-list-after.json", "", "model list"),
    "openapi_spec": ("openai/openai-openapi/openapi-2026-08-20-b8d775d.yaml", "", "paths"),
    "pricing_page": ("openai/developers-docs/pricing-a30a622.md", "", "rows"),
    "guide_page": ("openai/developers-docs/guides-image-generation-d4e9eef.md", "", "set a model"),
    "model_index": ("openai/developers-docs/models-a30a622.md", "", "96 model pages linked"),
    "sdk_types": (
        "demo_data/openai-python/image_model-2026-05-05-0ba55d75.py",
        "image_model.py",
        "ImageModel alias: 8 ids",
    ),
}


def test_names_list_every_kind_module_without_importing_a_parser() -> None:
    import subprocess

    code = (
        "import sys; from watcher.sources import names; n = names(); "
        "print(','.join(n)); print(','.join(m for m in sys.modules if m.startswith('watcher.sources.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    listed = out[0].split(",")
    on_disk = sorted(p.stem for p in (ROOT / "watcher" / "sources").glob("[!_]*.py"))
    assert listed == on_disk
    assert out[1:] == [""] or out[1] == ""  # no kind module was imported for the names


def test_an_unknown_kind_is_a_watcher_error_naming_the_known_ones() -> None:
    from watcher.errors import UnknownKindError, WatcherError

    with pytest.raises(UnknownKindError, match="known: .*sdk_types") as info:
        get("sdk_type")
    assert isinstance(info.value, WatcherError)


@pytest.mark.parametrize("kind", names())
def test_every_kind_declares_itself_once(kind: str) -> None:
    k = get(kind)
    assert k.name == kind and k.evidence_types and k.reads
    signals_types = {s.evidence_type for c in CASES if c["kind"] == kind for s in _case_signals(c)}
    assert signals_types <= set(k.evidence_types), "a kind yields an evidence type it does not declare"


def _case_signals(case: dict) -> list[Signal]:
    try:
        doc = Document(
            fixture(case["file"]),
            url=case.get("url", ""),
            content_type=case.get("content_type"),
            target=case.get("page_target", case["target"]),
        )
        return get(case["kind"]).parse(doc, Matcher([case["target"]]))
    except ParseError:
        return []


@pytest.mark.parametrize("kind", names())
def test_a_real_document_has_its_anchor_and_an_empty_body_never_does(kind: str) -> None:
    path, url, summary = ANCHORED[kind]
    got = get(kind).anchor(Document(fixture(path), url=url))
    assert isinstance(got, Anchor) and got.found, got
    assert summary in got.summary
    empty = get(kind).anchor(Document(b"", url=url))
    assert not empty.found and empty.summary


@pytest.mark.parametrize("kind", names())
def test_a_challenge_page_has_no_anchor(kind: str) -> None:
    got = get(kind).anchor(Document(fixture("docs/cf-challenge.html"), url=ANCHORED[kind][1]))
    assert not got.found


def test_an_sdk_file_that_became_a_re_export_has_no_anchor() -> None:
    # openai-python moved ChatModel to types/shared/ in March 2025; the old path kept only this line
    body = b'from .shared.chat_model import ChatModel as ChatModel\n\n__all__ = ["ChatModel"]\n'
    got = get("sdk_types").anchor(Document(body, url="src/openai/types/chat_model.py"))
    assert not got.found


def test_go_constants_anchor_on_their_type() -> None:
    got = get("sdk_types").anchor(Document(fixture("demo_data/openai-go/image-2026-05-07-3336103.go"), url="image.go"))
    assert got.found and got.summary == "ImageModel constants: 8 ids"


def test_readme_kinds_table_is_the_registrys() -> None:
    from watcher.sources import table

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert table() in readme
    for kind in names():
        assert f"| `{kind}` |" in readme


# --- OpenAI's docs pages, as they really are ---------------------------------------------------------

DOCS = "openai/developers-docs"
CHANGELOG = f"{DOCS}/changelog-2026-07-22.md"


def test_real_changelog_keys_do_not_move_when_a_newer_month_is_added_on_top() -> None:
    body = fixture(CHANGELOG).decode()
    newer = body.replace(
        "## July, 2026\n",
        "## August, 2026\n\n### Aug 20\n\nFeature · Model: gpt-image-2 · API: v1/batch\n\n"
        "Batch now runs `gpt-image-2` jobs at half price.\n\n### Aug 20\n\nFix\n\nFixed `gpt-image-2` edits.\n\n"
        "## July, 2026\n",
        1,
    )
    old = {s.key: s.published for s in run("changelog", body)}
    new = {s.key: s.published for s in run("changelog", newer)}
    assert old.items() < new.items()
    added = {k[2]: v for k, v in new.items() if k not in old}
    # the same day heads two entries, told apart by their first tag
    assert added == {"2026-08-20 > Feature": "2026-08-20", "2026-08-20 > Fix": "2026-08-20"}


def test_a_changelog_tag_line_names_the_entrys_models_and_snapshots() -> None:
    body = "## April, 2026\n\n### Apr 21\n\nFeature · Model: gpt-image-2-2026-04-21 · API: v1/images/edits\n\nNew.\n"
    assert keys(run("changelog", body)) == {("changelog_entry", "gpt-image-2-2026-04-21", "2026-04-21 > Feature")}


def test_changelog_near_misses_and_display_names_stay_out() -> None:
    body = (
        "## September, 2026\n\n### Sep 3\n\nFeature · Model: gpt-image-2.5-sunburst · Model: gpt-image-2.5-flare\n\n"
        "Released GPT Image 2.5 Sunburst (`gpt-image-2.5-sunburst`), GPT-Image-2's successor.\n\n"
        "### Sep 1\n\nFeature · Model: gpt-6-sol\n\nReleased GPT-6 Sol, our flagship.\n"
    )
    assert run("changelog", body) == []
    assert run("changelog", body, "gpt-6") == []
    assert keys(run("changelog", body, "gpt-6-sol")) == {("changelog_entry", "gpt-6-sol", "2026-09-01 > Feature")}


def test_a_day_heading_without_a_month_heading_is_not_a_date() -> None:
    got = run("changelog", "# Changelog\n\n### Apr 21\n\nReleased `gpt-image-2`.\n")
    assert keys(got) == {("page_mention", "gpt-image-2", "Apr 21")}


def test_a_family_discovers_each_image_id_of_the_real_changelog_and_index_once() -> None:
    from watcher.targets import Target

    family = Matcher([Target(family="gpt-image-*")])
    doc = Document(fixture(CHANGELOG))
    confirmed = {s.target for s in get("changelog").parse(doc, family) if s.evidence_type.value == "changelog_entry"}
    assert confirmed == {"gpt-image-2", "gpt-image-1.5", "gpt-image-1", "gpt-image-1-mini"}
    listed = get("model_index").parse(Document(fixture(f"{DOCS}/models-a30a622.md")), family)
    assert sorted(s.target for s in listed if s.evidence_type.value == "model_listed") == [
        "gpt-image-1",
        "gpt-image-1-mini",
        "gpt-image-1.5",
        "gpt-image-2",
    ]
    before = get("model_index").parse(Document(fixture(f"{DOCS}/models-a30a622-without-gpt-image-2.md")), family)
    assert "gpt-image-2" not in {s.target for s in before}


def test_pricing_counts_a_row_only_by_its_model_cell() -> None:
    # the shape of a deprecations table: the replacement column names the new model
    body = (
        "## Deprecations\n\n| Shutdown date | Model | Recommended replacement |\n| --- | --- | --- |\n"
        "| 2026‑03‑26 | dall-e-3 | gpt-image-2 |\n"
    )
    assert keys(run("pricing_page", body)) == {("page_mention", "gpt-image-2", "Deprecations > 2026-03-26")}


def test_pricing_reads_ids_written_with_non_breaking_hyphens() -> None:
    body = "## Image\n\n| Model | Input |\n| --- | --- |\n| gpt\u2011image\u20112 | $8.00 |\n"
    assert keys(run("pricing_page", body)) == {("pricing_row", "gpt-image-2", "Image > gpt-image-2")}


def test_a_model_inside_the_image_tool_config_is_an_example_of_it() -> None:
    body = (
        '# Guide\n\n## Tool\n\n```javascript\nawait openai.responses.create({\n  model: "gpt-5.6",\n'
        '  tools: [{ type: "image_generation", model: "gpt-image-2" }],\n});\n```\n'
    )
    assert keys(run("guide_page", body)) == {("api_example", "gpt-image-2", "Tool > javascript")}
    assert keys(run("guide_page", body, "gpt-5.6")) == {("api_example", "gpt-5.6", "Tool > javascript")}


def test_a_guide_example_that_names_the_model_without_setting_it_is_a_mention() -> None:
    body = (
        "# Guide\n\n## Tool\n\n```python\n# gpt-image-2 is picked by the tool\n"
        'client.responses.create(model="gpt-5.6")\n```\n'
    )
    assert keys(run("guide_page", body)) == {("page_mention", "gpt-image-2", "Tool > python")}


def test_a_guide_as_html_reads_its_pre_blocks_and_their_language() -> None:
    body = (
        "<html><body><h1>Image generation</h1><h2>Generate</h2><p>Use GPT Image 2.</p>"
        '<pre><code class="language-python">client.images.generate(model="gpt-image-2")</code></pre>'
        '<pre data-language="bash">curl -F "model=gpt-image-2" https://api.openai.com/v1/images/edits</pre>'
        "</body></html>"
    )
    assert keys(run("guide_page", body, content_type="text/html")) == {
        ("api_example", "gpt-image-2", "Generate > python"),
        ("api_example", "gpt-image-2", "Generate > bash"),
    }


@pytest.mark.parametrize(
    "code",
    [
        'model: "gpt-image-2",',
        'model="gpt-image-2"',
        '"model": "gpt-image-2"',
        'Model: openai.ImageModel("gpt-image-2"),',
        '.model("gpt-image-2")',
        'curl -F "model=gpt-image-2"',
        "curl -F model='gpt-image-2'",
        "openai images generate --model gpt-image-2",
        "openai images generate --model=gpt-image-2",
        "'model' => 'gpt-image-2'",
    ],
)
def test_every_style_of_setting_the_model_is_an_example(code: str) -> None:
    assert keys(run("guide_page", f"## S\n\n```x\n{code}\n```\n")) == {("api_example", "gpt-image-2", "S > x")}


def test_a_model_index_listing_stays_put_when_the_index_is_regrouped() -> None:
    body = fixture(f"{DOCS}/models-a30a622.md").decode()
    line = "- [GPT-Image-2](/api/docs/models/gpt-image-2.md): State-of-the-art image generation model\n"
    moved = body.replace(line, "").replace("## Recommended models\n\n", "## Recommended models\n\n" + line)
    assert moved != body
    assert (
        keys(run("model_index", body))
        == keys(run("model_index", moved))
        == {("model_listed", "gpt-image-2", "models/gpt-image-2")}
    )


def test_a_model_index_as_html_reads_its_links() -> None:
    body = (
        '<html><body><h2>Image</h2><ul><li><a href="/api/docs/models/gpt-image-2">GPT-Image-2</a></li>'
        '<li><a href="https://developers.openai.com/api/docs/models/gpt-image-20?x=1">GPT-Image-20</a></li></ul></body></html>'
    )
    assert keys(run("model_index", body, content_type="text/html")) == {
        ("model_listed", "gpt-image-2", "models/gpt-image-2")
    }


# --- the real specs ------------------------------------------------------------------------------


def test_pyyaml_composer_refuses_the_real_duplicate_anchor_but_the_parser_reads_it() -> None:
    body = fixture("openai/openai-openapi/openapi-2024-05-13-49cf3ae6.yaml")
    with pytest.raises(yaml.YAMLError, match="duplicate anchor"):
        yaml.load(body, Loader=yaml.CSafeLoader)
    assert (
        "spec_value",
        "gpt-4o",
        "components.schemas.CreateChatCompletionRequest.properties.model.anyOf[1].enum[=gpt-4o]",
    ) in keys(run("openapi_spec", body, "gpt-4o"))


def test_spec_as_json_gives_the_same_signals_as_yaml() -> None:
    body = fixture("openai/openai-openapi/openapi-2026-08-20-b8d775d.yaml")
    as_json = json.dumps(yaml.load(body, Loader=yaml.CSafeLoader), default=str).encode()
    from_yaml = run("openapi_spec", body)
    from_json = run("openapi_spec", as_json, content_type="application/json")
    assert keys(from_json) == keys(from_yaml)
    assert any(s.evidence_type is EvidenceType.SPEC_VALUE for s in from_json)


def test_spec_value_excerpt_names_the_operation_that_accepts_it() -> None:
    signals = run("openapi_spec", fixture("openai/openai-openapi/openapi-2026-08-20-b8d775d.yaml"))
    create = [s for s in signals if s.evidence_type is EvidenceType.SPEC_VALUE and "CreateImageRequest" in s.location]
    assert create and all("POST /images/generations" in s.excerpt for s in create)


# --- the spec's model semantics, on small specs ---------------------------------------------------

SMALL_SPEC = """\
openapi: 3.1.0
paths:
  /images/generations:
    get:
      parameters:
        - in: query
          schema:
            type: string
            enum: [{param_enum}]
          name: model
        - name: size
          in: query
          description: Arbitrary sizes for gpt-image-2.
          schema: {{enum: [gpt-image-2, auto]}}
      requestBody:
        content:
          application/json:
            schema:
              $ref: '#/components/schemas/Req'
components:
  schemas:
    Req:
      properties:
        model:
          $ref: '#/components/schemas/ModelIds'
          x-oaiTypeLabel: gpt-image-2
    ModelIds:
      anyOf:
        - $ref: '#/components/schemas/Shared'
    Shared:
      anyOf:
        - type: string
        - enum: [gpt-image-2-2026-04-21]
      description: includes gpt-image-2
"""


def test_spec_parameter_named_model_and_referenced_model_schemas_accept_values() -> None:
    got = keys(run("openapi_spec", SMALL_SPEC.format(param_enum="gpt-image-1, gpt-image-2")))
    assert got == {
        (
            "spec_value",
            "gpt-image-2",
            'paths."/images/generations".get.parameters[name=model].schema.enum[=gpt-image-2]',
        ),
        ("spec_value", "gpt-image-2-2026-04-21", "components.schemas.Shared.anyOf[1].enum[=gpt-image-2-2026-04-21]"),
        ("spec_mention", "gpt-image-2", 'paths."/images/generations".get.parameters[name=size].description'),
        ("spec_mention", "gpt-image-2", 'paths."/images/generations".get.parameters[name=size].schema.enum[0]'),
        ("spec_mention", "gpt-image-2", "components.schemas.Req.properties.model.x-oaiTypeLabel"),
        ("spec_mention", "gpt-image-2", "components.schemas.Shared.description"),
    }


def test_spec_locations_do_not_move_when_a_model_is_added_before() -> None:
    before = run("openapi_spec", SMALL_SPEC.format(param_enum="gpt-image-1, gpt-image-2"))
    after = run("openapi_spec", SMALL_SPEC.format(param_enum="gpt-image-1, gpt-image-1.5, gpt-image-3, gpt-image-2"))
    assert keys(before) == keys(after)


def test_spec_example_and_default_of_model_are_values_but_its_description_is_not() -> None:
    spec = """\
openapi: 3.0.0
components:
  schemas:
    CreateImageRequest:
      properties:
        model:
          oneOf:
            - type: string
              default: gpt-image-2
          example: gpt-image-2
          description: The model, e.g. gpt-image-2.
        other:
          enum: [gpt-image-2]
"""
    got = keys(run("openapi_spec", spec))
    assert (
        "spec_value",
        "gpt-image-2",
        "components.schemas.CreateImageRequest.properties.model.oneOf[0].default",
    ) in got
    assert ("spec_value", "gpt-image-2", "components.schemas.CreateImageRequest.properties.model.example") in got
    assert ("spec_mention", "gpt-image-2", "components.schemas.CreateImageRequest.properties.model.description") in got
    assert ("spec_mention", "gpt-image-2", "components.schemas.CreateImageRequest.properties.other.enum[0]") in got


def test_spec_yaml_bomb_of_nested_aliases_is_never_expanded() -> None:
    levels = ["openapi: 3.1.0", "components:", "  schemas:", "    M:", "      properties:", "        model:"]
    levels.append("          enum: &l0 [gpt-image-2, gpt-image-1]")
    levels.append("x-bomb:")
    for i in range(1, 30):  # 10**29 nodes if anything expanded the aliases
        levels.append(f"  l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]")
    got = run("openapi_spec", "\n".join(levels) + "\n")
    assert keys(got) == {("spec_value", "gpt-image-2", "components.schemas.M.properties.model.enum[=gpt-image-2]")}


def test_spec_that_is_not_yaml_or_not_a_spec_is_a_parse_error() -> None:
    for body in [
        "openapi: 3.1.0\npaths: [unclosed\n",
        "just a sentence naming gpt-image-2",
        "- a\n- list\n",
        "",
        "\x00",
    ]:
        with pytest.raises(ParseError):
            run("openapi_spec", body)


def test_spec_without_the_target_is_absent_but_a_broken_or_foreign_one_is_still_a_parse_error() -> None:
    """Before a release the target is nowhere in the spec and the full walk is skipped: that shortcut
    may only ever say "absent" for a whole, readable OpenAPI document."""
    whole = fixture("openai/openai-openapi/openapi-2026-05-13-5162af9.yaml")
    assert run("openapi_spec", whole, target="gpt-image-3") == []
    cut = whole[: len(whole) * 2 // 3]  # a body cut short mid-structure
    broken = [cut + b"\n  bad: [unclosed\n", whole.replace(b"\npaths:", b"\npaths: [", 1), b"\tpaths: x\n"]
    foreign = [b"title: an ordinary YAML file\n", b"- paths\n- openapi\n", b"x:\n  paths: {}\n", b"plain text"]
    for body in broken + foreign:
        with pytest.raises(ParseError):
            run("openapi_spec", body, target="gpt-image-3")
    for body in (b'{"openapi": "3.1.0", "paths": {}}', b"'openapi': 3.1.0\npaths: {}\n"):
        assert run("openapi_spec", body, target="gpt-image-3") == []
    with pytest.raises(ParseError):
        run("openapi_spec", b'{"title": "not a spec"}', target="gpt-image-3")


# --- SDK files: values versus words -----------------------------------------------------------------


def test_python_literal_is_a_value_and_docstrings_and_other_strings_are_mentions() -> None:
    source = '''\
from typing import Union
from typing_extensions import Literal, TypedDict

__all__ = ["ImageGenerateParams"]


class ImageGenerateParams(TypedDict, total=False):
    model: Union[str, Literal["gpt-image-2", "gpt-image-1"], None]
    """The model to use. Defaults to `gpt-image-2`."""

    size: Literal["auto", "1024x1024"]
    """For `gpt-image-2`, arbitrary resolutions are supported."""

DEFAULT_MODEL = "gpt-image-2"
'''
    got = keys(run("sdk_types", source, url="https://x.invalid/src/openai/types/image_generate_params.py"))
    assert got == {
        ("sdk_value", "gpt-image-2", "ImageGenerateParams.model"),
        ("sdk_mention", "gpt-image-2", "ImageGenerateParams.model"),
        ("sdk_mention", "gpt-image-2", "ImageGenerateParams.size"),
        ("sdk_mention", "gpt-image-2", "DEFAULT_MODEL"),
    }


def test_typescript_union_and_literal_field_types_are_values_runtime_strings_are_not() -> None:
    source = """\
export interface ImageGenerateParams {
  /**
   * The model to use, for example `gpt-image-2`.
   */
  model?: 'gpt-image-2';

  size?: (string & {}) | 'auto' | 'gpt-image-2-2026-04-21';
}

const defaults = { model: 'gpt-image-2' };
"""
    got = keys(run("sdk_types", source, url="https://x.invalid/src/resources/images.ts"))
    assert got == {
        ("sdk_mention", "gpt-image-2", "ImageGenerateParams.model"),
        ("sdk_value", "gpt-image-2", "ImageGenerateParams.model"),
        ("sdk_value", "gpt-image-2-2026-04-21", "ImageGenerateParams.size"),
        ("sdk_mention", "gpt-image-2", "defaults"),
    }


def test_go_constants_are_values_other_strings_are_mentions() -> None:
    source = """\
package openai

const ImageModelGPTImage2 ImageModel = "gpt-image-2"

func defaultModel() string {
	// gpt-image-2 is the default
	return "gpt-image-2"
}
"""
    got = keys(run("sdk_types", source, url="https://x.invalid/image.go"))
    assert got == {
        ("sdk_value", "gpt-image-2", "ImageModelGPTImage2"),
        ("sdk_mention", "gpt-image-2", "defaultModel"),
    }


# --- lookalikes, hidden text, twins, stable locations ---------------------------------------------

LOOKALIKE_BODIES: dict[str, str] = {
    "models_api": json.dumps({"object": "list", "data": [{"id": i, "object": "model"} for i in LOOKALIKES]}),
    "openapi_spec": "openapi: 3.1.0\ncomponents:\n  schemas:\n    R:\n      properties:\n        model:\n"
    f"          enum: [{', '.join(LOOKALIKES)}]\n          description: {' '.join(LOOKALIKES)}\n",
    "sdk_types": f"ImageModel: TypeAlias = Literal[{', '.join(repr(i) for i in LOOKALIKES)}]\n",
    "pricing_page": "# Image\n\n| Model | Price |\n| --- | --- |\n"
    + "".join(f"| {i} | $1 |\n" for i in LOOKALIKES)
    + f"\n{' and '.join(LOOKALIKES)}\n",
    "changelog": "## May 5, 2026\n\n" + "".join(f"- Released {i}\n" for i in LOOKALIKES),
    "model_page": f"<title>{LOOKALIKES[0]}</title><h1>{LOOKALIKES[1]}</h1><p>Model ID: {LOOKALIKES[2]}</p>",
    "feed": '<feed xmlns="http://www.w3.org/2005/Atom"><title>r</title>'
    + "".join(f"<entry><id>{i}</id><title>{i}</title></entry>" for i in LOOKALIKES)
    + "</feed>",
    "guide_page": "# Guide\n\n"
    + "".join(f'```python\nclient.images.generate(model="{i}")\n```\n\n' for i in LOOKALIKES),
    "model_index": "# Models\n\n" + "".join(f"- [{i}](/api/docs/models/{i}.md): x\n" for i in LOOKALIKES),
}


@pytest.mark.parametrize("kind", names())
def test_lookalike_ids_never_count_as_the_target(kind: str) -> None:
    assert run(kind, LOOKALIKE_BODIES[kind]) == []
    # ...while the same document with the real id in it does count
    assert run(kind, LOOKALIKE_BODIES[kind].replace(LOOKALIKES[0], "gpt-image-2")) != []


@pytest.mark.parametrize("kind", ["model_page"])
def test_html_and_markdown_twins_agree(kind: str) -> None:
    stem = {"model_page": "model-gpt-image-2"}[kind]
    html = run(kind, fixture(f"docs/{stem}.html"))
    md = run(kind, fixture(f"docs/{stem}.md"))
    # the HTML pricing table has a caption its twin lacks, and only the HTML page has a <title>
    html_keys = {(t, m, loc.rsplit(" > ", 1)[-1]) for t, m, loc in keys(html) if loc != "title"}
    md_keys = {(t, m, loc.rsplit(" > ", 1)[-1]) for t, m, loc in keys(md)}
    assert html_keys == md_keys


PRICING_BEFORE_AFTER = {
    "html": ("docs/pricing-before.html", "docs/pricing-after.html"),
    "md": (
        "openai/developers-docs/pricing-a30a622-without-gpt-image-2.md",
        "openai/developers-docs/pricing-a30a622.md",
    ),
}


@pytest.mark.parametrize("ext", ["html", "md"])
def test_unrelated_rows_keep_their_locations_when_the_page_changes(ext: str) -> None:
    before = run("pricing_page", fixture(PRICING_BEFORE_AFTER[ext][0]), "gpt-image-1.5")
    after = run("pricing_page", fixture(PRICING_BEFORE_AFTER[ext][1]), "gpt-image-1.5")
    rows_before = {k for k in keys(before) if k[0] == "pricing_row"}
    assert rows_before and rows_before == {k for k in keys(after) if k[0] == "pricing_row"}


def test_older_changelog_entries_keep_their_keys_when_a_release_is_added_on_top() -> None:
    body = fixture("openai/openai-python/CHANGELOG-2025-12-16-f94256da.md").decode()
    newer = body.replace(
        "# Changelog\n",
        "# Changelog\n\n## 2.14.0 (2026-01-08)\n\n### Features\n\n* **api:** gpt-image-1.5 docs\n",
        1,
    )
    old = keys(run("changelog", body, "gpt-image-1.5"))
    new = keys(run("changelog", newer, "gpt-image-1.5"))
    assert old < new
    assert ("changelog_entry", "gpt-image-1.5", "2.14.0 (2026-01-08) > Features") in new - old


def test_model_page_without_a_page_target_confirms_whatever_its_title_names() -> None:
    got = parser("model_page")(Document(fixture("docs/model-gpt-image-2.html")), Matcher(["gpt-image-2"]))
    assert ("model_page", "gpt-image-2", "title") in keys(got)


# --- hostile input -----------------------------------------------------------------------------------

DEEP = 10_000
DEEP_BODIES: dict[str, bytes] = {
    "yaml flow": b"openapi: 3.1.0\nx: " + b"[" * DEEP + b"gpt-image-2" + b"]" * DEEP + b"\n",
    "json": b'{"openapi": "3.1.0", "x": ' + b'{"a": [' * DEEP + b'"gpt-image-2"' + b"]}" * DEEP + b"}",
    "html": b"<div>" * DEEP + b"<p>gpt-image-2</p>" + b"</div>" * DEEP,
    "xml": b"<rss version='2.0'><channel><title>t</title><item><title>gpt-image-2</title><description>"
    + b"&lt;b&gt;" * DEEP
    + b"</description></item></channel></rss>",
    "markdown": b"> " * DEEP + b"gpt-image-2\n",
    "brackets": b"X = Literal[" + b"[" * DEEP + b'"gpt-image-2"' + b"]" * DEEP + b"]\n",
}


@pytest.mark.parametrize("shape", sorted(DEEP_BODIES))
@pytest.mark.parametrize("kind", names())
def test_ten_thousand_deep_nesting_does_not_blow_up(kind: str, shape: str) -> None:
    outcome(kind, DEEP_BODIES[shape])


MANY = 10_000
MANY_BODIES: dict[str, str] = {
    "models_api": json.dumps(
        {
            "data": [
                {"id": f"gpt-image-2-{2000 + i // 372:04d}-{i // 31 % 12 + 1:02d}-{i % 31 + 1:02d}"}
                for i in range(MANY)
            ]
        }
    ),
    "openapi_spec": "openapi: 3.1.0\ncomponents:\n  schemas:\n"
    + "".join(
        f"    S{i}:\n      properties:\n        model: {{enum: [gpt-image-2], description: gpt-image-2}}\n"
        for i in range(MANY)
    ),
    "sdk_types": "".join(f'M{i}: TypeAlias = Literal["gpt-image-2"]\n"""gpt-image-2"""\n' for i in range(MANY)),
    "pricing_page": "".join(
        f"## T{i}\n\ngpt-image-2\n\n| gpt-image-2 {i} | $1 |\n| --- | --- |\n\n" for i in range(MANY)
    ),
    "changelog": "gpt-image-2\n\n"
    + "".join(f"## {i} (2026-05-05)\n\n- gpt-image-2\n\n## U{i}\n\ngpt-image-2\n\n" for i in range(MANY)),
    "model_page": "".join(f"<h2>S{i}</h2><p>gpt-image-2</p>" for i in range(MANY)),
    "feed": '<feed xmlns="http://www.w3.org/2005/Atom"><title>gpt-image-2</title>'
    + "".join(f"<entry><id>e{i}</id><title>gpt-image-2</title></entry>" for i in range(MANY))
    + "</feed>",
    "guide_page": "".join(
        f'## S{i}\n\ngpt-image-2\n\n```py{i}\nmodel="gpt-image-2" # gpt-image-2\n```\n\n' for i in range(MANY)
    ),
    "model_index": "".join(
        f"## S{i}\n\n- [gpt-image-2](/models/gpt-image-2-{2000 + i // 372:04d}-{i // 31 % 12 + 1:02d}-"
        f"{i % 31 + 1:02d}.md) gpt-image-2\n"
        for i in range(MANY)
    ),
}


@pytest.mark.parametrize("kind", names())
def test_a_page_naming_the_target_ten_thousand_times_yields_bounded_signals(kind: str) -> None:
    signals = outcome(kind, MANY_BODIES[kind].encode())
    assert isinstance(signals, list) and signals
    assert len(signals) <= SIGNALS_PER_TYPE_MAX * len(EvidenceType)


def test_signals_keep_one_per_key_and_at_most_the_cap_per_type_building_only_kept_excerpts() -> None:
    found = Signals()
    built: list[int] = []

    def excerpt(i: int) -> Callable[[], str]:
        return lambda: built.append(i) or f"excerpt {i}"

    for i in range(3 * SIGNALS_PER_TYPE_MAX):
        found.add(
            "gpt-image-2", "gpt-image-2", EvidenceType.PAGE_MENTION, f"#s{i % (2 * SIGNALS_PER_TYPE_MAX)}", excerpt(i)
        )
        found.add("gpt-image-2", "gpt-image-2", EvidenceType.PRICING_ROW, "#row", excerpt(-1))
    mentions = [s for s in found.kept if s.evidence_type is EvidenceType.PAGE_MENTION]
    assert [s.location for s in mentions] == [f"#s{i}" for i in range(SIGNALS_PER_TYPE_MAX)]
    assert [s.evidence_type for s in found.kept].count(EvidenceType.PRICING_ROW) == 1
    assert sorted(built) == [-1, *range(SIGNALS_PER_TYPE_MAX)]


FRAGMENTS = [
    "gpt-image-2",
    "gpt-image-2-2026-04-21",
    "gpt-image-20",
    "\n",
    "  ",
    "- ",
    "# ",
    "## ",
    "|",
    "| --- |",
    "<tr>",
    "<td>",
    "</td>",
    "<h2>",
    "</h2>",
    "<script>",
    "<!--",
    "-->",
    "<title>",
    "<entry>",
    "<item>",
    "<?xml version='1.0'?>",
    "<feed xmlns='http://www.w3.org/2005/Atom'>",
    "{",
    "}",
    "[",
    "]",
    ":",
    ",",
    '"',
    "'",
    "`",
    "openapi: 3.1.0",
    "model:",
    "enum:",
    "properties:",
    "&a ",
    "*a",
    "Literal[",
    "type X =",
    "const (",
    "/**",
    "*/",
    '"""',
    "2026-05-05",
    "May 5, 2026",
    "Model ID:",
    '"data"',
    '"id"',
    "\x00",
    "é",
    "\u2028",
    "\r",
    "\t",
    "\ufeff",
]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(names()), body=st.binary(max_size=3000))
def test_any_bytes_give_signals_or_a_parse_error(kind: str, body: bytes) -> None:
    outcome(kind, body)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(names()),
    parts=st.lists(st.sampled_from(FRAGMENTS), max_size=80),
    content_type=st.sampled_from(
        [None, "text/html", "text/markdown", "application/json; charset=utf-16", "x; charset=nope"]
    ),
)
def test_document_shaped_garbage_gives_signals_or_a_parse_error(
    kind: str, parts: list[str], content_type: str | None
) -> None:
    outcome(kind, "".join(parts).encode("utf-8"), content_type=content_type, url="https://x.invalid/a.py")


# --- the shared text helpers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type", "text"),
    [
        (b"gpt-image-2", "text/plain; charset=utf-16", "gpt-image-2"),  # a lying, ASCII-hostile charset
        ("caf\u00e9".encode("latin-1"), "text/html; charset=ISO-8859-1", "caf\u00e9"),
        ("caf\u00e9".encode(), "text/html; charset=nonsense", "caf\u00e9"),
        (b"caf\xe9", "text/html; charset=utf-8", "caf\ufffd"),  # invalid UTF-8: replaced, never raised
        (b"caf\xe9", None, "caf\ufffd"),
        ("gpt-image-2".encode("utf-16"), None, "gpt-image-2"),  # the BOM wins
        ("gpt-image-2".encode("utf-16-le"), "text/html; charset=utf-16le", "gpt-image-2"),
        (b"\xef\xbb\xbfgpt-image-2", "text/html; charset=iso-8859-1", "gpt-image-2"),
    ],
)
def test_decode_never_raises_and_survives_lying_charsets(body: bytes, content_type: str | None, text: str) -> None:
    assert decode(body, content_type) == text


@pytest.mark.parametrize("charset", ["idna", "punycode", "base64", "rot13", "utf-7", "cp037", "undefined", "x-nope"])
def test_decode_survives_any_declared_codec(charset: str) -> None:
    for body in (b"\x00gpt-image-2\xff", b"gpt-image-2", b"\\x", b""):
        assert isinstance(decode(body, f"text/html; charset={charset}"), str)


@pytest.mark.parametrize(
    ("text", "date"),
    [
        ("2.13.0 (2025-12-16)", "2025-12-16"),
        ("2026-05-05", "2026-05-05"),
        ("May 5, 2026", "2026-05-05"),
        ("Dec 16, 2025", "2025-12-16"),
        ("Sept. 3rd, 2025", "2025-09-03"),
        ("5 May 2026", "2026-05-05"),
        ("May, 2026", None),
        ("v2.13.0", None),
        ("2026-13-45", None),
        ("Feb 30, 2026", None),
    ],
)
def test_find_date(text: str, date: str | None) -> None:
    assert _text.find_date(text) == date


def test_html_blocks_drop_invisible_text() -> None:
    html = (
        "<title>T</title><style>a{}</style><script>s()</script><noscript>n</noscript><template>t</template>"
        "<!-- c --><p>visible <img alt='alt text'> text</p>"
    )
    assert [(b.kind, b.text) for b in _text.html_blocks(html)] == [("title", "T"), ("text", "visible text")]


def test_markdown_headings_inside_code_fences_are_code() -> None:
    blocks = _text.markdown_blocks("# Real\n\n```bash\n# not a heading\n```\n")
    assert [(b.kind, b.text, b.lang) for b in blocks] == [("heading", "Real", ""), ("code", "# not a heading", "bash")]


def test_is_html_prefers_the_content_type_then_sniffs() -> None:
    assert is_html("# Title", "text/html")
    assert not is_html("<p>x</p>", "text/markdown")
    assert is_html("<!DOCTYPE html><p>x</p>", "text/plain")
    assert not is_html("| a | b |", None)
