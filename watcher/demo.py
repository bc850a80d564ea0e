"""`watcher demo`: the gpt-image-2 release replayed offline, through the real pipeline, in seconds.

Owns the replay: a loopback HTTP server publishing the bundled first-party documents (demo_data/) in
the order OpenAI published them, a throw-away configuration and SQLite database, one real probe cycle
per publication date, and the alerts rendered to the terminal instead of sent. Leaves nothing behind.
"""

from __future__ import annotations

import dataclasses
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datetime import datetime

    from .config import Config
    from .cycle import CycleReport
    from .store import Store

TARGET = "gpt-image-2"
DATA = "demo_data"  # under the watcher package; see demo_data/README.md for where each file comes from

Echo = Callable[..., None]


@dataclass(frozen=True)
class DemoSource:
    name: str
    kind: str
    path: str  # the document's path on the demo server: the real repository path, so the parser sees its extension


@dataclass(frozen=True)
class Publication:
    """What changed on one date: source name -> the bundled file now served at its path."""

    date: str
    what: str
    files: dict[str, str]


SOURCES = (
    DemoSource("docs-changelog", "changelog", "/api/docs/changelog.md"),
    DemoSource("docs-pricing", "pricing_page", "/api/docs/pricing.md"),
    DemoSource("docs-models", "model_index", "/api/docs/models.md"),
    DemoSource("docs-image-guide", "guide_page", "/api/docs/guides/image-generation.md"),
    DemoSource("openai-python", "sdk_types", "/openai/openai-python/main/src/openai/types/image_model.py"),
    DemoSource("openai-node", "sdk_types", "/openai/openai-node/main/src/resources/images.ts"),
    DemoSource("openai-go", "sdk_types", "/openai/openai-go/main/image.go"),
    DemoSource("openai-openapi", "openapi_spec", "/openai/openai-openapi/main/openapi.yaml"),
)

_DOCS = "developers-docs"
# The real documents in the order they were published. A source is watched from its first file in the
# bundle on: the bundle has no earlier version of it, and a 404 would rightly read as a broken source
# (verdict unknown), not as a document without the model. The docs pages before release day are the real
# captures with gpt-image-2's lines taken out (demo_data/README.md says which).
TIMELINE = (
    Publication("2025-12-16", "openai-python adds gpt-image-1.5 to ImageModel",
                {"openai-python": "openai-python/image_model-2025-12-16-9dc1d1a0.py"}),
    Publication("2026-04-15", "the developer docs: changelog, pricing and models index, no gpt-image-2 yet",
                {"docs-changelog": f"{_DOCS}/changelog-as-of-2026-04-15.md",
                 "docs-pricing": f"{_DOCS}/pricing-a30a622-without-gpt-image-2.md",
                 "docs-models": f"{_DOCS}/models-a30a622-without-gpt-image-2.md",
                 "openai-node": "openai-node/images-2026-05-04-f711b1c0.ts"}),
    Publication("2026-04-21", "release day on the docs: changelog entry, pricing rows, models index, the guide",
                {"docs-changelog": f"{_DOCS}/changelog-as-of-2026-04-21.md",
                 "docs-pricing": f"{_DOCS}/pricing-a30a622.md",
                 "docs-models": f"{_DOCS}/models-a30a622.md",
                 "docs-image-guide": f"{_DOCS}/guides-image-generation-d4e9eef.md"}),
    Publication("2026-05-05", "openai-python: \"update image 2\", ImageModel lists gpt-image-2",
                {"openai-python": "openai-python/image_model-2026-05-05-0ba55d75.py"}),
    Publication("2026-05-07", "openai-node and openai-go follow",
                {"openai-node": "openai-node/images-2026-05-07-c9db1d60.ts",
                 "openai-go": "openai-go/image-2026-05-07-3336103.go"}),
    Publication("2026-05-13", "the OpenAPI spec names gpt-image-2, in prose only (excerpt)",
                {"openai-openapi": "openai-openapi/openapi-2026-05-13-5162af9.yaml"}),
    Publication("2026-08-20", "the OpenAPI spec accepts gpt-image-2 as a `model` value (excerpt)",
                {"openai-openapi": "openai-openapi/openapi-2026-08-20-b8d775d.yaml"}),
)


def bundle_file(name: str) -> bytes:
    """A bundled document's bytes (read through importlib.resources, so an installed wheel works too)."""
    return resources.files(__package__).joinpath(DATA, *name.split("/")).read_bytes()


