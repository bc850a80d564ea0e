"""Replicas on PostgreSQL: N daemons share one database; every source must be probed exactly once per
interval and every notice delivered once, whatever the number of replicas.

    python benchmarks/bench_replicas.py [--sources 100] [--intervals 100] [--db postgresql+psycopg://postgres@127.0.0.1/test]

Runs one replica, then two, each against a fresh database created next to --db (and dropped), with
every = "1s"; at the middle of each run every document gains gpt-image-2, so notices fall due.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

BEFORE = b'{"object": "list", "data": [{"id": "gpt-image-1", "object": "model"}]}'
AFTER = b'{"object": "list", "data": [{"id": "gpt-image-2", "object": "model"}]}'


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # no 40 ms stall between headers and body on loopback
    doc = BEFORE
    hooks: list[dict] = []

    def log_message(self, *a):  # noqa: ANN002
        pass

    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(Handler.doc)))
        self.end_headers()
        self.wfile.write(Handler.doc)

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        Handler.hooks.append({"key": self.headers.get("Idempotency-Key"), **json.loads(body)})
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512


def run(replicas: int, n: int, intervals: int, admin_url: str) -> dict:
    name = f"watcher_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    db = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    Handler.doc, Handler.hooks = BEFORE, []
    httpd = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            cfg = Path(tmp) / "watcher.toml"
            t = f'database_url = "{db}"\njitter = 0.1\n[[targets]]\nid = "gpt-image-2"\n'
            t += "".join(f'[[sources]]\nname = "s{i}"\nkind = "models_api"\nurl = "{base}/m/{i}"\nevery = "1s"\n'
                         for i in range(n))
            t += f'[[channels]]\nname = "hook"\ntype = "webhook"\nurl = "{base}/hook"\n'
            cfg.write_text(t)
            subprocess.run([sys.executable, "-m", "watcher", "--config", str(cfg), "db", "upgrade"], check=True,
                           capture_output=True)
            procs = [subprocess.Popen([sys.executable, "-m", "watcher", "--config", str(cfg), "run"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(replicas)]
            t0 = time.monotonic()
            time.sleep(intervals / 2)
            Handler.doc = AFTER
            time.sleep(intervals / 2)
            for p in procs:
                p.send_signal(signal.SIGTERM)
            for p in procs:
                p.wait(timeout=60)
            wall = time.monotonic() - t0
            time.sleep(0.5)
        eng = create_engine(db)
        with eng.connect() as c:
            rows = c.execute(text("SELECT s.name, r.started_at, r.duration_ms FROM probe_runs r "
                                  "JOIN sources s ON s.id = r.source_id ORDER BY r.started_at")).all()
            due = dict(c.execute(text("SELECT name, next_due_at FROM sources")).all())
        eng.dispose()
    finally:
        httpd.shutdown()
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    by: dict[str, list] = {}
    for src, at, _ in rows:
        by.setdefault(src, []).append(at)
    gaps = [(b - a).total_seconds() for ts in by.values() for a, b in itertools.pairwise(ts)]
    # Slot accounting: a source's slots are its final due time minus whole intervals; a probe belongs
    # to the slot it answers: from DUE_SLACK of an interval before the slot's due time (how early a
    # daemon may take a slot) until the same point before the next.
    from watcher.daemon import DUE_SLACK

    slots_per_source = []
    for name, ts in by.items():
        anchor = due[name]
        idx = [math.floor((t - anchor).total_seconds() + DUE_SLACK) for t in ts]
        counts = {k: idx.count(k) for k in range(min(idx), max(idx) + 1)}
        slots_per_source.append(counts)
    multi = sum(v > 1 for c in slots_per_source for v in c.values())
    empty = sum(v == 0 for c in slots_per_source for v in c.values())
    slots = sum(len(c) for c in slots_per_source)
    keys = [h["key"] for h in Handler.hooks]
    return {
        "replicas": replicas,
        "probes_per_slot": len(rows) / slots,
        "double_probes": multi,
        "missed_intervals": empty,
        "slots": slots,
        "median_gap_s": statistics.median(gaps),
        "probe_ms_median": statistics.median(r[2] for r in rows),
        "notices": len(keys),
        "duplicate_notices": len(keys) - len(set(keys)),
        "releases": sum(h.get("kind") == "release" for h in Handler.hooks),
        "wall_per_interval_s": wall / intervals,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sources", type=int, default=100)
    ap.add_argument("--intervals", type=int, default=100)
    ap.add_argument("--db", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    a = ap.parse_args()
    for replicas in (1, 2):
        r = run(replicas, a.sources, a.intervals, a.db)
        print(f"{replicas} replica(s), {a.sources} sources, {a.intervals} intervals of 1 s on PostgreSQL: "
              f"probes per source per interval {r['probes_per_slot']:.3f} over {r['slots']} source-intervals "
              f"(must be 1): two in one interval {r['double_probes']}, none in an interval {r['missed_intervals']}; "
              f"median gap {r['median_gap_s']:.2f} s, median probe {r['probe_ms_median']} ms, "
              f"notices {r['notices']} (releases {r['releases']}), duplicate notices {r['duplicate_notices']} "
              f"(must be 0), wall time per interval {r['wall_per_interval_s']:.2f} s")


if __name__ == "__main__":
    main()
