"""Issue 10, never blind: a source whose answer is odd is recorded as what it is, never lost and never
stuck; a server's Retry-After is honoured; credentials and secrets stay where they belong; bad
configuration explains itself; a failed notice can be brought back by the operator.

Real servers on 127.0.0.1, SQLite and real PostgreSQL (tests/pg.py); nothing mocked.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select, update

from configs import source, write_config
from servers import FixtureServer, HookReceiver
from watcher.clock import utcnow
from watcher.config import load_config
from watcher.cycle import run_cycle
from watcher.evidence import Outcome
from watcher.fetch import Fetcher
from watcher.store import Probe, Store
from watcher.store import schema as S

DBS = ["sqlite", "postgresql"]
MODELS = json.dumps({"object": "list", "data": [{"id": "gpt-image-2", "object": "model"}]}).encode()


def db_url(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    return f"sqlite:///{tmp_path}/w.db" if kind == "sqlite" else request.getfixturevalue("pg_url")




def watcher(cfg: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "watcher", "--config", str(cfg), *args], capture_output=True,
                          text=True, timeout=90, env={**os.environ, **(env or {})})


def states(cfg: Path) -> dict[str, dict]:
    r = watcher(cfg, "status", "--format", "json")
    assert r.returncode == 0, r.stderr
    return {s["name"]: s for s in json.loads(r.stdout)["sources"]}


# ---------------------------------------------------------------------------------- bounded strings
@pytest.mark.slow
@pytest.mark.parametrize("db", DBS)
def test_over_long_headers_and_ids_are_bounded_and_lose_no_other_source(http_server, tmp_path, request, db):
    long_id = "gpt-image-" + "x" * 250
    odd = json.dumps({"object": "list", "data": [{"id": "gpt-image-2"}, {"id": long_id}]}).encode()
    http_server.route("/odd", odd, content_type="application/json; profile=" + "p" * 300,
                      last_modified="Tue, 01 Dec 2026 00:00:00 GMT" + " " * 50 + "x" * 150)
    http_server.route("/plain", MODELS, content_type="application/json")
    cfg = write_config(tmp_path, db_url(db, tmp_path, request),
                       source("odd", http_server.url("/odd")) + source("plain", http_server.url("/plain")),
                       targets='[[targets]]\nid = "gpt-image-2"\n[[targets]]\nfamily = "gpt-image-*"\n')
    r = watcher(cfg, "run", "--once")
    assert r.returncode == 0, r.stdout + r.stderr
    assert {n: s["outcome"] for n, s in states(cfg).items()} == {"odd": "ok", "plain": "ok"}
    hist = json.loads(watcher(cfg, "history", "--format", "json").stdout)
    assert {(h["source"], h["model_id"]) for h in hist} == {("odd", "gpt-image-2"), ("plain", "gpt-image-2")}
    store = Store(load_config(cfg).database_url)
    with store.engine.connect() as conn:
        lm = conn.execute(select(S.sources.c.last_modified).where(S.sources.c.name == "odd")).scalar()
        ctypes = conn.execute(select(S.snapshots.c.content_type)).scalars().all()
    store.close()
    assert lm is None  # not a validator that can be sent back: dropped, not cut into a wrong one
    assert all(len(c) <= 200 for c in ctypes)
    assert watcher(cfg, "run", "--once").returncode == 0  # and the next run is as healthy


def test_the_matcher_refuses_an_id_longer_than_any_model_id():
    from watcher.targets import MAX_ID, Matcher, Target

    m = Matcher([Target(id="gpt-image-2"), Target(family="gpt-image-*")])
    assert m.classify("gpt-image-" + "x" * MAX_ID) is None
    assert m.classify("gpt-image-2.5") == ("gpt-image-2.5", "gpt-image-*")
    assert [x.model_id for x in m.find("see gpt-image-" + "y" * 300 + " and gpt-image-2")] == ["gpt-image-2"]


def test_one_probe_the_database_refuses_loses_no_other_probe_of_its_batch(http_server, tmp_path, pg_url):
    cfg = write_config(tmp_path, pg_url, source("good", http_server.url("/a")) + source("bad", http_server.url("/b")))
    config = load_config(cfg)
    store = Store(config.database_url)
    rows = store.sync_sources(config.sources)
    ok = Probe(outcome=Outcome.OK, started_at=utcnow(), duration_ms=3, status=200, body=MODELS, signals=[])
    # PostgreSQL refuses a NUL in text whatever its length: a cause no bound catches
    refused = Probe(outcome=Outcome.HTTP_ERROR, started_at=utcnow(), duration_ms=3, status=500,
                    error="HTTP 500 \x00 from a hostile server")
    records = store.record_probes([(rows["good"], ok, 60.0), (rows["bad"], refused, 60.0)])
    assert [r.outcome for r in records] == [Outcome.OK, Outcome.PARSE_ERROR]
    st = store.states()
    store.close()
    assert st["good"].last_outcome == "ok" and st["good"].snapshot_id is not None
    assert st["bad"].last_outcome == "parse_error" and st["bad"].failure_streak == 1
    assert "could not store" in (st["bad"].last_error or "")


def test_over_long_source_and_channel_names_are_refused_at_load(tmp_path):
    long = "s" * 150
    cfg = write_config(tmp_path, f"sqlite:///{tmp_path}/w.db", source(long, "http://127.0.0.1:9/x"))
    r = watcher(cfg, "sources")
    assert r.returncode == 3 and "sources[0].name" in r.stderr and "at most 100" in r.stderr, r.stderr
    cfg = write_config(tmp_path, f"sqlite:///{tmp_path}/w.db", source("ok", "http://127.0.0.1:9/x"),
                       channels=[{"name": long, "type": "webhook", "url": "http://127.0.0.1:9/h"}])
    r = watcher(cfg, "sources")
    assert r.returncode == 3 and "channels[0].name" in r.stderr and "at most 100" in r.stderr, r.stderr


# ---------------------------------------------------------------------------------- validators
def test_a_validator_that_cannot_be_sent_back_is_never_stored_and_never_breaks_a_request(http_server, tmp_path):
    http_server.route("/v1/models", MODELS, content_type="application/json", headers={"ETag": '"caf\u00e9"'})
    cfg = write_config(tmp_path, f"sqlite:///{tmp_path}/w.db", source("models", http_server.url("/v1/models")))
    config = load_config(cfg)
    store = Store(config.database_url)
    with Fetcher() as f:
        outcomes = [run_cycle(config, store, f).sources[0].outcome for _ in range(3)]
    assert outcomes == [Outcome.OK] * 3
    assert store.states()["models"].etag is None
    # One stored by an older version is not sent either: the source recovers instead of failing for ever.
    with store.write() as conn:
        conn.execute(update(S.sources).values(etag='"caf\u00e9"', last_modified="Tue, 01 Dec 2026 \u00e9"))
    with Fetcher() as f:
        assert run_cycle(config, store, f).sources[0].outcome is Outcome.OK
    store.close()
    assert "if-none-match" not in http_server.requests[-1].headers


def test_a_request_that_cannot_be_built_is_a_recorded_outcome(http_server, tmp_path):
    http_server.route("/v1/models", MODELS, content_type="application/json")
    cfg = write_config(tmp_path, f"sqlite:///{tmp_path}/w.db", source(
        "models", http_server.url("/v1/models"), extra='headers = { X-Team = "caf\u00e9" }\n'))
    r = watcher(cfg, "run", "--once")
    assert r.returncode == 5 and "could not be built" in r.stdout, r.stdout + r.stderr
    assert states(cfg)["models"]["outcome"] == "http_error"


def test_a_304_on_the_very_first_probe_is_unknown_not_absent(http_server, tmp_path):
    http_server.route("/v1/models", lambda h: (304, {"ETag": '"x"'}, b""))
    cfg = write_config(tmp_path, f"sqlite:///{tmp_path}/w.db", source("models", http_server.url("/v1/models")))
    r = watcher(cfg, "run", "--once")
    assert r.returncode == 5, r.stdout  # the source could not be read
    assert "nothing was ever read" in r.stdout
    assert watcher(cfg, "check", "gpt-image-2").returncode == 12  # unknown, not no_evidence (11)


# ---------------------------------------------------------------------------------- Retry-After
def test_retry_after_holds_across_run_once_invocations(http_server, tmp_path):
    http_server.route("/v1/models", lambda h: (429, {"Retry-After": "3600"}, b"slow down"))
    cfg = write_config(tmp_path, f"sqlite:///{tmp_path}/w.db",
                       source("models", http_server.url("/v1/models"), every="2s"))
    watcher(cfg, "run", "--once")
    again = watcher(cfg, "run", "--once")
    assert http_server.hits("/v1/models") == 1
    assert "in back-off until" in again.stdout and "Retry-After" in again.stdout, again.stdout


@pytest.mark.slow
@pytest.mark.parametrize("db", DBS)
def test_retry_after_stretches_the_daemon_schedule(http_server, tmp_path, request, db):
    http_server.route("/v1/models", lambda h: (503, {"Retry-After": "3600"}, b"maintenance"))
    cfg = write_config(tmp_path, db_url(db, tmp_path, request),
                       source("models", http_server.url("/v1/models"), every="1s"))
    Store(load_config(cfg).database_url).close()
    d = subprocess.Popen([sys.executable, "-m", "watcher", "--config", str(cfg), "run"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 20
        while http_server.hits("/v1/models") == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(5)  # five intervals
    finally:
        d.send_signal(signal.SIGTERM)
        out, _ = d.communicate(timeout=30)
    assert d.returncode == 0, out
    assert http_server.hits("/v1/models") == 1


# ---------------------------------------------------------------------------------- leaks
def test_credentials_go_only_to_the_sources_own_origin(http_server, tmp_path):
    with FixtureServer() as other_port:  # the same host, another port: another origin
        other_port.route("/v1/models", MODELS, content_type="application/json")
        http_server.route("/v1/models", lambda h: (302, {"Location": other_port.url("/v1/models")}, b""))
        cfg = write_config(tmp_path, f"sqlite:///{tmp_path}/w.db", source(
            "models", http_server.url("/v1/models"), extra='headers = { Authorization = "Bearer ${TOKEN}" }\n'))
        r = watcher(cfg, "run", "--once", env={"TOKEN": "tok-5ec2e7a9"})
        assert r.returncode == 0, r.stdout + r.stderr
        assert http_server.requests[0].headers.get("authorization") == "Bearer tok-5ec2e7a9"
        assert [q.headers.get("authorization") for q in other_port.requests] == [None]


@pytest.mark.slow
def test_a_page_echoing_a_configured_secret_stores_and_prints_none_of_it(http_server, tmp_path):
    key, token = "key-9f3b1c77d2", "tok-a81e66f0c4"
    page = json.dumps({"object": "list", "data": [{"id": "gpt-image-2", "object": "model",
                                                   "owned_by": f"echo {token} and {key}"}]}).encode()
    http_server.route("/v1/models", page, content_type="application/json")
    with HookReceiver() as rec:
        cfg = write_config(tmp_path, f"sqlite:///{tmp_path}/w.db", source(
            "models", http_server.url("/v1/models") + "?key=${WKEY}",
            extra='headers = { Authorization = "Bearer ${WTOKEN}" }\n'),
            channels=[{"name": "hook", "type": "webhook", "url": rec.url("/h")}])
        env = {"WKEY": key, "WTOKEN": token}
        r = watcher(cfg, "run", "--once", env=env)
        assert r.returncode == 0, r.stdout + r.stderr
        assert len(rec.received) == 1
        printed = [r.stdout, r.stderr, rec.received[0].body.decode()]
        for args in (("history", "--format", "json"), ("alerts", "--format", "json"), ("status",)):
            out = watcher(cfg, *args, env=env)
            printed += [out.stdout, out.stderr]
    assert "[redacted]" in printed[3]  # the excerpt is there, the secret is not
    con = sqlite3.connect(tmp_path / "w.db")
    stored = "\n".join(con.iterdump())
    con.close()
    for text in (*printed, stored):
        assert key not in text and token not in text


# ---------------------------------------------------------------------------------- configuration
@pytest.mark.parametrize("line, key", [
    ("every = inf", "sources.models.every"), ("every = nan", "sources.models.every"),
    ("every = 1e308", "sources.models.every"), ('every = "99999999999d"', "sources.models.every"),
    ("deadline = nan", "sources.models.deadline"), ("timeout = -inf", "sources.models.timeout"),
])
def test_an_absurd_number_is_a_config_error_naming_the_key(tmp_path, line, key):
    text = (f'database_url = "sqlite:///{tmp_path}/w.db"\n[[targets]]\nid = "gpt-image-2"\n[[sources]]\n'
            f'name = "models"\nkind = "models_api"\nurl = "http://127.0.0.1:9/m"\n{line}\n')
    cfg = tmp_path / "watcher.toml"
    cfg.write_text(text)
    r = watcher(cfg, "sources")
    assert r.returncode == 3, r.stderr
    assert key in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("every", ["0.001", '"10ms"', '"0.5s"'])
def test_an_interval_below_a_second_is_refused(tmp_path, every):
    text = (f'database_url = "sqlite:///{tmp_path}/w.db"\n[defaults]\nevery = {every}\n[[targets]]\n'
            'id = "gpt-image-2"\n')
    cfg = tmp_path / "watcher.toml"
    cfg.write_text(text)
    r = watcher(cfg, "sources")
    assert r.returncode == 3 and "defaults.every" in r.stderr and "floor of 1 s" in r.stderr, r.stderr


# ---------------------------------------------------------------------------------- operator recovery
@pytest.mark.slow
def test_a_failed_notice_is_shown_until_retried_or_dismissed_and_a_success_clears_failing(http_server, tmp_path):
    http_server.route("/v1/models", MODELS, content_type="application/json")
    with HookReceiver() as rec:
        rec.script([404])  # a mistyped URL: permanent
        cfg = write_config(tmp_path, f"sqlite:///{tmp_path}/w.db", source("models", http_server.url("/v1/models")),
                           channels=[{"name": "hook", "type": "webhook", "url": rec.url("/h")}])
        watcher(cfg, "run", "--once")
        alerts = json.loads(watcher(cfg, "alerts", "--format", "json").stdout)
        (release,) = [a for a in alerts if a["kind"] == "release"]
        assert release["state"] == "failed"
        status = watcher(cfg, "status")
        assert "failed notice" in status.stdout and "failing" in status.stdout, status.stdout
        assert json.loads(watcher(cfg, "status", "--format", "json").stdout)["failed_notices"][0]["id"] == release["id"]

        # the channel works again (a test notice gets through): no longer failing, the failed one still listed
        assert watcher(cfg, "notify", "test").returncode == 0
        status = watcher(cfg, "status").stdout
        assert "failing" not in status and "failed notice" in status, status

        r = watcher(cfg, "alerts", "retry", str(release["id"]))
        assert r.returncode == 0 and "re-queued 1" in r.stdout, r.stdout + r.stderr
        watcher(cfg, "run", "--once")
        kinds = [h.json()["kind"] for h in rec.received]
        assert kinds.count("release") == 2  # the refused attempt, then the one that arrived
        assert "failed notice" not in watcher(cfg, "status").stdout

        rec.script([410])
        assert watcher(cfg, "notify", "test").returncode == 1
        failed = json.loads(watcher(cfg, "alerts", "--state", "failed", "--format", "json").stdout)
        assert len(failed) == 1
        r = watcher(cfg, "alerts", "dismiss", str(failed[0]["id"]))
        assert r.returncode == 0, r.stderr
        assert "failed notice" not in watcher(cfg, "status").stdout
        assert watcher(cfg, "alerts", "retry").returncode == 2  # says what to name


def test_retry_by_channel_and_all_failed(http_server, tmp_path):
    with HookReceiver() as rec:
        rec.script([404, 404])
        cfg = write_config(tmp_path, f"sqlite:///{tmp_path}/w.db", source("models", http_server.url("/m")),
                           channels=[{"name": "a", "type": "webhook", "url": rec.url("/a")},
                                     {"name": "b", "type": "webhook", "url": rec.url("/b")}])
        watcher(cfg, "notify", "test")
        assert len(json.loads(watcher(cfg, "alerts", "--state", "failed", "--format", "json").stdout)) == 2
        assert "re-queued 1" in watcher(cfg, "alerts", "retry", "--channel", "a").stdout
        assert "re-queued 1" in watcher(cfg, "alerts", "retry", "--all-failed").stdout
        assert json.loads(watcher(cfg, "alerts", "--state", "failed", "--format", "json").stdout) == []
