"""Time the OpenAPI parser on each real spec fixture: best of 5 cold reads (the parser forgets what it
remembered of earlier reads before each), in seconds. A script, not a test.

    python benchmarks/bench_parse.py [spec.yaml ...]

The watcher reads a ~3 MB spec every cycle; it should parse in well under half a second. Each spec is
parsed twice: for targets it names (gpt-image-2, gpt-4o: the entries that can hold an answer are
walked) and for a target it does not name (gpt-image-3, as before a release: only the candidate check
and libyaml's C pass). Run it with PYTHONPATH=DIR (an export of older code) for a before figure.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from watcher.sources import Document, openapi_spec
from watcher.targets import Matcher

SPECS = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "openai" / "openai-openapi"
REPEAT = 5


def best_of(body: bytes, matcher: Matcher) -> tuple[float, int]:
    best = float("inf")
    count = 0
    for _ in range(REPEAT):
        getattr(openapi_spec, "clear_cache", lambda: None)()  # cold: no chunk remembered from the last round
        start = time.perf_counter()
        signals = openapi_spec.parse(Document(body, url="openapi.yaml"), matcher)
        best = min(best, time.perf_counter() - start)
        count = len(signals)
    return best, count


def main(argv: list[str]) -> int:
    paths = [Path(a) for a in argv] or sorted(SPECS.glob("*.yaml"))
    present, absent = Matcher(["gpt-image-2", "gpt-4o"]), Matcher(["gpt-image-3"])
    for path in paths:
        body = path.read_bytes()
        seconds, count = best_of(body, present)
        none, _ = best_of(body, absent)
        name = path.stem.rsplit("-", 1)[0]  # openapi-2026-08-20-b8d775d -> openapi-2026-08-20
        print(f"{name} ({len(body) / 1e6:.2f} MB): targets present {seconds:.3f} s [{count} signals], "
              f"target absent {none:.3f} s  [best of {REPEAT}]")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
