"""`watcher history --format json` and `watcher report` as whole commands: wall time and peak memory.
A script that prints its figures, not a test. Seed the databases first:

    python benchmarks/seed_history.py --url sqlite:///benchmarks/out/history.db --runs 100000 --signals 100000
    python benchmarks/seed_history.py --url sqlite:///benchmarks/out/history10k.db --runs 20000 --signals 10000
    python benchmarks/bench_history_output.py [--history-db URL] [--report-db URL] [--repeat 5]

Each command runs --repeat times in a subprocess (output to a pipe that is read and discarded);
the figures are the median wall time and the largest peak RSS (from wait4).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_history import ENV, write_config  # noqa: E402
from watcher.store import Store  # noqa: E402


def measure(cmd: list[str], repeat: int) -> tuple[float, float, float, int]:
    """(median seconds, median CPU seconds (user + system), peak RSS in MB, bytes written to stdout)."""
    times, cpus, peaks, size = [], [], [], 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=ENV,
                                cwd=tempfile.gettempdir())  # not the repository: PYTHONPATH may name a baseline
        assert proc.stdout is not None
        size = 0
        while chunk := proc.stdout.read(1 << 20):
            size += len(chunk)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        times.append(time.perf_counter() - t0)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode})")
        peaks.append(usage.ru_maxrss / 1024)
        cpus.append(usage.ru_utime + usage.ru_stime)
    return statistics.median(times), statistics.median(cpus), max(peaks), size


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--history-db", default=f"sqlite:///{HERE}/out/history.db")
    ap.add_argument("--report-db", default=f"sqlite:///{HERE}/out/history10k.db")
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    watcher = [sys.executable, "-m", "watcher"]
    with tempfile.TemporaryDirectory() as tmp:
        for label, url, args in (("history --format json", a.history_db, ["history", "--format", "json"]),
                                 ("report", a.report_db, ["report", "--out", f"{tmp}/report.html"])):
            store = Store(url)
            d = Path(tmp) / label.split()[0]
            d.mkdir()
            cfg = write_config(store, d)
            n = store.count("signals")
            store.close()
            seconds, cpu, peak, size = measure([*watcher, "-c", str(cfg), *args], a.repeat)
            out = f"{size / 1e6:.0f} MB to stdout, " if size else ""
            print(f"watcher {label}, {n:,} signals: median {seconds:.2f} s (CPU {cpu:.2f} s), {out}"
                  f"peak RSS {peak:.0f} MB (whole command, {a.repeat} runs)")


if __name__ == "__main__":
    main()
