"""Release day as it happens: every docs page changes at once, and each channel gets one release.

A loopback server replays OpenAI's real docs captures (tests/fixtures/openai/developers-docs/) as they
stood before 21 April 2026 and on it; the day-before versions are the real captures with the release's
lines taken out (the changelog's newer entries and the 21 April one; the pricing rows and the index link,
as in the `-without-gpt-image-2` captures; the guide's examples still set the previous model).
`watcher run --once` runs as cron runs it; Slack, webhook and e-mail receivers are real local servers.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

from fixturepaths import DEMO_DATA
from servers import HookReceiver
from watcher import notify
from watcher.config import load_config
from watcher.cycle import owner_id, run_cycle
from watcher.fetch import Fetcher
from watcher.notify import deliver_due, make_hook
from watcher.store import Store, outbox

DOCS = Path(__file__).parent / "fixtures" / "openai" / "developers-docs"
SDK = DEMO_DATA  # the SDK captures live once, in the demo bundle


def _changelog(until: str | None) -> bytes:
    """The real changelog (22 July 2026) as it stood on a day: entries after it cut out. `until` is the
    first day heading to keep ("### Apr 21": release day; "### Apr 15": the day before)."""
    text = (DOCS / "changelog-2026-07-22.md").read_text()
    if until is None:
        return text.encode()
    head, rest = text.split("## July, 2026", 1)
    return (head + "## April, 2026\n\n" + until + rest.split(until, 1)[1]).encode()


def _model_page() -> bytes:
    """gpt-image-2's page in the shape of the real gpt-image-1.5 page."""
    return ((DOCS / "models-gpt-image-1.5.md").read_text().replace("GPT-Image-1.5", "GPT-Image-2")
            .replace("GPT Image 1.5", "GPT Image 2").replace("gpt-image-1.5", "gpt-image-2").encode())


# name, kind, path, the day before, release day
DOC_SOURCES = [
    ("changelog", "changelog", "/api/docs/changelog.md", _changelog("### Apr 15"), _changelog("### Apr 21")),
    ("pricing", "pricing_page", "/api/docs/pricing.md",
     (DOCS / "pricing-a30a622-without-gpt-image-2.md").read_bytes(),
     (DOCS / "pricing-a30a622.md").read_bytes()),
    ("model-page", "model_page", "/api/docs/models/{target}.md", None, _model_page()),
    ("models-index", "model_index", "/api/docs/models.md",
     (DOCS / "models-a30a622-without-gpt-image-2.md").read_bytes(),
     (DOCS / "models-a30a622.md").read_bytes()),
    ("guide", "guide_page", "/api/docs/guides/image-generation.md",
     (DOCS / "guides-image-generation-d4e9eef.md").read_text().replace("gpt-image-2", "gpt-image-1.5").encode(),
     (DOCS / "guides-image-generation-d4e9eef.md").read_bytes()),
]
# Real SDK files for the tests that need sources of a second shape (the SDKs changed two weeks later; here
# they change with the docs, which makes the same burst).
STAND_INS = [
    ("python-sdk", "sdk_types", "/src/openai/types/image_model.py",
     (SDK / "openai-python/image_model-2025-12-16-9dc1d1a0.py").read_bytes(),
     (SDK / "openai-python/image_model-2026-05-05-0ba55d75.py").read_bytes()),
    ("node-sdk", "sdk_types", "/src/resources/images.ts",
     (SDK / "openai-node/images-2026-05-04-f711b1c0.ts").read_bytes(),
     (SDK / "openai-node/images-2026-05-07-c9db1d60.ts").read_bytes()),
]


def serve(server, srcs, day: int) -> None:
    for _, _, path, *versions in srcs:
        served = path.replace("{target}", "gpt-image-2")
        body = versions[day]
        if body is None:
            server.route(served, b"Not Found", status=404)
        else:
            server.route(served, body, content_type="text/markdown; charset=utf-8")


