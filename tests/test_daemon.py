"""The daemon's batches: runs that fall close together are probed together, and a source is never
probed again by the same daemon while its probe runs (what APScheduler's max_instances = 1 ensured when
each run probed on its own). The daemon end to end is in test_alerts, test_release_day and test_replicas."""

from __future__ import annotations

import threading

from watcher.daemon import _Batch


def test_runs_close_together_are_one_batch_and_a_source_being_probed_skips_its_run() -> None:
    batches: list[list[str]] = []
    probing, finish = threading.Event(), threading.Event()

    def probe(names: list[str]) -> None:
        batches.append(sorted(names))
        probing.set()
        finish.wait(30)

    batch = _Batch(0.5, probe, lambda _: None)
    first = [threading.Thread(target=batch.add, args=(n,)) for n in ("a", "b")]
    for t in first:
        t.start()
    assert probing.wait(30)
    assert batches == [["a", "b"]]
    batch.add("a")  # its probe is still running: this run is skipped, not queued behind it
    probing.clear()
    later = threading.Thread(target=batch.add, args=("c",))  # another source is not held up
    later.start()
    assert probing.wait(30)
    finish.set()
    for t in (*first, later):
        t.join(30)
    assert batches == [["a", "b"], ["c"]]
    batch.add("a")  # its probe has finished: it is probed again
    assert batches == [["a", "b"], ["c"], ["a"]]
