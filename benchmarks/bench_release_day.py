"""Release day, measured: N docs sources confirm gpt-image-2 in one `run --once`; how many messages each
channel gets, how many sources the release names, and what the confirming cycle costs.

    python benchmarks/bench_release_day.py [--copies 10] [--url postgresql+psycopg://postgres@127.0.0.1/test]

The sources are the five real docs captures (changelog, pricing, models index, guide, model page) served
`--copies` times each from a loopback server, first as they stood the day before, then on 21 April 2026.
Two webhook channels (one takes releases only) receive on a loopback receiver.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from bench_unchanged import scratch_database  # noqa: E402
from test_release_day import DOC_SOURCES  # noqa: E402  (the day-before and release-day documents)
from watcher.config import parse_config  # noqa: E402
from watcher.cycle import owner_id, run_cycle  # noqa: E402
from watcher.fetch import Fetcher  # noqa: E402
from watcher.notify import deliver_due, make_hook  # noqa: E402
from watcher.store import Store  # noqa: E402


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def handle_error(self, request, client_address):  # type: ignore[no-untyped-def]
        pass  # a client closing a keep-alive connection is normal


def serve(docs: dict[str, bytes | None], received: list[tuple[str, dict]]):  # type: ignore[no-untyped-def]
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # noqa: ANN002
            pass

        def do_GET(self) -> None:  # noqa: N802
            body = docs.get(self.path)
            self.send_response(200 if body is not None else 404)
            body = body if body is not None else b"Not Found"
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:  # noqa: N802
            data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            received.append((self.path, json.loads(data)))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    httpd = _Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--copies", type=int, default=10, help="copies of each of the five docs sources")
    ap.add_argument("--url", help="a PostgreSQL URL: a scratch database is made beside it (default: SQLite)")
    a = ap.parse_args()
    docs: dict[str, bytes | None] = {}
    received: list[tuple[str, dict]] = []
    httpd, base = serve(docs, received)
    srcs = [(f"{name}-{i}", kind, f"/{i}{path}", before, after)
            for i in range(a.copies) for name, kind, path, before, after in DOC_SOURCES]

    def publish(day: int) -> None:
        for _, _, path, *versions in srcs:
            docs[path.replace("{target}", "gpt-image-2")] = versions[day]

    with tempfile.TemporaryDirectory() as tmp, scratch_database(a.url) as pg:
        url = pg or f"sqlite:///{tmp}/w.db"
        config = parse_config({
            "database_url": url, "targets": [{"id": "gpt-image-2"}],
            "sources": [{"name": n, "kind": k, "url": base + p} for n, k, p, _, _ in srcs],
            "channels": [{"name": "hook", "type": "webhook", "url": base + "/hook"},
                         {"name": "releases", "type": "webhook", "url": base + "/releases", "kinds": ["release"]}],
        }, Path(tmp) / "watcher.toml", {})
        store = Store(url)
        hook = make_hook(config)
        with Fetcher() as f:
            publish(0)
            tb = time.perf_counter()
            run_cycle(config, store, f, hook=hook, compute_verdicts=False)
            before_ms = (time.perf_counter() - tb) * 1000
            deliver_due(config, store, owner_id())
            publish(1)
            t0 = time.perf_counter()
            report = run_cycle(config, store, f, hook=hook, compute_verdicts=False)
            t1 = time.perf_counter()
            deliver_due(config, store, owner_id())
            t2 = time.perf_counter()
        store.close()
    httpd.shutdown()
    confirmed = sum(1 for s in report.sources if s.added)
    per_channel = {p: [b["kind"] for q, b in received if q == p] for p in ("/hook", "/releases")}
    named = len(next((b["details"]["confirmed_by"] for _, b in received if b["kind"] == "release"), []))
    print(f"{len(srcs)} docs sources ({url.split(':')[0]}), {confirmed} confirm in one run: "
          f"messages {', '.join(f'{p} {k}' for p, k in per_channel.items())}; the release names {named} sources; "
          f"cycle the day before {before_ms:.0f} ms, confirming cycle {(t1 - t0) * 1000:.0f} ms, "
          f"delivery {(t2 - t1) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