def write_config(tmp_path: Path, server, receiver, smtp, srcs, db: str | None = None) -> Path:
    text = (f'database_url = "{db or f"sqlite:///{tmp_path}/w.db"}"\njitter = 0\n'
            '[[targets]]\nid = "gpt-image-2"\n')
    for name, kind, path, *_ in srcs:
        text += f'[[sources]]\nname = "{name}"\nkind = "{kind}"\nurl = "{server.url(path)}"\ntimeout = "5s"\n'
    channels = [{"name": "slack", "type": "slack", "webhook_url": "${SLACK_URL}"},
                {"name": "hook", "type": "webhook", "url": receiver.url("/hook")},
                {"name": "releases-only", "type": "webhook", "url": receiver.url("/only"), "kinds": ["release"]}]
    if smtp is not None:
        channels.append({"name": "mail", "type": "email", "smtp_host": "127.0.0.1", "smtp_port": smtp.port,
                         "security": "none", "from": "watcher@example.com", "to": ["team@example.com"]})
    for ch in channels:
        text += "[[channels]]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in ch.items())
    p = tmp_path / "watcher.toml"
    p.write_text(text)
    return p


def run_once(cfg: Path, receiver) -> subprocess.CompletedProcess:
    """`watcher run --once`; exit 5 (a source could not be read) is allowed, nothing else."""
    r = subprocess.run([sys.executable, "-m", "watcher", "--config", str(cfg), "run", "--once"],
                       env={**os.environ, "SLACK_URL": receiver.url("/slack")}, capture_output=True,
                       text=True, timeout=120)
    # stderr carries the INFO story lines (issue 12); nothing worse than INFO, and no traceback
    assert r.returncode in (0, 5), r.stdout + r.stderr
    assert all(" INFO watcher." in line for line in r.stderr.splitlines()), r.stderr
    return r


def at(receiver, path: str) -> list:
    return [h for h in receiver.received if h.path == path]


def told(receiver, path: str) -> list[str]:
    """What the channel at `path` was told about the model, in order (source-health messages left out)."""
    out = []
    for h in at(receiver, path):
        body = h.json()
        if path != "/slack":
            kind = body["kind"]
        elif "also confirmed by" in body["text"]:
            kind = "corroboration"
        elif "first-party evidence found" in body["text"]:
            kind = "release"
        else:
            kind = "source_health" if body["text"].startswith("source ") else body["text"][:40]
        if kind != "source_health":
            out.append(kind)
    return out


def a_minute_passes(store: Store) -> None:
    """The corroboration grace runs out: what waits in the outbox is due now. (The outbox compares with the
    database's clock, PostgreSQL's own on PostgreSQL, so the notices move rather than the clock.)"""
    from sqlalchemy import select, update

    from watcher.store import schema as S

    N = S.notices
    with store.write() as conn:
        for id_, at in conn.execute(select(N.c.id, N.c.next_attempt_at).where(N.c.state == "pending")).all():
            conn.execute(update(N).where(N.c.id == id_).values(
                next_attempt_at=at - timedelta(seconds=notify.CORROBORATION_GRACE + 1)))


MODELS_BEFORE = json.dumps({"object": "list", "data": [{"id": "gpt-image-1", "object": "model"}]}).encode()
MODELS_AFTER = json.dumps({"object": "list", "data": [{"id": "gpt-image-1", "object": "model"},
                                                      {"id": "gpt-image-2", "object": "model"}]}).encode()


