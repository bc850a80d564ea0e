"""Backtesting: run a parser over every past version of one document and report when each target's
level of evidence changed. Reads a git clone or a folder of files.

Pure apart from reading those versions: no network, no database. From git, the main process lists
the blob ids (one `git cat-file --batch-check`) and whoever parses a version reads its bytes (each
worker through its own `git cat-file --batch`). The levels come from the same parsers and Matcher the
probes use, so a backtest answers "when would the watcher have fired?".
"""

from __future__ import annotations

import itertools
import multiprocessing
import multiprocessing.context
import multiprocessing.util
import os
import re
import subprocess
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .errors import BacktestError, ParseError
from .evidence import Level
from .sources import Document, get
from .targets import Matcher
from .text import oneline

_FEW = 4  # fewer versions than this are parsed in this process, whatever `jobs` says
_NAME_DATE = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")


@dataclass(frozen=True)
class Version:
    """One past version of the document: where it came from and its bytes. From git, the bytes are
    read where the version is parsed (a worker reads its own; 3 MB is not sent through a pipe), so
    body is None and `blob` and `clone` say where they are; body and blob both None: the file was
    deleted."""

    commit: str  # the full commit hash; with a folder, the file name
    date: str  # ISO 8601
    body: bytes | None
    blob: str | None = None  # git's object id: equal ids are equal bytes, parsed once
    clone: str | None = None  # the repository holding `blob`, when body is None

    @property
    def deleted(self) -> bool:
        return self.body is None and self.blob is None


@dataclass(frozen=True)
class Change:
    """A target's level changed at this version (level None: the evidence vanished)."""

    target: str
    level: str | None
    commit: str
    date: str

    def as_dict(self) -> dict[str, str | None]:
        return {"target": self.target, "level": self.level, "commit": self.commit, "date": self.date}


@dataclass(frozen=True)
class Unreadable:
    """A version the parser refused (ParseError); it changes no level."""

    commit: str
    date: str
    error: str


Event = Change | Unreadable


