"""`watcher run --once` over loopback sources that all answer 304, side by side with urlwatch 2.29.

Whole processes, same machine, same run, same server: for each tool the median wall time of a
1-source run and of an N-source run, what the extra sources add, and the ratio between the tools.

    python benchmarks/bench_run_once.py [--sources 50] [--repeat 9] [--urlwatch PATH] [--baseline DIR]

--baseline DIR also runs the watcher package found in DIR (an export of an older commit, e.g.
`git archive OLD | tar -x -C DIR`) in the same interleaved rounds, for a before/after figure.

urlwatch is looked up as --urlwatch, then `urlwatch` on PATH, then installed (pip, urlwatch==2.29)
into benchmarks/out/urlwatch-venv.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _loopback import serve  # noqa: E402

HERE = Path(__file__).resolve().parent
# As installed tools run: with their bytecode cached (a session's PYTHONDONTWRITEBYTECODE would make
# every run of an edited or freshly exported watcher compile its modules again; urlwatch's venv has
# its bytecode from pip).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def urlwatch_bin(given: str | None) -> str:
    if given:
        return given
    found = shutil.which("urlwatch")
    if found:
        return found
    venv = HERE / "out" / "urlwatch-venv"
    exe = venv / "bin" / "urlwatch"
    if not exe.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "urlwatch==2.29"], check=True)
    return str(exe)


def setup_watcher(d: Path, base: str, n: int) -> list[str]:
    lines = [f'database_url = "sqlite:///{d}/w.db"', '[[targets]]', 'id = "gpt-image-2"']
    for i in range(n):
        lines += ["[[sources]]", f'name = "doc-{i}"', 'kind = "sdk_types"', f'url = "{base}/doc/{i}"']
    (d / "watcher.toml").write_text("\n".join(lines) + "\n")
    return [sys.executable, "-m", "watcher", "--config", str(d / "watcher.toml"), "run", "--once"]


def setup_urlwatch(d: Path, base: str, n: int, exe: str) -> list[str]:
    (d / "urls.yaml").write_text("\n---\n".join(f"name: doc-{i}\nurl: {base}/doc/{i}\n" for i in range(n)))
    return [exe, "--urls", str(d / "urls.yaml"), "--config", str(d / "urlwatch.yaml"),
            "--hooks", str(d / "hooks.py"), "--cache", str(d / "cache.db")]


def timed(cmd: list[str], env: dict[str, str] | None = None) -> float:
    t0 = time.perf_counter()
    # cwd: not the repository, whose watcher/ would shadow a --baseline's (python -m puts cwd first)
    res = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False, env=env or ENV,
                         cwd=tempfile.gettempdir())
    elapsed = time.perf_counter() - t0
    if res.returncode != 0:  # a run that failed (a baseline without its migrations/, say) times nothing
        raise SystemExit(f"{' '.join(cmd)} exited {res.returncode}: {res.stderr.decode(errors='replace')[-500:]}")
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sources", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=9)
    ap.add_argument("--urlwatch")
    ap.add_argument("--baseline", help="a folder holding an older watcher package, run alongside")
    args = ap.parse_args()
    exe = urlwatch_bin(args.urlwatch)
    httpd, base = serve()
    with tempfile.TemporaryDirectory() as tmp:
        cmds = {}
        tools = ("watcher", "urlwatch") + (("baseline",) if args.baseline else ())
        envs = {"baseline": dict(ENV, PYTHONPATH=str(Path(args.baseline).resolve()))} if args.baseline else {}
        for tool in tools:
            for n in (1, args.sources):
                d = Path(tmp) / f"{tool}-{n}"
                d.mkdir()
                cmds[(tool, n)] = (setup_urlwatch(d, base, n, exe) if tool == "urlwatch"
                                   else setup_watcher(d, base, n))
        env_note = {k: os.environ.get(k) for k in ("WATCHER_CONFIG",)}
        for k, cmd in cmds.items():  # prime: first runs store ETags (and create urlwatch's config)
            timed(cmd, envs.get(k[0]))
            timed(cmd, envs.get(k[0]))
        times: dict[tuple[str, int], list[float]] = {k: [] for k in cmds}
        for _ in range(args.repeat):  # interleaved, so machine noise hits both tools alike
            for k, cmd in cmds.items():
                times[k].append(timed(cmd, envs.get(k[0])))
    httpd.shutdown()
    med = {k: statistics.median(v) for k, v in times.items()}
    n = args.sources
    print(f"run --once, all sources answer 304, median of {args.repeat} (seconds, whole process)")
    for tool in tools:
        one, many = med[(tool, 1)], med[(tool, n)]
        print(f"  {tool:9s} 1 source: {one:.3f}   {n} sources: {many:.3f}   the {n - 1} extra sources add: "
              f"{(many - one) * 1000:.0f} ms")
    w_extra = med[("watcher", n)] - med[("watcher", 1)]
    u_extra = med[("urlwatch", n)] - med[("urlwatch", 1)]
    print(f"  ratio watcher/urlwatch, {n} sources: {med[('watcher', n)] / med[('urlwatch', n)]:.2f}x "
          f"(goal <= 1.2x); extra-source cost: {w_extra * 1000:.0f} ms vs {u_extra * 1000:.0f} ms")
    for tool in tools[::2]:  # watcher, and the baseline if any
        paired = statistics.median(a / b for a, b in zip(times[(tool, n)], times[("urlwatch", n)], strict=True))
        print(f"  {tool}/urlwatch, {n} sources, median of the {args.repeat} paired rounds: {paired:.2f}x")
    del env_note


if __name__ == "__main__":
    main()
