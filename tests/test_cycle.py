"""One probe cycle end to end: a real loopback server, the real fetcher, parsers and SQLite store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fixturepaths import fixture_path
from watcher.config import parse_config
from watcher.cycle import run_cycle, verdicts
from watcher.evidence import Outcome, Verdict
from watcher.fetch import Fetcher
from watcher.store import Store

BEFORE = json.dumps({"object": "list", "data": [
    {"id": "gpt-image-1", "object": "model", "created": 1745000000, "owned_by": "system"},
    {"id": "gpt-image-20", "object": "model", "created": 1745000000, "owned_by": "system"}]}).encode()
AFTER = json.dumps({"object": "list", "data": [
    {"id": "gpt-image-1", "object": "model", "created": 1745000000, "owned_by": "system"},
    {"id": "gpt-image-2", "object": "model", "created": 1776700000, "owned_by": "system"},
    {"id": "gpt-image-2-2026-04-21", "object": "model", "created": 1776700000, "owned_by": "system"}]}).encode()


def make_config(server, tmp_path, sources, targets=("gpt-image-2",), env=None):
    raw = {"database_url": f"sqlite:///{tmp_path}/w.db", "targets": [{"id": t} for t in targets],
           "sources": [dict(s, url=server.url(s["url"])) if s["url"].startswith("/") else s for s in sources]}
    return parse_config(raw, Path(tmp_path / "watcher.toml"), env or {})


def api(name="models", path="/v1/models", **kw):
    return dict(name=name, kind="models_api", url=path, **kw)


@pytest.fixture
def fetcher():
    with Fetcher() as f:
        yield f


def test_release_is_recorded_with_full_provenance(http_server, tmp_path, fetcher):
    http_server.route("/v1/models", BEFORE, content_type="application/json")
    config = make_config(http_server, tmp_path, [api()])
    store = Store(config.database_url)

    first = run_cycle(config, store, fetcher)
    assert [s.outcome for s in first.sources] == [Outcome.OK]
    assert first.verdicts[0].verdict is Verdict.NO_EVIDENCE
    assert store.count("signals") == 0  # gpt-image-20 is another model

    http_server.route("/v1/models", AFTER, content_type="application/json")
    second = run_cycle(config, store, fetcher)
    assert second.verdicts[0].verdict is Verdict.CONFIRMED
    assert second.sources[0].added == 2
    rows = store.history(target="gpt-image-2")
    assert {r["model_id"] for r in rows} == {"gpt-image-2", "gpt-image-2-2026-04-21"}
    r = next(r for r in rows if r["model_id"] == "gpt-image-2")
    assert r["url"] == http_server.url("/v1/models")
    assert r["authority"] == "first_party" and r["level"] == "confirmed"
    assert r["evidence_type"] == "model_list_entry" and r["location"] == "data[id=gpt-image-2]"
    assert '"gpt-image-2"' in r["excerpt"]
    assert r["first_probe_run_id"] and r["first_snapshot_id"]
    from sqlalchemy import select

    from watcher.store import schema as S
    with store.engine.connect() as conn:
        run = conn.execute(select(S.probe_runs).where(S.probe_runs.c.id == r["first_probe_run_id"])).one()
        snap = conn.execute(select(S.snapshots).where(S.snapshots.c.id == r["first_snapshot_id"])).one()
    assert run.http_status == 200 and run.outcome == "ok" and run.bytes == len(AFTER) and run.changed
    import hashlib
    assert snap.content_hash == hashlib.sha256(AFTER).hexdigest()
    assert store.snapshot_body(snap.id) == AFTER


def test_unchanged_cycles_add_no_signal_or_snapshot_rows(http_server, tmp_path, fetcher):
    http_server.route("/v1/models", AFTER, content_type="application/json", etag="v1")
    config = make_config(http_server, tmp_path, [api()])
    store = Store(config.database_url)
    run_cycle(config, store, fetcher)
    first_seen = store.history()[0]["last_seen"]
    for _ in range(30):
        report = run_cycle(config, store, fetcher)
        assert report.sources[0].outcome is Outcome.NOT_MODIFIED
    assert store.count("signals") == 2 and store.count("snapshots") == 1 and store.count("probe_runs") == 31
    assert store.history()[0]["last_seen"] > first_seen  # last seen moves; no new rows
    assert http_server.requests[-1].headers.get("if-none-match") == '"v1"'


def test_same_content_without_validators_costs_no_new_rows(http_server, tmp_path, fetcher):
    http_server.route("/v1/models", AFTER, content_type="application/json")
    config = make_config(http_server, tmp_path, [api()])
    store = Store(config.database_url)
    for _ in range(5):
        run_cycle(config, store, fetcher)
    assert store.count("signals") == 2 and store.count("snapshots") == 1


@pytest.mark.parametrize("status, outcome", [(500, Outcome.HTTP_ERROR), (403, Outcome.BLOCKED),
                                             (429, Outcome.HTTP_ERROR)])
def test_fetch_failure_is_unknown_never_absent(http_server, tmp_path, fetcher, status, outcome):
    http_server.route("/v1/models", AFTER, content_type="application/json")
    config = make_config(http_server, tmp_path, [api()])
    store = Store(config.database_url)
    run_cycle(config, store, fetcher)
    http_server.route("/v1/models", b"oops", status=status)
    report = run_cycle(config, store, fetcher)
    assert report.sources[0].outcome is outcome
    assert report.verdicts[0].verdict is Verdict.CONFIRMED  # evidence stays: a failure says nothing
    assert all(r["vanished_at"] is None for r in store.history())
    # a fresh database behind a failing source: unknown, naming the source
    (tmp_path / "b").mkdir()
    config2 = make_config(http_server, tmp_path / "b", [api()])
    v = run_cycle(config2, Store(config2.database_url), fetcher).verdicts[0]
    assert v.verdict is Verdict.UNKNOWN and v.unread == ("models",)


def test_parse_error_is_recorded_and_not_absent(http_server, tmp_path, fetcher):
    http_server.route("/v1/models", AFTER, content_type="application/json")
    config = make_config(http_server, tmp_path, [api()])
    store = Store(config.database_url)
    run_cycle(config, store, fetcher)
    http_server.route("/v1/models", b'{"object": "list", "data": [', content_type="application/json")
    report = run_cycle(config, store, fetcher)
    assert report.sources[0].outcome is Outcome.PARSE_ERROR and "JSON" in report.sources[0].error
    assert report.verdicts[0].verdict is Verdict.CONFIRMED
    assert store.states()["models"].failure_streak == 1


def test_a_404_from_a_per_target_model_url_is_absent_and_evidence_vanishes_at_the_second(http_server, tmp_path,
                                                                                         fetcher):
    body = json.dumps({"id": "gpt-image-2", "object": "model", "created": 1, "owned_by": "system"}).encode()
    http_server.route("/v1/models/gpt-image-2", body, content_type="application/json")
    config = make_config(http_server, tmp_path, [api("retrieve", "/v1/models/{target}")])
    store = Store(config.database_url)
    assert run_cycle(config, store, fetcher).verdicts[0].verdict is Verdict.CONFIRMED
    http_server.route("/v1/models/gpt-image-2", b'{"error": {"code": "model_not_found"}}', status=404)
    first = run_cycle(config, store, fetcher)
    assert first.sources[0].outcome is Outcome.ABSENT and first.sources[0].vanished == 0  # one miss: debounced
    assert first.verdicts[0].verdict is Verdict.CONFIRMED
    report = run_cycle(config, store, fetcher)
    assert report.sources[0].outcome is Outcome.ABSENT and report.sources[0].vanished == 1
    assert report.verdicts[0].verdict is Verdict.NO_EVIDENCE
    assert store.history()[0]["vanished_at"] is not None


def test_not_configured_source_is_reported_and_does_not_stop_the_others(http_server, tmp_path, fetcher):
    http_server.route("/v1/models", AFTER, content_type="application/json")
    config = make_config(http_server, tmp_path, [
        api("keyed", headers={"Authorization": "Bearer ${OPENAI_API_KEY}"}), api("open")])
    store = Store(config.database_url)
    report = run_cycle(config, store, fetcher)
    by = {s.name: s for s in report.sources}
    assert by["keyed"].outcome is Outcome.NOT_CONFIGURED and "OPENAI_API_KEY" in by["keyed"].error
    assert by["open"].outcome is Outcome.OK
    assert not report.unread
    assert not any(r.path == "/v1/models" and "authorization" in r.headers for r in http_server.requests)


def test_adding_a_target_reads_the_stored_copy_again_even_on_304(http_server, tmp_path, fetcher):
    http_server.route("/v1/models", AFTER, content_type="application/json", etag="v1")
    config = make_config(http_server, tmp_path, [api()], targets=("gpt-image-1",))
    store = Store(config.database_url)
    run_cycle(config, store, fetcher)
    config2 = make_config(http_server, tmp_path, [api()], targets=("gpt-image-1", "gpt-image-2"))
    report = run_cycle(config2, store, fetcher)
    assert report.sources[0].outcome is Outcome.NOT_MODIFIED
    assert {v.target: v.verdict for v in report.verdicts}["gpt-image-2"] is Verdict.CONFIRMED


def test_third_party_signals_are_stored_and_shown_but_never_raise_the_verdict(http_server, tmp_path, fetcher):
    http_server.route("/gateway/models", AFTER, content_type="application/json")
    http_server.route("/v1/models", BEFORE, content_type="application/json")
    config = make_config(http_server, tmp_path, [api(), api("gateway", "/gateway/models",
                                                              authority="third_party")])
    store = Store(config.database_url)
    v = run_cycle(config, store, fetcher).verdicts[0]
    assert v.verdict is Verdict.NO_EVIDENCE and v.other_authority == ("gateway",)
    assert {r["authority"] for r in store.history()} == {"third_party"}


def test_verdicts_need_no_probe(http_server, tmp_path, fetcher):
    http_server.route("/v1/models", AFTER, content_type="application/json")
    config = make_config(http_server, tmp_path, [api()])
    store = Store(config.database_url)
    run_cycle(config, store, fetcher)
    n = len(http_server.requests)
    assert verdicts(config, store)[0].verdict is Verdict.CONFIRMED
    assert len(http_server.requests) == n


FIX = Path(__file__).parent / "fixtures"
KIND_CASES = [
    # kind, URL path, before (None: 404), after, verdict after
    ("models_api", "/v1/models", "docs/models-list-before.json", "docs/models-list-after.json", Verdict.CONFIRMED),
    ("openapi_spec", "/openapi.yaml", "openai/openai-openapi/openapi-2024-05-13-49cf3ae6.yaml",
     "openai/openai-openapi/openapi-2026-08-20-b8d775d.yaml", Verdict.CONFIRMED),
    ("sdk_types", "/src/openai/types/image_model.py", "demo_data/openai-python/image_model-2025-12-16-9dc1d1a0.py",
     "demo_data/openai-python/image_model-2026-05-05-0ba55d75.py", Verdict.CONFIRMED),
    ("sdk_types", "/src/resources/images.ts", "demo_data/openai-node/images-2026-05-04-f711b1c0.ts",
     "demo_data/openai-node/images-2026-05-07-c9db1d60.ts", Verdict.CONFIRMED),
    ("sdk_types", "/image.go", None, "demo_data/openai-go/image-2026-05-07-3336103.go", Verdict.CONFIRMED),
    ("pricing_page", "/pricing", "docs/pricing-before.html", "docs/pricing-after.html", Verdict.CONFIRMED),
    ("pricing_page", "/pricing.md", "openai/developers-docs/pricing-a30a622-without-gpt-image-2.md",
     "openai/developers-docs/pricing-a30a622.md", Verdict.CONFIRMED),
    ("changelog", "/changelog.md", "openai/developers-docs/changelog-2026-07-22-without-gpt-image-2.md",
     "openai/developers-docs/changelog-2026-07-22.md", Verdict.CONFIRMED),
    ("changelog", "/CHANGELOG.md", None, "openai/openai-python/CHANGELOG-2025-12-16-f94256da.md", Verdict.NO_EVIDENCE),
    ("guide_page", "/guides/image-generation.md", None, "openai/developers-docs/guides-image-generation-d4e9eef.md",
     Verdict.CONFIRMED),
    ("model_index", "/models.md", "openai/developers-docs/models-a30a622-without-gpt-image-2.md",
     "openai/developers-docs/models-a30a622.md", Verdict.CONFIRMED),
    ("changelog", "/changelog", None, "docs/changelog.html", Verdict.CONFIRMED),
    ("model_page", "/models/{target}.md", None, "docs/model-gpt-image-2.md", Verdict.CONFIRMED),
    ("model_page", "/models/{target}", "docs/not-found.html", "docs/model-gpt-image-2.html", Verdict.CONFIRMED),
    ("feed", "/releases.atom", "feed-before", "docs/releases.atom", Verdict.CONFIRMED),
]
# GitHub's releases feed the day before: "update image 2", never the id (a weak hint, not evidence).
FEED_BEFORE = b"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><id>tag:github.com,2008:https://github.com/openai/openai-python/releases</id>
<title>Release notes from openai-python</title><updated>2026-05-05T10:00:00Z</updated>
<entry><id>tag:github.com,2008:Repository/1/v2.33.0</id><updated>2026-05-05T10:00:00Z</updated>
<link rel="alternate" type="text/html" href="https://github.com/openai/openai-python/releases/tag/v2.33.0"/>
<title>v2.33.0</title>
<content type="html">&lt;ul&gt;&lt;li&gt;api: update image 2&lt;/li&gt;&lt;/ul&gt;</content></entry>
</feed>"""


