"""Broken is not absent, through the real pipeline: a loopback server answers what real sources have
answered (a 404 after a branch rename, a 410, an empty 200, a body cut short, a file that became a
re-export, a flapping document); the real fetcher, parsers, SQLite store, outbox and webhook receiver.

Evidence disappears only when a document that still has its parser's structure answers twice in a row
without it; everything else is a source problem: recorded as its own outcome, counted towards a
source-health notice, and never a `withdrawn`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fixturepaths import DEMO_DATA
from servers import HookReceiver
from watcher.config import load_config
from watcher.cycle import owner_id, run_cycle
from watcher.evidence import Outcome, Verdict
from watcher.fetch import Fetcher
from watcher.notify import deliver_due, make_hook
from watcher.store import Store

FIX = DEMO_DATA  # the SDK captures live once, in the demo bundle
PY_BEFORE = (FIX / "openai-python/image_model-2025-12-16-9dc1d1a0.py").read_bytes()
PY_AFTER = (FIX / "openai-python/image_model-2026-05-05-0ba55d75.py").read_bytes()
NODE_AFTER = (FIX / "openai-node/images-2026-05-07-c9db1d60.ts").read_bytes()
# What openai-python's src/openai/types/chat_model.py became when ChatModel moved to types/shared/ (March
# 2025): a module that imports the type from elsewhere, here in the same shape for image_model.py.
PY_REEXPORT = (b"# File generated from our OpenAPI spec by Stainless. See CONTRIBUTING.md for details.\n\n"
               b"from .shared import image_model\n\n__all__ = [\"ImageModel\"]\n\n"
               b"ImageModel = image_model.ImageModel\n")

PY_PATH = "/src/openai/types/image_model.py"
NODE_PATH = "/src/resources/images.ts"


@pytest.fixture
def receiver():
    with HookReceiver() as r:
        yield r


def write_config(tmp_path: Path, server, receiver, sources: list[tuple[str, str]], db: str | None = None) -> Path:
    text = (f'database_url = "{db or f"sqlite:///{tmp_path}/w.db"}"\njitter = 0\nfailure_threshold = 3\n'
            '[[targets]]\nid = "gpt-image-2"\n')
    for name, path in sources:
        text += (f'[[sources]]\nname = "{name}"\nkind = "sdk_types"\nurl = "{server.url(path)}"\n'
                 'timeout = "3s"\n')
    text += f'[[channels]]\nname = "hook"\ntype = "webhook"\nurl = "{receiver.url("/hook")}"\n'
    p = tmp_path / "watcher.toml"
    p.write_text(text)
    return p


class Watcher:
    """`watcher run --once` as cron runs it, in process: one cycle, then the outbox."""

    def __init__(self, cfg: Path) -> None:
        self.config = load_config(cfg)
        self.store = Store(self.config.database_url)
        self.fetcher = Fetcher()

    def run(self):  # type: ignore[no-untyped-def]
        report = run_cycle(self.config, self.store, self.fetcher, hook=make_hook(self.config))
        deliver_due(self.config, self.store, owner_id())
        return report

    def close(self) -> None:
        self.fetcher.close()
        self.store.close()


@pytest.fixture
def make_watcher():
    made: list[Watcher] = []

    def make(cfg: Path) -> Watcher:
        made.append(Watcher(cfg))
        return made[-1]

    yield make
    for w in made:
        w.close()


def kinds(receiver) -> list[tuple[str, str | None]]:
    return [(h.json()["kind"], h.json()["details"].get("state")) for h in receiver.received]


def check(cfg: Path) -> tuple[int, str]:
    r = subprocess.run([sys.executable, "-m", "watcher", "--config", str(cfg), "check", "gpt-image-2"],
                       capture_output=True, text=True, timeout=60, env={**os.environ})
    return r.returncode, r.stdout


def _cut_short(body: bytes, *, chunked: bool):  # type: ignore[no-untyped-def]
    """An answer whose connection closes inside the body: short of its Content-Length, or before the
    chunked body's last chunk."""

    def answer(handler):  # type: ignore[no-untyped-def]
        handler.close_connection = True
        if chunked:
            return 200, {"Content-Type": "text/plain"}, iter_then_hang_up(handler, body[: len(body) // 2])
        return 200, {"Content-Type": "text/plain", "Content-Length": str(len(body))}, body[: len(body) // 2]

    return answer


def iter_then_hang_up(handler, part: bytes):  # type: ignore[no-untyped-def]
    yield part
    handler.wfile.flush()
    handler.connection.shutdown(2)  # no terminating chunk: the body ends mid-stream


BROKEN = [
    pytest.param(lambda s: s.route(NODE_PATH, b"404: Not Found", status=404), Outcome.NOT_FOUND, id="404"),
    pytest.param(lambda s: s.route(NODE_PATH, b"gone", status=410), Outcome.NOT_FOUND, id="410"),
    pytest.param(lambda s: s.route(NODE_PATH, b""), Outcome.EMPTY, id="empty-200"),
    pytest.param(lambda s: s.route(NODE_PATH, b"\n  \n"), Outcome.EMPTY, id="blank-200"),
    pytest.param(lambda s: s.route(NODE_PATH, _cut_short(NODE_AFTER, chunked=False)), Outcome.TRUNCATED,
                 id="short-of-content-length"),
    pytest.param(lambda s: s.route(NODE_PATH, _cut_short(NODE_AFTER, chunked=True)), Outcome.TRUNCATED,
                 id="chunked-cut"),
    pytest.param(lambda s: s.route(NODE_PATH, PY_REEXPORT), Outcome.FORMAT_CHANGED, id="re-export"),
]


@pytest.mark.parametrize("break_it, outcome", BROKEN)
def test_a_broken_source_keeps_its_evidence_sends_no_withdrawn_and_alerts_health_once(
        http_server, receiver, tmp_path, make_watcher, break_it, outcome):
    http_server.route(PY_PATH, PY_AFTER)
    http_server.route(NODE_PATH, NODE_AFTER)
    cfg = write_config(tmp_path, http_server, receiver, [("python", PY_PATH), ("node", NODE_PATH)])
    w = make_watcher(cfg)
    live = next(s for s in w.run().sources if s.name == "node").live
    assert kinds(receiver) == [("release", None)] and live >= 2

    break_it(http_server)
    for _ in range(4):
        report = w.run()
        node = next(s for s in report.sources if s.name == "node")
        assert node.outcome is outcome, node.error
        assert node.vanished == 0 and node.live == live  # all of its evidence still stands
        assert report.verdicts[0].verdict is Verdict.CONFIRMED
        assert set(report.verdicts[0].confirmed_by) == {"python", "node"}
    assert all(r["vanished_at"] is None for r in w.store.history())
    # one "down" after the third failure in a row; never a withdrawn
    assert kinds(receiver) == [("release", None), ("source_health", "down")]
    down = receiver.received[1].json()["details"]
    assert down["source"] == "node" and down["outcome"] == outcome.value and down["failure_streak"] == 3
    assert check(cfg)[0] == 0  # `watcher check` still says confirmed

    http_server.route(NODE_PATH, NODE_AFTER)  # fixed: the same document is back
    w.run()
    assert kinds(receiver) == [("release", None), ("source_health", "down"), ("source_health", "up")]


def test_a_source_that_only_ever_answered_404_is_unknown_not_no_evidence(http_server, receiver, tmp_path,
                                                                          make_watcher):
    http_server.route(PY_PATH, b"404: Not Found", status=404)
    cfg = write_config(tmp_path, http_server, receiver, [("python", PY_PATH)])
    report = make_watcher(cfg).run()
    assert report.sources[0].outcome is Outcome.NOT_FOUND
    assert report.verdicts[0].verdict is Verdict.UNKNOWN and report.verdicts[0].unread == ("python",)
    code, out = check(cfg)
    assert code == 12 and out.startswith("unknown")


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
@pytest.mark.parametrize("validators", [False, True], ids=["same-body", "304"])
def test_evidence_vanishes_at_the_second_answer_without_it(http_server, receiver, tmp_path, make_watcher,
                                                           validators, database, request):
    """One answer without the id is a miss; the next answer (the same body again, or a 304 for it) is the
    second, and only then is the evidence withdrawn, once."""
    etag = {"etag": "after"} if validators else {}
    http_server.route(PY_PATH, PY_AFTER, **etag)
    http_server.route(NODE_PATH, NODE_AFTER)
    db = request.getfixturevalue("pg_url") if database == "postgresql" else None
    cfg = write_config(tmp_path, http_server, receiver, [("python", PY_PATH), ("node", NODE_PATH)], db=db)
    w = make_watcher(cfg)
    w.run()
    http_server.route(PY_PATH, PY_BEFORE, **({"etag": "before"} if validators else {}))
    first = w.run()
    py = first.sources[0]
    assert (py.outcome, py.vanished, py.live) == (Outcome.OK, 0, 2)
    assert kinds(receiver) == [("release", None)]
    second = w.run()
    py = second.sources[0]
    assert py.outcome is (Outcome.NOT_MODIFIED if validators else Outcome.OK)
    assert (py.vanished, py.live) == (2, 0)
    for _ in range(2):
        w.run()
    assert kinds(receiver) == [("release", None), ("withdrawn", None)]
    body = receiver.received[1].json()
    assert body["details"]["source"] == "python" and body["details"]["still_confirmed_by"] == ["node"]
    assert second.verdicts[0].verdict is Verdict.CONFIRMED  # node still confirms


def test_a_flapping_document_sends_one_release_and_nothing_else(http_server, receiver, tmp_path, make_watcher):
    cfg = write_config(tmp_path, http_server, receiver, [("python", PY_PATH)])
    w = make_watcher(cfg)
    for i in range(8):
        http_server.route(PY_PATH, PY_AFTER if i % 2 == 0 else PY_BEFORE)
        report = w.run()
        assert report.verdicts[0].verdict is Verdict.CONFIRMED
        assert report.sources[0].vanished == 0
    assert kinds(receiver) == [("release", None)]
    assert all(r["vanished_at"] is None for r in w.store.history())


def test_a_release_withdrawn_everywhere_and_back_is_announced_again(http_server, receiver, tmp_path,
                                                                    make_watcher):
    http_server.route(PY_PATH, PY_AFTER)
    cfg = write_config(tmp_path, http_server, receiver, [("python", PY_PATH)])
    w = make_watcher(cfg)
    w.run()
    http_server.route(PY_PATH, PY_BEFORE)
    w.run()
    w.run()
    assert w.run().verdicts[0].verdict is Verdict.NO_EVIDENCE
    http_server.route(PY_PATH, PY_AFTER)
    w.run()
    w.run()
    assert [(h.json()["kind"], h.json()["key"]) for h in receiver.received] == [
        ("release", "release:gpt-image-2"), ("withdrawn", receiver.received[1].json()["key"]),
        ("release", "release:gpt-image-2:2")]
