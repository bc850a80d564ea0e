"""How long `watcher backtest` takes over a long history of the 3 MB OpenAPI spec.

Builds a git repository in a temporary folder with 250 commits of openapi.yaml (the two real spec
versions from tests/fixtures, alternating, each with a small edit so that every commit differs),
then times `python -m watcher backtest --git ... --format json` over it and prints the figure:

    python benchmarks/bench_backtest.py [--commits 250] [--jobs N] [--shape alternate|release]

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


def build(root: Path, commits: int, shape: str = "alternate") -> None:
    """One `git fast-import` stream: building the repository takes seconds, not minutes of `git add`."""
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True, env=GIT_ENV)
    bodies = [(SPECS / name).read_bytes() for name in VERSIONS]
    before = bodies[0].replace(b"gpt-image-2", b"gpt-image-1")
    proc = subprocess.Popen(["git", "fast-import", "--quiet"], cwd=root, stdin=subprocess.PIPE, env=GIT_ENV)
    assert proc.stdin is not None
    start = 1767225600  # 2026-01-01T00:00:00Z; one commit an hour
    for i in range(commits):
        if shape == "release":
            absent, middle, _ = RELEASE_SHAPE
            base = before if i < absent else bodies[0] if i < absent + middle else bodies[1]
        else:
            base = bodies[i % 2]
        body = base + f"# bench edit {i}\n".encode()
        msg = f"version {i}\n".encode()
        proc.stdin.write(b"commit refs/heads/main\n")
        proc.stdin.write(f"committer Bench <bench@example.com> {start + 3600 * i} +0000\n".encode())
        proc.stdin.write(b"data %d\n%s" % (len(msg), msg))
        proc.stdin.write(f"M 100644 inline {PATH}\n".encode())
        proc.stdin.write(b"data %d\n%s\n" % (len(body), body))
    proc.stdin.close()
    if proc.wait() != 0:
        raise SystemExit("git fast-import failed")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--commits", type=int, default=250)
    ap.add_argument("--jobs", type=int, default=None, help="passed to watcher backtest --jobs")
    ap.add_argument("--shape", choices=["alternate", "release"], default="alternate")
    args = ap.parse_args()
    if args.shape == "release":
        args.commits = sum(RELEASE_SHAPE)
    size = sum((SPECS / v).stat().st_size for v in VERSIONS) / 2 / 1e6
    with tempfile.TemporaryDirectory(prefix="bench-backtest-") as tmp:
        root = Path(tmp) / "repo"
        t0 = time.perf_counter()
        build(root, args.commits, args.shape)
        print(f"built {args.commits} commits in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        cmd = [sys.executable, "-m", "watcher", "backtest", "--git", str(root), "--path", PATH,
               "--kind", "openapi_spec", "--format", "json"]
        if args.jobs:
            cmd += ["--jobs", str(args.jobs)]
        t0 = time.perf_counter()
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}  # cached bytecode, as installed
        # cwd: PYTHONPATH may name a baseline
        res = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp)
        elapsed = time.perf_counter() - t0
        if res.returncode != 0:
            raise SystemExit(f"watcher backtest failed ({res.returncode}): {res.stderr}")
        changes = json.loads(res.stdout)
        if args.shape == "release":  # mentioned at version 200, confirmed at 240
            if [c["level"] for c in changes] != ["mentioned", "confirmed"]:
                raise SystemExit(f"unexpected result: {changes}")
        # mentioned, confirmed, mentioned, ...: the level changes at every commit
        elif len(changes) != args.commits or changes[-1]["level"] != ("confirmed" if args.commits % 2 == 0
                                                                      else "mentioned"):
            raise SystemExit(f"unexpected result: {len(changes)} changes")
    jobs = f", {args.jobs} jobs" if args.jobs else f", {os.cpu_count()} CPUs"
    what = " shaped like a release (200 absent, 40 mentioned, 15 confirmed)" if args.shape == "release" else ""
    print(f"backtest {args.commits} versions{what} x {size:.1f} MB: {elapsed:.1f} s "
          f"({elapsed / args.commits * 1000:.0f} ms per version{jobs})")


if __name__ == "__main__":
    main()
