"""Issue 10, never twice: a notice in flight is sent once whatever happens around it. A claim that would
run out mid-send, a replica with a wrong clock, a process that looks dead from another PID namespace,
the database lost between "sent" and "marked", a channel that trickles its answer.

Real servers on 127.0.0.1, real PostgreSQL (tests/pg.py), the tcp proxy to cut it; nothing mocked.
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import watcher.notify as notify_mod
from configs import source, write_config
from servers import HookReceiver
from tcpproxy import TCPProxy
from watcher.clock import utcnow
from watcher.config import load_config
from watcher.decide import Notice
from watcher.errors import StoreError
from watcher.notify import deliver_due, enqueue
from watcher.store import Store, outbox

DBS = ["sqlite", "postgresql"]


def db_url(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    return f"sqlite:///{tmp_path}/w.db" if kind == "sqlite" else request.getfixturevalue("pg_url")




def queue_test_notice(config, store: Store, channel: str = "hook") -> str:
    """One due notice for `channel`, as `watcher notify test` makes it."""
    ch = next(c for c in config.channels if c.name == channel)
    key = f"test:{channel}:{time.monotonic_ns()}"
    with store.write() as conn:
        enqueue(conn, [ch], [Notice("test", key, None, {"kind": "test", "channel": channel})], utcnow())
    return key


def the_notice(store: Store) -> dict:
    with store.engine.connect() as conn:
        (n,) = outbox.list_notices(conn)
    return n


class Trickler:
    """A webhook receiver whose first answer trickles (one byte every `step` s, `size` bytes); later
    answers are immediate. Records every POST: when it began, when it ended, whether the whole answer
    went out (the receiver processed and acknowledged the notice)."""

    def __init__(self, step: float, size: int) -> None:
        self.posts: list[dict] = []
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a: object) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with owner.lock:
                    first = not owner.posts
                    rec = {"start": time.monotonic(), "end": None, "completed": False}
                    owner.posts.append(rec)
                body = b"o" * size if first else b"ok"
                try:
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    for i in range(len(body)):
                        self.wfile.write(body[i:i + 1])
                        self.wfile.flush()
                        if first:
                            time.sleep(step)
                    rec["completed"] = True
                except OSError:
                    pass
                finally:
                    rec["end"] = time.monotonic()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def url(self, path: str = "/h") -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.mark.slow
@pytest.mark.parametrize("db", DBS)
def test_a_claim_never_runs_out_while_its_send_is_in_flight(tmp_path, request, monkeypatch, db):
    """The first POST trickles for ~8 s, far past the claim (3 s here, 120 s in production); a second
    dispatcher with its own owner polls all along. The receiver acknowledges the notice exactly once
    and never sees two attempts of it at the same time."""
    monkeypatch.setattr(notify_mod, "CLAIM_TTL", 3.0)
    monkeypatch.setattr(notify_mod, "BACKOFF_BASE", 3.0)  # the retry comes after the cut-off attempt ended
    rec = Trickler(step=0.5, size=16)
    try:
        url = db_url(db, tmp_path, request)
        cfg = write_config(tmp_path, url,
                           channels=[{"name": "hook", "type": "webhook", "url": rec.url(), "timeout": "2s"}])
        config = load_config(cfg)
        store = Store(config.database_url)
        queue_test_notice(config, store)
        stop = time.monotonic() + 16

        def dispatcher(owner: str) -> None:
            while time.monotonic() < stop:
                deliver_due(config, store, owner)
                time.sleep(0.1)

        threads = [threading.Thread(target=dispatcher, args=(o,)) for o in ("replica-a", "replica-b")]
        for t in threads:
            t.start()
            time.sleep(0.05)
        for t in threads:
            t.join()
        posts = list(rec.posts)
        assert the_notice(store)["state"] == "sent"
        store.close()
    finally:
        rec.close()
    assert sum(p["completed"] for p in posts) == 1, posts
    spans = sorted((p["start"], p["end"]) for p in posts)
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in itertools.pairwise(spans)), spans


DISPATCH_LOOP = textwrap.dedent("""
    import sys, time
    from watcher.config import load_config
    from watcher.notify import deliver_due
    from watcher.store import Store
    config = load_config(sys.argv[1])
    store = Store(config.database_url)
    end = time.monotonic() + float(sys.argv[2])
    while time.monotonic() < end:
        deliver_due(config, store, "skewed-replica")
        time.sleep(0.1)