def start_daemon(tmp_path: Path, http_server, receiver, every: dict[str, str], slack: bool = True
                 ) -> subprocess.Popen:
    """`watcher run` over models_api sources (name -> interval), each serving the list before the release."""
    text = f'database_url = "sqlite:///{tmp_path}/w.db"\njitter = 0\n[[targets]]\nid = "gpt-image-2"\n'
    for n, interval in every.items():
        http_server.route(f"/{n}", MODELS_BEFORE, content_type="application/json")
        text += (f'[[sources]]\nname = "{n}"\nkind = "models_api"\nurl = "{http_server.url("/" + n)}"\n'
                 f'every = "{interval}"\ntimeout = "2s"\n')
    if slack:
        text += f'[[channels]]\nname = "slack"\ntype = "slack"\nwebhook_url = "{receiver.url("/slack")}"\n'
    text += f'[[channels]]\nname = "hook"\ntype = "webhook"\nurl = "{receiver.url("/hook")}"\n'
    cfg = tmp_path / "watcher.toml"
    cfg.write_text(text)
    return subprocess.Popen([sys.executable, "-m", "watcher", "--config", str(cfg), "run"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ})


@pytest.fixture
def receiver():
    with HookReceiver() as r:
        yield r


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_a_cron_run_where_every_docs_page_changes_at_once_sends_one_release_per_channel(
        http_server, receiver, smtp_server, tmp_path, monkeypatch, request, database):
    srcs = DOC_SOURCES
    serve(http_server, srcs, 0)
    db = request.getfixturevalue("pg_url") if database == "postgresql" else None
    cfg = write_config(tmp_path, http_server, receiver, smtp_server, srcs, db=db)
    run_once(cfg, receiver)
    assert receiver.received == [] and smtp_server.messages == []

    serve(http_server, srcs, 1)  # 21 April: all of them in one run
    r = run_once(cfg, receiver)
    store = Store(load_config(cfg).database_url)
    confirming = {row.source for row in store.live_signals(["gpt-image-2"]) if row.level == "confirmed"}
    assert len(confirming) >= 3, r.stdout
    for path in ("/slack", "/hook", "/only"):
        assert told(receiver, path) == ["release"], (path, [h.body[:200] for h in receiver.received])
    assert len([m for m in smtp_server.messages if b"first-party evidence found" in m.content]) == 1
    for path in ("/hook", "/only"):
        body = at(receiver, path)[0].json()
        assert body["kind"] == "release" and body["key"] == "release:gpt-image-2"
        assert body["details"]["confirmed_by"] == sorted(confirming)  # every source of the burst, named
        assert {e["source"] for e in body["evidence"]} == confirming
    slack = at(receiver, "/slack")[0].json()["text"]
    assert all(name in slack for name in confirming)
    mail = next(m for m in smtp_server.messages if b"first-party evidence found" in m.content).content.decode()
    assert "gpt-image-2" in mail and all(name in mail for name in confirming)

    # Later changelog versions (the July page, many entries on top) send nothing.
    http_server.route("/api/docs/changelog.md", _changelog(None), content_type="text/markdown; charset=utf-8")
    for _ in range(2):
        run_once(cfg, receiver)
    with store.engine.connect() as conn:
        assert {n["kind"] for n in outbox.list_notices(conn)} <= {"release", "source_health"}
    assert [told(receiver, p) for p in ("/slack", "/hook", "/only")] == [["release"]] * 3

    # A source that confirms later travels as one corroboration, after the grace window, not to releases-only.
    late = ("go-sdk", "sdk_types", "/openai-go/image.go", None,
            (SDK / "openai-go/image-2026-05-07-3336103.go").read_bytes())
    serve(http_server, [late], 1)
    cfg.write_text(cfg.read_text().replace("[[channels]]", f'[[sources]]\nname = "{late[0]}"\nkind = "sdk_types"\n'
                                           f'url = "{http_server.url(late[2])}"\n\n[[channels]]', 1))
    run_once(cfg, receiver)
    assert [told(receiver, p) for p in ("/slack", "/hook", "/only")] == [["release"]] * 3  # it waits for company
    a_minute_passes(store)
    monkeypatch.setenv("SLACK_URL", receiver.url("/slack"))
    config = load_config(cfg)
    deliver_due(config, store, owner_id())
    assert told(receiver, "/hook") == told(receiver, "/slack") == ["release", "corroboration"]
    assert told(receiver, "/only") == ["release"]
    assert len([m for m in smtp_server.messages if b"also confirmed by" in m.content]) == 1
    store.close()


