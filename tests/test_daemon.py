"""The daemon's batches: runs that fall close together are probed together, and a source is never
probed again by the same daemon while its probe runs. The daemon end to end is in test_alerts,
test_release_day and test_replicas."""

from __future__ import annotations

import threading

from watcher.daemon import _Batch


def test_runs_close_together_are_one_batch_and_a_source_being_probed_runs_again_after_it() -> None:
    batches: list[list[str]] = []
    running: set[str] = set()
    twice: list[str] = []  # a source probed while its previous probe ran
    lock = threading.Lock()
    probing, finish = threading.Event(), threading.Event()

    def probe(names: list[str]) -> None:
        with lock:
            twice.extend(set(names) & running)
            running.update(names)
            batches.append(sorted(names))
        probing.set()
        finish.wait(30)
        with lock:
            running.difference_update(names)

    batch = _Batch(0.5, probe, lambda _: None)
    first = [threading.Thread(target=batch.add, args=(n,)) for n in ("a", "b")]
    for t in first:
        t.start()
    assert probing.wait(30)
    assert batches == [["a", "b"]]
    batch.add("a")  # its probe is still running: returns at once, and this run follows that probe
    batch.add("a")  # runs that pile up meanwhile are one
    probing.clear()
    later = threading.Thread(target=batch.add, args=("c",))  # another source is not held up
    later.start()
    assert probing.wait(30)
    assert batches == [["a", "b"], ["c"]]
    finish.set()
    for t in (*first, later):
        t.join(30)
    assert batches == [["a", "b"], ["c"], ["a"]] and twice == []