""")


@pytest.mark.slow
def test_a_replica_whose_clock_is_three_minutes_fast_does_not_resend_a_notice_in_flight(tmp_path, pg_url):
    with HookReceiver(hang=6.0) as rec:
        rec.script(["hang"])  # the first POST takes 6 s to answer
        cfg = write_config(tmp_path, pg_url, channels=[{"name": "hook", "type": "webhook", "url": rec.url("/h"),
                                               "timeout": "8s"}])
        config = load_config(cfg)
        store = Store(config.database_url)
        queue_test_notice(config, store)
        first = threading.Thread(target=deliver_due, args=(config, store, "honest-replica"))
        first.start()
        rec.wait_for(1)
        skewed = subprocess.run([sys.executable, "-c", DISPATCH_LOOP, str(cfg), "4"], capture_output=True,
                                text=True, timeout=60, env={**os.environ, "WATCHER_CLOCK_SKEW": "180"})
        first.join()
        assert skewed.returncode == 0, skewed.stderr
        assert len(rec.received) == 1
        assert the_notice(store)["state"] == "sent"
        store.close()


@pytest.mark.slow
def test_a_replica_whose_clock_is_fast_does_not_take_a_lease_held_by_another(http_server, tmp_path, pg_url):
    models = json.dumps({"object": "list", "data": [{"id": "gpt-image-2", "object": "model"}]}).encode()
    # slow enough that the second run starts (a Python start-up, on a loaded machine) while the first probes
    http_server.route("/v1/models", models, content_type="application/json", delay=6.0)
    src = (f'[[sources]]\nname = "models"\nkind = "models_api"\nurl = "{http_server.url("/v1/models")}"\n'
           'every = "1m"\ntimeout = "10s"\ndeadline = "10s"\n')
    cfg = write_config(tmp_path, pg_url, src)
    Store(pg_url).close()
    honest = subprocess.Popen([sys.executable, "-m", "watcher", "--config", str(cfg), "run", "--once"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 20
        while http_server.hits("/v1/models") == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        skewed = subprocess.run([sys.executable, "-m", "watcher", "--config", str(cfg), "run", "--once"],
                                capture_output=True, text=True, timeout=60,
                                env={**os.environ, "WATCHER_CLOCK_SKEW": "180"})
    finally:
        out, _ = honest.communicate(timeout=60)
    assert honest.returncode == 0, out
    assert "another watcher process is probing it" in skewed.stdout, skewed.stdout + skewed.stderr
    assert http_server.hits("/v1/models") == 1


HOLD_CLAIM = textwrap.dedent("""
    import sys
    from watcher.config import load_config
    from watcher.notify import deliver_due
    from watcher.store import Store, locks
    config = load_config(sys.argv[1])
    owner = sys.argv[2]
    getattr(locks, "register", lambda *a: None)(config.database_url, owner)  # (absent before issue 10)
    deliver_due(config, Store(config.database_url), owner)
