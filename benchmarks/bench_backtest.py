"""How long `watcher backtest` takes over a long history of the 3 MB OpenAPI spec.

Builds a git repository in a temporary folder with 250 commits of openapi.yaml (the two real spec
versions from tests/fixtures, alternating, each with a small edit so that every commit differs: by
default a sentence added to one description, at a place that moves through the file; `--edits end`
appends a comment instead),
then times `python -m watcher backtest --git ... --format json` over it and prints the figure:

    python benchmarks/bench_backtest.py [--commits 250] [--jobs N] [--shape alternate|release]
                                        [--edits middle|end] [--repeat N] [--baseline DIR]

--baseline DIR also times the watcher package found in DIR (an export of an older commit, e.g.
`git archive main | tar -x -C DIR`) over the same repository, runs alternated, and checks that it
printed the same changes.

--shape release instead gives the history the shape of a real one around a release (the real
255-version git history of openapi.yaml is not available offline): the first 200 versions are the
May 2026 spec with gpt-image-2 replaced by gpt-image-1 (before the release: the target is nowhere),
the next 40 the May spec as published (mentioned), the last 15 the August spec (confirmed). Sizes are
the real spec's, 2.8-3 MB each; the proportions are an assumption, stated with the figure.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SPECS = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "openai" / "openai-openapi"
VERSIONS = ("openapi-2026-05-13-5162af9.yaml", "openapi-2026-08-20-b8d775d.yaml")  # mentioned, confirmed
PATH = "openapi.yaml"
GIT_ENV = dict(os.environ, GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1")


RELEASE_SHAPE = (200, 40, 15)  # versions absent, mentioned, confirmed


def build(root: Path, commits: int, shape: str = "alternate", edits: str = "middle") -> None:
    """One `git fast-import` stream: building the repository takes seconds, not minutes of `git add`."""
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True, env=GIT_ENV)
    mentioned, confirmed = ((SPECS / name).read_bytes() for name in VERSIONS)
    # (the body, where its plain descriptions end): the target nowhere, mentioned, confirmed
    bases = [(b, [m.end() for m in _PLAIN_DESCRIPTION.finditer(b)])
             for b in (mentioned.replace(b"gpt-image-2", b"gpt-image-1"), mentioned, confirmed)]
    proc = subprocess.Popen(["git", "fast-import", "--quiet"], cwd=root, stdin=subprocess.PIPE, env=GIT_ENV)
    assert proc.stdin is not None
    start = 1767225600  # 2026-01-01T00:00:00Z; one commit an hour
    for i in range(commits):
        if shape == "release":
            absent, middle, _ = RELEASE_SHAPE
            base, ends = bases[0] if i < absent else bases[1] if i < absent + middle else bases[2]
        else:
            base, ends = bases[1 + i % 2]
        body = _edited(base, ends, i) if edits == "middle" else base + f"# bench edit {i}\n".encode()
        msg = f"version {i}\n".encode()
        proc.stdin.write(b"commit refs/heads/main\n")
        proc.stdin.write(f"committer Bench <bench@example.com> {start + 3600 * i} +0000\n".encode())
        proc.stdin.write(b"data %d\n%s" % (len(msg), msg))
        proc.stdin.write(f"M 100644 inline {PATH}\n".encode())
        proc.stdin.write(b"data %d\n%s\n" % (len(body), body))
    proc.stdin.close()
    if proc.wait() != 0:
        raise SystemExit("git fast-import failed")


_PLAIN_DESCRIPTION = re.compile(rb"^ +description: [A-Za-z][^\n]*[.a-z]$", re.MULTILINE)


def _edited(base: bytes, ends: list[int], i: int) -> bytes:
    """`base` with one sentence added to one plain one-line description (`ends`: where they end), a
    different one in each version and spread through the file, as real commits edit entries in the
    middle (an edit only ever at the end would let a reader that reuses what did not change skip
    nearly everything)."""
    at = ends[(i * 7919) % len(ends)]
    return base[:at] + f" Edited in version {i}.".encode() + base[at:]


def run(root: Path, cwd: str, jobs: int | None, baseline: str | None) -> tuple[float, list[dict[str, str]]]:
    """One `watcher backtest` over the repository: (wall seconds, the changes it printed)."""
    cmd = [sys.executable, "-m", "watcher", "backtest", "--git", str(root), "--path", PATH,
           "--kind", "openapi_spec", "--format", "json"]
    if jobs:
        cmd += ["--jobs", str(jobs)]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}  # cached bytecode, as installed
    if baseline:
        env["PYTHONPATH"] = baseline
    t0 = time.perf_counter()
    # cwd: not the repository, whose watcher/ would shadow a --baseline's (python -m puts cwd first)
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd)
    elapsed = time.perf_counter() - t0
    if res.returncode != 0:
        raise SystemExit(f"watcher backtest failed ({res.returncode}): {res.stderr}")
    changes: list[dict[str, str]] = json.loads(res.stdout)
    return elapsed, changes


def check(changes: list[dict[str, str]], commits: int, shape: str) -> None:
    if shape == "release":  # mentioned at version 200, confirmed at 240
        if [c["level"] for c in changes] != ["mentioned", "confirmed"]:
            raise SystemExit(f"unexpected result: {changes}")
    # mentioned, confirmed, mentioned, ...: the level changes at every commit
    elif len(changes) != commits or changes[-1]["level"] != ("confirmed" if commits % 2 == 0 else "mentioned"):
        raise SystemExit(f"unexpected result: {len(changes)} changes")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--commits", type=int, default=250)
    ap.add_argument("--jobs", type=int, default=None, help="passed to watcher backtest --jobs")
    ap.add_argument("--shape", choices=["alternate", "release"], default="alternate")
    ap.add_argument("--edits", choices=["middle", "end"], default="middle",
                    help="where each version's edit is: one description somewhere in the file (as real commits), "
                         "or a comment appended at the end")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each; the figures are the median and the best")
    ap.add_argument("--baseline", help="a folder holding an older watcher package (e.g. `git archive main | "
                                       "tar -x -C DIR`), run alternately with this one, same output required")
    args = ap.parse_args()
    if args.shape == "release":
        args.commits = sum(RELEASE_SHAPE)
    size = sum((SPECS / v).stat().st_size for v in VERSIONS) / 2 / 1e6
    times: dict[str, list[float]] = {"this": [], "baseline": []}
    with tempfile.TemporaryDirectory(prefix="bench-backtest-") as tmp:
        root = Path(tmp) / "repo"
        t0 = time.perf_counter()
        build(root, args.commits, args.shape, args.edits)
        print(f"built {args.commits} commits in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        for _ in range(args.repeat):
            elapsed, changes = run(root, tmp, args.jobs, None)
            check(changes, args.commits, args.shape)
            times["this"].append(elapsed)
            if args.baseline:
                elapsed, old = run(root, tmp, args.jobs, os.path.abspath(args.baseline))
                if old != changes:
                    raise SystemExit(f"the baseline printed other changes: {old} vs {changes}")
                times["baseline"].append(elapsed)
    jobs = f", {args.jobs} jobs" if args.jobs else f", {os.cpu_count()} CPUs"
    what = " shaped like a release (200 absent, 40 mentioned, 15 confirmed)" if args.shape == "release" else ""
    for name, runs in times.items():
        if not runs:
            continue
        median = statistics.median(runs)
        label = "backtest" if name == "this" else "baseline"
        print(f"{label} {args.commits} versions{what} x {size:.1f} MB: {median:.1f} s median, {min(runs):.1f} s best "
              f"of {len(runs)} ({median / args.commits * 1000:.0f} ms per version{jobs})")
    if times["baseline"]:
        ratio = statistics.median(times["baseline"]) / statistics.median(times["this"])
        print(f"same output; {ratio:.1f}x faster than the baseline (medians, runs alternated)")


if __name__ == "__main__":
    main()