# ------------------------------------------------------------------ the loopback server
class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # no 40 ms stall between headers and body on loopback

    def log_message(self, format: str, *args: Any) -> None:  # the demo prints its own story
        pass

    def do_GET(self) -> None:
        assert isinstance(self.server, _HTTPServer)
        body = self.server.docs.get(self.path.split("?", 1)[0])
        status = 200 if body is not None else 404
        body = body if body is not None else b"404: not in the demo bundle yet\n"
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")  # as raw.githubusercontent.com says
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_HEAD = do_GET


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    docs: dict[str, bytes]  # path -> body: the documents published so far (replaced whole, never mutated)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # the client closing a keep-alive is normal
            super().handle_error(request, client_address)


class DemoServer:
    """Serves the documents published so far on 127.0.0.1 (a free port), in a thread."""

    def __init__(self) -> None:
        self._httpd = _HTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.docs = {}
        self.base = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()

    def publish(self, path: str, body: bytes) -> None:
        self._httpd.docs = {**self._httpd.docs, path: body}

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()


# ------------------------------------------------------------------ configuration
def demo_config(base: str, database_url: str) -> Config:
    """A configuration built in memory: the demo never reads config/watcher.toml or the environment."""
    from .config import parse_config

    raw = {
        "database_url": database_url,
        "targets": [{"id": TARGET}],
        "defaults": {"every": "15m", "timeout": "5s", "deadline": "10s"},
        "sources": [{"name": s.name, "kind": s.kind, "url": base + s.path, "authority": "first_party"}
                    for s in SOURCES],
        # Rendered to the terminal, never sent: these addresses are placeholders nobody is asked to reach.
        "channels": [
            {"name": "slack-demo", "type": "slack", "webhook_url": "http://127.0.0.1:9/demo-slack-webhook"},
            {"name": "email-demo", "type": "email", "smtp_host": "127.0.0.1", "smtp_port": 9, "security": "none",
             "from": "watcher@example.invalid", "to": "you@example.invalid"},
        ],
    }
    return parse_config(raw, Path("(demo configuration)"), env={})


# ------------------------------------------------------------------ the replay
def run_demo(echo: Echo = print) -> None:
    """Replay the release; print each cycle, the alerts as the channels would show them, the history."""
    import httpx

    from .cycle import owner_id, run_cycle
    from .fetch import Fetcher
    from .notify import make_hook
    from .store import Store

    echo(f"watcher demo: replaying the {TARGET} release from OpenAI's own files, offline.")
    echo("Nothing is fetched from the internet and nothing is sent; the database is temporary.")
    with tempfile.TemporaryDirectory(prefix="watcher-demo-") as tmp:
        server = DemoServer()
        # trust_env=False: a proxy from the environment must not see (or break) the loopback requests
        client = httpx.Client(follow_redirects=False, trust_env=False, timeout=httpx.Timeout(10.0))
        store = None
        try:
            config = demo_config(server.base, f"sqlite:///{Path(tmp) / 'watcher.db'}")
            store = Store(config.database_url)
            fetcher = Fetcher(client)
            hook = make_hook(config)
            owner = owner_id()
            seen_on: dict[int, str] = {}  # signal id -> the date of the cycle that first saw it
            echo(f"Serving the bundle on {server.base}; {len(config.sources)} first-party sources, each watched "
                 f"from its first file on, {len(config.channels)} channels (Slack, e-mail).")
            published: set[str] = set()
            for i, pub in enumerate(TIMELINE):
                for name, file in pub.files.items():
                    server.publish(_source(name).path, bundle_file(file))
                    published.add(name)
                echo("")
                echo(_rule(f"cycle {i + 1} of {len(TIMELINE)} · {pub.date} · {pub.what}"))
                watched = dataclasses.replace(config, sources=tuple(s for s in config.sources if s.name in published))
                report = run_cycle(watched, store, fetcher, hook=hook)
                _print_report(echo, report)
                for row in store.history(target=TARGET):
                    seen_on.setdefault(row["id"], pub.date)
                _print_alerts(echo, config, store, owner, pub.date)
            echo("")
            _print_history(echo, store.history(target=TARGET), seen_on)
            echo("")
            echo("That was the real pipeline (fetch, parse, store, decide, outbox, render) on real documents.")
            echo("Next: replay a whole git history with `watcher backtest`, or watch live with `watcher run`.")
        finally:
            if store is not None:
                store.close()
            client.close()
            server.close()


def _source(name: str) -> DemoSource:
    return next(s for s in SOURCES if s.name == name)


