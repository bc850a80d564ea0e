"""The evidence history people read: explain, timeline, report, feed, prune, and `history` itself.

The release is recorded through the real pipeline (a loopback FixtureServer serving OpenAI's real SDK
file and spec, the real fetcher, parsers and store); histories with chosen times are written through
the real `Store.record_probe`. Nothing here writes SQL for what the product writes.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import pty
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import feedparser
import pytest
from bs4 import BeautifulSoup
from click.testing import CliRunner

from fixturepaths import DEMO_DATA
from servers import FixtureServer
from watcher.cli import cli
from watcher.clock import utcnow
from watcher.config import load_config, parse_config
from watcher.cycle import run_cycle
from watcher.evidence import EvidenceType, Outcome, Signal
from watcher.fetch import Fetcher
from watcher.notify import make_hook
from watcher.store import Probe, Store, runs
from watcher.views.explain import explain
from watcher.views.feed import atom_feed
from watcher.views.report import render_report, report

OPENAI = Path(__file__).parent / "fixtures" / "openai"
PY_BEFORE = (DEMO_DATA / "openai-python" / "image_model-2025-12-16-9dc1d1a0.py").read_bytes()
PY_AFTER = (DEMO_DATA / "openai-python" / "image_model-2026-05-05-0ba55d75.py").read_bytes()
SPEC_PROSE = (OPENAI / "openai-openapi" / "openapi-2026-05-13-5162af9.yaml").read_bytes()
SPEC_ENUM = (OPENAI / "openai-openapi" / "openapi-2026-08-20-b8d775d.yaml").read_bytes()
# A third-party gateway whose page is hostile: markup in its strings, a terminal escape and a bidi
# override in a comment. It is stored and shown, and must reach no terminal, browser or reader as code.
HOSTILE = '<img src=x onerror=alert(1)>gpt-image-2'
GATEWAY = ('# \x1b[2J\x1b]0;pwned\x07 \u202egateway <script>alert("pwned")</script>\n'
           f'ImageModel = Literal["gpt-image-2", "{HOSTILE}"]\n').encode()


def write_config(tmp: Path, server: FixtureServer, db_url: str | None = None) -> Path:
    """sources: OpenAI's python SDK and spec (first party), a hostile gateway (third party), a pricing
    page that always fails; one webhook channel nobody delivers to (its notices stay pending)."""
    path = tmp / "watcher.toml"
    path.write_text(f'''database_url = "{db_url or f"sqlite:///{tmp}/w.db"}"
[[targets]]
id = "gpt-image-2"
[[sources]]
name = "openai-python"
kind = "sdk_types"
url = "{server.url('/openai-python/src/openai/types/image_model.py')}"
[[sources]]
name = "openai-openapi"
kind = "openapi_spec"
url = "{server.url('/openai-openapi/openapi.yaml')}"
[[sources]]
name = "gateway"
kind = "sdk_types"
url = "{server.url('/gateway/models.py')}"
authority = "third_party"
[[sources]]
name = "openai-pricing"
kind = "pricing_page"
url = "{server.url('/pricing.md')}"
timeout = "2s"
[[channels]]
name = "hook"
type = "webhook"
url = "http://127.0.0.1:9/never-delivered"
''')
    return path


def record_release(tmp: Path, server: FixtureServer, db_url: str | None = None) -> Path:
    """Four real probe cycles: (1) the spec names gpt-image-2 in prose, the gateway lists it, the pricing
    page fails; (2) openai-python lists it: confirmed; (3) the spec accepts it as an enum value;
    (4) openai-python's file goes back to the old version, (5) and still is: at this second answer without
    it, its evidence vanishes. Returns the config."""
    path = write_config(tmp, server, db_url)
    config = load_config(path, env={})
    store = Store(config.database_url)
    server.route("/pricing.md", b"upstream down", status=503)
    server.route("/gateway/models.py", GATEWAY, content_type="text/x-python")
    steps = [(PY_BEFORE, SPEC_PROSE), (PY_AFTER, SPEC_PROSE), (PY_AFTER, SPEC_ENUM), (PY_BEFORE, SPEC_ENUM),
             (PY_BEFORE, SPEC_ENUM)]
    with Fetcher() as fetcher:
        for py, spec in steps:
            server.route("/openai-python/src/openai/types/image_model.py", py, content_type="text/plain")
            server.route("/openai-openapi/openapi.yaml", spec, content_type="application/yaml")
            run_cycle(config, store, fetcher, hook=make_hook(config))
            time.sleep(0.01)  # distinct times, as cycles minutes apart have
    store.close()
    return path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Store]]:
    tmp = tmp_path_factory.mktemp("release")
    with FixtureServer() as server:
        path = record_release(tmp, server)
    store = Store(load_config(path, env={}).database_url)
    yield path, store
    store.close()


def run(config: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["-c", str(config), *args], catch_exceptions=False)
    return result.exit_code, result.output


def signal_id(store: Store, source: str, evidence_type: str, model_id: str = "gpt-image-2") -> int:
    return next(r["id"] for r in store.history(source=source, evidence_type=evidence_type)
                if r["model_id"] == model_id)


# ---------------------------------------------------------------------------------- explain
def test_explain_gives_the_whole_provenance_of_a_signal(world):
    config, store = world
    sid = signal_id(store, "openai-python", "sdk_value")
    code, out = run(config, "explain", str(sid), "--format", "json")
    assert code == 0
    e = json.loads(out)
    assert (e["source"], e["authority"], e["level"], e["evidence_type"], e["model_id"], e["target"]) == (
        "openai-python", "first_party", "confirmed", "sdk_value", "gpt-image-2", "gpt-image-2")
    assert e["url"].endswith("/openai-python/src/openai/types/image_model.py")
    run_ = e["first_run"]
    assert (run_["outcome"], run_["http_status"], run_["bytes"]) == ("ok", 200, len(PY_AFTER))
    assert run_["duration_ms"] >= 0 and run_["started_at"] == e["first_seen"] and e["first_seen"].endswith("Z")
    assert e["snapshot"]["content_hash"] == hashlib.sha256(PY_AFTER).hexdigest()
    assert e["vanished_at"] is not None and e["vanished_run"]["outcome"] == "ok"  # step 4 took it back
    # the excerpt in context: the lines around it in the stored document, the hit marked
    hit = [line for line in e["context"]["lines"] if line["hit"]]
    assert any(line["text"] == '    "gpt-image-2",' for line in hit)
    numbers = [line["number"] for line in e["context"]["lines"]]
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers))) and 5 <= len(numbers) <= 9
    # the diff against the document the source showed before (step 1's)
    diff = e["diff"]
    assert diff["base_snapshot"]["content_hash"] == hashlib.sha256(PY_BEFORE).hexdigest()
    assert diff["lines"][0].startswith("--- snapshot #") and diff["lines"][1].startswith("+++ snapshot #")
    assert '+    "gpt-image-2",' in diff["lines"] and diff["names_model_id"]
    assert any(line.startswith('-ImageModel: TypeAlias = Literal["gpt-image-1.5"') for line in diff["lines"])


def test_explain_text_is_for_people_and_carries_no_terminal_escapes(world):
    config, store = world
    code, out = run(config, "explain", str(signal_id(store, "openai-python", "sdk_value")))
    assert code == 0
    for needle in ("source      openai-python (first_party)", "first probe run #", "outcome     ok, HTTP 200",
                   f"sha256      {hashlib.sha256(PY_AFTER).hexdigest()}", "in context (found by the excerpt",
                   '> 10 |     "gpt-image-2",', '+    "gpt-image-2",'):
        assert needle in out
    code, out = run(config, "explain", str(signal_id(store, "gateway", "sdk_mention")))
    assert code == 0 and HOSTILE in out  # shown as the text it is
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
    assert "diff: no earlier, different document from this source is stored" in out


def test_explain_of_a_3mb_spec_keeps_to_the_hunks_that_name_the_model_id(world):
    config, store = world
    sid = signal_id(store, "openai-openapi", "spec_value")
    t0 = time.perf_counter()
    e = explain(store, sid)
    elapsed = time.perf_counter() - t0
    assert e is not None and e.diff is not None and e.context is not None
    assert e.context.found_by == "location"  # the JSON path walked down the YAML to the enum
    assert [x.text.strip() for x in e.context.lines if x.hit] == ["- gpt-image-2"]
    assert e.diff.names_model_id and e.diff.hunks_total > 100 and e.diff.lines_omitted > 1000
    assert len(e.diff.lines) <= 62
    changed = [x for x in e.diff.lines[2:] if x[:1] in "+-"]
    assert "+                - gpt-image-2" in changed
    assert elapsed < 5, f"explain took {elapsed:.1f} s"


def test_explain_of_evidence_found_in_the_stored_copy_read_again_survives_prune(tmp_path):
    """A new target makes the watcher parse its stored copy again on a 304: the evidence's document is the
    one an earlier run read, and prune keeps that run however old it is."""
    config, store, src = _seeded_config(tmp_path)
    start = utcnow() - timedelta(days=200)
    doc = b'ImageModel = Literal[\n    "gpt-image-1",\n    "gpt-image-2",\n]\n'
    store.record_probe(src, Probe(Outcome.OK, start, 5, 200, len(doc), body=doc, signals=[]), every=900)
    for i in range(1, 20):
        store.record_probe(src, Probe(Outcome.NOT_MODIFIED, start + timedelta(days=i), 5, 304, 0), every=900)
    store.record_probe(src, Probe(Outcome.NOT_MODIFIED, start + timedelta(days=20), 5, 304, 0,
                                  signals=[_signal("ImageModel")]), every=900)
    sid = store.history()[0]["id"]
    runs.prune(store, utcnow() - timedelta(days=90))
    assert store.count("probe_runs") == 2  # the run that read the document, and the change
    e = explain(store, sid)
    assert e is not None and e.first_run is not None and e.first_run.outcome == "not_modified"
    assert e.snapshot is not None and e.snapshot.content_hash == hashlib.sha256(doc).hexdigest()
    assert e.snapshot_note is not None and "parsed again" in e.snapshot_note
    assert e.context is not None and [x.text for x in e.context.lines if x.hit] == ['    "gpt-image-2",']
    assert e.diff is None and e.diff_note is not None and "first one read" in e.diff_note


def test_explain_of_an_unknown_signal_is_a_usage_error(world):
    code, out = run(world[0], "explain", "999999")
    assert code == 2 and "no signal with id 999999" in out


# ---------------------------------------------------------------------------------- timeline
def test_timeline_says_since_when_it_is_public_and_who_says_so(world):
    config, _ = world
    code, out = run(config, "timeline", "gpt-image-2", "--format", "json")
    assert code == 0
    tl = json.loads(out)
    steps = [(e["source"], e["authority"], e["level"]) for e in tl["entries"]]
    assert set(steps[:3]) == {("openai-openapi", "first_party", "mentioned"),  # step 1, in any order
                              ("gateway", "third_party", "confirmed"), ("gateway", "third_party", "mentioned")}
    assert steps[3:] == [("openai-python", "first_party", "confirmed"), ("openai-openapi", "first_party", "confirmed")]
    times = [e["first_seen"] for e in tl["entries"]]
    assert times == sorted(times)
    assert tl["first_public"]["source"] == "openai-openapi" and tl["first_public"]["level"] == "mentioned"
    assert tl["first_confirmed"]["source"] == "openai-python"  # the third-party gateway never counts
    python = next(e for e in tl["entries"] if e["source"] == "openai-python")
    assert python["live"] is False and python["vanished_at"] > python["last_seen"] > python["first_seen"]  # step 4
    assert next(e for e in tl["entries"] if e["level"] == "confirmed" and e["source"] == "openai-openapi")["live"]

    code, out = run(config, "timeline", "GPT-IMAGE-2")
    assert code == 0
    assert "public since" in out and "first shown by openai-openapi (mentioned, spec_mention)" in out
    assert "confirmed since" in out and "by openai-python (sdk_value)" in out
    assert "third_party" in out  # shown, with its authority


def test_timeline_of_an_unseen_target_says_so(world):
    code, out = run(world[0], "timeline", "gpt-image-20")
    assert code == 0 and "gpt-image-20: no source has shown it" in out


# ---------------------------------------------------------------------------------- history
def test_history_formats_carry_the_same_rows(world):
    config, store = world
    n = store.count("signals")
    code, out = run(config, "history", "--format", "json")
    rows = json.loads(out)
    assert code == 0 and len(rows) == n and set(rows[0]) == {
        "target", "model_id", "source", "url", "authority", "level", "evidence_type", "excerpt", "location",
        "published", "first_seen", "last_seen", "vanished_at", "id"}
    assert all(r["first_seen"].endswith("Z") for r in rows)
    code, out = run(config, "history", "--format", "jsonl")
    assert [json.loads(line) for line in out.splitlines()] == rows
    code, out = run(config, "history", "--format", "csv")
    assert out.splitlines()[0].startswith("target,model_id,source") and len(out.splitlines()) == n + 1
    code, out = run(config, "history")
    assert code == 0 and len(out.splitlines()) == n + 2 and "vanished" in out


def test_history_json_is_one_array_with_a_record_per_line(world):
    """The JSON is written as the rows come (memory stays flat over 100k signals): one compact record
    per line inside the array, so it is both one JSON document and easy to read line by line."""
    config, store = world
    code, out = run(config, "history", "--format", "json")
    lines = out.splitlines()
    assert code == 0 and lines[0] == "[" and lines[-1] == "]" and len(lines) == store.count("signals") + 2
    assert [json.loads(line.rstrip(",")) for line in lines[1:-1]] == json.loads(out)
    from watcher.clock import (
        iso,  # stored times are formatted directly, exactly as iso() would
    )

    assert [(r["first_seen"], r["last_seen"], r["vanished_at"]) for r in json.loads(out)] == [
        (iso(r["first_seen"]), iso(r["last_seen"]), iso(r["vanished_at"])) for r in store.history()]
    code, out = run(config, "history", "--format", "json", "--since", "2999-01-01")
    assert code == 0 and json.loads(out) == []


def test_history_filters(world):
    config, store = world

    def ids(*args: str) -> set[int]:
        code, out = run(config, "history", "--format", "json", *args)
        assert code == 0, out
        return {r["id"] for r in json.loads(out)}

    everything = ids()
    assert ids("--authority", "third_party") == {r["id"] for r in store.history(source="gateway")}
    assert ids("--source", "openai-python", "--level", "confirmed") == {
        r["id"] for r in store.history(source="openai-python") if r["level"] == "confirmed"}
    assert ids("--type", "spec_value") and ids("--type", "spec_value") < everything
    assert ids("--target", "GPT-IMAGE-2") == everything
    assert ids("--since", "7d") == everything and ids("--since", "12h", "--until", "1h") == set()
    assert ids("--until", "2000-01-01") == set() and ids("--since", "2999-01-01") == set()
    code, out = run(config, "history", "--since", "last tuesday")
    assert code == 2 and "use 7d, 12h or a date" in out


def test_history_since_and_until_dates_are_local_midnight(tmp_path, monkeypatch):
    """--until 2026-05-01 in New York is 04:00 UTC that day: a signal at 03:00 UTC is before it."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        config, store, src = _seeded_config(tmp_path)
        for i, at in enumerate([datetime(2026, 4, 30, 23), datetime(2026, 5, 1, 3), datetime(2026, 5, 1, 12)]):
            # each probe shows what the one before showed, and one signal more
            store.record_probe(src, Probe(Outcome.OK, at, 5, 200, 10, body=f"v{i}".encode(), signals=[
                _signal(f"line {j}") for j in range(i + 1)]), every=900)
        code, out = run(config, "history", "--until", "2026-05-01", "--format", "json")
        assert code == 0 and [r["first_seen"] for r in json.loads(out)] == [
            "2026-04-30T23:00:00Z", "2026-05-01T03:00:00Z"]
        code, out = run(config, "history", "--since", "2026-05-01", "--format", "csv")
        assert [r["first_seen"] for r in csv.DictReader(io.StringIO(out))] == ["2026-05-01T12:00:00Z"]
        code, out = run(config, "history", "--until", "2026-05-01T12:00:00Z", "--format", "jsonl")
        assert len(out.splitlines()) == 2  # a time with a zone is taken as given; --until is exclusive
        code, out = run(config, "history", "--since", "2026-05-01")
        assert "2026-05-01 08:00:00" in out  # the table shows local time: 12:00 UTC is 08:00 in New York
    finally:
        monkeypatch.undo()
        time.tzset()