""")


def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


@pytest.mark.slow
@pytest.mark.parametrize("db", DBS)
def test_a_live_process_that_looks_dead_here_keeps_its_claim(tmp_path, request, db):
    """A dispatcher in another PID namespace (same hostname, a PID that is dead here) is mid-send;
    a `run --once` on this host must not reap its claim and send the notice again."""
    with HookReceiver(hang=6.0) as rec:
        rec.script(["hang"])
        cfg = write_config(tmp_path, db_url(db, tmp_path, request),
                           channels=[{"name": "hook", "type": "webhook", "url": rec.url("/h"), "timeout": "8s"}])
        config = load_config(cfg)
        store = Store(config.database_url)
        queue_test_notice(config, store)
        other = subprocess.Popen([sys.executable, "-c", HOLD_CLAIM, str(cfg), f"{socket.gethostname()}:{dead_pid()}"],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            rec.wait_for(1, timeout=20)
            once = subprocess.run([sys.executable, "-m", "watcher", "--config", str(cfg), "run", "--once"],
                                  capture_output=True, text=True, timeout=60)
        finally:
            out, _ = other.communicate(timeout=60)
        assert other.returncode == 0, out
        assert once.returncode == 0, once.stdout + once.stderr
        assert len(rec.received) == 1
        assert the_notice(store)["state"] == "sent"
        store.close()


def test_owner_ids_are_unique_per_process_start():
    code = "from watcher.cycle import owner_id; print(owner_id())"
    a, b = (subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
            for _ in range(2))
    assert a != b
    from watcher.cycle import owner_id

    assert owner_id() == owner_id()  # stable within a process


@pytest.mark.slow
def test_the_sqlite_daemon_lock_is_an_os_lock_held_for_the_process_lifetime(http_server, tmp_path):
    import fcntl
    import signal

    http_server.route("/v1/models", b'{"object": "list", "data": [{"id": "gpt-image-1", "object": "model"}]}',
                      content_type="application/json")
    src = source("models", http_server.url("/v1/models"))
    cfg = write_config(tmp_path, f"sqlite:///{tmp_path}/w.db", src)
    first = subprocess.Popen([sys.executable, "-m", "watcher", "--config", str(cfg), "run"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lock = tmp_path / "w.db.lock"
    try:
        deadline = time.monotonic() + 20
        while http_server.hits("/v1/models") == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        with open(lock) as f:
            with pytest.raises(OSError):
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held by the live daemon
        second = subprocess.run([sys.executable, "-m", "watcher", "--config", str(cfg), "run"],
                                capture_output=True, text=True, timeout=60)
        assert second.returncode == 6, second.stderr
        assert "another watcher daemon" in second.stderr
    finally:
        first.send_signal(signal.SIGKILL)  # however it dies, the kernel drops its lock
        first.communicate(timeout=30)
    with open(lock) as f:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(f, fcntl.LOCK_UN)
    successor = subprocess.Popen([sys.executable, "-m", "watcher", "--config", str(cfg), "run"],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(1.5)
        assert successor.poll() is None  # it runs: the dead daemon does not block it
    finally:
        successor.send_signal(signal.SIGTERM)
        out, _ = successor.communicate(timeout=30)
    assert successor.returncode == 0, out


@pytest.mark.slow
def test_database_lost_between_sent_and_marked_retries_the_mark_not_the_send(tmp_path, pg_url, monkeypatch):
    from sqlalchemy.engine import make_url

    monkeypatch.setattr(notify_mod, "CLAIM_TTL", 10.0)  # 120 s in production: the test need not wait that long
    monkeypatch.setattr(notify_mod, "MARK_MARGIN", 1.0, raising=False)
    u = make_url(pg_url)
    proxy = TCPProxy(u.host, u.port)
    db = u.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    try:
        with HookReceiver(hang=1.5) as rec:
            rec.script(["hang"])  # the POST is in flight for 1.5 s: the database goes in the meantime
            cfg = write_config(tmp_path, db, channels=[{"name": "hook", "type": "webhook", "url": rec.url("/h")}])
            config = load_config(cfg)
            store = Store(config.database_url)
            queue_test_notice(config, store)
            stop = time.monotonic() + 14  # past the claim: a notice not marked would go again by then
            errors: list[str] = []

            def dispatcher() -> None:
                while time.monotonic() < stop:
                    try:
                        deliver_due(config, store, "replica")
                    except StoreError as exc:
                        errors.append(str(exc))
                    time.sleep(0.2)

            t = threading.Thread(target=dispatcher)
            t.start()
            rec.wait_for(1, timeout=10)
            proxy.cut()
            time.sleep(4)
            proxy.restore()
            t.join()
            assert len(rec.received) == 1, errors
            assert the_notice(store)["state"] == "sent"
            store.close()
    finally:
        proxy.close()


# ---------------------------------------------------------------------------------- hangs
@pytest.mark.slow
def test_a_trickling_webhook_is_cut_at_its_deadline_and_never_holds_up_another_channel(tmp_path, smtp_server):
    """The webhook answers one byte a second for a minute; its timeout is 2 s. `notify test` ends long
    before the minute, and the e-mail goes out while the webhook is still trickling."""
    rec = Trickler(step=1.0, size=60)
    try:
        cfg = write_config(tmp_path, f"sqlite:///{tmp_path}/w.db", channels=[
            {"name": "hook", "type": "webhook", "url": rec.url(), "timeout": "2s"},
            {"name": "mail", "type": "email", "smtp_host": "127.0.0.1", "smtp_port": smtp_server.port,
             "security": "none", "from": "w@example.com", "to": ["t@example.com"], "timeout": "2s"}])
        mail_seen_during_trickle: list[bool] = []

        def watch() -> None:
            while not smtp_server.messages:
                time.sleep(0.02)
            # the webhook's attempt not begun yet, or still trickling: the mail did not wait for it
            mail_seen_during_trickle.append(not rec.posts or rec.posts[0]["end"] is None)

        w = threading.Thread(target=watch, daemon=True)
        w.start()
        t0 = time.monotonic()
        r = subprocess.run([sys.executable, "-m", "watcher", "--config", str(cfg), "notify", "test"],
                           capture_output=True, text=True, timeout=60)
        took = time.monotonic() - t0
        w.join(5)
    finally:
        rec.close()
    assert r.returncode == 1, r.stdout + r.stderr  # the webhook did not take it in time
    assert "mail: sent" in r.stdout and "hook: pending" in r.stdout, r.stdout
    assert "within 2 s" in r.stdout
    assert took < 30  # a minute of trickle, cut at its 2 s deadline (generous bound for a loaded machine)
    assert mail_seen_during_trickle == [True]


class TricklingSMTP:
    """A TCP server that trickles its SMTP greeting one byte a second, for ever."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.closed = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.closed.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn: socket.socket) -> None:
        try:
            for byte in b"220 slow.example ESMTP " * 100:
                conn.sendall(bytes([byte]))
                if self.closed.wait(1.0):
                    break
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self.closed.set()
        self.sock.close()


