"""Faults that must lose nothing and duplicate nothing: crashes at each step of a cycle, the database
unreachable or lost mid-run, SMTP down, Slack failing for an hour, a receiver that hangs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

import watcher.notify as notify_mod
import watcher.store.sql as sql_mod
from conftest import SMTPServer, free_port
from servers import HookReceiver
from tcpproxy import TCPProxy
from watcher.clock import utcnow
from watcher.config import load_config
from watcher.cycle import owner_id
from watcher.notify import deliver_due
from watcher.store import Store, outbox

AFTER = json.dumps({"object": "list", "data": [{"id": "gpt-image-2", "object": "model", "created": 2}]}).encode()
BEFORE = json.dumps({"object": "list", "data": [{"id": "gpt-image-1", "object": "model", "created": 1}]}).encode()


def config_file(tmp_path: Path, server, channels, db=None, every="1s") -> Path:
    db = db or f"sqlite:///{tmp_path}/w.db"
    text = (f'database_url = "{db}"\njitter = 0\n[[targets]]\nid = "gpt-image-2"\n'
            f'[[sources]]\nname = "models"\nkind = "models_api"\nurl = "{server.url("/v1/models")}"\n'
            f'every = "{every}"\ntimeout = "2s"\n')
    for ch in channels:
        text += "[[channels]]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in ch.items())
    p = tmp_path / "watcher.toml"
    p.write_text(text)
    return p


def watcher(cfg: Path, *args: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "watcher", "--config", str(cfg), *args], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})


def notices(cfg: Path) -> list[dict]:
    store = Store(load_config(cfg).database_url)
    with store.engine.connect() as conn:
        rows = outbox.list_notices(conn)
    store.close()
    return rows


@pytest.mark.slow
@pytest.mark.parametrize("point", ["after_fetch", "after_store", "after_send"])
def test_killed_at_each_step_of_a_cycle_every_due_notice_arrives_once(http_server, tmp_path, point):
    http_server.route("/v1/models", AFTER, content_type="application/json")
    with HookReceiver() as rec:
        cfg = config_file(tmp_path, http_server, [{"name": "hook", "type": "webhook", "url": rec.url("/h")}])
        crashed = watcher(cfg, "run", "--once", env={"WATCHER_CRASH_AT": point})
        assert crashed.returncode == 70, crashed.stderr
        again = watcher(cfg, "run", "--once")
        assert again.returncode == 0, again.stdout + again.stderr
        watcher(cfg, "run", "--once")
        keys = [h.headers["idempotency-key"] for h in rec.received]
    assert set(keys) == {"release:gpt-image-2"}
    if point == "after_send":
        # the one window: the channel took it, the process died before marking it; it goes again with
        # the same Idempotency-Key, so a receiver that honours the key shows it once
        assert len(keys) == 2
    else:
        assert len(keys) == 1
    (n,) = notices(cfg)
    assert n["state"] == "sent"


def test_database_unreachable_at_start_is_a_clear_error_and_exit_4(http_server, tmp_path):
    cfg = config_file(tmp_path, http_server, [], db=f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/x")
    for args in (("status",), ("run", "--once")):
        r = watcher(cfg, *args)
        assert r.returncode == 4, r.stderr
        assert r.stderr.startswith("watcher: database postgresql+psycopg://postgres@127.0.0.1:")
        assert "Traceback" not in r.stderr
    cfg = config_file(tmp_path, http_server, [], db=f"sqlite:///{tmp_path}/no/such/dir/w.db")
    r = watcher(cfg, "status")
    assert r.returncode == 4 and "unable to open database file" in r.stderr


@pytest.mark.slow
def test_database_lost_mid_run_then_back_loses_no_release(http_server, tmp_path, pg_url):
    from sqlalchemy.engine import make_url

    u = make_url(pg_url)
    proxy = TCPProxy(u.host, u.port)
    db = u.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    Store(db).close()  # migrate while the line is up
    http_server.route("/v1/models", BEFORE, content_type="application/json")
    with HookReceiver() as rec:
        cfg = config_file(tmp_path, http_server, [{"name": "hook", "type": "webhook", "url": rec.url("/h")}], db=db)
        proc = subprocess.Popen([sys.executable, "-m", "watcher", "--config", str(cfg), "run"],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            time.sleep(2.5)
            proxy.cut()
            http_server.route("/v1/models", AFTER, content_type="application/json")  # the release, during the outage
            time.sleep(3)
            assert rec.received == []
            proxy.restore()
            rec.wait_for(1, timeout=20)
            time.sleep(2)
        finally:
            proc.terminate()
            out, _ = proc.communicate(timeout=30)
            proxy.close()
        assert len(rec.received) == 1, out
    assert proc.returncode == 0, out
    assert "could not record" in out or "database" in out.lower(), out  # the outage was said, not swallowed


def test_smtp_down_then_up_delivers_the_release_once(http_server, tmp_path, monkeypatch):
    monkeypatch.setattr(notify_mod, "BACKOFF_BASE", 0.01)
    http_server.route("/v1/models", AFTER, content_type="application/json")
    port = free_port()
    mail = {"name": "mail", "type": "email", "smtp_host": "127.0.0.1", "smtp_port": port, "security": "none",
            "from": "w@example.com", "to": ["t@example.com"], "timeout": "2s"}
    cfg = config_file(tmp_path, http_server, [mail])
    assert watcher(cfg, "run", "--once").returncode == 0
    (n,) = notices(cfg)
    assert n["state"] == "pending" and n["last_error"]
    server = SMTPServer(port=port)
    try:
        config = load_config(cfg)
        store = Store(config.database_url)
        deadline = time.monotonic() + 10
        while not server.messages and time.monotonic() < deadline:
            deliver_due(config, store, owner_id())
            time.sleep(0.1)
        deliver_due(config, store, owner_id())
        assert len(server.messages) == 1
    finally:
        server.close()


def test_slack_failing_for_an_hour_then_recovering_gets_exactly_one(http_server, tmp_path, monkeypatch):
    """Time travels: the dispatcher's clock jumps to each retry, so an hour of 500s takes a second."""
    http_server.route("/v1/models", AFTER, content_type="application/json")
    clock = [utcnow()]
    monkeypatch.setattr(sql_mod, "utcnow", lambda: clock[0])
    with HookReceiver() as rec:
        rec.script([500] * 1000)
        cfg = config_file(tmp_path, http_server, [{"name": "slack", "type": "slack", "webhook_url": rec.url("/s")}])
        assert watcher(cfg, "run", "--once").returncode == 0
        config = load_config(cfg)
        store = Store(config.database_url)
        start = clock[0]
        while clock[0] - start < timedelta(hours=1):
            deliver_due(config, store, owner_id())
            (n,) = notices(cfg)
            clock[0] = max(clock[0] + timedelta(seconds=1), n["next_attempt_at"])
        failures = len(rec.received)
        with rec._lock:
            rec._script.clear()  # Slack is back
        for _ in range(3):
            deliver_due(config, store, owner_id())
            (n,) = notices(cfg)
            clock[0] = max(clock[0] + timedelta(seconds=1), n["next_attempt_at"])
        assert len(rec.received) == failures + 1
    assert 5 <= failures <= 20  # exponential backoff, capped at 15 minutes: no storm, no silence
    (n,) = notices(cfg)
    assert n["state"] == "sent"


def test_a_hanging_receiver_times_out_and_is_retried(http_server, tmp_path, monkeypatch):
    monkeypatch.setattr(notify_mod, "BACKOFF_BASE", 0.01)
    http_server.route("/v1/models", AFTER, content_type="application/json")
    with HookReceiver(hang=10) as rec:
        rec.script(["hang"])
        cfg = config_file(tmp_path, http_server,
                          [{"name": "hook", "type": "webhook", "url": rec.url("/h"), "timeout": "1s"}])
        t0 = time.monotonic()
        assert watcher(cfg, "run", "--once").returncode == 0
        assert time.monotonic() - t0 < 15
        (n,) = notices(cfg)
        assert n["state"] == "pending" and n["attempts"] == 1
        time.sleep(0.2)
        config = load_config(cfg)
        deadline = time.monotonic() + 10
        while len(rec.received) < 2 and time.monotonic() < deadline:
            deliver_due(config, Store(config.database_url), owner_id())
            time.sleep(0.2)
    assert len(rec.received) == 2
    (n,) = notices(cfg)
    assert n["state"] == "sent"
