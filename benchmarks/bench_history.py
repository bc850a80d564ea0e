"""`watcher history`, `explain`, `report`, `prune` and the database's growth, on a database seeded by
seed_history.py. A script that prints its figures, not a test.

    python benchmarks/seed_history.py --url URL --runs 1000000 --signals 100000
    python benchmarks/bench_history.py --url URL [--repeat 7] [--target gpt-image-2] [--growth-runs 5000] [--prune]

Figures (targets in brackets):
- import time of what `watcher history` loads (python -X importtime), and interpreter start-up;
- `watcher history --target T --since 30d` as a whole command (median of --repeat subprocesses, output
  to a pipe) and its query alone, in-process (median, warm) [query < 100 ms];
- `watcher explain` of a signal first seen in a 3.5 KB document, whole command;
- `watcher report` as a whole command, and its query and rendering parts [10,000 signals: < 2 s];
- bytes per unchanged probe run [< 200]: the probe_runs table and its indexes divided by its rows (SQLite:
  dbstat pages; PostgreSQL: pg_total_relation_size), then the growth of the whole database while the real
  Store.record_probes writes --growth-runs 304 answers, 50 sources per transaction as a cycle does (after
  as many again to warm up; see growth());
- with --prune (destructive): `watcher prune --older-than 90d`, then explain and history again.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select, text  # noqa: E402

from watcher.clock import utcnow  # noqa: E402
from watcher.evidence import Outcome  # noqa: E402
from watcher.views.report import render_report, report  # noqa: E402
from watcher.store import HistoryFilter  # noqa: E402
from watcher.store import Probe, SourceRow, Store, redact_url  # noqa: E402
from watcher.store import schema as S  # noqa: E402

ENV = {k: v for k, v in os.environ.items() if not k.startswith("WATCHER_") and k != "PYTHONDONTWRITEBYTECODE"}


def write_config(store: Store, folder: Path) -> Path:
    """A configuration naming the seeded sources and targets, so commands that need one (report) run."""
    with store.engine.connect() as conn:
        sources = conn.execute(select(S.sources.c.name, S.sources.c.kind, S.sources.c.url, S.sources.c.authority)
                               .order_by(S.sources.c.id)).all()
        targets = conn.execute(select(S.signals.c.target).group_by(S.signals.c.target)
                               .order_by(func.count().desc()).limit(10)).scalars().all()
    lines = [f'database_url = "{store.url}"'] + [f'[[targets]]\nid = "{t}"' for t in targets or ["gpt-image-2"]]
    lines += [f'[[sources]]\nname = "{n}"\nkind = "{k}"\nurl = "{u}"\nauthority = "{a}"' for n, k, u, a in sources]
    path = folder / "watcher.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def timed(cmd: list[str], repeat: int) -> tuple[float, list[float]]:
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV, check=True)  # warm
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=ENV, check=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def import_times(url: str) -> dict[str, float]:
    """Cumulative import time (ms) of the modules `watcher history` loads, from python -X importtime."""
    driver = "import psycopg; " if url.startswith("postgresql") else "import sqlite3; "
    code = f"{driver}import watcher.cli, watcher.store, watcher.views.report"
    err = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True,
                         env=ENV, check=True).stderr
    cumulative: dict[str, float] = {}
    for line in err.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)", line)
        if m and len(m.group(3)) == 1:  # top-level imports only
            cumulative[m.group(4)] = int(m.group(2)) / 1000
    return cumulative


def median_ms(fn, repeat: int) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    out = fn()  # warm the connection pool and the page cache
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), out


def runs_bytes(store: Store) -> tuple[int, int]:
    """(bytes of probe_runs with its indexes, rows)."""
    with store.engine.connect() as conn:
        rows = conn.execute(select(func.count()).select_from(S.probe_runs)).scalar_one()
        if store.dialect == "postgresql":
            size = conn.execute(text("SELECT pg_total_relation_size('probe_runs')")).scalar_one()
        else:
            size = conn.execute(text("SELECT sum(pgsize) FROM dbstat WHERE name IN (SELECT name FROM sqlite_master "
                                     "WHERE tbl_name = 'probe_runs')")).scalar_one()
    return int(size), int(rows)


def database_bytes(store: Store) -> int:
    with store.engine.connect() as conn:
        if store.dialect == "postgresql":
            return int(conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one())
        used = conn.execute(text("SELECT sum(pgsize) FROM dbstat")).scalar_one()
    return int(used)


def checkpoint(store: Store) -> None:
    """Settle the files before measuring: VACUUM ANALYZE on PostgreSQL, a WAL checkpoint on SQLite."""
    if store.dialect == "postgresql":  # outside a transaction; the pool resets the isolation level after
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
        return
    raw = store.engine.raw_connection()  # the engine's own BEGIN would hold the checkpoint back
    try:
        raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        raw.close()


def growth(store: Store, n: int) -> dict[str, float]:
    """Write n unchanged probe runs (304s) through the real Store.record_probes, a cycle of every source
    per transaction; the database's growth per run, and probe_runs' own.

    First a warm-up of as many runs, then a checkpoint (VACUUM on PostgreSQL, as autovacuum would): each
    304 also rewrites the source's live signal rows (last_seen), and on a freshly seeded, tightly packed
    PostgreSQL table the first round of those new row versions needs new pages. The figure is the steady
    state after that, what a database that has been running pays per run."""
    with store.engine.connect() as conn:
        sources = [SourceRow(r.id, r.name, r.kind, r.url, r.authority)
                   for r in conn.execute(select(S.sources).order_by(S.sources.c.id))]
    with store.engine.connect() as conn:
        t = conn.execute(select(func.max(S.probe_runs.c.started_at))).scalar_one() or utcnow()

    def write(count: int) -> float:
        nonlocal t
        written, t0 = 0, time.perf_counter()
        while written < count:
            t += timedelta(minutes=15)
            batch = sources[: count - written]
            store.record_probes([(s, Probe(Outcome.NOT_MODIFIED, t, 40, 304, 0), 900.0) for s in batch])
            written += len(batch)
        return time.perf_counter() - t0

    write(n)
    checkpoint(store)
    db0, (rb0, rows0) = database_bytes(store), runs_bytes(store)
    seconds = write(n)
    checkpoint(store)
    db1, (rb1, rows1) = database_bytes(store), runs_bytes(store)
    return {"runs": rows1 - rows0, "db_per_run": (db1 - db0) / (rows1 - rows0),
            "runs_per_run": (rb1 - rb0) / (rows1 - rows0), "ms_per_run": seconds * 1000 / n}


def old_signal(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(S.signals.c.id).where(S.signals.c.first_seen < utcnow() - timedelta(days=200))
                                .order_by(S.signals.c.first_seen.desc()).limit(1)).scalar_one())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--target", default="gpt-image-2")
    ap.add_argument("--growth-runs", type=int, default=5000, help="0: skip (the runs stay in the database)")
    ap.add_argument("--prune", action="store_true", help="also prune (deletes from the database)")
    args = ap.parse_args()
    store = Store(args.url)
    watcher = [sys.executable, "-m", "watcher"]
    with tempfile.TemporaryDirectory() as tmp:
        cfg = write_config(store, Path(tmp))
        with store.engine.connect() as conn:
            n_signals = conn.execute(select(func.count()).select_from(S.signals)).scalar_one()
            n_runs = conn.execute(select(func.count()).select_from(S.probe_runs)).scalar_one()
        print(f"database {redact_url(args.url)} ({store.dialect}): {n_runs:,} probe runs, {n_signals:,} signals")

        imports = import_times(args.url)
        startup, _ = timed([sys.executable, "-c", "pass"], args.repeat)
        print("\nimports, cumulative (python -X importtime): " + ", ".join(
            f"{k} {v:.0f} ms" for k, v in imports.items() if k.startswith(("watcher", "sqlalchemy", "psycopg",
                                                                             "sqlite3", "click"))))
        print(f"  interpreter start-up (python -c pass): {startup * 1000:.0f} ms")

        since = utcnow() - timedelta(days=30)
        f = HistoryFilter(target=args.target, since=since)
        q_ms, rows = median_ms(lambda: list(store.iter_signals(f)), args.repeat)
        legacy_ms, _ = median_ms(lambda: store.history(target=args.target, since=since), args.repeat)
        whole, _ = timed([*watcher, "-c", str(cfg), "history", "--target", args.target, "--since", "30d"], args.repeat)
        n_rows = len(rows)  # type: ignore[arg-type]
        print(f"\nwatcher history --target {args.target} --since 30d ({n_rows:,} rows, table to a pipe)")
        print(f"  whole command, median of {args.repeat}: {whole * 1000:.0f} ms")
        print(f"  query alone (Store.iter_signals, in-process, warm), median: {q_ms:.1f} ms  [target < 100 ms]")
        print(f"  (Store.history, the same query: {legacy_ms:.1f} ms)")

        sid = old_signal(store)
        ex, _ = timed([*watcher, "-c", str(cfg), "explain", str(sid)], 3)
        print(f"\nwatcher explain {sid} (a signal over 200 days old), whole command, median of 3: {ex * 1000:.0f} ms")

        from watcher.config import load_config

        config = load_config(cfg, env={})
        data_ms, data = median_ms(lambda: report(config, store), 3)
        render_ms, html = median_ms(lambda: render_report(data), 3)  # type: ignore[arg-type]
        out = Path(tmp) / "report.html"
        rep, _ = timed([*watcher, "-c", str(cfg), "report", "--out", str(out)], 3)
        print(f"\nwatcher report ({n_signals:,} signals; {len(html):,} bytes of HTML)")  # type: ignore[arg-type]
        print(f"  whole command, median of 3: {rep * 1000:.0f} ms  [10,000 signals: < 2 s]")
        print(f"  queries {data_ms:.0f} ms, rendering {render_ms:.0f} ms (in-process, warm)")

        size, count = runs_bytes(store)
        print(f"\nbytes per probe run: probe_runs and its indexes {size:,} bytes / {count:,} runs = "
              f"{size / count:.0f} bytes  [target < 200]")
        if args.growth_runs:
            g = growth(store, args.growth_runs)
            print(f"  {g['runs']:,} more unchanged runs through Store.record_probes, after as many to warm up "
                  f"({g['ms_per_run']:.2f} ms each): "
                  f"database +{g['db_per_run']:.0f} bytes per run, probe_runs and its indexes "
                  f"+{g['runs_per_run']:.0f} bytes per run")
            print(f"  a source probed every 15 min (35,040 runs a year): "
                  f"{35040 * g['db_per_run'] / 1e6:.1f} MB a year before pruning")

        if args.prune:
            t0 = time.perf_counter()
            res = subprocess.run([*watcher, "-c", str(cfg), "prune", "--older-than", "90d"], capture_output=True,
                                 text=True, env=ENV, check=True)
            print(f"\nwatcher prune --older-than 90d: {time.perf_counter() - t0:.1f} s (whole command)")
            print("  " + res.stdout.strip().replace("\n", "\n  "))
            checkpoint(store)
            size, count = runs_bytes(store)
            print(f"  after: {count:,} runs, probe_runs and its indexes {size:,} bytes (pages reused, file as is)")
            ex, _ = timed([*watcher, "-c", str(cfg), "explain", str(sid)], 3)
            q_ms, rows = median_ms(lambda: list(store.iter_signals(f)), args.repeat)
            print(f"  explain {sid} after: {ex * 1000:.0f} ms; history query after: {q_ms:.1f} ms")
    store.close()


if __name__ == "__main__":
    main()
