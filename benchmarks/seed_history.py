"""Seed a database with a year of realistic history, fast: a fixture for bench_history.py, not a test.

    python benchmarks/seed_history.py --url sqlite:///benchmarks/out/history.db --runs 1000000 --signals 100000
    python benchmarks/seed_history.py --url postgresql+psycopg://postgres@127.0.0.1/watcher_bench ...

The schema comes from the real migrations (Store(url)); the rows go in with SQLAlchemy Core executemany
straight into the real tables (a benchmark fixture, so direct inserts are fine here). The shape:

- `--sources` sources (default 50): most first-party, a few consumer and third-party, kinds in turn;
- `--runs` probe runs spread evenly over `--days` (default 365) per source, in time order (ids rise with
  time, as in real life): ~88% 304 `not_modified`, ~8% 200 `ok` re-reads of the same document, ~4%
  failures (http_error, timeout, network_error) with an error text;
- change events (one probe that stored a new document and changed the evidence) at random runs, ~10
  signals added each, and about half of the source's live signals vanishing at each event, so most of
  the `--signals` have vanished by the end and a realistic few hundred to few thousand are live;
- several targets with skewed weights (gpt-image-2 the most common), dated snapshot ids now and then;
- one snapshot (a ~4 KB text document naming the event's model ids) per event, zlib-compressed, and
  new versions of the document that change no evidence on ~0.5% of the runs (a few a week per source).
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sys
import time
import zlib
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert, text, update  # noqa: E402

from watcher.clock import utcnow  # noqa: E402
from watcher.store import Store  # noqa: E402
from watcher.store import schema as S  # noqa: E402

TARGETS = [("gpt-image-2", 40), ("gpt-5", 20), ("gpt-image-1", 12), ("sora-2", 10), ("gpt-realtime-2", 8),
           ("o5-mini", 6), ("gpt-4o-transcribe-2", 4)]
KINDS = [("openapi_spec", "spec_value", "spec_mention"), ("sdk_types", "sdk_value", "sdk_mention"),
         ("pricing_page", "pricing_row", "page_mention"), ("changelog", "changelog_entry", "page_mention"),
         ("model_page", "model_page", "page_mention"), ("models_api", "model_list_entry", None),
         ("feed", "feed_entry", None)]
FAILURES = [("http_error", 503, "HTTP 503 Service Unavailable"), ("timeout", None, "read timeout after 20 s"),
            ("network_error", None, "connection refused")]
CHUNK = 20_000
WORDS = ("model image generation size quality the for and with request response enum value endpoint "
         "parameter schema pricing per token input output tier batch latency snapshot alias default").split()


def source_rows(n: int) -> list[dict]:
    rows = []
    for i in range(n):
        kind = KINDS[i % len(KINDS)][0]
        authority = "first_party" if i < n - 6 else ("consumer" if i < n - 3 else "third_party")
        rows.append(dict(id=i + 1, name=f"src-{i:02d}-{kind.replace('_', '-')}", kind=kind,
                         url=f"https://docs.example.invalid/{kind}/{i}", authority=authority, failure_streak=0,
                         health_alerted=False))
    return rows


def document(rng: random.Random, source: int, event: int, ids: list[str]) -> bytes:
    """A ~4 KB text document: lines shared by every version of the source, plus the event's own lines."""
    base = random.Random(source)
    lines = [" ".join(base.choice(WORDS) for _ in range(10)) for _ in range(60)]
    for k, mid in enumerate(ids):
        at = rng.randrange(len(lines))
        lines.insert(at, f"  - {mid}  # event {event} item {k}: " + " ".join(rng.choice(WORDS) for _ in range(6)))
    return ("\n".join(lines) + "\n").encode()