# ------------------------------------------------------------------ reading versions
def _git(clone: Path, *args: str) -> str:
    try:
        res = subprocess.run(["git", "-C", str(clone), *args], capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise BacktestError("git is not installed (or not on PATH)") from None
    if res.returncode != 0:
        raise BacktestError(f"{clone}: git {args[0]}: {res.stderr.strip() or 'failed'}")
    return res.stdout


def git_history(clone: str | os.PathLike[str], path: str) -> list[tuple[str, str, str]]:
    """(commit, committer date, repository-relative path), oldest first, as `git log -- PATH` lists them.

    That is git's default history simplification: a merge is listed only when the file differs from
    every parent (a merge that took one side's file is not a version of its own), and when both sides
    changed it, both sides' commits are listed, interleaved by date. Renames are not followed.
    """
    clone = Path(clone)
    if not clone.is_dir():
        raise BacktestError(f"{clone}: not a directory")
    try:
        bare = _git(clone, "rev-parse", "--is-bare-repository").strip() == "true"
    except BacktestError:
        raise BacktestError(f"{clone}: not a git repository") from None
    rel = path
    if os.path.isabs(path):
        top = Path(_git(clone, "rev-parse", "--show-toplevel").strip()) if not bare else clone
        try:
            rel = os.path.relpath(os.path.realpath(path), os.path.realpath(top))
        except ValueError:
            rel = path
        if rel.startswith(".."):
            raise BacktestError(f"{path}: not inside the repository {top}")
    elif not bare:
        rel = os.path.normpath(_git(clone, "rev-parse", "--show-prefix").strip() + path)
    rel = rel.replace(os.sep, "/")
    out = _git(clone, "log", "--format=%H%x09%cI", "--reverse", "--", f":(top,literal){rel}")
    commits = [line.split("\t", 1) for line in out.splitlines() if "\t" in line]
    if not commits:
        raise BacktestError(f"{rel}: no commit in {clone} touches this path")
    return [(c, d, rel) for c, d in commits]


class CatFile:
    """One long-running `git cat-file --batch` (or `--batch-check`: ids and sizes, no bytes): every
    object is read through the same pipe."""

    def __init__(self, clone: str | os.PathLike[str], check: bool = False) -> None:
        self._check = check
        self._proc = subprocess.Popen(["git", "-C", str(clone), "cat-file", "--batch-check" if check else "--batch"],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)

    def read(self, commit: str, path: str) -> tuple[str, bytes] | None:
        """(blob id, bytes) of `path` at `commit` (no bytes with `check`), or None when the file is not
        there (deleted)."""
        return self._object(f"{commit}:{path}")

    def blob(self, oid: str) -> bytes:
        got = self._object(oid)
        if got is None:
            raise BacktestError(f"git cat-file: object {oid} is not a blob")
        return got[1]

    def _object(self, name: str) -> tuple[str, bytes] | None:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(f"{name}\n".encode())
        self._proc.stdin.flush()
        line = self._proc.stdout.readline().decode(errors="replace").rstrip("\n")
        if not line:
            raise BacktestError("git cat-file ended unexpectedly")
        header = line.split(" ")
        if line.endswith((" missing", " ambiguous")) or len(header) != 3 or not header[2].isdigit():
            return None  # not at that path in this commit: a commit that deleted the file
        oid, otype, size = header
        body = b""
        if not self._check:
            body = self._proc.stdout.read(int(size))
            self._proc.stdout.read(1)  # the newline after every object
        if otype != "blob":
            return None  # a directory at that path in this commit
        return oid, body

    def close(self) -> None:
        if self._proc.stdin:
            self._proc.stdin.close()
        if self._proc.stdout:
            self._proc.stdout.close()
        self._proc.wait()

    def __enter__(self) -> CatFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def git_versions(clone: str | os.PathLike[str], path: str) -> Iterator[Version]:
    """Every version of `path` that `git log` lists, oldest first, as blob ids: the bytes are read
    where each is parsed (read_body). Raises BacktestError at once for a clone or path that will not do."""
    history = git_history(clone, path)
    where = os.path.abspath(clone)

    def read() -> Iterator[Version]:
        with CatFile(clone, check=True) as cat:
            for commit, date, rel in history:
                got = cat.read(commit, rel)
                yield Version(commit, date, None, got[0] if got else None, where if got else None)

    return read()


_readers: dict[str, CatFile] = {}  # clone -> this process's `git cat-file --batch`


def read_body(v: Version) -> bytes | None:
    """The version's bytes (None: deleted), read from its clone by this process when not in hand."""
    if v.body is not None or v.blob is None or v.clone is None:
        return v.body
    cat = _readers.get(v.clone)
    if cat is None:
        if not _readers:  # a worker closes its readers (and reaps their processes) as it exits
            multiprocessing.util.Finalize(None, _close_readers, exitpriority=10)
        cat = _readers[v.clone] = CatFile(v.clone)
    return cat.blob(v.blob)


def _close_readers() -> None:
    while _readers:
        _readers.popitem()[1].close()


def name_date(name: str) -> str | None:
    """The calendar date a file name carries (`openapi-2026-05-13-5162af9.yaml` -> `2026-05-13`)."""
    for m in _NAME_DATE.finditer(name):
        try:
            return datetime(int(m.group(1)), int(m.group(2)), int(m.group(3))).date().isoformat()
        except ValueError:
            continue
    return None


def dir_versions(folder: str | os.PathLike[str]) -> Iterator[Version]:
    """The files of a folder as versions: those with a date in the name by that date (then name), oldest
    first; then those without, by name, dated by their modification time. Hidden files are skipped."""
    folder = Path(folder)
    if not folder.is_dir():
        raise BacktestError(f"{folder}: not a directory")
    files = [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")]
    if not files:
        raise BacktestError(f"{folder}: no files")

    def key(p: Path) -> tuple[int, str, str]:
        d = name_date(p.name)
        return (0, d, p.name) if d else (1, "", p.name)

    def read() -> Iterator[Version]:
        for p in sorted(files, key=key):
            date = name_date(p.name) or datetime.fromtimestamp(p.stat().st_mtime, timezone.utc).isoformat()
            yield Version(p.name, date, p.read_bytes())

    return read()


# ------------------------------------------------------------------ levels
Result = dict[str, str | None] | str  # target -> level, or the reason the version is unreadable


def levels(kind: str, body: bytes, url: str, targets: Sequence[str]) -> Result:
    """Each target's level in one version: confirmed if any confirmed signal, else mentioned if any,
    else None; or, when the document does not parse, the error as a string."""
    doc = Document(body=body, url=url, target=targets[0] if len(targets) == 1 else None)  # a `{target}` page's own
    try:
        found = get(kind).parse(doc, Matcher(targets))
    except ParseError as exc:
        return f"parse_error: {oneline(exc, 300)}"
    except Exception as exc:  # noqa: BLE001 - a parser bug is this version's parse_error, as in a probe
        return f"parse_error: parser failed: {exc.__class__.__name__}: {oneline(exc, 300)}"
    out: dict[str, str | None] = {t: None for t in targets}
    for s in found:
        if s.target in out and out[s.target] != Level.CONFIRMED.value:
            out[s.target] = s.level.value
    return out


def _version_levels(kind: str, v: Version, url: str, targets: Sequence[str]) -> Result:
    """levels() of one version, its bytes read here (in a worker: by the worker)."""
    body = read_body(v)
    return _absent(targets) if body is None else levels(kind, body, url, targets)


def _absent(targets: Sequence[str]) -> Result:
    return {t: None for t in targets}


def backtest(versions: Iterable[Version], kind: str, targets: Sequence[str], *, url: str = "",
             jobs: int = 1, window: int | None = None) -> Iterator[Event]:
    """Walk the versions oldest first; yield a Change whenever a target's level differs from the
    version before (all targets start at None), and an Unreadable for a version that does not parse.

    `jobs` > 1 parses in that many worker processes, at most `window` versions in flight, in order.
    A deleted file (body None) is an answer: the evidence is gone.
    """
    targets = [t.lower() for t in targets]
    if not targets:
        raise BacktestError("no target")
    get(kind)  # an unknown kind fails here, before any version is read
    current: dict[str, str | None] = {t: None for t in targets}
    for version, result in _results(versions, kind, targets, url, jobs, window or 2 * max(jobs, 1)):
        if isinstance(result, str):
            yield Unreadable(version.commit, version.date, result)
            continue
        for t in targets:
            if result[t] != current[t]:
                current[t] = result[t]
                yield Change(t, result[t], version.commit, version.date)


def _results(versions: Iterable[Version], kind: str, targets: list[str], url: str, jobs: int,
             window: int) -> Iterator[tuple[Version, Result]]:
    """(version, result) in order; identical bytes (the same blob, as when a change is reverted) are
    parsed once."""
    it = iter(versions)
    head = list(itertools.islice(it, _FEW))
    if jobs <= 1 or len(head) < _FEW:  # starting worker processes costs more than parsing a few versions
        try:
            yield from _ordered(itertools.chain(head, it),
                                lambda v: _version_levels(kind, v, url or v.commit, targets), targets, 1)
        finally:
            _close_readers()
        return
    versions = itertools.chain(head, it)
    with ProcessPoolExecutor(max_workers=jobs, mp_context=_workers_context(kind)) as pool:
        yield from _ordered(versions, lambda v: pool.submit(_version_levels, kind, v, url or v.commit, targets),
                            targets, window)


def _workers_context(kind: str) -> multiprocessing.context.BaseContext:
    """Workers that start from a clean process, never a fork of this one: a fork would inherit the
    pipe to `git cat-file`, which then never sees the end of its input and never exits."""
    methods = multiprocessing.get_all_start_methods()
    if "forkserver" in methods:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload([__name__, get(kind).parse.__module__])  # imported once, not per worker
        return ctx
    return multiprocessing.get_context("spawn")


def _ordered(versions: Iterable[Version], start: Callable[[Version], Future[Result] | Result],
             targets: list[str], window: int) -> Iterator[tuple[Version, Result]]:
    """Start each version's parse, hold at most `window` in flight, and hand the results back in order."""
    seen: dict[str, Future[Result] | Result] = {}  # blob id -> its result (small: a level per target)
    pending: deque[tuple[Version, Future[Result] | Result]] = deque()
    for v in versions:
        if v.deleted:
            item: Future[Result] | Result = _absent(targets)
        elif v.blob is not None and v.blob in seen:
            item = seen[v.blob]
        else:
            item = start(v)
            if v.blob is not None:
                seen[v.blob] = item
        # keep no bytes once the parse has them: memory stays at `window` versions whatever the history
        pending.append((Version(v.commit, v.date, None, v.blob), item))
        while len(pending) >= window:
            yield _done(pending.popleft())
    while pending:
        yield _done(pending.popleft())


def _done(entry: tuple[Version, Future[Result] | Result]) -> tuple[Version, Result]:
    v, item = entry
    return v, item.result() if isinstance(item, Future) else item


# ------------------------------------------------------------------ summaries
@dataclass(frozen=True)
class FirstSeen:
    target: str
    level: str
    commit: str | None
    date: str | None


def first_seen(events: Sequence[Event], targets: Sequence[str]) -> list[FirstSeen]:
    """Per target and level, the first version at which the target had that level (None: never)."""
    out = []
    for t in targets:
        for level in (Level.MENTIONED.value, Level.CONFIRMED.value):
            hit = next((e for e in events if isinstance(e, Change) and e.target == t and e.level == level), None)
            out.append(FirstSeen(t, level, hit.commit if hit else None, hit.date if hit else None))
    return out
