"""1,000 unchanged cycles: what they add to the database, and what one costs.

    python benchmarks/bench_unchanged.py [--cycles 1000] [--sources 10] [--url postgresql+psycopg://postgres@127.0.0.1/test]

Every loopback source serves the May 2026 openai-python image_model.py (gpt-image-2 confirmed) with
an ETag, so after the first cycle every probe is a 304. Prints the rows each table gained.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import _loopback  # noqa: E402
from watcher.config import parse_config  # noqa: E402
from watcher.cycle import run_cycle  # noqa: E402
from watcher.fetch import Fetcher  # noqa: E402
from watcher.notify import make_hook  # noqa: E402
from watcher.store import Store  # noqa: E402

_loopback.DOC = (Path(__file__).resolve().parent.parent / "watcher/demo_data/openai-python/"
                 "image_model-2026-05-05-0ba55d75.py").read_bytes()


@contextlib.contextmanager
def scratch_database(admin_url: str | None):  # type: ignore[no-untyped-def]
    """A fresh PostgreSQL database beside `admin_url`, dropped afterwards (None: use SQLite)."""
    if not admin_url:
        yield None
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"watcher_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cycles", type=int, default=1000)
    ap.add_argument("--sources", type=int, default=10)
    ap.add_argument("--url", help="a PostgreSQL URL: a scratch database is made beside it (default: SQLite)")
    a = ap.parse_args()
    httpd, base = _loopback.serve()
    with tempfile.TemporaryDirectory() as tmp, scratch_database(a.url) as pg:
        url = pg or f"sqlite:///{tmp}/w.db"
        config = parse_config({"database_url": url, "targets": [{"id": "gpt-image-2"}], "sources": [
            {"name": f"s{i}", "kind": "sdk_types", "url": f"{base}/doc/{i}"} for i in range(a.sources)]},
            Path(tmp) / "watcher.toml", {})
        store = Store(url)
        hook = make_hook(config)
        tables = ("probe_runs", "snapshots", "signals", "notices")
        with Fetcher() as f:
            run_cycle(config, store, f, hook=hook)
            before = {t: store.count(t) for t in tables}
            times = []
            for _ in range(a.cycles):
                t0 = time.perf_counter()
                run_cycle(config, store, f, hook=hook, compute_verdicts=False)
                times.append(time.perf_counter() - t0)
            after = {t: store.count(t) for t in tables}
        store.close()
    httpd.shutdown()
    print(f"{a.cycles} unchanged cycles x {a.sources} sources ({url.split(':')[0]}): rows added: "
          + ", ".join(f"{t} +{after[t] - before[t]}" for t in tables)
          + f"; median cycle {statistics.median(times) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
