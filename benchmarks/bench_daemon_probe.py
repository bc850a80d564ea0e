"""The daemon's own cost and reaction: CPU per unchanged probe, and how soon due sources are probed
after start-up. A script that prints its figures, not a test.

    python benchmarks/bench_daemon_probe.py cpu [--sources 20] [--seconds 30] [--rounds 3] [--baseline DIR]
    python benchmarks/bench_daemon_probe.py startup [--sources 20] [--baseline DIR]

--baseline DIR also runs the watcher package found in DIR (an export of an older commit, e.g.
`git archive OLD | tar -x -C DIR`), in turn with this one, for a before/after figure from the same run.

cpu (every = "1s", all 304): `watcher run` in a subprocess against loopback sources that answer 304;
after a warm-up, the process's user + system CPU time (from /proc) divided by the probes the server saw
in that window. --rounds windows, a fresh daemon each, alternating with the baseline's; the median is
the figure.
startup: a fresh database (every source due), then a restart with every source overdue; for each,
the seconds from the process's start until the server has seen every source (interpreter start-up
included).
"""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import statistics
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


def daemon(cfg: Path, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "watcher", "--config", str(cfg), "run"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                            cwd=cfg.parent)  # not the repository: PYTHONPATH may name a baseline


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)


def cpu_round(n: int, seconds: float, base: str, env: dict[str, str]) -> tuple[int, float]:
    """(probes, CPU seconds) of one fresh daemon over `seconds`, after its warm-up."""
    with tempfile.TemporaryDirectory() as tmp:
        proc = daemon(config(Path(tmp), base, n, "1s", 0.1), env)
        try:
            time.sleep(8)  # start-up, first probes (200s), then steady 304s
            c0, h0 = cpu_seconds(proc.pid), Seen.hits
            time.sleep(seconds)
            c1, h1 = cpu_seconds(proc.pid), Seen.hits
        finally:
            stop(proc)
    return h1 - h0, c1 - c0


def cpu(n: int, seconds: float, rounds: int, base: str, envs: dict[str, dict[str, str]]) -> None:
    per_probe: dict[str, list[float]] = {label: [] for label in envs}
    for _ in range(rounds):
        for label, env in envs.items():  # interleaved: a noisy moment lands on both
            probes, used = cpu_round(n, seconds, base, env)
            per_probe[label].append(used / probes * 1000)
            print(f'  {label}: {n} sources every = "1s", all 304: {probes} probes in {seconds:.0f} s, '
                  f"CPU {used:.2f} s = {used / probes * 1000:.2f} ms per unchanged probe", flush=True)
    for label, values in per_probe.items():
        print(f'daemon ({label}), {n} sources every = "1s", all 304: median {statistics.median(values):.2f} ms '
              f"(min {min(values):.2f}, max {max(values):.2f}, {rounds} rounds of {seconds:.0f} s) "
              "per unchanged probe  [goal <= 3 ms]")


def startup(n: int, base: str, envs: dict[str, dict[str, str]]) -> None:
    for label, env in envs.items():
        startup_one(n, base, label, env)


def startup_one(n: int, base: str, who: str, env: dict[str, str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = config(Path(tmp), base, n, "15m", 0.1)
        for label in ("fresh database, every source due", "restart, every source overdue"):
            if label.startswith("restart"):
                with sqlite3.connect(Path(tmp) / "w.db") as db:
                    db.execute("UPDATE sources SET next_due_at = '2000-01-01 00:00:00.000000'")
            with Seen.lock:
                Seen.first.clear()
            t0 = time.monotonic()
            proc = daemon(cfg, env)
            try:
                while len(Seen.first) < n and time.monotonic() - t0 < 180:
                    time.sleep(0.05)
                with Seen.lock:
                    last = max(Seen.first.values()) - t0 if len(Seen.first) == n else float("nan")
            finally:
                stop(proc)
            print(f'daemon ({who}) start-up, {n} sources, every = "15m", jitter 0.1, {label}: every source probed '
                  f"within {last:.1f} s of the process start  [goal <= 10 s]")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["cpu", "startup"])
    ap.add_argument("--sources", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--baseline", help="a folder holding an older watcher package, run in turn with this one")
    a = ap.parse_args()
    envs = {"this": ENV}
    if a.baseline:
        envs["baseline"] = dict(ENV, PYTHONPATH=str(Path(a.baseline).resolve()))
    os.environ.pop("WATCHER_CONFIG", None)
    httpd = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        cpu(a.sources, a.seconds, a.rounds, base, envs) if a.what == "cpu" else startup(a.sources, base, envs)
    finally:
        httpd.shutdown()


if __name__ == "__main__":
    main()
