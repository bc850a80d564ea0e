"""Alerts end to end: real loopback sources, a real SMTP server, real HTTP receivers for Slack and
webhooks, the daemon in a subprocess. Exactly one notice per channel per piece of evidence."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from servers import HookReceiver
from watcher import notify
from watcher.config import load_config
from watcher.cycle import owner_id, run_cycle
from watcher.fetch import Fetcher
from watcher.notify import deliver_due, make_hook
from watcher.store import Store, outbox

BEFORE = json.dumps({"object": "list", "data": [{"id": "gpt-image-1", "object": "model", "created": 1}]}).encode()
AFTER = json.dumps({"object": "list", "data": [{"id": "gpt-image-1", "object": "model", "created": 1},
                                               {"id": "gpt-image-2", "object": "model", "created": 2}]}).encode()


def write_config(tmp_path: Path, server, *, every="1s", channels=(), sources=None, extra="") -> Path:
    sources = sources or [("models", "/v1/models", "first_party")]
    text = f'database_url = "sqlite:///{tmp_path}/w.db"\njitter = 0\n{extra}\n[[targets]]\nid = "gpt-image-2"\n'
    for name, path, auth in sources:
        text += (f'[[sources]]\nname = "{name}"\nkind = "models_api"\nurl = "{server.url(path)}"\n'
                 f'authority = "{auth}"\nevery = "{every}"\ntimeout = "2s"\n')
    for ch in channels:
        text += "[[channels]]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in ch.items())
    p = tmp_path / "watcher.toml"
    p.write_text(text)
    return p


def hooks_channels(receiver):
    return [{"name": "slack", "type": "slack", "webhook_url": "${SLACK_URL}"},
            {"name": "hook", "type": "webhook", "url": receiver.url("/hook")}]


def env_for(receiver) -> dict[str, str]:
    return {**os.environ, "SLACK_URL": receiver.url("/slack"), "PYTHONUNBUFFERED": "1"}


def by_path(receiver, path):
    return [h for h in receiver.received if h.path == path]


@pytest.fixture
def receiver():
    with HookReceiver(hang=5.0) as r:
        yield r


def cycle_and_deliver(cfg_path, env=None):
    config = load_config(cfg_path, env=env or os.environ)
    store = Store(config.database_url)
    with Fetcher() as f:
        report = run_cycle(config, store, f, hook=make_hook(config))
    counts = deliver_due(config, store, owner_id())
    store.close()
    return report, counts


def deliver_until(config, store, receiver, count, timeout):
    """Run the dispatcher until `receiver` has `count` requests (or `timeout` passes), then once more after
    a pause: a further request then would be a duplicate."""
    deadline = time.monotonic() + timeout
    while len(receiver.received) < count and time.monotonic() < deadline:
        deliver_due(config, store, owner_id())
        time.sleep(0.05)
    time.sleep(0.3)
    deliver_due(config, store, owner_id())


def test_one_release_per_channel_by_slack_webhook_and_email(http_server, receiver, smtp_server, tmp_path):
    http_server.route("/v1/models", BEFORE, content_type="application/json")
    mail = {"name": "mail", "type": "email", "smtp_host": "127.0.0.1", "smtp_port": smtp_server.port,
            "security": "none", "from": "watcher@example.com", "to": ["team@example.com"]}
    cfg = write_config(tmp_path, http_server, channels=hooks_channels(receiver) + [mail])
    env = env_for(receiver)
    cycle_and_deliver(cfg, env)
    assert receiver.received == [] and smtp_server.messages == []

    http_server.route("/v1/models", AFTER, content_type="application/json")
    for _ in range(3):
        cycle_and_deliver(cfg, env)
    assert len(by_path(receiver, "/slack")) == 1 and len(by_path(receiver, "/hook")) == 1
    assert len(smtp_server.messages) == 1
    body = by_path(receiver, "/hook")[0].json()
    assert body["kind"] == "release" and body["target"] == "gpt-image-2" and body["key"] == "release:gpt-image-2"
    assert body["evidence"][0]["source"] == "models" and body["evidence"][0]["url"] == http_server.url("/v1/models")
    assert "gpt-image-2" in by_path(receiver, "/slack")[0].json()["text"]


def test_receiver_failing_five_times_then_recovering_gets_exactly_one(http_server, receiver, tmp_path,
                                                                      monkeypatch):
    monkeypatch.setattr(notify, "BACKOFF_BASE", 0.01)
    http_server.route("/v1/models", AFTER, content_type="application/json")
    cfg = write_config(tmp_path, http_server, channels=[hooks_channels(receiver)[1]])
    receiver.script([500] * 5)
    cycle_and_deliver(cfg)
    config = load_config(cfg)
    store = Store(config.database_url)
    deliver_until(config, store, receiver, 6, timeout=10)
    assert len(receiver.received) == 6  # five refusals, one success
    with store.engine.connect() as conn:
        (n,) = outbox.list_notices(conn)
    assert n["state"] == "sent" and n["attempts"] == 6


def test_permanent_refusal_is_marked_failed_with_its_reason(http_server, receiver, tmp_path):
    http_server.route("/v1/models", AFTER, content_type="application/json")
    cfg = write_config(tmp_path, http_server, channels=[hooks_channels(receiver)[1]])
    receiver.script([400])
    _, counts = cycle_and_deliver(cfg)
    assert counts["failed"] == 1
    config = load_config(cfg)
    with Store(config.database_url).engine.connect() as conn:
        (n,) = outbox.list_notices(conn)
    assert n["state"] == "failed" and "400" in n["last_error"]


def test_fetch_failures_and_third_party_evidence_deliver_nothing(http_server, receiver, tmp_path):
    http_server.route("/v1/models", b"down", status=503)
    http_server.route("/gateway", AFTER, content_type="application/json")
    cfg = write_config(tmp_path, http_server, channels=[hooks_channels(receiver)[1]],
                       sources=[("models", "/v1/models", "first_party"), ("gateway", "/gateway", "third_party")],
                       extra="failure_threshold = 100")
    for _ in range(4):
        report, counts = cycle_and_deliver(cfg)
    assert receiver.received == []
    assert report.verdicts[0].verdict.value == "unknown"


def test_source_down_alerts_once_and_once_when_it_recovers(http_server, receiver, tmp_path):
    http_server.route("/v1/models", b"down", status=500)
    cfg = write_config(tmp_path, http_server, channels=[hooks_channels(receiver)[1]])
    for _ in range(6):
        cycle_and_deliver(cfg)
    http_server.route("/v1/models", BEFORE, content_type="application/json")
    for _ in range(3):
        cycle_and_deliver(cfg)
    kinds = [(h.json()["kind"], h.json().get("state")) for h in receiver.received]
    assert [k for k, _ in kinds] == ["source_health", "source_health"]


def start_daemon(cfg: Path, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "watcher", "--config", str(cfg), "run"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def stop(proc: subprocess.Popen, sig=signal.SIGTERM) -> tuple[int, str]:
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=20)
    return proc.returncode, out


@pytest.mark.slow
def test_daemon_delivers_one_release_per_channel_when_the_document_changes_mid_run(
        http_server, receiver, tmp_path):
    http_server.route("/v1/models", BEFORE, content_type="application/json")
    cfg = write_config(tmp_path, http_server, channels=hooks_channels(receiver))
    proc = start_daemon(cfg, env_for(receiver))
    try:
        deadline = time.monotonic() + 15
        while http_server.hits("/v1/models") < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert http_server.hits("/v1/models") >= 2, "the daemon did not probe every second"
        assert receiver.received == []
        http_server.route("/v1/models", AFTER, content_type="application/json")
        receiver.wait_for(2, timeout=10)
        time.sleep(3)  # three more cycles: nothing more may arrive
        assert len(by_path(receiver, "/slack")) == 1 and len(by_path(receiver, "/hook")) == 1
    finally:
        code, out = stop(proc)
    assert code == 0, out


@pytest.mark.slow
def test_killed_while_a_notice_is_due_delivers_it_once_after_restart(http_server, tmp_path):
    http_server.route("/v1/models", AFTER, content_type="application/json")
    with HookReceiver() as rec:
        url = rec.url("/hook")
    # the receiver is closed: the notice is due but cannot be delivered
    cfg = write_config(tmp_path, http_server, channels=[{"name": "hook", "type": "webhook", "url": url}])
    proc = start_daemon(cfg, {**os.environ})
    config = load_config(cfg)
    store = Store(config.database_url)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with store.engine.connect() as conn:
            rows = outbox.list_notices(conn)
        if rows and rows[0]["attempts"] >= 1:
            break
        time.sleep(0.1)
    assert rows and rows[0]["state"] == "pending"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)

    # the same port comes back with a receiver that answers
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    with HookReceiver(port=port) as rec:
        proc = start_daemon(cfg, {**os.environ})
        try:
            rec.wait_for(1, timeout=30)
            time.sleep(2)
        finally:
            code, out = stop(proc)
        assert len(rec.received) == 1 and rec.received[0].json()["key"] == "release:gpt-image-2"
    assert code == 0, out


@pytest.mark.slow
def test_a_second_daemon_on_the_same_sqlite_file_refuses_to_start(http_server, tmp_path):
    http_server.route("/v1/models", BEFORE, content_type="application/json")
    cfg = write_config(tmp_path, http_server, every="1h")
    first = start_daemon(cfg, {**os.environ})
    try:
        time.sleep(2)
        second = subprocess.run([sys.executable, "-m", "watcher", "--config", str(cfg), "run"],
                                capture_output=True, text=True, timeout=30)
        assert second.returncode == 6
        assert "another watcher daemon" in second.stderr
    finally:
        code, out = stop(first)
    assert code == 0, out


def test_corroborations_wait_a_minute_and_travel_together(http_server, receiver, tmp_path, monkeypatch):
    from datetime import timedelta

    import watcher.store.sql as sql_mod  # the outbox's clock on SQLite (db_now)
    from watcher.clock import utcnow

    for p in ("/a", "/b", "/c"):
        http_server.route(p, BEFORE, content_type="application/json")
    cfg = write_config(tmp_path, http_server, channels=[hooks_channels(receiver)[1]],
                       sources=[("a", "/a", "first_party"), ("b", "/b", "first_party"), ("c", "/c", "first_party")])
    http_server.route("/a", AFTER, content_type="application/json")
    cycle_and_deliver(cfg)
    assert [h.json()["kind"] for h in receiver.received] == ["release"]  # a release never waits
    for p in ("/b", "/c"):
        http_server.route(p, AFTER, content_type="application/json")
    cycle_and_deliver(cfg)
    assert len(receiver.received) == 1  # the corroborations wait for company
    later = utcnow() + timedelta(seconds=notify.CORROBORATION_GRACE + 1)
    monkeypatch.setattr(sql_mod, "utcnow", lambda: later)
    config = load_config(cfg)
    deliver_due(config, Store(config.database_url), owner_id())
    assert len(receiver.received) == 2
    body = receiver.received[1].json()
    assert body["kind"] == "corroboration"
    assert sorted(body["notice_keys"]) == ["corroboration:gpt-image-2:b", "corroboration:gpt-image-2:c"]
    assert {e["source"] for e in body["evidence"]} == {"b", "c"}


def test_backoff_never_hammers_and_never_gives_up_for_long():
    from watcher.notify import BACKOFF_MAX, backoff

    assert backoff(0, 0.0) >= 1.0  # "Retry-After: 0" does not become a tight loop
    assert backoff(0, 120.0) == 120.0  # the server's word is kept
    delays = [backoff(n, None) for n in range(20)]
    assert delays[0] < delays[3] and max(delays) <= BACKOFF_MAX * 1.2  # grows, then caps at ~15 min


def test_a_family_target_discovers_a_new_model_once_and_tracks_it(http_server, receiver, tmp_path):
    http_server.route("/v1/models", BEFORE, content_type="application/json")
    cfg = write_config(tmp_path, http_server, channels=[hooks_channels(receiver)[1]],
                       extra="")
    cfg.write_text(cfg.read_text().replace('[[targets]]\nid = "gpt-image-2"\n',
                                           '[[targets]]\nid = "gpt-image-2"\n[[targets]]\nfamily = "gpt-image-*"\n'))
    cycle_and_deliver(cfg)
    assert receiver.received == []  # gpt-image-1 was there from the start: the baseline, not news
    new = json.dumps({"object": "list", "data": [{"id": "gpt-image-1", "object": "model"},
                                                 {"id": "gpt-image-2.5", "object": "model"}]}).encode()
    http_server.route("/v1/models", new, content_type="application/json")
    report, _ = cycle_and_deliver(cfg)
    cycle_and_deliver(cfg)
    kinds = [(h.json()["kind"], h.json()["target"]) for h in receiver.received]
    assert kinds == [("discovered", "gpt-image-2.5"), ("release", "gpt-image-2.5")]
    assert {v.target: v.verdict.value for v in report.verdicts}["gpt-image-2.5"] == "confirmed"


def test_notify_test_goes_through_the_real_path(http_server, receiver, tmp_path):
    http_server.route("/v1/models", BEFORE, content_type="application/json")
    cfg = write_config(tmp_path, http_server, channels=hooks_channels(receiver))
    r = subprocess.run([sys.executable, "-m", "watcher", "--config", str(cfg), "notify", "test"],
                       env=env_for(receiver), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "slack: sent" in r.stdout and "hook: sent" in r.stdout
    assert sorted(h.path for h in receiver.received) == ["/hook", "/slack"]
    assert by_path(receiver, "/hook")[0].json()["kind"] == "test"
    receiver.script([404])
    r = subprocess.run([sys.executable, "-m", "watcher", "--config", str(cfg), "notify", "test", "--channel",
                        "hook"], env=env_for(receiver), capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "hook: failed" in r.stdout


def test_a_restart_picks_up_the_stored_schedule_without_a_stampede():
    from datetime import datetime, timedelta

    from watcher.daemon import first_run

    now = datetime(2026, 5, 5, 12, 0, 0)
    assert first_run(now + timedelta(seconds=400), now, 900) == now + timedelta(seconds=400)  # not due yet: wait
    overdue = [first_run(now - timedelta(hours=3), now, 900) for _ in range(50)]
    assert all(now <= t <= now + timedelta(seconds=5) for t in overdue)  # caught up soon, spread out
    assert len(set(overdue)) > 1
    grid = first_run(now - timedelta(seconds=2.5), now, 1.0)  # a short interval stays on the slot grid
    assert grid == now + timedelta(seconds=0.5)


@pytest.mark.parametrize("jitter", [0.0, 0.01, 0.05])
def test_the_schedule_neither_drifts_nor_stalls(jitter):
    """Each fire is on start + k·interval (plus at most `jitter`), strictly after the last one: no
    drift from accumulated jitter, no fire repeated at the same instant (which would spin forever)."""
    from datetime import datetime, timedelta, timezone

    from watcher.daemon import grid_trigger

    start = datetime(2026, 1, 1, 0, 0, 0, 123457, tzinfo=timezone.utc)
    trig = grid_trigger(0.1, jitter, start)
    fire = first = trig.get_next_fire_time(None, start - timedelta(seconds=1))
    for _ in range(20_000):
        nxt = trig.get_next_fire_time(fire, fire)
        assert nxt > fire
        fire = nxt
    assert abs((fire - first).total_seconds() - 2000.0) <= jitter + 1e-3


def test_due_sources_are_probed_at_start_up_without_waiting_for_jitter():
    """At `every = "15m"` with the default 10 % jitter a restart must not leave a due source unprobed
    for a minute and a half: the first fire is the start-up slot itself, jitter only delays later ones."""
    from datetime import datetime, timedelta, timezone

    from watcher.daemon import first_run, grid_trigger

    now = datetime(2026, 5, 5, 12, 0, 0, tzinfo=timezone.utc)
    for due in (None, now.replace(tzinfo=None) - timedelta(hours=3)):  # never probed; overdue
        for _ in range(50):
            start = first_run(due, now.replace(tzinfo=None), 900).replace(tzinfo=timezone.utc)
            trig = grid_trigger(900, 90, start)
            first = trig.get_next_fire_time(None, now)
            assert now <= first <= now + timedelta(seconds=5)
            later = trig.get_next_fire_time(first, first)  # later fires: on the grid, jittered
            assert start + timedelta(seconds=900) <= later <= start + timedelta(seconds=990)
    # The scheduler starts a moment after the start-up slot was chosen: that slot still fires, at once.
    trig = grid_trigger(900, 90, now)
    assert trig.get_next_fire_time(None, now + timedelta(seconds=0.2)) == now
