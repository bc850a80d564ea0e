"""`watcher history --format json` and `watcher report` as whole commands: wall time and peak memory.
A script that prints its figures, not a test. Seed the databases first:

    python benchmarks/seed_history.py --url sqlite:///benchmarks/out/history.db --runs 100000 --signals 100000
    python benchmarks/seed_history.py --url sqlite:///benchmarks/out/history10k.db --runs 20000 --signals 10000
    python benchmarks/bench_history_output.py [--history-db URL] [--report-db URL] [--repeat 5] [--baseline DIR]

Each command runs --repeat times in a subprocess (output to a pipe that is read and discarded);
the figures are the median wall time and the largest peak RSS (from wait4).

--baseline DIR also runs the watcher package found in DIR (an export of an older commit, e.g.
`git archive OLD | tar -x -C DIR`), alternating with this one, on a copy of each SQLite database
taken down to the baseline's schema revision (`watcher db downgrade`).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
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


def measure(cmd: list[str], repeat: int, pythonpath: str | None = None) -> tuple[float, float, float, int]:
    """(median seconds, median CPU seconds (user + system), peak RSS in MB, bytes written to stdout)."""
    times, cpus, peaks, size = [], [], [], 0
    env = dict(ENV, PYTHONPATH=pythonpath) if pythonpath else ENV
    for _ in range(repeat):
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
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


def baseline_copy(url: str, baseline: Path, folder: Path) -> str:
    """A copy of the SQLite database at `url`, downgraded to the schema revision the baseline knows."""
    head = re.search(r'HEAD_REVISION = "(\w+)"', (baseline / "watcher" / "store" / "schema.py").read_text())
    if not url.startswith("sqlite:///") or head is None:
        raise SystemExit("--baseline needs SQLite databases and a baseline with watcher/store/schema.py")
    copy = folder / "baseline.db"
    shutil.copyfile(url.removeprefix("sqlite:///"), copy)
    cfg = folder / "downgrade.toml"
    cfg.write_text(f'database_url = "sqlite:///{copy}"\n')
    subprocess.run([sys.executable, "-m", "watcher", "-c", str(cfg), "db", "downgrade", head.group(1), "--yes"],
                   check=True, env=ENV, cwd=tempfile.gettempdir(), stdout=subprocess.DEVNULL)
    return f"sqlite:///{copy}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--history-db", default=f"sqlite:///{HERE}/out/history.db")
    ap.add_argument("--report-db", default=f"sqlite:///{HERE}/out/history10k.db")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--baseline", type=Path, help="a folder holding an older watcher package, run alternately")
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
            runs = {"watcher": ([*watcher, "-c", str(cfg), *args], None)}
            if a.baseline:
                (d / "base").mkdir()
                old_url = baseline_copy(url, a.baseline.resolve(), d / "base")
                old_cfg = d / "base" / "watcher.toml"
                old_cfg.write_text(cfg.read_text().replace(f'"{url}"', f'"{old_url}"'))
                runs["baseline"] = ([*watcher, "-c", str(old_cfg), *args], str(a.baseline.resolve()))
            figures: dict[str, list[tuple[float, float, float, int]]] = {k: [] for k in runs}
            for _ in range(a.repeat):  # alternated, so machine noise hits both alike
                for name, (cmd, path) in runs.items():
                    figures[name].append(measure(cmd, 1, path))
            for name, got in figures.items():
                seconds = statistics.median(g[0] for g in got)
                cpu = statistics.median(g[1] for g in got)
                peak = max(g[2] for g in got)
                size = got[-1][3]
                out = f"{size / 1e6:.0f} MB to stdout, " if size else ""
                print(f"{name} {label}, {n:,} signals: median {seconds:.2f} s (CPU {cpu:.2f} s), {out}"
                      f"peak RSS {peak:.0f} MB (whole command, {a.repeat} runs)")


if __name__ == "__main__":
    main()
