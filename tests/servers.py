"""Real HTTP servers on 127.0.0.1 for tests, each in its own thread.

`FixtureServer` answers scripted documents (validators, delays, trickles, gzip); `HookReceiver` stands in
for Slack's incoming webhook and generic webhooks and records what it is sent.
"""

from __future__ import annotations

import email.utils
import json
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple

Answer = tuple[int, dict[str, str], "bytes | Iterable[bytes]"]


class Request(NamedTuple):
    method: str
    path: str  # as requested, query string included
    headers: dict[str, str]  # names lower-cased
    body: bytes = b""


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # the default backlog of 5 drops connects under load; each drop costs a second
    connections = 0  # TCP connections accepted, for tests of connection reuse

    def verify_request(self, request: Any, client_address: Any) -> bool:
        self.connections += 1  # called on the one accepting thread: no lock needed
        return True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):  # a client hanging up is normal
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, and chunked bodies for iterables
    disable_nagle_algorithm = True  # no 40 ms stall between headers and body on loopback
    timeout = 10  # an idle keep-alive connection frees its thread

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:  # a client hanging up mid-answer raises out of here; handle_error hushes it
        length = int(self.headers.get("Content-Length") or 0)
        req = Request(self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                      self.rfile.read(length) if length else b"")
        self.server.owner._handle(self, req)  # type: ignore[attr-defined]

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def answer(self, status: int, headers: dict[str, str], body: bytes | Iterable[bytes] = b"",
               trickle: float | None = None) -> None:
        """Send one response: bytes with Content-Length (one byte per `trickle` s if set), an iterable chunked."""
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        no_body = self.command == "HEAD" or status in (204, 304) or status < 200
        if not isinstance(body, (bytes, bytearray)):
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for chunk in [] if no_body else body:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.write(b"" if no_body else b"0\r\n\r\n")
            return
        if status not in (204, 304) and "content-length" not in {k.lower() for k in headers}:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        step = 1 if trickle else max(len(body), 1)
        for i in range(0, 0 if no_body else len(body), step):
            self.wfile.write(body[i:i + step])
            if trickle:
                self.wfile.flush()
                if self.server.owner._closing.wait(trickle):  # type: ignore[attr-defined]
                    return


class _Base:
    def __init__(self, port: int = 0) -> None:
        self._lock = threading.Condition()
        self._closing = threading.Event()
        self._httpd = _HTTPServer(("127.0.0.1", port), _Handler)
        self._httpd.owner = self  # type: ignore[attr-defined]
        self.port: int = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()

    @property
    def connections(self) -> int:
        """TCP connections accepted so far."""
        return self._httpd.connections

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self._closing.set()  # wakes delayed, trickling and hanging answers
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()

    def __enter__(self):  # type: ignore[no-untyped-def]
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _handle(self, h: _Handler, req: Request) -> None:
        raise NotImplementedError


@dataclass(frozen=True)
class _Route:
    body: bytes | Iterable[bytes]
    status: int
    headers: dict[str, str]
    etag: str | None
    last_modified: str | None
    delay: float
    trickle: float | None

    def fresh(self, req: Request) -> bool:
        """Whether the client's validators match, so the answer is 304 (If-None-Match wins, as in RFC 9110)."""
        inm = req.headers.get("if-none-match")
        if inm is not None:
            tags = {t.strip().removeprefix("W/") for t in inm.split(",")}
            return self.etag is not None and ("*" in tags or self.etag.removeprefix("W/") in tags)
        ims = req.headers.get("if-modified-since")
        if ims is None or self.last_modified is None:
            return False
        try:
            return email.utils.parsedate_to_datetime(self.last_modified) <= email.utils.parsedate_to_datetime(ims)
        except (TypeError, ValueError):
            return False


