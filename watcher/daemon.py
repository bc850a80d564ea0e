"""`watcher run`: the long-running daemon. APScheduler runs each source at its interval (with jitter,
one probe per source at a time, missed runs coalesced); notices are delivered as they fall due.

A restart does not stampede: each source's first run is taken from its last stored probe. SIGTERM
and SIGINT finish the probes in flight, deliver what is due, and exit 0.

Fires that fall within BATCH_WINDOW of one another are probed as one cycle (one claim, the fetches side
by side, one transaction for what finishes together): twenty sources every second, their runs spread
over the second, take about fifteen transactions a second instead of forty.

Release day is a burst: when a probe opens a release, every other source is probed at once (as a cron
run would), and the release goes out at the end of that batch naming each source that confirms it.
"""

from __future__ import annotations

import logging
import math
import random
import signal
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any, Generic, TypeVar

from .clock import aware, utcnow
from .config import MIN_EVERY, Config
from .cycle import WORKERS, owner_id, run_cycle
from .errors import StoreError, WatcherError
from .notify import Dispatcher, make_hook
from .store import Store, locks

log = logging.getLogger(__name__)
T = TypeVar("T")

DISPATCH_EVERY = 1.0  # seconds between looks at the outbox (retries, and notices due from other replicas)
# A fire this early (a fraction of the interval) still takes its slot: a replica's timer and the
# slot stored by another replica's late probe need not agree to the millisecond. Below one half, so
# no slot is ever probed twice.
DUE_SLACK = 0.25
# A release burst probes only the sources whose last answer is older than this: a fresher one is as good
# as a new probe, and sources on short intervals are not probed twice in one of them.
BURST_FRESH = 5.0
# A fire waits this long for the fires that follow it, and they are probed together. Short beside any
# interval (a tenth of the shortest allowed) and beside the jitter that already delays a fire.
BATCH_WINDOW = MIN_EVERY / 10


def grid_trigger(every: float, jitter: float, start: datetime) -> Any:
    """An interval trigger on the grid start + k·every, each later fire delayed by up to `jitter`
    (the first fire is at `start`, without jitter).

    APScheduler 3's IntervalTrigger adds each fire's jitter to the next one's base, so a 10 % jitter
    drifts a schedule 5 % late on average: a source due every 15 minutes would be probed every 15¾.
    """
    from apscheduler.triggers.interval import IntervalTrigger

    class GridTrigger(IntervalTrigger):
        def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime:
            base, step = self.start_date.timestamp(), self.interval_length
            if previous_fire_time is None:
                # The first fire is the start itself (first_run already spread a start-up's due
                # sources over a few seconds): jitter there would leave a due source unprobed for up
                # to a tenth of its interval after a restart (90 s at every = "15m").
                # A start a moment ago (first_run's offset was shorter than the scheduler's own
                # start-up) is still the first fire, run at once, not a whole interval later.
                if now.timestamp() - base < step:
                    first: datetime = self.start_date
                    return first
                k = math.ceil((now.timestamp() - base) / step - 1e-6)
            else:
                # The fire that just ran was slot k, delayed by its jitter (at most half a step) and
                # rounded to the microsecond (so possibly a hair before its slot).
                prev = previous_fire_time.timestamp()
                k = round((prev - base) / step - 0.25) + 1
                while base + k * step <= prev:
                    k += 1
            t = base + k * step + (random.uniform(0, self.jitter) if self.jitter else 0.0)
            return datetime.fromtimestamp(t, tz=self.timezone)

    return GridTrigger(seconds=every, jitter=jitter or None, start_date=start, timezone=timezone.utc)


def first_run(due: datetime | None, now: datetime, every: float) -> datetime:
    """When this process first probes a source. On the grid of the slots the database holds (every
    replica fires on the same grid, and jitter only ever delays a fire, so a fire is never early for
    its slot); an overdue source is caught up soon, spread over a few seconds instead of a stampede."""
    if due is None:
        return now + timedelta(seconds=random.uniform(0, min(every, 5.0)))
    if due > now:
        return due
    step = timedelta(seconds=every)
    missed = (now - due) // step + 1
    catch_up = now + timedelta(seconds=random.uniform(0, min(every, 5.0)))
    return min(due + missed * step, catch_up) if every > 5.0 else due + missed * step