@pytest.mark.parametrize("kind, path, before, after, verdict", KIND_CASES,
                         ids=[f"{c[0]}:{c[1]}" for c in KIND_CASES])
def test_every_kind_over_http_from_nothing_to_evidence(http_server, tmp_path, fetcher, kind, path, before, after,
                                                       verdict):
    served = path.replace("{target}", "gpt-image-2")
    if before is None:
        http_server.route(served, b"not here", status=404)
    elif before == "feed-before":
        http_server.route(served, FEED_BEFORE, content_type="application/atom+xml")
    else:
        http_server.route(served, fixture_path(before).read_bytes())
    config = make_config(http_server, tmp_path, [dict(name="src", kind=kind, url=path)])
    store = Store(config.database_url)
    first = run_cycle(config, store, fetcher)
    assert first.sources[0].outcome in (Outcome.OK, Outcome.NOT_FOUND, Outcome.ABSENT), first.sources[0].error
    # A document that is not there yet says nothing, unless its URL names the model (then 404 is "no such model")
    assert first.verdicts[0].verdict is (Verdict.UNKNOWN if first.sources[0].outcome is Outcome.NOT_FOUND
                                         else Verdict.NO_EVIDENCE)
    http_server.route(served, fixture_path(after).read_bytes())
    second = run_cycle(config, store, fetcher)
    assert second.sources[0].outcome is Outcome.OK, second.sources[0].error
    assert second.verdicts[0].verdict is verdict
    assert all(r["url"] == http_server.url(served) for r in store.history())