def test_two_replicas_confirming_in_the_same_moment_make_one_release_per_channel(http_server, receiver, tmp_path,
                                                                                  pg_url):
    """Two watcher processes on one PostgreSQL database each probe one source; both store their evidence
    and decide at the same moment (a barrier holds each inside its transaction until the other is there)."""
    srcs = STAND_INS
    serve(http_server, srcs, 1)
    cfg = write_config(tmp_path, http_server, receiver, None, srcs, db=pg_url)
    config = load_config(cfg, env={**os.environ, "SLACK_URL": receiver.url("/slack")})
    barrier = threading.Barrier(2, timeout=20)
    errors: list[BaseException] = []

    def replica(name: str) -> None:
        store = Store(config.database_url)
        hook = make_hook(config)

        def together(conn, *args):  # type: ignore[no-untyped-def]
            barrier.wait()
            hook(conn, *args)

        try:
            with Fetcher() as f:
                run_cycle(config, store, f, names=[name], hook=together, owner=f"replica-{name}")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=replica, args=(s[0],)) for s in srcs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    store = Store(config.database_url)
    deliver_due(config, store, "replica-a")
    deliver_due(config, store, "replica-b")
    for path in ("/slack", "/hook", "/only"):
        assert len(at(receiver, path)) == 1, path
    body = at(receiver, "/hook")[0].json()
    assert body["kind"] == "release" and body["details"]["confirmed_by"] == ["node-sdk", "python-sdk"]
    with store.engine.connect() as conn:
        assert {n["kind"] for n in outbox.list_notices(conn)} == {"release"}
    store.close()


@pytest.mark.slow
def test_the_daemon_sends_one_release_per_channel_when_six_sources_confirm_within_three_seconds(
        http_server, receiver, tmp_path):
    names = [f"m{i}" for i in range(6)]
    proc = start_daemon(tmp_path, http_server, receiver, {n: "1s" for n in names})
    try:
        deadline = time.monotonic() + 20
        while min(http_server.hits(f"/{n}") for n in names) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        for i in range(0, 6, 2):  # two sources a second, for three seconds
            for n in names[i:i + 2]:
                http_server.route(f"/{n}", MODELS_AFTER, content_type="application/json")
            time.sleep(1.0)
        receiver.wait_for(2, timeout=10)
        store = Store(f"sqlite:///{tmp_path}/w.db", migrate=False)
        deadline = time.monotonic() + 15
        while len({r.source for r in store.live_signals(["gpt-image-2"])}) < 6 and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(2)  # a few more cycles: nothing more may arrive now
        assert sorted(h.path for h in receiver.received) == ["/hook", "/slack"]
        body = at(receiver, "/hook")[0].json()
        assert body["kind"] == "release"
        with store.engine.connect() as conn:
            notices = outbox.list_notices(conn)
        late = [n for n in notices if n["kind"] == "corroboration"]
        named = set(body["details"]["confirmed_by"]) | {json.loads(n["payload"])["source"] for n in late}
        assert named == set(names)  # every source is in the release or in the corroboration
        for channel in ("slack", "hook"):
            due = {n["next_attempt_at"] for n in late if n["channel"] == channel and n["state"] == "pending"}
            assert len(due) <= 1  # the later sources wait together: one corroboration message per channel
        store.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_a_target_announced_before_the_upgrade_is_not_announced_again(http_server, receiver, tmp_path, request,
                                                                      database):
    """A database from before 0004 (no releases table) already sent `release:gpt-image-2`; the upgrade
    takes every confirmed target as announced, so a source confirming afterwards is a corroboration, not a
    release whose key already exists (which would send nothing at all)."""
    from watcher.store import migrate

    srcs = STAND_INS
    serve(http_server, srcs, 1)
    http_server.route(srcs[1][2], srcs[1][3], content_type="text/plain")  # node: the day before
    db = request.getfixturevalue("pg_url") if database == "postgresql" else None
    cfg = write_config(tmp_path, http_server, receiver, None, srcs, db=db)
    run_once(cfg, receiver)
    assert told(receiver, "/hook") == ["release"]
    store = Store(load_config(cfg).database_url)
    migrate.downgrade(store.engine, "0003")  # as the database stood before releases were kept
    migrate.upgrade(store.engine)
    http_server.route(srcs[1][2], srcs[1][4], content_type="text/plain")  # node confirms now
    run_once(cfg, receiver)
    a_minute_passes(store)
    deliver_due(load_config(cfg, env={**os.environ, "SLACK_URL": receiver.url("/slack")}), store, owner_id())
    assert told(receiver, "/hook") == ["release", "corroboration"]
    assert at(receiver, "/hook")[1].json()["details"]["source"] == "node-sdk"
    store.close()