@pytest.mark.slow
def test_an_smtp_server_trickling_its_greeting_is_cut_at_the_deadline(tmp_path):
    slow = TricklingSMTP()
    try:
        cfg = write_config(tmp_path, f"sqlite:///{tmp_path}/w.db", channels=[
            {"name": "mail", "type": "email", "smtp_host": "127.0.0.1", "smtp_port": slow.port,
             "security": "none", "from": "w@example.com", "to": ["t@example.com"], "timeout": "2s"}])
        t0 = time.monotonic()
        r = subprocess.run([sys.executable, "-m", "watcher", "--config", str(cfg), "notify", "test"],
                           capture_output=True, text=True, timeout=60)
        took = time.monotonic() - t0
    finally:
        slow.close()
    assert r.returncode == 1
    assert "mail: pending" in r.stdout and "within 2 s" in r.stdout, r.stdout
    assert took < 30


def test_no_send_may_outlast_the_claim():
    from watcher.config import CHANNEL_DEADLINE_MAX, ChannelConfig

    assert CHANNEL_DEADLINE_MAX < notify_mod.CLAIM_TTL - notify_mod.MARK_MARGIN
    ch = ChannelConfig("x", "webhook", ("test",), (), {"url": "http://127.0.0.1/", "timeout": 3600.0})
    assert ch.deadline == CHANNEL_DEADLINE_MAX


def test_owner_files_of_finished_processes_do_not_pile_up(http_server, tmp_path):
    http_server.route("/v1/models", b'{"object": "list", "data": [{"id": "gpt-image-1", "object": "model"}]}',
                      content_type="application/json")
    src = source("models", http_server.url("/v1/models"))
    cfg = write_config(tmp_path, f"sqlite:///{tmp_path}/w.db", src)
    for _ in range(3):
        r = subprocess.run([sys.executable, "-m", "watcher", "--config", str(cfg), "run", "--once"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
    assert len(list((tmp_path / "w.db.owners").glob("*.lock"))) == 1  # the last run's own


@pytest.mark.slow
def test_a_channel_with_a_backlog_of_slow_sends_never_holds_up_another(tmp_path, smtp_server):
    """The daemon's dispatcher: four notices for a webhook whose every answer hangs past its 1 s
    deadline (a pass of four seconds or more), then a notice for e-mail: the e-mail goes out while the
    webhook's backlog is still being worked through."""
    from watcher.notify import Dispatcher

    with HookReceiver(hang=3.0) as rec:
        rec.script(["hang"] * 4)
        cfg = write_config(tmp_path, f"sqlite:///{tmp_path}/w.db", channels=[
            {"name": "hook", "type": "webhook", "url": rec.url("/h"), "timeout": "1s"},
            {"name": "mail", "type": "email", "smtp_host": "127.0.0.1", "smtp_port": smtp_server.port,
             "security": "none", "from": "w@example.com", "to": ["t@example.com"]}])
        config = load_config(cfg)
        store = Store(config.database_url)
        for _ in range(4):
            queue_test_notice(config, store, "hook")
        dispatcher = Dispatcher(config, store, "daemon")
        try:
            dispatcher.poll()
            rec.wait_for(1)
            queue_test_notice(config, store, "mail")
            deadline = time.monotonic() + 20
            while not smtp_server.messages and time.monotonic() < deadline:
                dispatcher.poll()
                time.sleep(0.05)
            hook_attempts_when_mail_arrived = len(rec.received)
        finally:
            dispatcher.close()
            store.close()
    assert len(smtp_server.messages) == 1
    assert hook_attempts_when_mail_arrived < 4


@pytest.mark.slow
def test_a_stopping_daemon_lets_go_of_a_slow_backlog_instead_of_working_through_it(tmp_path):
    """SIGTERM with five notices queued for a channel whose every send runs to its deadline: the send
    in flight ends, no new one starts, and the rest are let go at once (not held for the claim's 120 s)."""
    from watcher.notify import Dispatcher

    with HookReceiver(hang=3.0) as rec:
        rec.script(["hang"] * 10)
        cfg = write_config(tmp_path, f"sqlite:///{tmp_path}/w.db",
                           channels=[{"name": "hook", "type": "webhook", "url": rec.url("/h"), "timeout": "1s"}])
        config = load_config(cfg)
        store = Store(config.database_url)
        for _ in range(5):
            queue_test_notice(config, store)
        dispatcher = Dispatcher(config, store, "daemon")
        dispatcher.poll()
        rec.wait_for(1)
        dispatcher.close(grace=0.0)
        attempted = len(rec.received)
        with store.engine.connect() as conn:
            rows = outbox.list_notices(conn)
        store.close()
    assert attempted < 5
    untried = [r for r in rows if r["attempts"] == 0]
    assert untried and all(r["state"] == "pending" and r["claimed_by"] is None for r in untried)
