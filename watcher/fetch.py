"""The single fetch seam: one httpx client, the size and time caps, the redirect policy, the validators.

Every probe ends as exactly one `FetchResult`; no server behaviour makes `Fetcher.fetch` raise.
"""

from __future__ import annotations

import email.utils
import functools
import math
import re
import threading
import time
import zlib
from dataclasses import dataclass
from datetime import datetime, timezone
from types import TracebackType
from urllib.parse import parse_qsl, urlsplit

import httpx

from . import __version__, tls
from .challenge import HEAD_CHARS, is_challenge
from .config import SourceConfig
from .evidence import Outcome
from .text import is_html, oneline, redact_values
from .validators import MAX_ETAG, MAX_LAST_MODIFIED, sendable

USER_AGENT = f"watcher/{__version__} (+release-evidence-watcher)"
MAX_REDIRECTS = 10
MAX_CONTENT_TYPE = 200  # snapshots.content_type's size; real ones are a few dozen characters
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Statuses a bot wall answers with; their body is read (a little) to tell a challenge from an error.
_CHALLENGE_STATUSES = frozenset({401, 403, 429, 451, 503})
_HEAD_BYTES = HEAD_CHARS  # challenge pages are small; a marker deeper than this is page content
# An answer whose body we do not need (304, 404, a redirect) is still read to its end when it is at
# most this long, so its connection goes back to the pool; a longer one closes its connection.
_DRAIN_BYTES = 64 * 1024
# Probes to one host at a time, per Fetcher: a burst of due sources on one host reuses a few kept-alive
# connections (and never looks like a flood to the server) instead of opening one per worker.
PER_HOST = 4


@dataclass(frozen=True)
class FetchResult:
    """How one probe ended, and what it brought back."""

    outcome: Outcome
    status: int | None  # final HTTP status, if any
    body: bytes | None  # only for ok
    content_type: str | None
    etag: str | None
    last_modified: str | None
    final_url: str | None  # the real URL (may hold a secret); redacting it is the caller's business
    bytes_read: int  # bytes received, after decompression
    duration_ms: int
    error: str | None  # one line for any non-ok outcome; never a header value or a query string
    retry_after: float | None  # seconds, from a 429/503 Retry-After header


class _DeadlineExceeded(Exception):
    pass


class _UnsupportedEncoding(Exception):
    pass


class _Probe:
    """What one probe has learned so far; `result()` turns it into the FetchResult."""

    def __init__(self, source: SourceConfig) -> None:
        self.source = source
        self.started = time.monotonic()
        self.url: str | None = None
        self.response: httpx.Response | None = None
        self.bytes_read = 0

    def remaining(self) -> float:
        return self.started + self.source.deadline - time.monotonic()

    def result(self, outcome: Outcome, error: str | None = None, *, body: bytes | None = None,
               retry_after: float | None = None, etag: str | None = None,
               last_modified: str | None = None) -> FetchResult:
        h = self.response.headers if self.response is not None else httpx.Headers()
        return FetchResult(
            outcome=outcome, status=self.response.status_code if self.response is not None else None,
            body=body, content_type=_cut(h.get("content-type"), MAX_CONTENT_TYPE),
            # only validators that can be sent back are kept (see validators.py)
            etag=sendable(h.get("etag"), MAX_ETAG) or etag,
            last_modified=sendable(h.get("last-modified"), MAX_LAST_MODIFIED) or last_modified, final_url=self.url,
            bytes_read=self.bytes_read, duration_ms=int((time.monotonic() - self.started) * 1000),
            error=_scrub(error, self.source) if error else None, retry_after=retry_after)


class _Cookies(httpx.Cookies):
    """The client's cookie jar, consulted only for an answer that sets a cookie: httpx builds urllib
    stand-ins for the request and the answer on every response, which cost a 304 more than its parse."""

    def extract_cookies(self, response: httpx.Response) -> None:
        if "set-cookie" in response.headers:
            super().extract_cookies(response)


@functools.lru_cache(maxsize=1024)
def _url(url: str) -> httpx.URL:
    """A source's URL, parsed once (an httpx.URL is immutable)."""
    return httpx.URL(url)