class _Batch(Generic[T]):
    """The scheduler's fires gathered into batches: the first fire waits `window` seconds, then probes
    every source that fired meanwhile with it, in its own thread; the others return at once.

    One probe per source at a time, so this process never claims a source it is already probing: a
    fire for a source whose previous probe has not finished (waiting in a batch, or being probed) is
    kept, once however many come, and joins a batch when that probe ends (late, rather than an
    interval missed because one batch was slow; the claim still takes only a source that is due).
    `then` runs once the batch's sources are free again (what a batch sets off, a release burst, holds
    none of them).
    """

    def __init__(self, window: float, probe: Callable[[list[str]], T], then: Callable[[T], None]) -> None:
        self._window, self._probe, self._then = window, probe, then
        self._lock = threading.Lock()
        self._waiting: list[str] = []
        self._busy: set[str] = set()  # waiting or being probed
        self._again: set[str] = set()  # fired while busy
        self._gathering = False

    def add(self, name: str) -> None:
        """A fire: join the batch being gathered, or gather one (and probe it, in this thread)."""
        gather = self._join([name])
        while gather:
            time.sleep(self._window)
            with self._lock:
                names, self._waiting, self._gathering = self._waiting, [], False
            try:
                result = self._probe(names)
            finally:
                with self._lock:
                    self._busy.difference_update(names)
                    again = [n for n in names if n in self._again]
                    self._again.difference_update(again)
            self._then(result)
            gather = self._join(again)

    def _join(self, names: list[str]) -> bool:
        """Queue `names` for the batch being gathered; True when the caller is to gather it."""
        with self._lock:
            for name in names:
                if name not in self._busy:
                    self._busy.add(name)
                    self._waiting.append(name)
                elif name not in self._waiting:
                    log.info("source %s: its previous probe is still running; this run follows it", name)
                    self._again.add(name)
            if self._gathering or not self._waiting:
                return False
            self._gathering = True
            return True


