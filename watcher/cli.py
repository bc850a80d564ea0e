"""The `watcher` command: argument parsing and printing only; the work is in the modules it calls.

Exit codes (documented in the README):
  0  success; for `check`: the target is confirmed
  1  an unexpected error
  2  usage error (a bad option or argument)
  3  the configuration is invalid (the message names the file and the key)
  4  the database cannot be reached or is in a bad state
  5  `run --once`: some sources could not be read (their outcomes are recorded)
  6  another watcher process holds the lock this one needs
  10 `check`: mentioned in first-party prose only
  11 `check`: no first-party evidence (every first-party source answered)
  12 `check`: unknown (nothing found, but some first-party source could not be read)
"""

from __future__ import annotations

import gc
import json
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from functools import wraps
from typing import TYPE_CHECKING, Any, TypeVar

import click

from . import __version__
from . import sources as kinds_registry
from .durations import compact, offset
from .errors import BacktestError, WatcherError
from .text import oneline

if TYPE_CHECKING:
    from .config import Config
    from .store import Store

EXIT_UNREAD = 5
CHECK_EXIT = {"confirmed": 0, "mentioned": 10, "no_evidence": 11, "unknown": 12}
HISTORY_FIELDS = ("target", "model_id", "source", "url", "authority", "level", "evidence_type", "excerpt",
                  "location", "published", "first_seen", "last_seen", "vanished_at", "id")

PROGRESS_MIN = 5000  # `history` shows a progress bar on a terminal above this many rows

F = TypeVar("F", bound=Callable[..., Any])


def _errors(fn: F) -> F:
    """Turn watcher's own errors into one line on stderr and the documented exit code."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except WatcherError as exc:
            click.echo(f"watcher: {exc}", err=True)
            sys.exit(exc.exit_code)
        except Exception as exc:
            from .store import database_reason

            reason = database_reason(exc)
            if reason is None:
                raise
            from .errors import StoreError
            from .logs import redact

            click.echo(f"watcher: database: {redact(reason)}", err=True)
            sys.exit(StoreError.exit_code)

    return wrapper  # type: ignore[return-value]


class Ctx:
    def __init__(self, config_path: str | None, verbose: int) -> None:
        self.config_path = config_path
        self.verbose = verbose
        self._config: Config | None = None
        self._store: Store | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            from .config import load_config
            from .logs import add_secrets

            self._config = load_config(self.config_path)
            add_secrets(self._config.secrets)
        return self._config

    @property
    def store(self) -> Store:
        if self._store is None:
            from .store import Store

            self._store = Store(self.config.database_url)
        return self._store


pass_ctx = click.make_pass_decorator(Ctx)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--config", "-c", "config_path", envvar="WATCHER_CONFIG", metavar="PATH",
              help="Configuration file (default: config/watcher.toml; env WATCHER_CONFIG).")
@click.option("-v", "--verbose", count=True,
              help="More log output on stderr: -v watcher's debug lines, -vv also the libraries' (httpx, "
                   "apscheduler).")
@click.option("--log-format", "log_format", type=click.Choice(["text", "json"]), default="text",
              show_default=True, envvar="WATCHER_LOG_FORMAT",
              help="Log lines on stderr as text, or one JSON object per line (journald, Kubernetes; "
                   "env WATCHER_LOG_FORMAT).")
@click.version_option(__version__, prog_name="watcher")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, verbose: int, log_format: str) -> None:
    """Watch OpenAI's first-party surfaces for a model release; alert once per new piece of evidence."""
    from .logs import setup_logging

    setup_logging(verbose, log_format)
    ctx.obj = Ctx(config_path, verbose)


# ------------------------------------------------------------------ run
@cli.command()
@click.option("--once", is_flag=True, help="Run one probe cycle over every source, deliver due notices, exit.")
@click.option("--source", "-s", "names", multiple=True, metavar="NAME",
              help="Only these sources (repeatable). A templated source's base name (its url names {target}) "
                   "stands for all of its copies.")
@click.option("--metrics", "metrics_addr", metavar="ADDR",
              help="Daemon: serve Prometheus metrics on ADDR (9108, :9108 or 127.0.0.1:9108) at /metrics, "
                   "and liveness at /healthz. Needs the metrics extra.")
@pass_ctx
@_errors
def run(obj: Ctx, once: bool, names: tuple[str, ...], metrics_addr: str | None) -> None:
    """Probe the sources: one cycle with --once (for cron), or as a daemon on each source's schedule.

    --once exits 0 when every source answered and 5 when some could not be read.
    """
    from . import tls

    if any(s.url.startswith("https:") for s in obj.config.sources):
        tls.warm()  # the CA bundle loads while the database layer imports
    config = obj.config
    if names:
        names = _source_names(config, names)
    if metrics_addr and once:
        raise click.UsageError("--metrics is for the daemon; `run --once` exits before anyone scrapes it")
    if not once:
        from .daemon import run_daemon

        sys.exit(run_daemon(config, metrics_addr=metrics_addr))
    from .cycle import owner_id, run_cycle
    from .notify import deliver_due, make_hook
    from .store import locks

    locks.register(config.database_url, owner_id())
    obj.store.reap(locks.dead_checker(config.database_url))
    locks.sweep(config.database_url)
    report = run_cycle(config, obj.store, names=list(names) or None, hook=make_hook(config))
    _print_cycle(report)
    counts = deliver_due(config, obj.store, owner_id())
    if any(counts.values()):
        click.echo(f"notices: {counts['sent']} sent, {counts['retry']} to retry, {counts['failed']} failed")
    sys.exit(EXIT_UNREAD if report.unread else 0)


def _source_names(config, names: Sequence[str]) -> tuple[str, ...]:  # type: ignore[no-untyped-def]
    """Source names as given, a templated source's base name expanded to its copies (name/target)."""
    out: list[str] = []
    unknown: list[str] = []
    for n in names:
        found = [s.name for s in config.sources if s.name == n or s.name.split("/", 1)[0] == n and s.target]
        out += found
        if not found:
            unknown.append(n)
    if unknown:
        raise click.UsageError(f"no such source: {', '.join(unknown)}; configured: "
                               f"{', '.join(dict.fromkeys(s.name.split('/', 1)[0] for s in config.sources))}")
    return tuple(dict.fromkeys(out))