class Fetcher:
    """Turns a source into one FetchResult per probe, around an (injectable) httpx.Client.

    Without an injected client it keeps two, each made on first use: one for https with a verifying
    TLS context, one for plain http that never does TLS, so a run with no https source never loads
    the CA bundle. Every hop (redirects are followed by hand) picks the client of its own scheme.
    """

    def __init__(self, client: httpx.Client | None = None, *, user_agent: str | None = None) -> None:
        self.user_agent = user_agent or USER_AGENT
        self._injected = client
        self._clients: dict[str, httpx.Client] = {}
        self._lock = threading.Lock()
        self._hosts: dict[tuple[str, str, int | None], threading.BoundedSemaphore] = {}

    def _host_slot(self, url: httpx.URL) -> threading.BoundedSemaphore:
        key = (url.scheme, (url.host or "").lower(), url.port)
        with self._lock:
            slot = self._hosts.get(key)
            if slot is None:
                slot = self._hosts[key] = threading.BoundedSemaphore(PER_HOST)
            return slot

    def _client(self, scheme: str) -> httpx.Client:
        if self._injected is not None:
            return self._injected
        with self._lock:
            client = self._clients.get(scheme)
            if client is None:
                limits = httpx.Limits(max_connections=20, max_keepalive_connections=10, keepalive_expiry=30.0)
                headers = {"User-Agent": self.user_agent}
                if scheme == "https":
                    client = httpx.Client(verify=tls.context(), follow_redirects=False, timeout=httpx.Timeout(20.0),
                                          limits=limits, headers=headers)
                else:  # its only transport speaks plain HTTP: no TLS context to build or to weaken
                    client = httpx.Client(transport=httpx.HTTPTransport(verify=False, limits=limits),
                                          follow_redirects=False, timeout=httpx.Timeout(20.0), headers=headers)
                client._cookies = _Cookies(client.cookies.jar)  # the same jar; see _Cookies
                self._clients[scheme] = client
            return client

    def close(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for c in clients:
            c.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def fetch(self, source: SourceConfig, *, etag: str | None = None,
              last_modified: str | None = None) -> FetchResult:
        """Probe `source` once, sending the validators of the last good answer when given."""
        probe = _Probe(source)
        if not source.configured:
            return probe.result(Outcome.NOT_CONFIGURED, f"not configured: set {', '.join(source.missing_env)}")
        try:
            return self._follow(probe, etag, last_modified)
        except Exception as exc:  # every server behaviour ends as an outcome, never as a raise
            return _failure(probe, exc)

    def _follow(self, p: _Probe, etag: str | None, last_modified: str | None) -> FetchResult:
        source = p.source
        url = _url(source.url)
        own_hosts = {source.host, (url.host or "").lower()}
        allowed = own_hosts | set(source.allowed_hosts)
        home = _origin(url)
        # We decode ourselves (bounded), so only offer what zlib can inflate.
        base = {"User-Agent": self.user_agent, "Accept-Encoding": "gzip, deflate"}
        validators = {}
        if etag:
            validators["If-None-Match"] = etag
        if last_modified:
            validators["If-Modified-Since"] = last_modified
        seen: set[str] = set()
        for _ in range(MAX_REDIRECTS + 1):
            seen.add(str(url))
            remaining = p.remaining()
            if remaining <= 0:
                raise _DeadlineExceeded
            # The source's own headers (often credentials) go to its own origin only: same scheme, host and
            # port. Never to allowed_hosts, nor to another port or scheme of the same host.
            own = dict(source.headers) if _origin(url) == home else {}
            p.url = str(url)
            slot = self._host_slot(url)
            if not slot.acquire(timeout=remaining):
                raise _DeadlineExceeded
            try:
                with self._client(url.scheme).stream("GET", url, headers={**base, **own, **validators},
                                        timeout=min(source.timeout, remaining), follow_redirects=False) as resp:
                    p.response = resp
                    if resp.status_code not in _REDIRECT_STATUSES or "location" not in resp.headers:
                        result = self._answer(p, resp, etag, last_modified)
                        _drain(p, resp)
                        return result
                    _drain(p, resp)
                    try:
                        target = resp.url.join(resp.headers["location"])
                    except httpx.InvalidURL:
                        return p.result(Outcome.HTTP_ERROR, f"HTTP {resp.status_code} with an invalid Location")
            finally:
                slot.release()
            refusal = _refuse_redirect(url, target, allowed)
            if refusal:
                return p.result(Outcome.REDIRECTED_OFF_SOURCE, refusal)
            if str(target) in seen:
                return p.result(Outcome.HTTP_ERROR,
                                f"redirect loop: {target.host} sent us back to a URL already visited")
            url = target
        return p.result(Outcome.HTTP_ERROR, f"redirect loop: more than {MAX_REDIRECTS} redirects")

    def _answer(self, p: _Probe, resp: httpx.Response, etag: str | None, last_modified: str | None) -> FetchResult:
        status = resp.status_code
        reason = f"HTTP {status} {httpx.codes.get_reason_phrase(status)}".strip()
        if status == 304:
            return p.result(Outcome.NOT_MODIFIED, f"{reason} since the last probe", etag=etag,
                            last_modified=last_modified)
        if _challenge_header(resp.headers):  # checked before 404: a wall must never read as absence
            return p.result(Outcome.BLOCKED, f"{reason} with a bot challenge header")
        if status in (404, 410):
            return p.result(Outcome.NOT_FOUND, reason)
        cap = p.source.max_bytes
        if 200 <= status < 300:
            length = resp.headers.get("content-length", "")
            if length.isdigit() and int(length) > cap:
                return p.result(Outcome.TOO_LARGE, f"Content-Length {length} exceeds the cap of {cap} bytes")
            body = _read(p, resp, cap)
            if body is None:
                return p.result(Outcome.TOO_LARGE, f"body exceeds the cap of {cap} bytes")
            if _is_html_challenge(resp, body[:_HEAD_BYTES]):
                return p.result(Outcome.BLOCKED, f"{reason} is a bot challenge page, not the document")
            return p.result(Outcome.OK, body=body)
        retry_after = retry_after_seconds(resp.headers.get("retry-after")) if status in (429, 503) else None
        if status in _CHALLENGE_STATUSES and is_challenge(_head(p, resp).decode("utf-8", "replace")):
            return p.result(Outcome.BLOCKED, f"{reason} with a bot challenge page", retry_after=retry_after)
        if status == 403:
            return p.result(Outcome.BLOCKED, f"{reason}: the server refuses this client")
        if status >= 400:
            return p.result(Outcome.HTTP_ERROR, reason, retry_after=retry_after)
        return p.result(Outcome.HTTP_ERROR, f"{reason}: unexpected status")


def _read(p: _Probe, resp: httpx.Response, limit: int, *, truncate: bool = False) -> bytes | None:
    """The decoded body, or None once it passes `limit` (with `truncate`, its first `limit` bytes).

    Decoding here rather than in httpx bounds each inflate step, so a gzip bomb stops at the cap.
    The deadline is checked after every read; one read waits at most the hop's timeout, which was
    already cut to what remained of the deadline when the hop began.
    """
    inflater = _Inflater(resp.headers.get("content-encoding", ""))
    chunks: list[bytes] = []
    for raw in resp.iter_raw():
        out = inflater.feed(raw, limit - p.bytes_read + 1)
        p.bytes_read += len(out)
        chunks.append(out)
        if p.bytes_read > limit:
            return b"".join(chunks)[:limit] if truncate else None
        if p.remaining() <= 0:
            raise _DeadlineExceeded
    tail = inflater.flush()
    p.bytes_read += len(tail)
    chunks.append(tail)
    if p.bytes_read > limit and not truncate:
        return None
    return b"".join(chunks)[:limit]


def _drain(p: _Probe, resp: httpx.Response) -> None:
    """Read an unread answer to its end when it is short, so httpx keeps its connection alive (an
    unread body would close it: a new TCP connection, and a TLS handshake, for the next probe)."""
    if resp.is_stream_consumed or resp.is_closed:
        return
    length = resp.headers.get("content-length", "")
    if length.isdigit() and int(length) > _DRAIN_BYTES:
        return
    seen = 0
    try:
        for raw in resp.iter_raw():
            seen += len(raw)
            if seen > _DRAIN_BYTES or p.remaining() <= 0:
                return  # long, or slow: closing the connection is cheaper than reading on
    except (httpx.HTTPError, OSError):
        return  # the connection is dropped, as it would have been without draining


def _head(p: _Probe, resp: httpx.Response) -> bytes:
    """The start of an error page, to look for a challenge; an undecodable one is not a challenge."""
    try:
        return _read(p, resp, _HEAD_BYTES, truncate=True) or b""
    except (zlib.error, _UnsupportedEncoding):
        return b""


class _Inflater:
    """gzip/deflate decoding that never produces more than it is asked for."""

    def __init__(self, encoding: str) -> None:
        enc = encoding.strip().lower()
        self._raw_deflate_fallback = enc == "deflate"
        if enc in ("", "identity"):
            self._z = None
        elif enc in ("gzip", "x-gzip"):
            self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif enc == "deflate":
            self._z = zlib.decompressobj(zlib.MAX_WBITS)
        else:
            raise _UnsupportedEncoding(enc[:40])

    def feed(self, data: bytes, max_out: int) -> bytes:
        if self._z is None:
            return data
        try:
            out = self._z.decompress(data, max_out)
        except zlib.error:
            if not self._raw_deflate_fallback:
                raise
            # Some servers send "deflate" without the zlib wrapper; browsers (and httpx) accept it.
            self._z = zlib.decompressobj(-zlib.MAX_WBITS)
            out = self._z.decompress(data, max_out)
        self._raw_deflate_fallback = False
        return out

    def flush(self) -> bytes:
        return self._z.flush() if self._z is not None else b""


def _failure(p: _Probe, exc: Exception) -> FetchResult:
    """The one place where exceptions become outcomes."""
    host = urlsplit(p.url or p.source.url).netloc.rsplit("@", 1)[-1]
    if isinstance(exc, _DeadlineExceeded) or (isinstance(exc, httpx.TimeoutException) and p.remaining() <= 0.01):
        return p.result(Outcome.TIMEOUT, f"deadline of {p.source.deadline:g} s exceeded")
    if isinstance(exc, httpx.TimeoutException):
        phase = {httpx.ConnectTimeout: "connect", httpx.ReadTimeout: "read", httpx.WriteTimeout: "write",
                 httpx.PoolTimeout: "connection pool"}.get(type(exc), "")
        return p.result(Outcome.TIMEOUT, f"{phase} timeout after {p.source.timeout:g} s at {host}".lstrip())
    if isinstance(exc, (UnicodeError, httpx.LocalProtocolError)):
        # Our own request is malformed (a header value HTTP cannot carry): said, not a network fault.
        return p.result(Outcome.HTTP_ERROR, f"the request to {host} could not be built: {type(exc).__name__}")
    if isinstance(exc, _UnsupportedEncoding):
        return p.result(Outcome.HTTP_ERROR, f"unsupported Content-Encoding {exc}")
    if isinstance(exc, (zlib.error, httpx.DecodingError)):
        return p.result(Outcome.HTTP_ERROR, "body does not decode as its Content-Encoding says")
    if isinstance(exc, httpx.RemoteProtocolError) and "complete message body" in str(exc):
        # The server hung up inside the body (short of its Content-Length, or before the last chunk).
        return p.result(Outcome.TRUNCATED, f"body cut short by {host}: {exc}")
    if isinstance(exc, httpx.ConnectError):
        return p.result(Outcome.NETWORK_ERROR, f"cannot connect to {host}: {exc}")
    if isinstance(exc, (httpx.HTTPError, OSError)):
        return p.result(Outcome.NETWORK_ERROR, f"{type(exc).__name__} from {host}: {exc}")
    return p.result(Outcome.NETWORK_ERROR, f"unexpected {type(exc).__name__} while fetching from {host}")


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    """(scheme, host, port), the port made explicit: where credentials may go."""
    port = url.port or {"http": 80, "https": 443}.get(url.scheme)
    return url.scheme, (url.host or "").lower(), port


def _cut(value: str | None, limit: int) -> str | None:
    return value[:limit] if value is not None and len(value) > limit else value


def _refuse_redirect(current: httpx.URL, target: httpx.URL, allowed: set[str]) -> str | None:
    """Why a redirect may not be followed, or None. Names the target host, never its path or query."""
    host = (target.host or "").lower()
    if target.scheme not in ("http", "https"):
        return f"redirected off source to a {target.scheme[:10]} URL at host {host}"
    if current.scheme == "https" and target.scheme == "http":
        return f"redirected off source from https down to http at host {host}"
    if host not in allowed:
        return f"redirected off source to host {host}"
    return None


def _challenge_header(headers: httpx.Headers) -> bool:
    return (headers.get("cf-mitigated", "").lower() == "challenge"
            or headers.get("x-amzn-waf-action", "").lower() in ("challenge", "captcha"))


def _is_html_challenge(resp: httpx.Response, head: bytes) -> bool:
    """Whether an answered (200) page is a bot wall: only an HTML page can be one."""
    text = head.decode("utf-8", "replace")
    return is_html(text, resp.headers.get("content-type")) and is_challenge(text)


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


_URL_QUERY = re.compile(r"(\w+://[^\s?#'\"<>]*)[?#][^\s'\"<>]*")


def _scrub(text: str, source: SourceConfig) -> str:
    """One line without the source's secrets: header values, the real URL, its query, any URL's query."""
    secrets = [source.url, urlsplit(source.url).query, *(v for _, v in parse_qsl(urlsplit(source.url).query))]
    for value in source.headers.values():
        secrets += [value, *(tok for tok in value.split() if len(tok) >= 6)]
    text = redact_values(text, (s for s in secrets if len(s) >= 3))
    return oneline(_URL_QUERY.sub(r"\1", text), 300)