def test_the_spec_that_only_mentions_the_model_is_mentioned_not_confirmed(http_server, tmp_path, fetcher):
    http_server.route("/openapi.yaml", (FIX / "openai/openai-openapi/openapi-2026-05-13-5162af9.yaml").read_bytes())
    config = make_config(http_server, tmp_path, [dict(name="spec", kind="openapi_spec", url="/openapi.yaml")])
    v = run_cycle(config, Store(config.database_url), fetcher).verdicts[0]
    assert v.verdict is Verdict.MENTIONED and v.mentioned_by == ("spec",)


def test_fifty_sources_on_one_host_share_a_few_kept_alive_connections(http_server, tmp_path):
    """A run opens a handful of connections per host, not one per probe: 304s are read to their end,
    so each connection goes back to the pool (on the real network every new one is a TLS handshake)."""
    sources = []
    for i in range(50):
        http_server.route(f"/v1/models/{i}", AFTER, content_type="application/json", etag=f"v{i}")
        sources.append(api(name=f"m{i}", path=f"/v1/models/{i}"))
    config = make_config(http_server, tmp_path, sources)
    store = Store(config.database_url)
    first = run_cycle(config, store)  # a run makes its own fetcher, as `run --once` does
    assert {s.outcome for s in first.sources} == {Outcome.OK}
    before = http_server.connections
    second = run_cycle(config, store)
    assert {s.outcome for s in second.sources} == {Outcome.NOT_MODIFIED}
    assert http_server.hits("/v1/models/0") == 2
    assert 1 <= http_server.connections - before <= 4