def run_daemon(config: Config, *, stop: threading.Event | None = None, metrics_addr: str | None = None) -> int:
    from concurrent.futures import ThreadPoolExecutor

    from apscheduler.executors.pool import ThreadPoolExecutor as SchedulerPool
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.interval import IntervalTrigger

    from .fetch import Fetcher

    store = Store(config.database_url)
    owner = owner_id()
    stop = stop or threading.Event()
    # SQLite: one daemon per database file, an OS lock held for this process's lifetime
    locks.acquire_daemon(config.database_url, owner)
    locks.register(config.database_url, owner)
    store.reap(locks.dead_checker(config.database_url))
    locks.sweep(config.database_url)
    fetcher = Fetcher()
    # the batches' fetches, in threads kept for the daemon's lifetime (a cycle's own would start and
    # stop threads every second); as many as the scheduler's, which ran one probe each before batches
    workers = ThreadPoolExecutor(WORKERS, thread_name_prefix="probe")
    hook = make_hook(config)
    dispatcher = Dispatcher(config, store, owner)  # each channel in its own thread: none waits for another

    bursting = threading.Event()  # a release burst is being probed: its release must not leave yet
    burst_lock = threading.Lock()
    checked: set[str] = set()  # release keys whose burst this process has already probed

    def dispatch() -> None:
        if bursting.is_set():
            return  # the burst's own end delivers
        try:
            dispatcher.poll()
        except WatcherError as exc:
            log.error("delivering notices: %s", exc)
        except Exception:
            log.exception("delivering notices failed")

    rows = store.sync_sources(config.sources)

    def probe(names: list[str]) -> str | None:
        """One batch of fires: a cycle per due slack (a fraction of each source's interval). Returns a
        source whose probe added evidence, if any (it may have opened a release)."""
        by_slack: dict[float, list[str]] = {}
        for name in names:
            by_slack.setdefault(config.source(name).every * DUE_SLACK, []).append(name)
        opened = None
        for slack, group in by_slack.items():
            try:
                report = run_cycle(config, store, fetcher, names=group, due_only=True, owner=owner, hook=hook,
                                   compute_verdicts=False, rows=rows, due_slack=slack, pool=workers)
            except StoreError as exc:
                log.error("source %s: %s (the probe will run again at its next interval)", ", ".join(group), exc)
                continue
            except Exception:
                log.exception("source %s: probe failed", ", ".join(group))
                continue
            opened = opened or next((r.name for r in report.sources if r.added), None)
        return opened

    def after_probe(opened: str | None) -> None:
        if opened is not None:
            burst(opened)
        dispatch()

    def burst(name: str) -> None:
        """A probe that opened a release: probe the other sources now, so the release names them all."""
        from .store import outbox

        with store.engine.connect() as conn:
            opened = {n["key"] for n in outbox.list_notices(conn, state="pending")
                      if n["kind"] == "release" and n["attempts"] == 0 and n["claimed_by"] is None}
        if not opened - checked or not burst_lock.acquire(blocking=False):
            return  # nothing newly opened, or a burst is already being probed (it takes this one along)
        try:
            bursting.set()
            checked.update(opened)
            # last_probe_at is the prober's own clock; a replica's skew only moves this freshness bound
            fresh_since = utcnow() - timedelta(seconds=BURST_FRESH)
            states = store.states([s.name for s in config.sources if s.name != name])
            others = [n for n, st in states.items() if st.last_probe_at is None or st.last_probe_at < fresh_since]
            others += [s.name for s in config.sources if s.name != name and s.name not in states]
            if not others:
                return
            log.info("a release opened at %s: probing the %d other sources now", name, len(others))
            run_cycle(config, store, fetcher, names=others, owner=owner, hook=hook, compute_verdicts=False,
                      rows=rows)
        except Exception:
            log.exception("probing the release burst failed")
        finally:
            bursting.clear()
            burst_lock.release()

    batch = _Batch(BATCH_WINDOW, probe, after_probe)
    scheduler = BackgroundScheduler(
        executors={"default": SchedulerPool(WORKERS), "outbox": SchedulerPool(1)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        timezone=timezone.utc)
    states = store.states([s.name for s in config.sources])
    now = utcnow()
    # Stored due times are on the database's clock; the scheduler fires on this host's.
    offset = now - store.now()
    for s in config.sources:
        st = states.get(s.name)
        due = first_run(st.next_due_at + offset if st and st.next_due_at else None, now, s.every)
        scheduler.add_job(batch.add, grid_trigger(s.every, s.every * config.jitter, aware(due)),
                          args=[s.name], id=f"probe:{s.name}")
    scheduler.add_job(dispatch, IntervalTrigger(seconds=DISPATCH_EVERY), id="outbox", executor="outbox",
                      next_run_time=datetime.now(timezone.utc))

    def on_signal(signum: int, _frame: object) -> None:
        log.info("received signal %d: finishing probes in flight, then exiting", signum)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
    log.info("watcher daemon %s: %d sources, %d channels", owner, len(config.sources), len(config.channels))
    scheduler.start()
    stop_metrics = None
    try:
        if metrics_addr:
            from . import metrics

            stop_metrics = metrics.serve(metrics_addr, lambda: scheduler.running and not stop.is_set())
            log.info("metrics on http://%s/metrics, liveness on /healthz", metrics_addr)
        stop.wait()
    finally:
        if stop_metrics is not None:
            stop_metrics()
        scheduler.shutdown(wait=True)  # lets the probes in flight finish and store their results
        workers.shutdown(wait=True)
        dispatch()
        dispatcher.close()  # the passes in flight end (each send within its deadline) before we exit
        fetcher.close()
        locks.release_daemon(config.database_url)
        store.close()
    return 0