def _rule(title: str) -> str:
    return f"── {title} " + "─" * max(3, 96 - len(title))


def _print_report(echo: Echo, report: CycleReport) -> None:
    width = max(len(s.name) for s in report.sources)
    for s in sorted(report.sources, key=lambda s: [x.name for x in SOURCES].index(s.name)):
        outcome = s.outcome.value if s.outcome else "skipped"
        change = f", {s.added} new" if s.added else ""
        change += f", {s.vanished} vanished" if s.vanished else ""
        signals = f"{s.live} signal{'' if s.live == 1 else 's'}{change}" if outcome == "ok" else ""
        echo(f"  {s.name.ljust(width)}  {str(s.status or '-'):>3}  {outcome:<10} {signals}".rstrip())
    for v in report.verdicts:
        echo(f"  verdict: {v.verdict.value} · {v.summary()}")


def _print_alerts(echo: Echo, config: Config, store: Store, owner: str, day: str) -> None:
    """Deliver what is due the way the dispatcher does (claim, group, mark sent), but onto the terminal.
    The replay runs today; the message shows the replayed day (`day`), as it would have read then."""
    from datetime import timedelta

    from .clock import utcnow
    from .notify import CORROBORATION_GRACE, group
    from .notify.registry import TYPES
    from .notify.render import render
    from .store import outbox

    channels = {c.name: c for c in config.channels}
    # Each demo cycle stands for a day: what a daemon would deliver by the next day is due now,
    # corroborations' grace minutes included.
    later = utcnow() + timedelta(seconds=CORROBORATION_GRACE + 1)
    with store.write() as conn:
        token, rows = outbox.claim_due(conn, owner, 60.0, channels=list(channels), now=later)
    deliveries = group(rows, channels)
    brief: dict[str, tuple[str, list[str]]] = {}  # other notices: one line per notice, not per channel
    for d in deliveries:
        d = replace(d, payloads=tuple(_on_day(p, day) for p in d.payloads))
        r = render(d, config, now=_at_day(utcnow(), day))
        preview = TYPES[d.channel.type].preview
        if d.kind == "release" and preview is not None:
            heading, text = preview(d.channel, r)
            echo("")
            _boxed(echo, f"{heading} (rendered here, not sent)", text)
        else:
            brief.setdefault(d.key, (f"{d.kind}: {r.json['summary']}", []))[1].append(d.channel.name)
        with store.write() as conn:
            outbox.mark_sent(conn, d.ids, token)
    for line, names in brief.values():
        echo(f"  notice due · {line} (for {', '.join(names)}; rendered, not sent)")


def _at_day(dt: datetime, day: str) -> datetime:
    from datetime import date

    return dt.replace(**{k: getattr(date.fromisoformat(day), k) for k in ("year", "month", "day")})


def _on_day(payload: dict[str, Any], day: str) -> dict[str, Any]:
    """A payload whose evidence was first seen on the replayed day (same time of day)."""
    ev = [dict(e, first_seen=day + str(e["first_seen"])[10:]) if e.get("first_seen") else e
          for e in payload.get("evidence") or ()]
    return dict(payload, evidence=ev) if ev else payload


def _boxed(echo: Echo, title: str, text: str) -> None:
    echo(f"  ┌─ {title}")
    for line in text.splitlines():
        echo(f"  │ {line}".rstrip())
    echo("  └─")


def _print_history(echo: Echo, rows: Sequence[dict[str, Any]], seen_on: dict[int, str]) -> None:
    """The evidence history, one line per source, level and type (the ids and places it names beside)."""
    echo(_rule(f"evidence history for {TARGET} (watcher history)"))
    groups: dict[tuple[str, str, str, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((seen_on.get(r["id"], "?"), r["source"], r["level"], r["evidence_type"]), []).append(r)
    table = [("first seen", "source", "level", "type", "found")]
    for (date, source, level, etype), rs in groups.items():
        ids = sorted({r["model_id"] for r in rs})
        places = len({r["location"] for r in rs})
        table.append((date, source, level, etype, f"{', '.join(ids)} in {places} place{'s' * (places != 1)}"))
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for n, row in enumerate(table):
        echo("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            echo("  " + "  ".join("-" * w for w in widths))
    first = next((r for r in rows if r["level"] == "confirmed"), None)
    if first is not None:
        echo("")
        echo(f"  First confirmed: {seen_on.get(first['id'], '?')} at {first['source']}: {first['excerpt']}")
