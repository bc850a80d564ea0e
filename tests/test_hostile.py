"""Hostile and bad input through the whole pipeline: each becomes a recorded outcome or a bounded
signal; nothing crashes, and evidence seen before is never lost to a bad answer."""

from __future__ import annotations

import gzip
import json
import time
from pathlib import Path

import pytest

from watcher.config import parse_config
from watcher.cycle import run_cycle
from watcher.evidence import SIGNALS_PER_TYPE_MAX, Outcome, Verdict
from watcher.fetch import Fetcher
from watcher.store import Store
from watcher.text import EXCERPT_MAX

DOCS = Path(__file__).parent / "fixtures" / "docs"
PRICING = (DOCS / "pricing-after.html").read_bytes()
MODELS = json.dumps({"object": "list", "data": [{"id": "gpt-image-2", "object": "model"}]}).encode()


def cycle(server, tmp_path, kind, path="/doc", **source):
    raw = {"database_url": f"sqlite:///{tmp_path}/w.db", "targets": [{"id": "gpt-image-2"}],
           "sources": [dict(name="src", kind=kind, url=server.url(path), timeout="2s", deadline="2s", **source)]}
    config = parse_config(raw, tmp_path / "watcher.toml", {})
    store = Store(config.database_url)
    with Fetcher() as f:
        report = run_cycle(config, store, f)
    return report, store


def yaml_bomb() -> bytes:
    lines = ['a0: &a0 ["gpt-image-2", "lol"]']
    for i in range(1, 25):
        lines.append(f"a{i}: &a{i} [{', '.join(['*a' + str(i - 1)] * 9)}]")
    return ("openapi: 3.0.0\ncomponents:\n  x:\n" + "\n".join("    " + x for x in lines) + "\n").encode()


def gzip_bomb() -> bytes:
    return gzip.compress(b"\0" * (60 * 1024 * 1024), compresslevel=9)


CASES = [
    # name, kind, route kwargs, expected outcome
    ("malformed html", "pricing_page",
     dict(body=b"<html><table><tr><td>gpt-image-2<td>$0.04<tr><td>gpt-image-1<p><b>unclosed", content_type="text/html"),
     Outcome.OK),
    ("truncated json", "models_api", dict(body=MODELS[:-7], content_type="application/json"), Outcome.PARSE_ERROR),
    ("yaml bomb of nested aliases", "openapi_spec", dict(body=yaml_bomb(), content_type="application/yaml"), None),
    ("10,000-deep nesting", "openapi_spec",
     dict(body=b"openapi: 3.0.0\npaths: " + b"[" * 10000 + b"]" * 10000 + b"\n"), Outcome.PARSE_ERROR),
    ("gzip bomb", "pricing_page", dict(body=gzip_bomb(), gzip=True, content_type="text/html"), Outcome.TOO_LARGE),
    ("50 MB body", "pricing_page", dict(body=[b"x" * (1024 * 1024)] * 50, content_type="text/html"),
     Outcome.TOO_LARGE),
    ("non-utf-8 with a lying charset", "pricing_page",
     dict(body="<table><tr><td>gpt-image-2</td><td>Prix 0,04 EUR, café crème</td></tr></table>".encode("latin-1"),
          content_type="text/html; charset=utf-8"), Outcome.OK),
    ("charset that does not exist", "pricing_page",
     dict(body=b"<table><tr><td>gpt-image-2</td><td>$1</td></tr></table>", content_type="text/html; charset=x-nope"),
     Outcome.OK),
    ("one byte a second", "pricing_page", dict(body=PRICING[:50], trickle=1.0, content_type="text/html"),
     Outcome.TIMEOUT),
    ("challenge page with status 200", "pricing_page",
     dict(body=(DOCS / "cf-challenge.html").read_bytes(), content_type="text/html"), Outcome.BLOCKED),
    ("target only in script, style, comment and alt", "pricing_page",
     dict(body=b"<html><head><style>.gpt-image-2{}</style><script>var m='gpt-image-2'</script></head><body>"
               b"<!-- gpt-image-2 --><img alt='gpt-image-2' src=x><p>Our image models</p>"
               b"<table><tr><th>Model</th><th>Input</th></tr><tr><td>gpt-image-1</td><td>$5.00</td></tr></table>"
               b"</body></html>",
          content_type="text/html"), Outcome.OK),
]


