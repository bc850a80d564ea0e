"""Prometheus metrics of the daemon (`watcher run --metrics ADDR`) and its `/healthz`.

Optional (the `metrics` extra, prometheus_client): until `serve` runs, every recording function does
nothing, so the probe and outbox code call them unconditionally. One registry of our own, not the
global one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from .clock import aware

_lock = threading.Lock()
_m: dict[str, Any] = {}  # the metric objects; empty until serve() is called


def _metrics() -> dict[str, Any] | None:
    """The metric objects, or None when nothing serves them: only `run --metrics` records anything,
    so every other command (and `run --once`) neither imports prometheus_client nor counts."""
    return _m or None


def _enable() -> dict[str, Any] | None:
    with _lock:
        if not _m:
            try:
                import prometheus_client as prom
            except ImportError:
                return None
            reg = prom.CollectorRegistry()
            _m.update(
                prom=prom, registry=reg,
                probes=prom.Counter("watcher_probes", "Probes by source and outcome.", ["source", "outcome"],
                                    registry=reg),
                last_success=prom.Gauge("watcher_source_last_success_timestamp_seconds",
                                        "When the source last answered (Unix time).", ["source"], registry=reg),
                notices=prom.Counter("watcher_notices", "Notice delivery attempts by channel and resulting state "
                                     "(sent, retry, failed).", ["channel", "state"], registry=reg),
                lag=prom.Gauge("watcher_dispatcher_lag_seconds", "How long the oldest notice the dispatcher last "
                               "took had been due (0 when nothing was due).", registry=reg))
    return _m


def probe(source: str, outcome: str, answered: bool, at: datetime) -> None:
    m = _metrics()
    if m is None:
        return
    m["probes"].labels(source, outcome).inc()
    if answered:
        a = aware(at)
        assert a is not None
        m["last_success"].labels(source).set(a.timestamp())


def notice(channel: str, state: str, n: int = 1) -> None:
    m = _metrics()
    if m is not None:
        m["notices"].labels(channel, state).inc(n)


def dispatcher_lag(due_since: Iterable[datetime], now: datetime) -> None:
    m = _metrics()
    if m is not None:
        oldest = min(due_since, default=None)
        m["lag"].set(max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0)


def serve(address: str, healthy: Callable[[], bool]) -> Callable[[], None]:
    """Serve /metrics and /healthz on ADDR ('9108', ':9108' or 'HOST:PORT') in a thread; returns a stop.

    /healthz answers 200 "ok" while `healthy()` is true (the scheduler runs), else 503."""
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    m = _enable()
    if m is None:
        from .errors import WatcherError

        raise WatcherError("--metrics needs prometheus_client: pip install 'release-evidence-watcher[metrics]'")
    host, _, port = address.rpartition(":")
    metrics_app = m["prom"].make_wsgi_app(m["registry"])

    class Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
            pass  # a scrape every 15 s is not a story line


    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/healthz":
            ok = healthy()
            start_response("200 OK" if ok else "503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"ok\n" if ok else b"not running\n"]
        body: Iterable[bytes] = metrics_app(environ, start_response)
        return body

    class Server(WSGIServer):
        daemon_threads = True

    try:
        server = make_server(host.strip("[]") or "0.0.0.0", int(port), app, server_class=Server,
                             handler_class=Quiet)
    except (OSError, ValueError) as exc:
        from .errors import WatcherError

        raise WatcherError(f"--metrics {address}: cannot listen there: {exc}") from None
    thread = threading.Thread(target=server.serve_forever, name="metrics", daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return stop


