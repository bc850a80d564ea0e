"""The kind registry as a user meets it: `watcher kinds`, `watcher scan` on OpenAI's real docs pages, and
`watcher sources --check` against a real loopback server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from fixturepaths import DEMO_DATA
from watcher.cli import cli
from watcher.sources import get, names

FIX = Path(__file__).parent / "fixtures"
DOCS = FIX / "openai" / "developers-docs"
CHANGELOG = DOCS / "changelog-2026-07-22.md"
PRICING = DOCS / "pricing-a30a622.md"
INDEX = DOCS / "models-a30a622.md"
GUIDE = DOCS / "guides-image-generation-d4e9eef.md"
PAGE_15 = DOCS / "models-gpt-image-1.5.md"


def scan(path: Path, kind: str, *targets: str) -> list[dict]:
    args = ["scan", str(path), "--kind", kind, "--format", "json"]
    for t in targets:
        args += ["--target", t]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0, r.output
    return json.loads(r.output)


# (file, kind, target, what must be confirmed: {(evidence type, published or None)}; empty: nothing confirmed)
SCANS = [
    (CHANGELOG, "changelog", "gpt-image-2", {("changelog_entry", "2026-04-21"), ("changelog_entry", "2026-05-12")}),
    (GUIDE, "guide_page", "gpt-image-2", {("api_example", None)}),
    (INDEX, "model_index", "gpt-image-2", {("model_listed", None)}),
    (PRICING, "pricing_page", "gpt-image-2", {("pricing_row", None)}),
    (PAGE_15, "model_page", "gpt-image-1.5", {("model_page", None)}),
    # near misses and display names never count for gpt-image-2
    *[(f, k, "gpt-image-20", set()) for f, k in [(CHANGELOG, "changelog"), (GUIDE, "guide_page"),
                                                  (INDEX, "model_index"), (PRICING, "pricing_page")]],
    (PAGE_15, "model_page", "gpt-image-2", set()),
    (GUIDE, "guide_page", "gpt-image-1.5", set()),  # named in prose, never set as the model
]


@pytest.mark.parametrize("path, kind, target, confirmed", SCANS,
                         ids=[f"{p.stem}:{k}:{t}" for p, k, t, _ in SCANS])
def test_scan_on_real_docs_pages(path: Path, kind: str, target: str, confirmed: set) -> None:
    got = scan(path, kind, target)
    assert {(s["evidence_type"], s["published"]) for s in got if s["level"] == "confirmed"} == confirmed
    assert all(s["model_id"] == target or s["model_id"].startswith(target + "-") for s in got)


def test_the_changelogs_first_confirmation_of_gpt_image_2_is_21_april_2026() -> None:
    got = scan(CHANGELOG, "changelog", "gpt-image-2")
    assert min(s["published"] for s in got if s["evidence_type"] == "changelog_entry") == "2026-04-21"


def test_scan_kind_choices_and_kinds_list_come_from_the_registry() -> None:
    r = CliRunner().invoke(cli, ["scan", str(PRICING), "--kind", "pricing"])
    assert r.exit_code == 2
    for kind in names():
        assert kind in r.output
    out = CliRunner().invoke(cli, ["kinds"]).output
    assert [line for line in out.splitlines() if line and not line.startswith(" ")] == list(names())
    assert "api_example (confirmed)" in out and "model_listed (confirmed)" in out
    md = CliRunner().invoke(cli, ["kinds", "--format", "markdown"]).output
    assert md.count("\n| `") == len(names())


# --- sources --check ---------------------------------------------------------------------------------------


def config(tmp_path: Path, server, sources: list[tuple[str, str, str]]) -> Path:
    text = f'database_url = "sqlite:///{tmp_path}/never.db"\n[[targets]]\nid = "gpt-image-2"\n'
    for name, kind, path in sources:
        url = path if "${" in path else server.url(path)
        text += f'[[sources]]\nname = "{name}"\nkind = "{kind}"\nurl = "{url}"\ntimeout = "2s"\n'
    p = tmp_path / "watcher.toml"
    p.write_text(text)
    return p


def check(cfg: Path, *args: str) -> tuple[int, dict[str, list[str]]]:
    r = CliRunner().invoke(cli, ["--config", str(cfg), "sources", "--check", *args])
    rows = {line.split()[0]: line.split() for line in r.stdout.splitlines()[2:]}
    return r.exit_code, rows


def test_sources_check_reports_outcome_and_anchor_and_stores_nothing(http_server, tmp_path: Path) -> None:
    http_server.route("/changelog.md", CHANGELOG.read_bytes(), content_type="text/markdown; charset=utf-8")
    http_server.route("/guide.md", GUIDE.read_bytes(), content_type="text/markdown; charset=utf-8")
    http_server.route("/models.md", INDEX.read_bytes(), content_type="text/markdown; charset=utf-8")
    http_server.route("/image_model.py", (DEMO_DATA / "openai-python/image_model-2026-05-05-0ba55d75.py").read_bytes())
    cfg = config(tmp_path, http_server, [("changelog", "changelog", "/changelog.md"),
                                         ("guide", "guide_page", "/guide.md"),
                                         ("index", "model_index", "/models.md"), ("py", "sdk_types", "/image_model.py"),
                                         ("api", "models_api", "https://api.invalid/v1/models?k=${NO_SUCH_KEY}")])
    code, rows = check(cfg)
    assert code == 0, rows
    assert rows["changelog"][2:4] == ["ok", "ok"]
    out = " ".join(" ".join(r) for r in rows.values())
    assert "changelog: 144 dated entries, newest 2026-07-22" in out
    assert "ImageModel alias: 8 ids" in out
    assert "model index: 96 model pages linked" in out
    assert rows["changelog"][-2:] == ["confirmed:", "gpt-image-2"]
    assert rows["api"][2] == "skipped"  # an unset key is not a broken source
    assert not (tmp_path / "never.db").exists()


@pytest.mark.parametrize("answer, outcome", [
    ((b"not found", 404), "not_found 404"),
    ((b"", 200), "ok 200"),  # an empty body never has its anchor
    ((b"from .shared.image_model import ImageModel as ImageModel\n", 200), "ok 200"),  # became a re-export
])
def test_sources_check_fails_a_source_that_cannot_be_read_or_lost_its_structure(http_server, tmp_path, answer,
                                                                                outcome) -> None:
    body, status = answer
    http_server.route("/src/resources/images.ts", body, status=status)
    http_server.route("/image_model.py", (DEMO_DATA / "openai-python/image_model-2026-05-05-0ba55d75.py").read_bytes())
    cfg = config(tmp_path, http_server, [("node", "sdk_types", "/src/resources/images.ts"),
                                         ("py", "sdk_types", "/image_model.py")])
    code, rows = check(cfg)
    assert code == 5
    assert rows["node"][2] == "FAIL" and " ".join(rows["node"][3:5]) == outcome
    assert rows["py"][2] == "ok"
    assert check(cfg, "--source", "py")[0] == 0


def test_a_model_page_that_does_not_exist_yet_is_an_answer_not_a_failure(http_server, tmp_path) -> None:
    assert get("model_page").not_found_is_absent
    cfg = config(tmp_path, http_server, [("page", "model_page", "/models/{target}.md")])
    code, rows = check(cfg)
    assert code == 0 and rows["page/gpt-image-2"][2:4] == ["ok", "not_found"]
    http_server.route("/models/gpt-image-2.md", PAGE_15.read_bytes())  # a page, but another model's
    code, rows = check(cfg)
    assert code == 0 and "Model ID line" in " ".join(rows["page/gpt-image-2"])
    assert "confirmed:" not in rows["page/gpt-image-2"]