def test_a_family_watching_the_changelog_discovers_each_new_id_once_and_announces_no_old_one(
        http_server, receiver, tmp_path):
    """`gpt-image-*` on the real changelog: the ids it already named before release day are the baseline;
    gpt-image-2 is discovered (and released) once, and the later July entries that name older models again
    announce nothing."""
    path = "/api/docs/changelog.md"
    cfg = tmp_path / "watcher.toml"
    cfg.write_text(f'database_url = "sqlite:///{tmp_path}/w.db"\njitter = 0\n[[targets]]\nfamily = "gpt-image-*"\n'
                   f'[[sources]]\nname = "changelog"\nkind = "changelog"\nurl = "{http_server.url(path)}"\n'
                   f'[[channels]]\nname = "hook"\ntype = "webhook"\nurl = "{receiver.url("/hook")}"\n')
    for body in (_changelog("### Apr 15"), _changelog("### Apr 21"), _changelog(None), _changelog(None)):
        http_server.route(path, body, content_type="text/markdown; charset=utf-8")
        run_once(cfg, receiver)
    told_ = [(h.json()["kind"], h.json()["target"]) for h in at(receiver, "/hook")]
    assert sorted(told_) == [("discovered", "gpt-image-2"), ("release", "gpt-image-2")], told_


@pytest.mark.slow
def test_the_daemon_names_every_source_that_confirms_at_the_moment_of_the_release(http_server, receiver, tmp_path):
    """Six sources on their own schedules (every 30 s, spread at start-up) change together: the first probe that
    sees the model opens the release, the daemon probes the other five at once (their last answers are older
    than BURST_FRESH), and the one release names all six; no corroboration follows."""
    from watcher.daemon import BURST_FRESH

    names = [f"m{i}" for i in range(6)]
    # m0 is the one that notices; the others are not due again for a while
    proc = start_daemon(tmp_path, http_server, receiver, {n: "2s" if n == "m0" else "30s" for n in names},
                        slack=False)
    try:
        deadline = time.monotonic() + 20
        while min(http_server.hits(f"/{n}") for n in names) < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(BURST_FRESH + 0.5)
        assert [http_server.hits(f"/{n}") for n in names[1:]] == [1] * 5  # not due again for a while
        for n in names:
            http_server.route(f"/{n}", MODELS_AFTER, content_type="application/json")
        receiver.wait_for(1, timeout=15)
        time.sleep(3)  # more probes of m0: nothing more may arrive
        (hook,) = at(receiver, "/hook")
        body = hook.json()
        assert body["kind"] == "release" and body["details"]["confirmed_by"] == names
        store = Store(f"sqlite:///{tmp_path}/w.db", migrate=False)
        with store.engine.connect() as conn:
            assert [n["kind"] for n in outbox.list_notices(conn)] == ["release"]
        store.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
