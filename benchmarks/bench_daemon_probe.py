"""The daemon's own cost and reaction: CPU per unchanged probe, and how soon due sources are probed
after start-up. A script that prints its figures, not a test.

    python benchmarks/bench_daemon_probe.py cpu [--sources 20] [--seconds 30]   # every = "1s", all 304
    python benchmarks/bench_daemon_probe.py startup [--sources 20]              # every = "15m", jitter 0.1

cpu: `watcher run` in a subprocess against loopback sources that answer 304; after a warm-up, the
process's user + system CPU time (from /proc) divided by the probes the server saw in that window.
startup: a fresh database (every source due), then a restart with every source overdue; for each,
the seconds from the process's start until the server has seen every source (interpreter start-up
included).
"""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}  # bytecode cached, as installed


class Seen:
    lock = threading.Lock()
    hits = 0
    first: dict[str, float] = {}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *a):  # noqa: ANN002
        pass

    def do_GET(self) -> None:  # noqa: N802
        with Seen.lock:
            Seen.hits += 1
            Seen.first.setdefault(self.path, time.monotonic())
        if self.headers.get("If-None-Match") == '"v1"':
            self.send_response(304)
            self.send_header("ETag", '"v1"')
            self.end_headers()
            return
        body = b'{"object": "list", "data": [{"id": "gpt-image-1", "object": "model"}]}'
        self.send_response(200)
        self.send_header("ETag", '"v1"')
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256


def config(d: Path, base: str, n: int, every: str, jitter: float) -> Path:
    text = f'database_url = "sqlite:///{d}/w.db"\njitter = {jitter}\n[[targets]]\nid = "gpt-image-2"\n'
    text += "".join(f'[[sources]]\nname = "s{i}"\nkind = "models_api"\nurl = "{base}/m/{i}"\nevery = "{every}"\n'
                    for i in range(n))
    path = d / "watcher.toml"
    path.write_text(text)
    return path


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def daemon(cfg: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "watcher", "--config", str(cfg), "run"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV,
                            cwd=cfg.parent)  # not the repository: PYTHONPATH may name a baseline


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)


def cpu(n: int, seconds: float, base: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        proc = daemon(config(Path(tmp), base, n, "1s", 0.1))
        try:
            time.sleep(8)  # start-up, first probes (200s), then steady 304s
            c0, h0 = cpu_seconds(proc.pid), Seen.hits
            time.sleep(seconds)
            c1, h1 = cpu_seconds(proc.pid), Seen.hits
        finally:
            stop(proc)
    probes = h1 - h0
    print(f'daemon, {n} sources every = "1s", all 304: {probes} probes in {seconds:.0f} s, '
          f"CPU {c1 - c0:.2f} s = {(c1 - c0) / probes * 1000:.2f} ms per unchanged probe  [goal <= 3 ms]")


def startup(n: int, base: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = config(Path(tmp), base, n, "15m", 0.1)
        for label in ("fresh database, every source due", "restart, every source overdue"):
            if label.startswith("restart"):
                with sqlite3.connect(Path(tmp) / "w.db") as db:
                    db.execute("UPDATE sources SET next_due_at = '2000-01-01 00:00:00.000000'")
            with Seen.lock:
                Seen.first.clear()
            t0 = time.monotonic()
            proc = daemon(cfg)
            try:
                while len(Seen.first) < n and time.monotonic() - t0 < 180:
                    time.sleep(0.05)
                with Seen.lock:
                    last = max(Seen.first.values()) - t0 if len(Seen.first) == n else float("nan")
            finally:
                stop(proc)
            print(f'daemon start-up, {n} sources, every = "15m", jitter 0.1, {label}: every source probed within '
                  f"{last:.1f} s of the process start  [goal <= 10 s]")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["cpu", "startup"])
    ap.add_argument("--sources", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=30)
    a = ap.parse_args()
    os.environ.pop("WATCHER_CONFIG", None)
    httpd = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        cpu(a.sources, a.seconds, base) if a.what == "cpu" else startup(a.sources, base)
    finally:
        httpd.shutdown()


if __name__ == "__main__":
    main()