def _print_cycle(report) -> None:  # type: ignore[no-untyped-def]
    rows = []
    for s in report.sources:
        outcome = s.outcome.value if s.outcome else "skipped"
        change = f"+{s.added}" if s.added else ""
        change += f" -{s.vanished}" if s.vanished else ""
        rows.append([s.name, outcome, s.status or "", f"{s.live} {change}".strip(), f"{s.duration_ms} ms",
                     s.error or ""])
    click.echo(_table(rows, ["source", "outcome", "http", "signals", "time", "note"]))
    click.echo("")
    for v in report.verdicts:
        click.echo(v.summary())


# ------------------------------------------------------------------ status / sources
@cli.command()
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@pass_ctx
@_errors
def status(obj: Ctx, fmt: str) -> None:
    """Per target: the verdict; per source: its last outcome (from the database, no probe)."""
    from .clock import iso, local
    from .cycle import verdicts
    from .evidence import Outcome

    config, store = obj.config, obj.store
    vs = verdicts(config, store)
    states = store.states([s.name for s in config.sources])
    if fmt == "json":
        out = {"targets": [dict(target=v.target, verdict=v.verdict.value, sources=list(v.sources),
                                summary=v.summary(), unread=list(v.unread)) for v in vs],
               "sources": [dict(name=s.name, kind=s.kind, authority=s.authority.value,
                                outcome=(states[s.name].last_outcome if s.name in states else None) or
                                ("not_configured" if not s.configured else None),
                                last_probe_at=iso(states[s.name].last_probe_at) if s.name in states else None,
                                failure_streak=states[s.name].failure_streak if s.name in states else 0)
                           for s in config.sources],
               "failed_notices": [dict(id=r["id"], channel=r["channel"], kind=r["kind"], target=r["target"],
                                       error=r["last_error"]) for r in store.notices(state="failed", limit=50)]}
        click.echo(json.dumps(out, indent=2))
        return
    click.echo(_table([[v.target, v.verdict.value, ", ".join(v.sources) or "-"] for v in vs],
                      ["target", "verdict", "because of"]))
    click.echo("")
    rows = []
    for s in config.sources:
        st = states.get(s.name)
        outcome = st.last_outcome if st and st.last_outcome else "not probed yet"
        if not s.configured:
            outcome = "not_configured"
        failed = bool(st and st.last_outcome and Outcome(st.last_outcome).failed)
        note = (f"set {', '.join(s.missing_env)}" if not s.configured else (st.last_error or "") if failed else "")
        rows.append([s.name, s.authority.value, outcome, local(st.last_probe_at) if st else "-",
                     st.failure_streak if st and st.failure_streak else "", note])
    click.echo(_table(rows, ["source", "authority", "last outcome", "last probe", "fails", "note"]))
    health = store.channel_health()
    if config.channels or health:
        click.echo("")
        crow = []
        for c in config.channels:
            h = health.get(c.name, {})
            # failing: its latest attempt failed (a later success clears it; failed notices are listed below)
            state = "not configured: set " + ", ".join(c.missing_env) if not c.configured else (
                "failing" if h.get("last_error") else "ok")
            crow.append([c.name, c.type, state, h.get("sent", 0), h.get("pending", 0), h.get("failed", 0),
                         oneline(h.get("last_error") or "", 60)])
        click.echo(_table(crow, ["channel", "type", "state", "sent", "pending", "failed", "last error"]))
    failed = store.notices(state="failed", limit=50)
    if failed:
        click.echo("")
        click.echo(f"{len(failed)} failed notice(s), not delivered: `watcher alerts retry ID` (or --all-failed) "
                   "re-queues, `watcher alerts dismiss ID` gives up")
        click.echo(_table([[r["id"], r["channel"], r["kind"], r["target"] or "", oneline(r["last_error"] or "", 70)]
                           for r in failed], ["id", "channel", "kind", "target", "error"]))
    click.echo("")
    for v in vs:
        click.echo(v.summary())


# ------------------------------------------------------------------ alerts / notify
@cli.group(invoke_without_command=True)
@click.option("--state", type=click.Choice(["pending", "sent", "failed", "dismissed"]),
              help="Only notices in this state.")