def plan(args: argparse.Namespace) -> tuple[list[dict], list[dict], list[dict], list[dict]]:
    """Every row, in memory: (sources, snapshots, probe_runs, signals), ids assigned in time order."""
    rng = random.Random(args.seed)
    sources = source_rows(args.sources)
    per_source = args.runs // args.sources
    step = args.days * 86400 / per_source
    start = datetime(2025, 1, 1) if args.start is None else datetime.fromisoformat(args.start)
    events_total = max(1, args.signals // 10)
    weights = [5 if s["authority"] == "first_party" else 2 for s in sources]
    event_sources = rng.choices(range(len(sources)), weights=weights, k=events_total)
    events_at: dict[int, set[int]] = {i: set() for i in range(len(sources))}
    for si in event_sources:
        for _ in range(100):  # a free run index of that source (the first run stays a plain first read)
            k = rng.randrange(1, per_source)
            if k not in events_at[si]:
                events_at[si].add(k)
                break
    # (started_at, source index, run index) for every run, then ids by time
    order = sorted((start + timedelta(seconds=k * step + si * step / len(sources) + rng.random() * 5), si, k)
                    for si in range(len(sources)) for k in range(per_source))
    run_id = {(si, k): n + 1 for n, (_, si, k) in enumerate(order)}
    when = {(si, k): t for t, si, k in order}

    snapshots: list[dict] = []
    signals: list[dict] = []
    runs: list[dict] = []
    tnames, tweights = zip(*TARGETS, strict=True)
    budget = args.signals
    current_snapshot: dict[int, int] = {}
    for si, src in enumerate(sources):
        kind = KINDS[si % len(KINDS)]
        live: list[dict] = []
        snap = _snapshot(snapshots, document(rng, si, 0, []), when[(si, 0)])
        current_snapshot[si] = snap
        for k in range(per_source):
            rid, t = run_id[(si, k)], when[(si, k)]
            row = dict(id=rid, source_id=src["id"], started_at=t, duration_ms=rng.randint(20, 400), changed=False,
                       snapshot_id=None, http_status=304, bytes=0, outcome="not_modified", error=None)
            if k == 0:
                row.update(outcome="ok", http_status=200, snapshot_id=snap, bytes=4000)
            elif k in events_at[si] and budget > 0:
                n_new = min(budget, rng.randint(1, 19))
                budget -= n_new
                new = []
                for _ in range(n_new):
                    target = rng.choices(tnames, weights=tweights)[0]
                    mid = target if rng.random() < 0.8 else f"{target}-{t:%Y-%m-%d}"
                    confirmed = kind[2] is None or rng.random() < 0.6
                    etype = kind[1] if confirmed else kind[2]
                    new.append(dict(source_id=src["id"], target=target, model_id=mid,
                                    key_hash=hashlib.sha1(f"{si}/{k}/{len(signals) + len(new)}".encode()).hexdigest(),
                                    url=src["url"], authority=src["authority"],
                                    level="confirmed" if confirmed else "mentioned", evidence_type=etype,
                                    excerpt=f"{etype} {mid}: " + " ".join(rng.choice(WORDS)
                                                                         for _ in range(rng.randint(8, 40))),
                                    location=f"section {rng.randint(1, 40)} > {mid}", published=None,
                                    first_seen=t, last_seen=t, first_probe_run_id=rid, last_probe_run_id=rid,
                                    first_snapshot_id=None, vanished_at=None, vanished_probe_run_id=None))
                snap = _snapshot(snapshots, document(rng, si, k, [s["model_id"] for s in new]), t)
                current_snapshot[si] = snap
                prev = run_id[(si, k - 1)]
                still = []
                for s in live:  # about half of what the source showed goes away at each change
                    if rng.random() < 0.5:
                        s.update(vanished_at=t, vanished_probe_run_id=rid, last_probe_run_id=prev,
                                 last_seen=when[(si, k - 1)])
                    else:
                        still.append(s)
                for s in new:
                    s["first_snapshot_id"] = snap
                    signals.append(s)
                live = still + new
                row.update(outcome="ok", http_status=200, snapshot_id=snap, bytes=4000, changed=True)
            else:
                roll = rng.random()
                if roll < 0.005:  # a new version of the document that changes no evidence
                    snap = _snapshot(snapshots, document(rng, si, k, [s["model_id"] for s in live]), t)
                    current_snapshot[si] = snap
                    row.update(outcome="ok", http_status=200, snapshot_id=snap, bytes=4000)
                elif roll < 0.08:
                    row.update(outcome="ok", http_status=200, snapshot_id=current_snapshot[si], bytes=4000)
                elif roll < 0.12:
                    outcome, status, error = rng.choice(FAILURES)
                    row.update(outcome=outcome, http_status=status, error=error, bytes=None)
            runs.append(row)
        last = run_id[(si, per_source - 1)]
        for s in live:
            s.update(last_seen=when[(si, per_source - 1)], last_probe_run_id=last)
        src.update(snapshot_id=current_snapshot[si], last_outcome="not_modified", last_status=304,
                   last_probe_at=when[(si, per_source - 1)], last_ok_at=when[(si, per_source - 1)],
                   next_due_at=when[(si, per_source - 1)] + timedelta(minutes=15))
    runs.sort(key=lambda r: r["id"])
    for n, s in enumerate(sorted(signals, key=lambda s: (s["first_seen"], s["source_id"]))):
        s["id"] = n + 1
    return sources, snapshots, runs, signals


_BY_HASH: dict[str, int] = {}


def _snapshot(snapshots: list[dict], body: bytes, t: datetime) -> int:
    """A snapshot's id: each distinct document once, as the store keeps them."""
    chash = hashlib.sha256(body).hexdigest()
    if chash not in _BY_HASH:
        _BY_HASH[chash] = len(snapshots) + 1
        snapshots.append(dict(id=_BY_HASH[chash], content_hash=chash, size=len(body), content_type="text/plain",
                              body=zlib.compress(body, 6), first_seen=t))
    return _BY_HASH[chash]


def seed(url: str, args: argparse.Namespace) -> dict[str, float]:
    t0 = time.perf_counter()
    sources, snapshots, runs, signals = plan(args)
    t_plan = time.perf_counter() - t0
    store = Store(url)
    with store.engine.connect() as conn:
        if conn.execute(text("SELECT count(*) FROM probe_runs")).scalar_one():
            raise SystemExit(f"{url}: the database already holds probe runs; seed an empty one")
    t1 = time.perf_counter()
    with store.write() as conn:
        conn.execute(insert(S.sources), [{k: v for k, v in s.items() if k != "snapshot_id" and k not in (
            "last_outcome", "last_status", "last_probe_at", "last_ok_at", "next_due_at")} for s in sources])
        for table, rows in ((S.snapshots, snapshots), (S.probe_runs, runs), (S.signals, signals)):
            for i in range(0, len(rows), CHUNK):
                conn.execute(insert(table), rows[i:i + CHUNK])
        for s in sources:
            conn.execute(update(S.sources).where(S.sources.c.id == s["id"]).values(
                snapshot_id=s["snapshot_id"], last_outcome=s["last_outcome"], last_status=s["last_status"],
                last_probe_at=s["last_probe_at"], last_ok_at=s["last_ok_at"], next_due_at=s["next_due_at"]))
        if conn.dialect.name == "postgresql":  # explicit ids: move the sequences past them
            for table in ("sources", "snapshots", "probe_runs", "signals"):
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                  f"(SELECT coalesce(max(id), 1) FROM {table}))"))
    if store.dialect == "postgresql":  # outside a transaction; the pool resets the isolation level after
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    else:
        raw = store.engine.raw_connection()  # the engine's own BEGIN would hold the checkpoint back
        try:
            raw.cursor().execute("ANALYZE")
            raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            raw.close()
    store.close()
    live = sum(1 for s in signals if s["vanished_at"] is None)
    print(f"seeded {url.split('@')[-1]}: {len(sources)} sources, {len(runs):,} probe runs "
          f"({sum(r['changed'] for r in runs):,} changed), {len(signals):,} signals ({live:,} live), "
          f"{len(snapshots):,} snapshots; plan {t_plan:.1f} s, insert {time.perf_counter() - t1:.1f} s")
    return {"plan": t_plan, "insert": time.perf_counter() - t1}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", required=True, help="SQLAlchemy URL of an empty (or new SQLite) database")
    ap.add_argument("--runs", type=int, default=1_000_000)
    ap.add_argument("--signals", type=int, default=100_000)
    ap.add_argument("--sources", type=int, default=50)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--start", help="first run's time, ISO 8601 (default: 365 days before now)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    if args.start is None:
        args.start = (utcnow() - timedelta(days=args.days)).replace(microsecond=0).isoformat()
    seed(args.url, args)


if __name__ == "__main__":
    main()