def test_history_progress_bar_only_on_a_terminal(tmp_path):
    config, store, src = _seeded_config(tmp_path)
    many = [_signal(f"row {i}") for i in range(history_min() + 1)]
    store.record_probe(src, Probe(Outcome.OK, utcnow(), 5, 200, 10, body=b"big", signals=many), every=900)
    cmd = [sys.executable, "-m", "watcher", "-c", str(config), "history", "--format", "csv"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("WATCHER_")}
    piped = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)
    assert piped.returncode == 0 and len(piped.stdout.splitlines()) == len(many) + 1
    assert piped.stderr == ""  # quiet in a pipe
    out, err, code = _run_on_terminal(cmd, env)
    assert code == 0 and "reading signals" in err and "100%" in err
    assert out.count("gpt-image-2") >= len(many)
    forced = subprocess.run(cmd + ["--progress"], capture_output=True, text=True, env=env, timeout=60)
    assert forced.stderr.strip() == "reading signals"  # asked for: a label, no bar, since stderr is no terminal
    out, err, code = _run_on_terminal(cmd + ["--no-progress"], env)
    assert code == 0 and err == ""


def history_min() -> int:
    from watcher.cli import PROGRESS_MIN

    return PROGRESS_MIN


def _run_on_terminal(cmd: list[str], env: dict[str, str]) -> tuple[str, str, int]:
    """Run with stdout and stderr on pseudo-terminals, draining both while it runs."""
    masters, slaves = zip(*(pty.openpty() for _ in range(2)), strict=True)
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=slaves[0], stderr=slaves[1], env=env)
    for fd in slaves:
        os.close(fd)
    chunks: list[list[bytes]] = [[], []]

    def drain(i: int) -> None:
        while True:
            try:
                data = os.read(masters[i], 65536)
            except OSError:  # EIO: the other side closed
                return
            if not data:
                return
            chunks[i].append(data)

    threads = [threading.Thread(target=drain, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    code = proc.wait(timeout=60)
    for t in threads:
        t.join(timeout=10)
    for fd in masters:
        os.close(fd)
    return b"".join(chunks[0]).decode(), b"".join(chunks[1]).decode(), code


def _seeded_config(tmp_path: Path, url: str | None = None, migrate: bool = True):  # type: ignore[no-untyped-def]
    raw = {"database_url": url or f"sqlite:///{tmp_path}/seeded.db", "targets": [{"id": "gpt-image-2"}],
           "sources": [{"name": "docs", "kind": "sdk_types", "url": "https://example.invalid/docs.py"},
                       {"name": "quiet", "kind": "sdk_types", "url": "https://example.invalid/quiet.py"}]}
    path = tmp_path / "seeded.toml"
    path.write_text(f'database_url = "{raw["database_url"]}"\n[[targets]]\nid = "gpt-image-2"\n' + "".join(
        f'[[sources]]\nname = "{s["name"]}"\nkind = "sdk_types"\nurl = "{s["url"]}"\n' for s in raw["sources"]))
    config = parse_config(raw, path, {})
    store = Store(config.database_url, migrate=migrate)
    rows = store.sync_sources(config.sources)
    return path, store, rows["docs"]


def _signal(location: str) -> Signal:
    return Signal("gpt-image-2", "gpt-image-2", EvidenceType.SDK_VALUE, f'"gpt-image-2" at {location}', location)


# ---------------------------------------------------------------------------------- report
def test_report_is_one_static_page_with_verdicts_evidence_timeline_and_health(world, tmp_path):
    config, store = world
    out = tmp_path / "report.html"
    code, msg = run(config, "report", "--out", str(out))
    assert code == 0 and out.exists()
    html = out.read_text()
    soup = BeautifulSoup(html, "html.parser")
    # static and self-contained: no script, no external style, font, image or frame
    assert not soup.find_all(["script", "link", "img", "iframe", "object", "embed", "base", "form"])
    assert "default-src 'none'" in soup.find("meta", attrs={"http-equiv": "Content-Security-Policy"})["content"]
    assert not [t for t in soup.find_all(style=True) if "url(" in t["style"]] and "url(" not in soup.style.text
    links = {a["href"] for a in soup.find_all("a", href=True)}
    assert all(h.startswith(("#", "http://127.0.0.1:")) for h in links)
    # hostile text from the gateway is text, escaped, with its bidi override and escapes gone
    text = soup.get_text()
    assert HOSTILE in text and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "\x1b" not in html and "\u202e" not in html
    # the verdict and the evidence behind it
    target = soup.find("section", class_="target")
    assert target.find("span", class_="badge").text == "confirmed"
    assert "first-party evidence found in 1 of 3 sources (openai-openapi)" in target.text
    evidence = target.find("h3", string=lambda s: s and s.startswith("Evidence shown now")).find_next("table")
    rows = [[td.get_text(" ", strip=True) for td in tr.find_all("td")] for tr in evidence.tbody.find_all("tr")]
    assert rows[0][0].startswith("openai-openapi") and rows[0][1] == "confirmed" and rows[0][2].startswith("spec_value")
    assert any(r[0].startswith("gateway third_party") for r in rows)  # shown, last, never counted
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", r[c]) for r in rows for c in (5, 6)), rows
    gone = target.find("details")
    assert "openai-python" in gone.text and "sdk_value" in gone.text  # vanished in step 5
    # the timeline across sources
    timeline = target.find("h3", string=lambda s: s and s.startswith("Timeline")).find_next("table")
    order = [tr.find_all("td")[2].get_text(strip=True) for tr in timeline.tbody.find_all("tr")]
    assert order[-2:] == ["openai-python", "openai-openapi"] and "gateway" in order
    assert "Public since" in target.text
    # source health
    health = {tr.find_all("td")[0].get_text(" ", strip=True).split()[0]: [td.get_text(" ", strip=True)
              for td in tr.find_all("td")] for tr in soup.find(id="sources").tbody.find_all("tr")}
    pricing = health["openai-pricing"]
    assert pricing[2].startswith("http_error") and "HTTP 503" in pricing[2] and pricing[5] == "5"
    assert "503" in pricing[7]
    assert health["openai-python"][2].startswith("ok") and health["openai-python"][5] == ""


def test_report_renders_10000_signals_quickly(tmp_path):
    config, store, src = _seeded_config(tmp_path)
    store.record_probe(src, Probe(Outcome.OK, utcnow(), 5, 200, 10, body=b"x", signals=[
        _signal(f"row {i} <b>bold?</b>") for i in range(10_000)]), every=900)
    t0 = time.perf_counter()
    html = render_report(report(load_config(config, env={}), store))
    elapsed = time.perf_counter() - t0
    assert html.count("&lt;b&gt;bold?&lt;/b&gt;") == 20_000  # excerpt and location, escaped
    assert elapsed < 5, f"report of 10,000 signals took {elapsed:.1f} s"


# ---------------------------------------------------------------------------------- feed
def test_feed_is_valid_atom_with_stable_ids_links_and_times(world, tmp_path):
    config, store = world
    out = tmp_path / "evidence.atom"
    code, _ = run(config, "feed", "--out", str(out))
    assert code == 0
    parsed = feedparser.parse(out.read_bytes())
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    assert parsed.version == "atom10" and parsed.feed.id.startswith("tag:") and parsed.feed.updated_parsed
    entries = parsed.entries
    assert len({e.id for e in entries}) == len(entries) == store.count("signals") + _notice_keys(store)
    for e in entries:
        assert e.id.startswith("tag:release-evidence-watcher.invalid,2026:") and e.title and e.updated_parsed
    signals = [e for e in entries if ":signal/" in e.id]
    assert all(e.link.startswith("http://127.0.0.1:") for e in signals)
    python = next(e for e in signals if "openai-python" in e.id and "sdk_value" in e.title)
    assert python.link.endswith("/openai-python/src/openai/types/image_model.py") and "vanished" in python.title
    assert HOSTILE in next(e for e in signals if "gateway" in e.id and "sdk_mention" in e.title).content[0].value
    notices = [e for e in entries if ":notice/" in e.id]
    assert any(e.title == "gpt-image-2: first-party evidence (confirmed) from openai-python" for e in notices)
    updated = [e.updated_parsed for e in entries]
    assert updated == sorted(updated, reverse=True)
    # the same evidence keeps its id from one run to the next, so a reader shows it once
    again = feedparser.parse(atom_feed(store))
    assert [e.id for e in again.entries] == [e.id for e in entries]


def _notice_keys(store: Store) -> int:
    from watcher.store import outbox

    with store.engine.connect() as conn:
        return len({r["key"] for r in outbox.list_notices(conn, limit=1000) if r["kind"] != "test"})


# ---------------------------------------------------------------------------------- prune
@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/prune.db"
    return request.getfixturevalue("pg_url")


def test_prune_removes_unchanged_runs_and_orphan_documents_never_evidence(tmp_path, db_url):
    """A year-old history of one source, run by run through the real record_probe:
      run 0      document A, no evidence          (the document run 100 is compared against: kept)
      1-99       304                               (removed)
      100        document B, adds the signal       (changed: kept)
      101-119    304                               (removed)
      120        document B2, same evidence        (nothing needs it: removed, and B2 with it)
      121-149    304                               (removed)
      150        document C, same evidence         (what run 200 is compared against: kept)
      151-198    304                               (removed)
      199        304                               (the signal's last sighting: kept)
      200        document D, the signal vanishes   (changed: kept)
      201-289    304                               (removed)
      290-300    304, newer than the cutoff        (kept)
    and a second source with 50 old 304s after one first read (all removed but its newest)."""
    config, store, src = _seeded_config(tmp_path, db_url)
    quiet = store.sync_sources(load_config(config, env={}).sources)["quiet"]
    start = utcnow() - timedelta(days=200)
    docs = {0: b"A\n", 100: b"B\ngpt-image-2\n", 120: b"B2\ngpt-image-2\n", 150: b"C\ngpt-image-2\n", 200: b"D\n"}
    live: list[Signal] = []
    for i in range(301):
        at = start + timedelta(hours=i) if i < 290 else utcnow() - timedelta(days=1, minutes=300 - i)
        if i in docs:
            live = [_signal("ImageModel")] if b"gpt-image-2" in docs[i] else []
            p = Probe(Outcome.OK, at, 5, 200, len(docs[i]), body=docs[i], signals=list(live))
        else:
            p = Probe(Outcome.NOT_MODIFIED, at, 5, 304, 0)
        store.record_probe(src, p, every=900)
    for i in range(51):
        p = Probe(Outcome.OK, start + timedelta(hours=i), 5, 200, 2, body=b"Q\n", signals=[]) if i == 0 else \
            Probe(Outcome.NOT_MODIFIED, start + timedelta(hours=i), 5, 304, 0)
        store.record_probe(quiet, p, every=900)
    sid = store.history()[0]["id"]
    before_history = store.history()
    assert store.count("probe_runs") == 352 and store.count("snapshots") == 6
    cutoff = utcnow() - timedelta(days=90)

    dry = runs.prune(store, cutoff, dry_run=True)
    assert store.count("probe_runs") == 352 and store.count("snapshots") == 6  # nothing deleted
    res = runs.prune(store, cutoff)
    removed_docs = 99 + 19 + 1 + 29 + 48 + 89  # run ranges above
    assert (dry.runs_removed, dry.snapshots_removed) == (res.runs_removed, res.snapshots_removed)
    assert res.runs_removed == removed_docs + 50 and store.count("probe_runs") == 352 - res.runs_removed
    assert res.snapshots_removed == 1 and store.count("snapshots") == 5  # B2 only
    assert res.kept_because == {"named by a signal": 1, "read a document a change is compared against": 2,
                                "newest of its source": 1}
    assert store.history() == before_history  # evidence untouched

    e = explain(store, sid)
    assert e is not None and e.first_run is not None and e.first_run.http_status == 200
    assert e.snapshot is not None and e.snapshot.content_hash == hashlib.sha256(b"B\ngpt-image-2\n").hexdigest()
    assert e.diff is not None and e.diff.base_snapshot.content_hash == hashlib.sha256(b"A\n").hexdigest()
    assert "+gpt-image-2" in e.diff.lines
    assert e.vanished_run is not None and e.last_run is not None
    assert runs.prune(store, cutoff).runs_removed == 0  # a second prune finds nothing more
    store.close()


def test_a_change_recorded_while_pruning_keeps_the_document_it_is_compared_against(tmp_path, monkeypatch):
    """The daemon goes on probing while prune deletes batch by batch: a change that arrives after the
    plan is compared against a document read 200 days ago, which the plan meant to delete."""
    config, store, src = _seeded_config(tmp_path)
    start = utcnow() - timedelta(days=200)
    store.record_probe(src, Probe(Outcome.OK, start, 5, 200, 2, body=b"A\n", signals=[]), every=900)
    for i in range(1, 40):
        store.record_probe(src, Probe(Outcome.NOT_MODIFIED, start + timedelta(days=i), 5, 304, 0), every=900)
    plan = runs._diff_bases

    def plan_then_a_change_arrives(runs):  # type: ignore[no-untyped-def]
        out = plan(runs)
        store.record_probe(src, Probe(Outcome.OK, utcnow(), 5, 200, 15, body=b"B\ngpt-image-2\n",
                                      signals=[_signal("ImageModel")]), every=900)
        return out

    monkeypatch.setattr(runs, "_diff_bases", plan_then_a_change_arrives)
    res = runs.prune(store, utcnow() - timedelta(days=90), batch=10)
    assert res.runs_removed == 38 and res.kept_because == {"read a document a change is compared against": 1,
                                                           "newest of its source": 1}
    assert res.snapshots_removed == 0
    e = explain(store, store.history()[0]["id"])
    assert e is not None and e.diff is not None
    assert e.diff.base_snapshot.content_hash == hashlib.sha256(b"A\n").hexdigest()


_STABLE = ("id", "source_id", "target", "model_id", "key_hash", "level", "evidence_type", "location", "excerpt",
           "first_probe_run_id", "vanished_probe_run_id")


def _signal_rows(store: Store) -> list[tuple]:
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql(f"SELECT {', '.join(_STABLE)} FROM signals ORDER BY id")]


def _rows_of(history_rows: list[dict]) -> list[tuple]:
    return [tuple(r[c] for c in _STABLE) for r in sorted(history_rows, key=lambda r: r["id"])]


def test_upgrading_a_database_with_history_from_0001_keeps_it_and_prunes(tmp_path, db_url):
    """0002 indexes the references prune deletes by and takes the foreign key off last_probe_run_id
    (SQLite by copying the table): the history, the one-live-row index and the other keys survive."""
    from sqlalchemy import inspect

    from watcher.store import migrate

    # The history is written by today's code, then the schema taken back to 0001 (today's code writes
    # columns 0001 lacks, such as 0003's sources.not_before) and brought forward to 0002 alone.
    config, store, src = _seeded_config(tmp_path, db_url)
    old = utcnow() - timedelta(days=200)
    store.record_probe(src, Probe(Outcome.OK, old, 5, 200, 2, body=b"A\n", signals=[]), every=900)
    for i in range(1, 30):
        signals = [_signal("ImageModel")] if i >= 10 else []
        body = b"B\ngpt-image-2\n" if i >= 10 else b"A\n"
        store.record_probe(src, Probe(Outcome.OK, old + timedelta(days=i), 5, 200, 2, body=body, signals=signals),
                           every=900)
    before = store.history()
    migrate.downgrade(store.engine, "0001")
    # Read with the columns 0001 has (today's history reads signals.missed_at, 0004's).
    assert store.schema_revision() == "0001" and _signal_rows(store) == _rows_of(before)
    migrate.upgrade(store.engine, "0002")
    assert store.schema_revision() == "0002" and _signal_rows(store) == _rows_of(before)
    indexes = {i["name"]: i for i in inspect(store.engine).get_indexes("signals")}
    assert indexes["uq_signals_live"]["unique"] and "ix_signals_first_probe_run_id" in indexes
    fks = {fk["constrained_columns"][0] for fk in inspect(store.engine).get_foreign_keys("signals")}
    assert fks == {"source_id", "first_probe_run_id", "vanished_probe_run_id", "first_snapshot_id"}
    migrate.upgrade(store.engine)
    assert store.history() == before
    res = runs.prune(store, utcnow() - timedelta(days=90))
    assert res.runs_removed == 27 and store.history() == before  # 0-8 and 11-28; 9 is what 10 is diffed against
    e = explain(store, before[0]["id"])
    assert e is not None and e.diff is not None and "+gpt-image-2" in e.diff.lines
    store.close()


def test_prune_command_reports_what_it_removed(tmp_path):
    config, store, src = _seeded_config(tmp_path)
    old = utcnow() - timedelta(days=120)
    store.record_probe(src, Probe(Outcome.OK, old, 5, 200, 2, body=b"A\n", signals=[]), every=900)
    for i in range(1, 10):
        store.record_probe(src, Probe(Outcome.NOT_MODIFIED, old + timedelta(minutes=15 * i), 5, 304, 0), every=900)
    code, out = run(config, "prune", "--older-than", "90d", "--dry-run")
    assert code == 0 and "would remove 9 of 10 runs" in out and store.count("probe_runs") == 10
    code, out = run(config, "prune")
    assert code == 0 and "removed 9 of 10 runs" in out and "signals: none removed" in out
    assert "would" not in out and "of 1 (0 bytes" in out  # the document stays: it is the source's current one
    assert store.count("probe_runs") == 1 and store.count("snapshots") == 1  # the newest run is kept
    code, out = run(config, "prune", "--older-than", "soon")
    assert code == 2 and "--older-than" in out


def test_a_database_failure_in_a_view_is_a_store_error_naming_the_database(tmp_path):
    """The read side's queries pass the store's one boundary: a damaged database is a StoreError (exit 4)
    naming the database and the driver's reason, never a raw SQLAlchemy exception."""
    from watcher.errors import StoreError
    from watcher.views.timeline import timeline

    store = Store(f"sqlite:///{tmp_path}/w.db")
    with store.write() as conn:
        conn.exec_driver_sql("DROP TABLE signals")
    for view in (lambda: explain(store, 1), lambda: timeline(store, "gpt-image-2"), lambda: atom_feed(store)):
        with pytest.raises(StoreError, match=r"^database sqlite:///.*w\.db: .*no such table: signals") as info:
            view()
        assert info.value.exit_code == 4
