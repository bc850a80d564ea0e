"""TCP connections one `run --once` opens for N sources on one host, all answering 304 after a first
run has stored their ETags. A script that prints its figure, not a test.

    python benchmarks/bench_connections.py [--sources 50]

The loopback document server counts the connections it accepts; the runs are whole `watcher run
--once` processes.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import _loopback  # noqa: E402
from bench_run_once import ENV, setup_watcher  # noqa: E402


class Counting(_loopback._Server):
    accepted = 0

    def verify_request(self, request, client_address):  # type: ignore[no-untyped-def]
        Counting.accepted += 1
        return True


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sources", type=int, default=50)
    a = ap.parse_args()
    _loopback._Server = Counting  # type: ignore[misc]
    httpd, base = _loopback.serve()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            cmd = setup_watcher(Path(tmp), base, a.sources)
            subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV, check=True, cwd=tmp)
            before, hits = Counting.accepted, httpd.hits  # type: ignore[attr-defined]
            subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV, check=True, cwd=tmp)
            opened, probes = Counting.accepted - before, httpd.hits - hits  # type: ignore[attr-defined]
    finally:
        httpd.shutdown()
    print(f"run --once, {a.sources} sources on one host, all 304: {probes} requests over {opened} TCP connections "
          f"[goal <= 4]{' (PYTHONPATH=' + os.environ['PYTHONPATH'] + ')' if os.environ.get('PYTHONPATH') else ''}")


if __name__ == "__main__":
    main()