@pytest.mark.parametrize("name, kind, route, expected", CASES, ids=[c[0] for c in CASES])
def test_hostile_answer_becomes_a_recorded_outcome(http_server, tmp_path, name, kind, route, expected):
    http_server.route("/doc", **route)
    t0 = time.monotonic()
    report, store = cycle(http_server, tmp_path, kind, **({"max_bytes": 20 * 1024 * 1024}))
    (src,) = report.sources
    assert time.monotonic() - t0 < 10
    if expected is not None:
        assert src.outcome is expected, (src.outcome, src.error)
    else:
        # parsed, refused, or read as a document without a spec's structure: never "absent"
        assert src.outcome in (Outcome.OK, Outcome.PARSE_ERROR, Outcome.FORMAT_CHANGED)
    assert store.count("probe_runs") == 1  # recorded, whatever happened
    if src.outcome is not Outcome.OK:
        assert src.error  # and said why
        assert report.verdicts[0].verdict is Verdict.UNKNOWN  # never "absent"
    if name == "target only in script, style, comment and alt":
        assert store.count("signals") == 0 and report.verdicts[0].verdict is Verdict.NO_EVIDENCE
    if name in ("malformed html", "non-utf-8 with a lying charset", "charset that does not exist"):
        assert {r["evidence_type"] for r in store.history()} == {"pricing_row"}


@pytest.mark.parametrize("path, route, expected", [
    ("/loop", lambda h: (302, {"Location": "/loop"}, b""), Outcome.HTTP_ERROR),
    ("/away", lambda h: (302, {"Location": "http://evil.example/pricing"}, b""), Outcome.REDIRECTED_OFF_SOURCE),
], ids=["redirect loop", "redirect to another host"])
def test_redirects_that_leave_or_loop_are_recorded(http_server, tmp_path, path, route, expected):
    http_server.route(path, route)
    report, _ = cycle(http_server, tmp_path, "pricing_page", path=path)
    assert report.sources[0].outcome is expected


def test_failure_after_evidence_keeps_the_evidence(http_server, tmp_path):
    http_server.route("/doc", PRICING, content_type="text/html")
    report, store = cycle(http_server, tmp_path, "pricing_page")
    assert report.verdicts[0].verdict is Verdict.CONFIRMED
    live = store.count("signals")
    for bad in (dict(body=gzip_bomb(), gzip=True), dict(body=(DOCS / "cf-challenge.html").read_bytes()),
                dict(body=b"", status=500)):
        http_server.route("/doc", content_type="text/html", **bad)
        report, store = cycle(http_server, tmp_path, "pricing_page")
        assert report.verdicts[0].verdict is Verdict.CONFIRMED
        assert all(r["vanished_at"] is None for r in store.history()) and store.count("signals") == live


def test_a_page_naming_the_target_ten_thousand_times_stays_bounded(http_server, tmp_path):
    rows = "".join(f"<tr><td>gpt-image-2</td><td>row {i} " + "x" * 500 + "</td></tr>" for i in range(10_000))
    para = "<p>" + " gpt-image-2 " * 10_000 + "</p>"
    http_server.route("/doc", f"<html><body><table>{rows}</table>{para}</body></html>".encode(),
                      content_type="text/html")
    t0 = time.monotonic()
    report, store = cycle(http_server, tmp_path, "pricing_page")
    assert report.sources[0].outcome is Outcome.OK
    assert time.monotonic() - t0 < 30
    rows = store.history()
    per_type: dict[str, int] = {}
    for r in rows:
        per_type[r["evidence_type"]] = per_type.get(r["evidence_type"], 0) + 1
        assert len(r["excerpt"]) <= EXCERPT_MAX
    assert per_type and max(per_type.values()) <= SIGNALS_PER_TYPE_MAX


def test_an_excerpt_with_mentions_html_and_control_characters_is_stored_clean(http_server, tmp_path):
    evil = ("<table><tr><td>gpt-image-2</td><td>&lt;!channel&gt; <@U123> @here \x1b[31m\x07 <b>bold</b>\x00</td>"
            "</tr></table>")
    http_server.route("/doc", evil.encode(), content_type="text/html")
    _, store = cycle(http_server, tmp_path, "pricing_page")
    (row,) = [r for r in store.history() if r["evidence_type"] == "pricing_row"]
    assert not any(ord(c) < 32 for c in row["excerpt"])
    assert "gpt-image-2" in row["excerpt"]