@click.option("--channel", help="Only this channel.")
@click.option("--limit", default=200, show_default=True, help="At most this many, newest first.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.pass_context
def alerts(ctx: click.Context, state: str | None, channel: str | None, limit: int, fmt: str) -> None:
    """The notices and their delivery state (pending, sent, failed), newest first.

    `alerts retry` re-queues failed notices; `alerts dismiss` gives up on them."""
    if ctx.invoked_subcommand is None:
        _list_alerts(ctx.obj, state, channel, limit, fmt)


@alerts.command("retry")
@click.argument("ids", nargs=-1, type=int)
@click.option("--channel", help="Every failed notice of this channel.")
@click.option("--all-failed", is_flag=True, help="Every failed notice.")
@pass_ctx
@_errors
def alerts_retry(obj: Ctx, ids: tuple[int, ...], channel: str | None, all_failed: bool) -> None:
    """Re-queue failed notices (by ID, --channel or --all-failed); the next run or daemon pass sends them."""
    if not (ids or channel or all_failed):
        raise click.UsageError("name notice IDs, or give --channel NAME or --all-failed")
    done = obj.store.requeue_notices(ids=ids, channel=channel, all_failed=all_failed)
    click.echo(f"re-queued {len(done)} failed notice(s)" + (f": {', '.join(map(str, done))}" if done else ""))
    if ids and set(ids) - set(done):
        click.echo(f"not failed (or no such notice): {', '.join(map(str, sorted(set(ids) - set(done))))}", err=True)
        sys.exit(1)


@alerts.command("dismiss")
@click.argument("ids", nargs=-1, type=int, required=True)
@pass_ctx
@_errors
def alerts_dismiss(obj: Ctx, ids: tuple[int, ...]) -> None:
    """Give up on failed notices: `status` stops showing them (they stay in `alerts --state dismissed`)."""
    done = obj.store.dismiss_notices(ids)
    click.echo(f"dismissed {len(done)} failed notice(s)" + (f": {', '.join(map(str, done))}" if done else ""))
    if set(ids) - set(done):
        click.echo(f"not failed (or no such notice): {', '.join(map(str, sorted(set(ids) - set(done))))}", err=True)
        sys.exit(1)


@_errors
def _list_alerts(obj: Ctx, state: str | None, channel: str | None, limit: int, fmt: str) -> None:
    from .clock import iso, local

    rows = obj.store.notices(state=state, channel=channel, limit=limit)
    if fmt == "json":
        click.echo(json.dumps([{k: (iso(v) if isinstance(v, datetime) else _payload(v) if k == "payload" else v)
                                for k, v in r.items() if k not in ("claimed_by", "claimed_until", "claim_token")}
                               for r in rows], indent=2, ensure_ascii=False))
        return
    click.echo(_table([[r["id"], local(r["created_at"]), r["channel"], r["kind"], r["target"] or "", r["state"],
                        r["attempts"], local(r["sent_at"]) if r["sent_at"] else "",
                        oneline(r["last_error"] or "", 50)] for r in rows],
                      ["id", "due since", "channel", "kind", "target", "state", "tries", "sent", "last error"]))


@cli.group()
def notify() -> None:
    """Alert channels."""


@notify.command("test")
@click.option("--channel", "names", multiple=True, metavar="NAME", help="Only this channel (repeatable).")
@pass_ctx
@_errors
def notify_test(obj: Ctx, names: tuple[str, ...]) -> None:
    """Send a test notice through the real path (outbox, template, channel) to each channel."""
    from .clock import utcnow
    from .cycle import owner_id
    from .decide import Notice
    from .notify import deliver_due, enqueue

    config, store = obj.config, obj.store
    chans = [c for c in config.channels if not names or c.name in names]
    if names and len(chans) != len(set(names)):
        raise click.UsageError(f"no such channel: {', '.join(sorted(set(names) - {c.name for c in chans}))}")
    if not chans:
        raise click.UsageError("no [[channels]] in the configuration")
    now = utcnow()
    unset = False
    for c in chans:
        if not c.configured:
            click.echo(f"{c.name}: not configured (set {', '.join(c.missing_env)})")
            unset = True
            continue
        key = f"test:{c.name}:{now.isoformat()}"
        with store.write() as conn:
            enqueue(conn, [c], [Notice("test", key, None, {"kind": "test", "channel": c.name})], now)
    counts = deliver_due(config, store, owner_id())
    rows = [r for r in store.notices(limit=len(chans) * 4) if r["kind"] == "test"]
    failed = unset
    for c in chans:
        r = next((r for r in rows if r["channel"] == c.name and r["key"].startswith(f"test:{c.name}:")), None)
        if r is None:
            continue
        click.echo(f"{c.name}: {r['state']}" + (f" ({r['last_error']})" if r["last_error"] else ""))
        failed = failed or r["state"] != "sent"
    del counts
    sys.exit(1 if failed else 0)


@cli.command()
@click.option("--check", is_flag=True,
              help="Probe each source once (nothing is stored) and show its HTTP outcome and whether its document "
                   f"still has the structure its kind reads; exit {EXIT_UNREAD} when one cannot be read or lost it.")
@click.option("--source", "-s", "names", multiple=True, metavar="NAME", help="With --check: only these sources.")
@pass_ctx
@_errors
def sources(obj: Ctx, check: bool, names: tuple[str, ...]) -> None:
    """The configured sources: kind, authority, interval and URL (secrets shown as ${VAR})."""
    if check:
        _check_sources(obj, names)
        return
    rows = []
    for s in obj.config.sources:
        rows.append([s.name, s.kind, s.authority.value, compact(s.every),
                     "yes" if s.configured else f"no: set {', '.join(s.missing_env)}", s.url_display])
    click.echo(_table(rows, ["source", "kind", "authority", "every", "configured", "url"]))


def _check_sources(obj: Ctx, names: tuple[str, ...]) -> None:
    from .fetch import Fetcher
    from .preflight import check_sources

    rows, failed = [], 0
    with Fetcher() as fetcher:
        for c in check_sources(obj.config, fetcher, names):
            failed += not c.ok
            http = f"{c.outcome.value} {c.status}" if c.status else c.outcome.value
            verdict = "skipped" if c.skipped else "ok" if c.ok else "FAIL"
            found = ", ".join([f"confirmed: {' '.join(c.confirmed)}"] * bool(c.confirmed)
                              + [f"mentioned: {' '.join(c.mentioned)}"] * bool(c.mentioned))
            rows.append([c.source, c.kind, verdict, http, oneline(c.anchor, 70), found])
    click.echo(_table(rows, ["source", "kind", "check", "http", "anchor", "today"]))
    if failed:
        click.echo(f"watcher: {failed} source(s) cannot be read or lost their structure", err=True)
        sys.exit(EXIT_UNREAD)


@cli.command()
@click.option("--format", "fmt", type=click.Choice(["text", "markdown"]), default="text", show_default=True,
              help="markdown: the table README.md carries.")
def kinds(fmt: str) -> None:
    """The source kinds and the evidence each yields."""
    if fmt == "markdown":
        click.echo(kinds_registry.table())
        return
    for name in kinds_registry.names():
        kind = kinds_registry.get(name)
        types = ", ".join(f"{t.value} ({t.level.value})" for t in kind.evidence_types)
        click.echo(f"{name}\n    {kind.description}\n    evidence: {types}\n")


# ------------------------------------------------------------------ history / check
@cli.command()
@click.option("--target", "-t", help="Only this target.")
@click.option("--source", "-s", help="Only this source.")
@click.option("--level", type=click.Choice(["confirmed", "mentioned"]))
@click.option("--authority", type=click.Choice(["first_party", "consumer", "third_party"]))
@click.option("--type", "evidence_type", metavar="EVIDENCE_TYPE", help="Only this evidence type.")
@click.option("--since", metavar="WHEN",
              help="First seen at or after WHEN: 7d or 12h ago, or a date/time (2026-05-01, local zone).")
@click.option("--until", metavar="WHEN", help="First seen before WHEN (exclusive): 7d, 12h, or a date/time.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "jsonl", "csv"]), default="table",
              show_default=True)
@click.option("--progress/--no-progress", default=None,
              help=f"A progress bar on stderr. Default: only when stdout is a terminal and there are more than "
                   f"{PROGRESS_MIN:,} rows.")
@pass_ctx
@_errors
def history(obj: Ctx, target: str | None, source: str | None, level: str | None, authority: str | None,
            evidence_type: str | None, since: str | None, until: str | None, fmt: str,
            progress: bool | None) -> None:
    """The evidence history: every signal with its source, oldest first. Times are stored in UTC
    and shown in the local zone in the table; JSON and CSV carry ISO 8601 UTC.

    --since 7d: first seen in the last 7 days; --until 2026-05-01: first seen before midnight, local
    time, that day. `watcher explain ID` shows one signal's whole provenance.
    """
    from .clock import local
    from .evidence import EvidenceType
    from .store import HistoryFilter

    if source is not None:
        _one_of(source, [s.name for s in obj.config.sources] + list(obj.store.states()), "--source")
    if evidence_type is not None:
        _one_of(evidence_type, [t.value for t in EvidenceType], "--type")
    if target is not None:
        _one_of(target.lower(), _target_names(obj), "--target")
    f = HistoryFilter(target=target, source=source, level=level, authority=authority, evidence_type=evidence_type,
                      since=_when(since, "--since"), until=_when(until, "--until"))
    show = progress if progress is not None else sys.stdout.isatty()
    total = obj.store.count_signals(f) if show else 0
    if progress is None and total <= PROGRESS_MIN:
        show = False
    found = obj.store.iter_signals(f) if fmt == "table" else obj.store.iter_signal_values(f, HISTORY_FIELDS)
    rows: list[Any]  # signal rows (the table reads them by column name)
    if show:
        with click.progressbar(found, length=total, label="reading signals", file=sys.stderr) as bar:
            if fmt != "table":
                _stream_history(bar, fmt)
                return
            rows = list(bar)
    elif fmt != "table":
        _stream_history(found, fmt)
        return
    else:
        rows = list(found)
    click.echo(_table([[r["id"], local(r["first_seen"]), r["target"], r["level"], r["evidence_type"],
                        r["source"], r["authority"], "vanished " + local(r["vanished_at"]) if r["vanished_at"]
                        else "live", oneline(r["excerpt"], 60)] for r in rows],
                      ["id", "first seen", "target", "level", "type", "source", "authority", "now", "excerpt"]))


def _json_encoder() -> Callable[[Any], str]:
    """Compact JSON (ensure_ascii off) from one C encoder made once: JSONEncoder.encode makes a new one
    for every call, a fifth of the time of a 100k-row export."""
    from json import encoder as std

    make = getattr(std, "c_make_encoder", None)
    if make is None:  # an interpreter without the C speedups
        return json.JSONEncoder(ensure_ascii=False).encode
    one = make({}, json.JSONEncoder().default, std.encode_basestring, None, ": ", ", ", False, False, True)
    return lambda obj: "".join(one(obj, 0))


def _stream_history(rows: Any, fmt: str) -> None:
    """Write history rows (tuples in HISTORY_FIELDS order, times already ISO strings) as they come
    from the database: memory stays flat whatever the count. JSON is an array with one compact object
    per line (the C encoder; `indent` would force the pure-Python one)."""
    encode = _json_encoder()
    out = sys.stdout
    fields = HISTORY_FIELDS
    if fmt == "csv":
        import csv  # here: every other command would pay for its import

        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(fields)
        writer.writerows(rows)
    elif fmt == "jsonl":
        out.writelines(encode(dict(zip(fields, r, strict=True))) + "\n" for r in rows)
    else:
        first = True
        for r in rows:
            out.write(("[\n" if first else ",\n") + encode(dict(zip(fields, r, strict=True))))
            first = False
        out.write("[]\n" if first else "\n]\n")
    out.flush()


@cli.command()
@click.argument("target")
@pass_ctx
@_errors
def check(obj: Ctx, target: str) -> None:
    """TARGET's verdict in one line, from the database (no probe); gate a deploy on the exit code:
    0 confirmed, 10 mentioned, 11 no_evidence, 12 unknown."""
    from .cycle import verdicts

    target = target.lower()
    for v in verdicts(obj.config, obj.store):
        if v.target == target:
            click.echo(f"{v.verdict.value}: {v.summary()}")
            sys.exit(CHECK_EXIT[v.verdict.value])
    raise click.UsageError(f"{target!r} is not a configured target")


# ------------------------------------------------------------------ scan
@cli.command()
@click.argument("file", metavar="FILE|URL")
@click.option("--kind", "-k", type=click.Choice(kinds_registry.names()),
              help="The parser to use (required, unless --source gives it).")
@click.option("--source", "-s", "source_name", metavar="NAME",
              help="With a URL: fetch it with this configured source's settings (kind, headers, timeouts, size "
                   "cap, allowed hosts). Its headers go only to its own host.")
@click.option("--target", "-t", "targets", multiple=True, metavar="ID",
              help="Model id to look for (repeatable; default gpt-image-2).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.pass_context
def scan(ctx: click.Context, file: str, kind: str | None, source_name: str | None, targets: tuple[str, ...],
         fmt: str) -> None:
    """Parse a document and print its signals; store nothing. FILE is read from disk ('-': stdin), no
    network; an http(s) URL is fetched once, as a probe would fetch it (like urlwatch's --test-filter).
    Exits 5 when the URL cannot be read or the document does not parse."""
    from .errors import ParseError
    from .sources import Document
    from .targets import Matcher

    if kind is None and not source_name:
        raise click.UsageError("give --kind (or, with a URL, --source NAME)")
    if file.startswith(("http://", "https://")):
        body, kind = _fetch_once(ctx, file, kind, source_name)
    else:
        if source_name:
            raise click.UsageError("--source goes with a URL; a file is parsed with --kind")
        file = str(click.Path(exists=True, dir_okay=False, allow_dash=True).convert(file, None, ctx))
        body = sys.stdin.buffer.read() if file == "-" else open(file, "rb").read()
    if kind is None:
        raise click.UsageError("give --kind (or, with a URL, --source NAME)")
    ids = [t.lower() for t in targets] or ["gpt-image-2"]
    # One target is the document's own, as for a `{target}` source (a model page is about it).
    doc = Document(body=body, url=file, target=ids[0] if len(ids) == 1 else None)
    try:
        found = kinds_registry.get(kind).parse(doc, Matcher(ids))
    except ParseError as exc:
        click.echo(f"watcher: {file}: parse_error: {exc}", err=True)
        sys.exit(EXIT_UNREAD)
    if fmt == "json":
        click.echo(json.dumps([dict(target=s.target, model_id=s.model_id, source=file, url=file,
                                    authority=None, level=s.level.value, evidence_type=s.evidence_type.value,
                                    excerpt=s.excerpt, location=s.location, published=s.published)
                               for s in found], indent=2, ensure_ascii=False))
        return
    click.echo(_table([[s.target, s.model_id, s.level.value, s.evidence_type.value, oneline(s.location, 50),
                        oneline(s.excerpt, 60)] for s in found],
                      ["target", "id", "level", "type", "location", "excerpt"]))


def _fetch_once(ctx: click.Context, url: str, kind: str | None, source_name: str | None
                ) -> tuple[bytes, str | None]:
    """One probe of URL, with a configured source's settings or the defaults. Exits 5 if it is not read."""
    from dataclasses import replace as with_
    from urllib.parse import urlsplit

    from .config import SourceConfig
    from .evidence import Authority, Outcome
    from .fetch import Fetcher

    if source_name:
        obj = ctx.find_object(Ctx)
        assert obj is not None
        (name,) = _source_names(obj.config, [source_name])[:1]
        src = obj.config.source(name)
        host = (urlsplit(url).hostname or "").lower()
        headers = src.headers if host == src.host or host in src.allowed_hosts else {}
        if src.headers and not headers:
            click.echo(f"watcher: {host} is not {src.name}'s host: its headers are not sent", err=True)
        src = with_(src, url=url, url_display=url, headers=headers, target=None)
        kind = kind or src.kind
    else:
        src = SourceConfig(name="scan", kind=kind or "", url=url, url_display=url, authority=Authority.FIRST_PARTY)
    with Fetcher() as fetcher:
        result = fetcher.fetch(src)
    if result.outcome is not Outcome.OK or result.body is None:
        click.echo(f"watcher: {url}: {result.outcome.value}" + (f": {result.error}" if result.error else ""),
                   err=True)
        sys.exit(EXIT_UNREAD)
    click.echo(f"fetched {url}: HTTP {result.status}, {result.bytes_read:,} bytes, {result.duration_ms} ms; "
               "nothing stored", err=True)
    return result.body, kind


# ------------------------------------------------------------------ db
@cli.group()
def db() -> None:
    """Database schema: upgrade, downgrade, current revision."""


@db.command("upgrade")
@click.argument("revision", default="head")
@pass_ctx
@_errors
def db_upgrade(obj: Ctx, revision: str) -> None:
    """Apply migrations up to REVISION (default: head)."""
    from .store import Store
    from .store.migrate import current, upgrade

    store = Store(obj.config.database_url, migrate=False)
    with _revision_errors(revision):
        upgrade(store.engine, revision)
    click.echo(f"database at revision {current(store.engine)}")


@db.command("downgrade")
@click.argument("revision")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation (asked only on a terminal).")
@pass_ctx
@_errors
def db_downgrade(obj: Ctx, revision: str, yes: bool) -> None:
    """Revert migrations down to REVISION ('base' removes every table). Asks first on a terminal."""
    from .store import Store
    from .store.migrate import current, downgrade

    store = Store(obj.config.database_url, migrate=False)
    now = current(store.engine) or "base"
    if not yes and sys.stdin.isatty():
        click.confirm(f"Downgrade the database from {now} to {revision}? Tables and data of the newer "
                      "revisions are dropped", abort=True, err=True)
    with _revision_errors(revision):
        downgrade(store.engine, revision)
    click.echo(f"database at revision {current(store.engine) or 'base'}")


@contextmanager
def _revision_errors(revision: str) -> Iterator[None]:
    """An unknown or ambiguous revision as a usage error naming the known ones."""
    from .store.migrate import RevisionError, known_revisions, revision_errors

    try:
        with revision_errors():
            yield
    except RevisionError as exc:
        revs = known_revisions()
        raise click.BadParameter(f"{revision!r}: {exc}; known revisions: base, {', '.join(revs)}, head",
                                 param_hint="REVISION") from None


@db.command("current")
@pass_ctx
@_errors
def db_current(obj: Ctx) -> None:
    """Print the database's schema revision."""
    from .store import Store

    click.echo(Store(obj.config.database_url, migrate=False).schema_revision() or "base (empty)")


# ------------------------------------------------------------------ backtest / demo
@cli.command()
@click.option("--git", "clone", type=click.Path(file_okay=False), metavar="CLONE",
              help="A local git clone; walk the history of --path in it.")
@click.option("--path", "path", metavar="FILE", help="With --git: the file's path inside the clone.")
@click.option("--dir", "folder", type=click.Path(file_okay=False), metavar="DIR",
              help="Instead of git: a folder of saved versions (dated names such as openapi-2026-05-13-x.yaml).")
@click.option("--kind", "-k", required=True, type=click.Choice(kinds_registry.names()))
@click.option("--target", "-t", "targets", multiple=True, metavar="ID",
              help="Model id to follow (repeatable; default gpt-image-2).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None, metavar="N",
              help="Parse in N processes (default: one per CPU, at most 8).")
@_errors
def backtest(clone: str | None, path: str | None, folder: str | None, kind: str, targets: tuple[str, ...],
             fmt: str, jobs: int | None) -> None:
    """When would the watcher have fired? Run a parser over every past version of one document.

    With --git CLONE --path FILE the versions are the commits `git log -- FILE` lists, oldest first:
    git's default history simplification, so a merge commit counts only when its file differs from
    every parent's (a merge that took one side's file is not a version), and when both sides changed
    the file, both sides' commits appear, ordered by date. Renames are not followed. A commit that
    deletes the file makes every level null. With --dir DIR, each file is a version: those with a
    date in the name (openapi-2026-05-13-x.yaml) by that date, then the others by name, dated by
    their modification time.

    Prints, per target, the first commit at which each level (mentioned, confirmed) appeared and every
    later commit where the level changed (null: the evidence vanished). --format json prints a list,
    oldest first, of {target, level, commit, date}. A version that does not parse changes no level:
    it is a line in the table, and goes to stderr with --format json. No network, no database.
    Exits 0, or 2 for a usage error (not a git repository, a path no commit touches).
    """
    import os

    from . import backtest as bt

    if bool(clone) == bool(folder):
        raise click.UsageError("give either --git CLONE --path FILE, or --dir DIR")
    if clone and not path:
        raise click.UsageError("--git needs --path FILE (the file's path inside the clone)")
    if folder and path:
        raise click.UsageError("--path goes with --git, not with --dir")
    ids = list(dict.fromkeys(t.lower() for t in targets)) or ["gpt-image-2"]
    try:
        versions = bt.git_versions(clone, path) if clone else bt.dir_versions(folder)  # type: ignore[arg-type]
    except BacktestError as exc:
        raise click.UsageError(str(exc)) from None
    count = [0]

    def counted(vs: Iterable[bt.Version]) -> Iterator[bt.Version]:
        for v in vs:
            count[0] += 1
            yield v

    events = []
    for e in bt.backtest(counted(versions), kind, ids, url=path or "", jobs=jobs or min(os.cpu_count() or 1, 8)):
        events.append(e)
        if isinstance(e, bt.Unreadable) and fmt == "json":
            click.echo(f"watcher: backtest: {e.commit} ({e.date}): unreadable, level unchanged: {e.error}",
                       err=True)
    if fmt == "json":
        click.echo(json.dumps([e.as_dict() for e in events if isinstance(e, bt.Change)], indent=2))
        return
    def short(commit: str) -> str:
        return commit[:12] if clone else commit

    rows = [[e.date, short(e.commit), e.target, e.level or "null (vanished)", ""] if isinstance(e, bt.Change)
            else [e.date, short(e.commit), "-", "unreadable", oneline(e.error, 70)] for e in events]
    click.echo(_table(rows, ["date", "commit", "target", "level", "note"]))
    click.echo("")
    for f in bt.first_seen(events, ids):
        when = f"{f.date} ({short(f.commit)})" if f.commit else "never"
        click.echo(f"{f.target}: first {f.level}: {when}")
    click.echo(f"{count[0]} versions read ({path or folder}, kind {kind})")


@cli.command()
@_errors
def demo() -> None:
    """Watch a release happen, offline: no network, no API key, no configuration, nothing left behind.

    Serves a small bundle of OpenAI's real first-party documents from 127.0.0.1 in the order they
    were published, runs the real probe cycle over them with a throw-away database, and prints the
    release alert as Slack and e-mail would show it (nothing is sent) and the evidence history.
    """
    import logging

    from .demo import run_demo

    obj = click.get_current_context().find_object(Ctx)
    if not (obj and obj.verbose):  # the demo tells its own story; the log lines would repeat it
        logging.getLogger("watcher").setLevel(logging.WARNING)
    run_demo(click.echo)


# ------------------------------------------------------------------ explain / timeline / report / feed / prune
@cli.command()
@click.argument("signal_id", type=int)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--context", "around", type=click.IntRange(0, 20), default=2, show_default=True,
              help="Lines shown before and after the evidence.")
@click.option("--diff-lines", type=click.IntRange(10, 10_000), default=60, show_default=True,
              help="At most this many diff lines.")
@pass_ctx
@_errors
def explain(obj: Ctx, signal_id: int, fmt: str, around: int, diff_lines: int) -> None:
    """One signal's whole provenance (SIGNAL_ID from `watcher history`): source, URL, authority, level,
    evidence type, the probe run that first read it (time, HTTP status, outcome, bytes, duration), the
    stored document's content hash, the excerpt in context, and the diff from the source's previous
    document, limited to the hunks that name the model id. Times: local zone (text), UTC (JSON)."""
    from .views.explain import explain as explain_signal

    e = explain_signal(obj.store, signal_id, context_lines=around, max_diff_lines=diff_lines)
    if e is None:
        raise click.BadParameter(f"no signal with id {signal_id} (see `watcher history`)", param_hint="SIGNAL_ID")
    if fmt == "json":
        click.echo(json.dumps(e.as_dict(), indent=2, ensure_ascii=False))
        return
    _print_explanation(e)


def _print_explanation(e) -> None:  # type: ignore[no-untyped-def]
    from .clock import local

    now = f"vanished {local(e.vanished_at)}" if e.vanished_at else "live"
    click.echo(f"signal {e.id}: {e.target} {e.level} ({e.evidence_type}) at {e.source}")
    for k, v in [("source", f"{e.source} ({e.authority})"), ("url", e.url), ("model id", e.model_id),
                 ("target", e.target), ("level", e.level), ("type", e.evidence_type), ("location", e.location),
                 ("excerpt", e.excerpt), ("published", e.published or "-"), ("first seen", local(e.first_seen)),
                 ("last seen", local(e.last_seen)), ("now", now)]:
        click.echo(f"  {k:<11} {v}")
    if e.first_run:
        r = e.first_run
        click.echo(f"\nfirst probe run #{r.id}")
        click.echo(f"  {'time':<11} {local(r.started_at)}")
        click.echo(f"  {'outcome':<11} {r.outcome}, HTTP {r.http_status or '-'}, "
                   f"{'-' if r.bytes is None else f'{r.bytes:,} bytes'}, {r.duration_ms} ms")
    if e.snapshot:
        sn = e.snapshot
        click.echo(f"\nsnapshot #{sn.id}")
        click.echo(f"  {'sha256':<11} {sn.content_hash}")
        click.echo(f"  {'size':<11} {sn.size:,} bytes{', ' + sn.content_type if sn.content_type else ''}")
    if e.snapshot_note:
        click.echo(f"  {'note':<11} {e.snapshot_note}")
    click.echo("")
    if e.context:
        c = e.context
        click.echo(f"in context (found by the {c.found_by}; line {c.line} of {c.total_lines}):")
        width = len(str(c.lines[-1].number))
        for line in c.lines:
            click.echo(f"{'>' if line.hit else ' '} {line.number:>{width}} | {line.text}")
    else:
        click.echo(f"in context: {e.context_note}")
    click.echo("")
    if e.diff:
        d = e.diff
        what = "the hunks that name the model id" if d.names_model_id else "no changed line names the model id"
        click.echo(f"diff from the previous document (read {local(d.base_run.started_at)} by run #{d.base_run.id}); "
                   f"{d.hunks_shown} of {d.hunks_total} hunks, {what}:")
        for line in d.lines:
            click.echo(line)
        if d.lines_omitted:
            click.echo(f"({d.lines_omitted:,} more diff lines not shown)")
    else:
        click.echo(f"diff: {e.diff_note}")


@cli.command()
@click.argument("signal_id", type=int)
@click.option("--context", "around", type=click.IntRange(0, 10_000), default=None, metavar="N",
              help="Only the N lines before and after the evidence, numbered, the evidence marked '>'.")
@click.option("--raw", is_flag=True, help="The stored bytes as they came (default: the text, decoded as the "
                                          "parsers decode it).")
@pass_ctx
@_errors
def show(obj: Ctx, signal_id: int, around: int | None, raw: bool) -> None:
    """Print the stored document behind a signal (SIGNAL_ID from `watcher history`): what the source
    answered when the signal was first found, as stored. What it is (source, URL, snapshot, run) goes
    to stderr, so stdout is the document alone: `watcher show 12 > spec.yaml`. --context N narrows it
    to the lines around the evidence."""
    from .clock import local
    from .views.explain import stored_document

    if raw and around is not None:
        raise click.UsageError("--raw prints the whole stored document; leave out --context")
    doc = stored_document(obj.store, signal_id, context_lines=around)
    if doc is None:
        raise click.BadParameter(f"no signal with id {signal_id} (see `watcher history`)", param_hint="SIGNAL_ID")
    if doc.body is None or doc.snapshot is None:
        raise WatcherError(f"signal {signal_id}: no stored document: {doc.note or 'none was kept'}")
    sn = doc.snapshot
    run = f", read by run #{doc.first_run.id} at {local(doc.first_run.started_at)}" if doc.first_run else ""
    click.echo(f"signal {signal_id} ({doc.model_id} at {doc.source}): {doc.url}\nsnapshot #{sn.id}, sha256 "
               f"{sn.content_hash}, {sn.size:,} bytes{', ' + sn.content_type if sn.content_type else ''}{run}",
               err=True)
    if raw:
        sys.stdout.buffer.write(doc.body)
        return
    if around is None:
        click.echo(doc.text or "", nl=not (doc.text or "").endswith("\n"))
        return
    if doc.context is None:
        raise WatcherError(f"signal {signal_id}: neither its excerpt nor its model id is in the stored text; "
                           "leave out --context to see the whole document")
    width = len(str(doc.context.lines[-1].number))
    for line in doc.context.lines:
        click.echo(f"{'>' if line.hit else ' '} {line.number:>{width}} | {line.text}")


@cli.command()
@click.argument("target")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@pass_ctx
@_errors
def timeline(obj: Ctx, target: str, fmt: str) -> None:
    """When each source first showed TARGET at each level (mentioned, confirmed), oldest first, with
    its authority: since when is it public, and who says so. Table times are local; JSON is UTC."""
    from .clock import local
    from .views.timeline import timeline as target_timeline

    tl = target_timeline(obj.store, target)
    if fmt == "json":
        click.echo(json.dumps(tl.as_dict(), indent=2, ensure_ascii=False))
        return
    if not tl.entries:
        click.echo(f"{tl.target}: no source has shown it")
        return
    start = tl.entries[0].first_seen
    click.echo(_table([[local(e.first_seen), offset(e.first_seen - start) if i else "first", e.source,
                        e.authority, e.level, e.evidence_type, e.model_id,
                        "yes" if e.live else f"no, gone since {local(e.vanished_at)}", e.signal_id]
                       for i, e in enumerate(tl.entries)],
                      ["first seen", "after", "source", "authority", "level", "type", "model id", "shows it now",
                       "signal"]))
    click.echo("")
    pub, conf = tl.first("mentioned"), tl.first("confirmed")
    if pub is None:
        click.echo(f"{tl.target}: no first-party source has shown it")
        return
    click.echo(f"{tl.target}: public since {local(pub.first_seen)}, first shown by {pub.source} "
               f"({pub.level}, {pub.evidence_type})")
    if conf is not None:
        click.echo(f"{tl.target}: confirmed since {local(conf.first_seen)} by {conf.source} ({conf.evidence_type})")


@cli.command()
@click.option("--out", "-o", type=click.Path(dir_okay=False, writable=True, allow_dash=True), default="report.html",
              show_default=True, help="The HTML file to write ('-': stdout).")
@pass_ctx
@_errors
def report(obj: Ctx, out: str) -> None:
    """Write one static HTML page: each target's verdict and the evidence behind it, a timeline across
    sources, and the sources' health. No script, no external file: open it anywhere, mail it, archive it."""
    from .views.report import render_report
    from .views.report import report as report_data

    html = render_report(report_data(obj.config, obj.store), obj.config.templates_dir)
    _write(out, html.encode())


@cli.command()
@click.option("--out", "-o", type=click.Path(dir_okay=False, writable=True, allow_dash=True),
              default="evidence.atom", show_default=True, help="The Atom file to write ('-': stdout).")
@click.option("--target", "-t", help="Only this target.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True,
              help="At most this many signals, and this many notices, newest first.")
@pass_ctx
@_errors
def feed(obj: Ctx, out: str, target: str | None, limit: int) -> None:
    """Write an Atom feed of the newest evidence (signals) and notices, for a feed reader. Entry ids are
    stable tag: URIs, so a reader shows each piece of evidence once."""
    from .views.feed import atom_feed

    if target is not None:
        _one_of(target.lower(), _target_names(obj), "--target")
    _write(out, atom_feed(obj.store, limit=limit, target=target))


def _write(out: str, data: bytes) -> None:
    """Write the whole file, or nothing: a reader never sees half a report."""
    import os
    import tempfile

    if out == "-":
        sys.stdout.buffer.write(data)
        return
    folder = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(folder):
        raise click.BadParameter(f"{out}: the folder {folder} does not exist", param_hint="--out")
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".watcher-", suffix=".tmp")
    except OSError as exc:
        raise WatcherError(f"cannot write {out}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # as an ordinary new file would be
        os.replace(tmp, out)
    except BaseException:
        os.unlink(tmp)
        raise
    click.echo(f"wrote {out} ({len(data):,} bytes)", err=True)


@cli.command()
@click.option("--older-than", "older", default="90d", show_default=True, metavar="AGE",
              help="Only probe runs older than this: 90d, 2w, 12h, 30min (a bare 1m is refused: minute or month?).")
@click.option("--dry-run", is_flag=True, help="Count what would go; delete nothing.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation (asked only on a terminal).")
@pass_ctx
@_errors
def prune(obj: Ctx, older: str, dry_run: bool, yes: bool) -> None:
    """Compact the history: delete probe runs older than AGE that changed nothing, then the stored
    documents nothing refers to any more. Evidence (signals) is never deleted; kept are every run
    that added or removed a signal, every run a signal names, each source's newest run, and the run
    each change is diffed against (so `explain` keeps working)."""
    from .durations import parse_age
    from .store.runs import prune as prune_history

    try:
        age = parse_age(older)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--older-than") from None
    cutoff = datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(seconds=age)
    if not dry_run and not yes and sys.stdin.isatty():
        click.confirm(f"Delete the probe runs before {cutoff:%Y-%m-%d %H:%M} UTC that changed nothing, and "
                      "the stored documents nothing refers to any more?", abort=True, err=True)
    res = prune_history(obj.store, cutoff, dry_run=dry_run)
    would = "would remove" if dry_run else "removed"
    click.echo(f"probe runs before {cutoff:%Y-%m-%d %H:%M} UTC that changed nothing: {would} "
               f"{res.runs_removed:,} of {res.runs_before:,} runs; kept {res.runs_kept_old:,} old ones"
               + (" (" + ", ".join(f"{n:,} {why}" for why, n in sorted(res.kept_because.items())) + ")"
                  if res.kept_because else ""))
    click.echo(f"stored documents nothing refers to: {would} {res.snapshots_removed:,} of {res.snapshots_before:,} "
               f"({res.snapshot_bytes_removed:,} bytes compressed)")
    click.echo(f"signals: none removed ({res.seconds:.1f} s)")
    if not dry_run and obj.store.dialect == "sqlite" and (res.runs_removed or res.snapshots_removed):
        click.echo("SQLite reuses the freed pages; the file itself shrinks only with VACUUM (sqlite3 FILE 'VACUUM').")


# ------------------------------------------------------------------ helpers
def _cols(text: str) -> int:
    """The columns `text` takes on a terminal: two for a wide (CJK) character, none for a combining mark."""
    if text.isascii():  # nearly every cell: a printable ASCII character is one column (a control one is cleaned)
        return len(text)
    from wcwidth import wcswidth

    n = wcswidth(text)
    return n if n >= 0 else len(text)  # a control character: the cell is cleaned text, so this is rare


def _fit(text: str, cols: int) -> str:
    """`text` cut to at most `cols` terminal columns, '…' marking the cut, then padded to exactly `cols`."""
    if _cols(text) > cols:
        from wcwidth import wcwidth

        out, used = [], 0
        for ch in text:
            w = max(wcwidth(ch), 0)
            if used + w > cols - 1:
                break
            out.append(ch)
            used += w
        text = "".join(out) + "…"
    return text + " " * (cols - _cols(text))


def _table(rows: Sequence[Sequence[Any]], headers: Sequence[str], width: int | None = None) -> str:
    """Columns padded to fit, in terminal columns (wide characters count twice); on a terminal (or given
    `width`), the widest columns are cut with '…' so that a line never wraps."""
    if not rows:
        return "(none)"
    cells = [[str(c) for c in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(_cols(r[i]) for r in cells) for i in range(len(headers))]
    if width is None and sys.stdout.isatty():
        import shutil

        width = shutil.get_terminal_size().columns
    if width:
        # Free text (notes, excerpts, URLs) gives way first, from the right; then short values such as
        # outcomes; the first column, which names the row, last of all. None below its header or 8.
        least = [min(w, max(_cols(h), 8)) for w, h in zip(widths, headers, strict=True)]
        short = [max(_cols(r[i]) for r in cells[1:]) <= 16 for i in range(len(widths))]
        passes = [[i for i in range(1, len(widths)) if not short[i]], [i for i in range(1, len(widths)) if short[i]],
                  [0]]
        excess = sum(widths) + 2 * (len(widths) - 1) - width
        for order in passes:
            for i in reversed(order):
                cut = max(0, min(excess, widths[i] - least[i]))
                widths[i] -= cut
                excess -= cut
    lines = ["  ".join(_fit(c, w) for c, w in zip(r, widths, strict=False)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _payload(value: Any) -> Any:
    """The stored payload (JSON text) as the object it is."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _one_of(value: str, valid: Sequence[str], option: str) -> None:
    """A filter that names nothing is a usage error listing what it could name, not an empty result."""
    names = list(dict.fromkeys(valid))
    if value not in names:
        raise click.BadParameter(f"{value!r} is not one of: {', '.join(names) or '(none yet)'}", param_hint=option)


def _target_names(obj: Ctx) -> list[str]:
    from .cycle import all_targets

    return [t.id for t in all_targets(obj.config, obj.store) if t.id]


def _when(value: str | None, option: str) -> datetime | None:
    """'7d' (ago), '12h', '2026-05-01' or a full ISO time, to naive UTC."""
    if not value:
        return None
    from .durations import parse_duration

    try:
        return datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(seconds=parse_duration(value))
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{value!r}: use 7d, 12h or a date such as 2026-05-01", param_hint=option) from None
    if dt.tzinfo is None:
        dt = dt.astimezone()  # a bare date or time is in the local zone
    return dt.astimezone(timezone.utc).replace(tzinfo=None)


def main() -> None:
    """The console script. A usage error is one line, like every other error (cron mails and journald
    keep one line per failure): `watcher: history: --type: 'bogus' is not one of: … (see --help)`."""
    _import_the_store()
    try:
        _main()
    finally:
        # At exit, the interpreter's last garbage collection would walk every object of every imported
        # module: 40-80 ms of a 0.4 s `run --once`, for memory the OS reclaims anyway. It skips frozen
        # objects; whatever reference counting frees is still finalised as usual.
        gc.freeze()


def _import_the_store() -> None:
    """Import the database layer with the garbage collector held, then freeze what it built.

    Nearly every command opens the store, and SQLAlchemy is most of the start-up: some 65,000
    objects the collector tracks (modules, classes, constructs), which live until exit. The collections their creation
    would trigger can free none of them (10-15 ms of a `run --once`), and once frozen, later
    collections (a daemon's, for days) skip them. Only the console script does this; tests call `cli`."""
    gc.disable()
    try:
        from . import store  # noqa: F401
    finally:
        gc.freeze()
        gc.enable()


def _main() -> None:
    try:
        code = cli.main(prog_name="watcher", standalone_mode=False)
    except click.UsageError as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # `watcher` or `watcher db` alone: the help itself
            exc.show()
            sys.exit(exc.exit_code)
        where = exc.ctx.command_path.removeprefix("watcher").strip() if exc.ctx else ""
        hint = f"watcher {where} --help" if where else "watcher --help"
        click.echo(f"watcher: {where + ': ' if where else ''}{_one_line(exc.format_message())} (see {hint})",
                   err=True)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("Aborted!", err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


def _one_line(message: str) -> str:
    """click's message on one line, without its 'Invalid value for' preamble."""
    return " ".join(message.split()).removeprefix("Invalid value for ")


if __name__ == "__main__":
    main()