class FixtureServer(_Base):
    """Serves routes set with `route()`; unknown paths answer 404. Records every request in `requests`."""

    def __init__(self) -> None:
        self._routes: dict[str, _Route | Callable[[_Handler], Answer]] = {}
        self._requests: list[Request] = []
        super().__init__()

    def route(self, path: str, body: bytes | Iterable[bytes] | Callable[[_Handler], Answer] = b"",
              status: int = 200, headers: dict[str, str] | None = None, content_type: str | None = None,
              etag: str | None = None, last_modified: str | float | None = None, delay: float = 0.0,
              trickle: float | None = None, gzip: bool = False) -> None:
        """Set (or replace) what `path` answers.

        `body` is bytes; an iterable of byte chunks, sent chunked without Content-Length (use a list to
        serve it more than once); or a callable(handler) -> (status, headers, body) that answers alone.
        `etag` (quoted for you) and `last_modified` (an HTTP date or an epoch float) turn on 304 answers.
        `delay` waits before the headers; `trickle` sends the body one byte per that many seconds;
        `gzip=True` sends `body` as already-gzipped bytes with Content-Encoding: gzip.
        A path with a query string matches exactly first, then by its path alone.
        """
        if callable(body):
            self._routes[path] = body
            return
        hdrs = dict(headers or {})
        if content_type:
            hdrs["Content-Type"] = content_type
        if etag is not None:
            etag = etag if etag.startswith(('"', "W/")) else f'"{etag}"'
            hdrs["ETag"] = etag
        if isinstance(last_modified, (int, float)):
            last_modified = email.utils.formatdate(last_modified, usegmt=True)
        if last_modified is not None:
            hdrs["Last-Modified"] = last_modified
        if gzip:
            hdrs["Content-Encoding"] = "gzip"
        self._routes[path] = _Route(body, status, hdrs, etag, last_modified, delay, trickle)

    @property
    def requests(self) -> list[Request]:
        """A copy of the requests received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def hits(self, path: str) -> int:
        """How many requests asked for `path` (with or without a query string)."""
        return sum(1 for r in self.requests if path in (r.path, r.path.split("?", 1)[0]))

    def _handle(self, h: _Handler, req: Request) -> None:
        with self._lock:
            self._requests.append(req)
        route = self._routes.get(req.path) or self._routes.get(req.path.split("?", 1)[0])
        if route is None:
            h.answer(404, {"Content-Type": "text/plain"}, b"not found")
        elif callable(route):
            h.answer(*route(h))
        elif route.delay and self._closing.wait(route.delay):
            return
        elif route.fresh(req):
            h.answer(304, {k: v for k, v in route.headers.items() if k in ("ETag", "Last-Modified")})
        else:
            h.answer(route.status, route.headers, route.body, route.trickle)


@dataclass(frozen=True)
class Hook:
    """One POST the receiver took."""

    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class HookReceiver(_Base):
    """A webhook endpoint: records every POST in `received` and answers from a script, then 200 "ok".

    `script([500] * 5)`, `script([(429, {"Retry-After": "1"})])`, `script(["hang"])`: each POST takes the
    next step; a step is a status, (status, headers), (status, headers, body) or "hang" (answer only after
    `hang` seconds, longer than any client timeout in the tests, or when the receiver closes).
    """

    def __init__(self, hang: float = 30.0, port: int = 0) -> None:
        self.hang = hang
        self.received: list[Hook] = []
        self._script: deque[Any] = deque()
        super().__init__(port)

    def script(self, steps: Iterable[int | tuple[Any, ...] | str]) -> None:
        """Append steps to the queue of answers."""
        with self._lock:
            self._script.extend(steps)

    def wait_for(self, n: int, timeout: float = 5.0) -> list[Hook]:
        """Block until `n` POSTs have arrived and return them; AssertionError if they do not in time."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self.received) >= n, timeout):
                raise AssertionError(f"expected {n} POSTs within {timeout} s, got {len(self.received)}")
            return list(self.received)

    def _handle(self, h: _Handler, req: Request) -> None:
        if req.method != "POST":
            h.answer(405, {"Allow": "POST"}, b"method not allowed")
            return
        with self._lock:
            self.received.append(Hook(req.path, req.headers, req.body))
            self._lock.notify_all()
            step = self._script.popleft() if self._script else 200
        if step == "hang":
            self._closing.wait(self.hang)
            step = 200
        s = (step,) if isinstance(step, int) else tuple(step)
        status, headers, body = s + ({}, b"")[len(s) - 1:]
        h.answer(status, dict(headers), body or (b"ok" if status == 200 else b"error"))
