"""The fetch seam against a real HTTP server on 127.0.0.1: one outcome per probe, caps, redirects, secrets."""

from __future__ import annotations

import socket
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from typing import Any

import pytest

import watcher
from servers import FixtureServer
from watcher.config import SourceConfig
from watcher.evidence import Authority, Outcome
from watcher.fetch import Fetcher, FetchResult

MB = 1024 * 1024
SECRET_HEADER = "sk-header-secret-4f9a"
SECRET_QUERY = "query-secret-77b1"
CHALLENGE_PAGE = (b"<!DOCTYPE html><html><head><title>Just a moment...</title></head><body>"
                  b"<noscript>Enable JavaScript and cookies to continue</noscript>"
                  b"<script>window._cf_chl_opt={cvId:'3'};</script></body></html>")


def source(url: str, **kw: Any) -> SourceConfig:
    return SourceConfig(name="test", kind="openapi_spec", url=url, url_display=url.split("?")[0],
                        authority=Authority.FIRST_PARTY, **kw)


@pytest.fixture
def fetcher() -> Iterator[Fetcher]:
    with Fetcher() as f:
        yield f


def gzip_bomb(inflated: int) -> bytes:
    """A gzip stream of `inflated` zero bytes (deflate's ratio tops out near 1000:1)."""
    z = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(MB)
    return b"".join(z.compress(block) for _ in range(inflated // MB)) + z.flush()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed when the with ends; nothing listens there


def test_ok_keeps_body_and_validators(http_server: FixtureServer, fetcher: Fetcher) -> None:
    http_server.route("/spec.yml", b"openapi: 3.1.0\n", content_type="application/yaml", etag="v1",
                      last_modified="Tue, 01 Apr 2025 10:00:00 GMT")
    r = fetcher.fetch(source(http_server.url("/spec.yml")))
    assert (r.outcome, r.status, r.body) == (Outcome.OK, 200, b"openapi: 3.1.0\n")
    assert (r.etag, r.last_modified) == ('"v1"', "Tue, 01 Apr 2025 10:00:00 GMT")
    assert r.content_type == "application/yaml" and r.bytes_read == 15 and r.error is None
    assert r.final_url == http_server.url("/spec.yml")


def test_unchanged_document_is_not_modified_via_etag(http_server: FixtureServer, fetcher: Fetcher) -> None:
    http_server.route("/spec.yml", b"openapi: 3.1.0\n", etag="v1")
    first = fetcher.fetch(source(http_server.url("/spec.yml")))
    second = fetcher.fetch(source(http_server.url("/spec.yml")), etag=first.etag)
    assert (second.outcome, second.status, second.body, second.etag) == (Outcome.NOT_MODIFIED, 304, None, '"v1"')
    assert http_server.requests[-1].headers["if-none-match"] == '"v1"'


def test_unchanged_document_is_not_modified_via_last_modified(http_server: FixtureServer, fetcher: Fetcher) -> None:
    http_server.route("/page", b"<html>gpt-image-2</html>", last_modified="Tue, 01 Apr 2025 10:00:00 GMT")
    first = fetcher.fetch(source(http_server.url("/page")))
    second = fetcher.fetch(source(http_server.url("/page")), last_modified=first.last_modified)
    assert (second.outcome, second.body, second.bytes_read) == (Outcome.NOT_MODIFIED, None, 0)
    assert http_server.requests[-1].headers["if-modified-since"] == "Tue, 01 Apr 2025 10:00:00 GMT"


def test_changed_document_is_fetched_again(http_server: FixtureServer, fetcher: Fetcher) -> None:
    http_server.route("/spec.yml", b"v1", etag="v1")
    first = fetcher.fetch(source(http_server.url("/spec.yml")))
    http_server.route("/spec.yml", b"v2", etag="v2")
    second = fetcher.fetch(source(http_server.url("/spec.yml")), etag=first.etag)
    assert (second.outcome, second.body, second.etag) == (Outcome.OK, b"v2", '"v2"')


def test_answers_without_a_wanted_body_keep_the_connection_alive(http_server: FixtureServer,
                                                                fetcher: Fetcher) -> None:
    http_server.route("/spec.yml", b"openapi: 3.1.0\n", etag="v1")
    http_server.route("/old", b"moved", status=301, headers={"Location": "/spec.yml"})
    first = fetcher.fetch(source(http_server.url("/spec.yml")))
    outcomes = [fetcher.fetch(source(http_server.url("/spec.yml")), etag=first.etag).outcome for _ in range(5)]
    outcomes += [fetcher.fetch(source(http_server.url("/missing"))).outcome for _ in range(5)]  # a 404 page
    outcomes += [fetcher.fetch(source(http_server.url("/old"))).outcome for _ in range(5)]
    assert outcomes == [Outcome.NOT_MODIFIED] * 5 + [Outcome.NOT_FOUND] * 5 + [Outcome.OK] * 5
    assert http_server.connections == 1


@pytest.mark.parametrize("status", [404, 410])
def test_missing_document_is_not_found(http_server: FixtureServer, fetcher: Fetcher, status: int) -> None:
    http_server.route("/models/gpt-image-2", b'{"error": "no such model"}', status=status)
    r = fetcher.fetch(source(http_server.url("/models/gpt-image-2")))
    assert (r.outcome, r.status, r.body) == (Outcome.NOT_FOUND, status, None)


def test_forbidden_is_blocked(http_server: FixtureServer, fetcher: Fetcher) -> None:
    http_server.route("/pricing", b"Forbidden", status=403)
    r = fetcher.fetch(source(http_server.url("/pricing")))
    assert (r.outcome, r.status, r.body) == (Outcome.BLOCKED, 403, None)


def test_challenge_page_served_as_200_is_blocked(http_server: FixtureServer, fetcher: Fetcher) -> None:
    http_server.route("/pricing", CHALLENGE_PAGE, content_type="text/html; charset=utf-8")
    r = fetcher.fetch(source(http_server.url("/pricing")))
    assert (r.outcome, r.status, r.body) == (Outcome.BLOCKED, 200, None)


def test_challenge_503_with_cf_mitigated_header_is_blocked(http_server: FixtureServer, fetcher: Fetcher) -> None:
    http_server.route("/pricing", CHALLENGE_PAGE, status=503, content_type="text/html",
                      headers={"cf-mitigated": "challenge"})
    r = fetcher.fetch(source(http_server.url("/pricing")))
    assert (r.outcome, r.status) == (Outcome.BLOCKED, 503)


def test_page_that_only_mentions_access_denied_is_ok(http_server: FixtureServer, fetcher: Fetcher) -> None:
    body = b"paths:\n  /v1/images:\n    description: Returns 403 Access Denied when the key lacks scope.\n"
    http_server.route("/spec.yml", body, content_type="application/yaml")
    assert fetcher.fetch(source(http_server.url("/spec.yml"))).outcome is Outcome.OK


def test_server_error_is_http_error(http_server: FixtureServer, fetcher: Fetcher) -> None:
    http_server.route("/spec.yml", b"oops", status=500)
    r = fetcher.fetch(source(http_server.url("/spec.yml")))
    assert (r.outcome, r.status, r.retry_after) == (Outcome.HTTP_ERROR, 500, None)
    assert r.error == "HTTP 500 Internal Server Error"


def test_rate_limit_is_http_error_with_retry_after(http_server: FixtureServer, fetcher: Fetcher) -> None:
    http_server.route("/models", b'{"error": "rate limited"}', status=429, headers={"Retry-After": "7"})
    r = fetcher.fetch(source(http_server.url("/models")))
    assert (r.outcome, r.status, r.retry_after) == (Outcome.HTTP_ERROR, 429, 7.0)


def test_slow_answer_is_timeout(http_server: FixtureServer, fetcher: Fetcher) -> None:
    http_server.route("/slow", b"late", delay=3.0)
    started = time.monotonic()
    r = fetcher.fetch(source(http_server.url("/slow"), timeout=0.3))
    assert r.outcome is Outcome.TIMEOUT and time.monotonic() - started < 1.5


def test_trickling_body_ends_as_timeout_at_the_deadline(http_server: FixtureServer, fetcher: Fetcher) -> None:
    http_server.route("/drip", b"x" * 100, trickle=0.2)
    started = time.monotonic()
    r = fetcher.fetch(source(http_server.url("/drip"), timeout=5.0, deadline=1.0))
    assert r.outcome is Outcome.TIMEOUT and r.body is None
    assert 0 < r.bytes_read < 100 and time.monotonic() - started < 2.0
    assert r.error == "deadline of 1 s exceeded"


def test_streamed_body_over_the_cap_is_too_large(http_server: FixtureServer, fetcher: Fetcher) -> None:
    http_server.route("/huge", [b"x" * (64 * 1024)] * 800)  # 50 MB, chunked: no Content-Length to refuse early
    r = fetcher.fetch(source(http_server.url("/huge")))
    assert (r.outcome, r.body) == (Outcome.TOO_LARGE, None)
    assert 20 * MB < r.bytes_read < 50 * MB


def test_content_length_over_the_cap_is_refused_before_reading(http_server: FixtureServer, fetcher: Fetcher) -> None:
    http_server.route("/big", b"x" * (2 * MB))
    r = fetcher.fetch(source(http_server.url("/big"), max_bytes=MB))
    assert (r.outcome, r.bytes_read) == (Outcome.TOO_LARGE, 0)
    assert r.error == f"Content-Length {2 * MB} exceeds the cap of {MB} bytes"


def test_gzip_bomb_is_too_large(http_server: FixtureServer, fetcher: Fetcher) -> None:
    bomb = gzip_bomb(100 * MB)
    assert len(bomb) < 120 * 1024
    http_server.route("/bomb", bomb, gzip=True, content_type="application/json")
    tracemalloc.start()
    started = time.monotonic()
    try:
        r = fetcher.fetch(source(http_server.url("/bomb"), max_bytes=MB))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert r.outcome is Outcome.TOO_LARGE and r.bytes_read == MB + 1
    assert time.monotonic() - started < 2.0
    assert peak < 16 * MB  # inflating one 64 KB network read whole would take about 64 MB


def test_gzip_body_is_decoded(http_server: FixtureServer, fetcher: Fetcher) -> None:
    z = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    http_server.route("/spec.yml", z.compress(b"openapi: 3.1.0\n") + z.flush(), gzip=True)
    r = fetcher.fetch(source(http_server.url("/spec.yml")))
    assert (r.outcome, r.body, r.bytes_read) == (Outcome.OK, b"openapi: 3.1.0\n", 15)


def test_refused_connection_is_network_error(fetcher: Fetcher) -> None:
    port = closed_port()
    r = fetcher.fetch(source(f"http://127.0.0.1:{port}/spec.yml"))
    assert (r.outcome, r.status) == (Outcome.NETWORK_ERROR, None)
    assert r.error and r.error.startswith(f"cannot connect to 127.0.0.1:{port}")


def test_redirect_to_another_host_is_off_source(http_server: FixtureServer, fetcher: Fetcher) -> None:
    http_server.route("/moved", status=302, headers={"Location": f"http://localhost:{http_server.port}/spec.yml"})
    http_server.route("/spec.yml", b"openapi: 3.1.0\n")
    r = fetcher.fetch(source(http_server.url("/moved")))
    assert (r.outcome, r.status, r.body) == (Outcome.REDIRECTED_OFF_SOURCE, 302, None)
    assert r.error == "redirected off source to host localhost"
    assert http_server.hits("/spec.yml") == 0


def test_redirect_within_the_host_is_followed(http_server: FixtureServer, fetcher: Fetcher) -> None:
    http_server.route("/old", status=301, headers={"Location": "/new"})
    http_server.route("/new", b"here", etag="n1")
    r = fetcher.fetch(source(http_server.url("/old")))
    assert (r.outcome, r.body, r.etag, r.final_url) == (Outcome.OK, b"here", '"n1"', http_server.url("/new"))


def test_redirect_to_an_allowed_host_is_followed_without_source_headers(
        http_server: FixtureServer, fetcher: Fetcher) -> None:
    http_server.route("/latest", status=307, headers={"Location": f"http://localhost:{http_server.port}/v2"})
    http_server.route("/v2", b"spec v2")
    r = fetcher.fetch(source(http_server.url("/latest"), allowed_hosts=("localhost",),
                             headers={"Authorization": f"Bearer {SECRET_HEADER}"}))
    assert (r.outcome, r.body) == (Outcome.OK, b"spec v2")
    first, second = http_server.requests
    assert first.headers["authorization"] == f"Bearer {SECRET_HEADER}" and "authorization" not in second.headers


def test_redirect_loop_is_http_error(http_server: FixtureServer, fetcher: Fetcher) -> None:
    http_server.route("/a", status=302, headers={"Location": "/b"})
    http_server.route("/b", status=302, headers={"Location": "/a"})
    r = fetcher.fetch(source(http_server.url("/a")))
    assert r.outcome is Outcome.HTTP_ERROR and r.error and r.error.startswith("redirect loop")
    assert http_server.hits("/a") == 1 and http_server.hits("/b") == 1


def test_endless_distinct_redirects_stop_after_ten_hops(http_server: FixtureServer, fetcher: Fetcher) -> None:
    def onward(h: Any) -> tuple[int, dict[str, str], bytes]:
        n = int(h.path.partition("?n=")[2] or 0)
        return 302, {"Location": f"/spin?n={n + 1}"}, b""

    http_server.route("/spin", onward)
    r = fetcher.fetch(source(http_server.url("/spin")))
    assert (r.outcome, r.error) == (Outcome.HTTP_ERROR, "redirect loop: more than 10 redirects")
    assert http_server.hits("/spin") == 11


def test_missing_env_is_not_configured_without_a_request(http_server: FixtureServer, fetcher: Fetcher) -> None:
    r = fetcher.fetch(source(http_server.url("/v1/models"), missing_env=("OPENAI_API_KEY",)))
    assert (r.outcome, r.status, r.error) == (Outcome.NOT_CONFIGURED, None, "not configured: set OPENAI_API_KEY")
    assert http_server.requests == []


def test_user_agent_names_watcher_and_its_version(http_server: FixtureServer, fetcher: Fetcher) -> None:
    http_server.route("/spec.yml", b"x")
    fetcher.fetch(source(http_server.url("/spec.yml")))
    assert http_server.requests[0].headers["user-agent"] == f"watcher/{watcher.__version__} (+release-evidence-watcher)"


def test_a_cookie_the_server_sets_is_sent_back_on_the_next_probe(http_server: FixtureServer,
                                                                  fetcher: Fetcher) -> None:
    """Some CDNs let a client through on the cookie they set on its first visit; answers without one
    leave the jar as it is."""
    http_server.route("/spec.yml", b"openapi: 3.1.0\n", headers={"Set-Cookie": "edge=abc123; Path=/"})
    http_server.route("/other.yml", b"openapi: 3.1.0\n")
    fetcher.fetch(source(http_server.url("/spec.yml")))
    fetcher.fetch(source(http_server.url("/other.yml")))
    fetcher.fetch(source(http_server.url("/spec.yml")))
    assert [r.headers.get("cookie") for r in http_server.requests] == [None, "edge=abc123", "edge=abc123"]


def test_source_headers_are_sent(http_server: FixtureServer, fetcher: Fetcher) -> None:
    http_server.route("/v1/models", b'{"data": []}')
    fetcher.fetch(source(http_server.url("/v1/models"), headers={"Authorization": f"Bearer {SECRET_HEADER}",
                                                                 "OpenAI-Organization": "org-1"}))
    sent = http_server.requests[0].headers
    assert sent["authorization"] == f"Bearer {SECRET_HEADER}" and sent["openai-organization"] == "org-1"


def _every_failure(server: FixtureServer) -> list[tuple[str, dict[str, Any]]]:
    """(path, source overrides) pairs that each end a probe in a different failure."""
    server.route("/500", b"oops", status=500)
    server.route("/403", b"no", status=403)
    server.route("/429", b"slow down", status=429, headers={"Retry-After": "Wed, 21 Oct 2099 07:28:00 GMT"})
    server.route("/slow", b"late", delay=2.0)
    server.route("/big", b"x" * 4096)
    server.route("/off", status=302, headers={"Location": f"http://localhost:{server.port}/x?token={SECRET_QUERY}"})
    server.route("/loop", status=302, headers={"Location": "/loop"})
    server.route("/br", b"\x00\x01", headers={"Content-Encoding": "br"})
    server.route("/badgzip", b"this is not gzip", gzip=True)
    return [("/500", {}), ("/403", {}), ("/429", {}), ("/slow", {"timeout": 0.2}), ("/big", {"max_bytes": 1024}),
            ("/off", {}), ("/loop", {}), ("/br", {}), ("/badgzip", {}), (f"@{closed_port()}", {})]


def _probe_all(server: FixtureServer, fetcher: Fetcher) -> list[FetchResult]:
    results = []
    for path, kw in _every_failure(server):
        base = f"http://127.0.0.1:{path[1:]}/x" if path.startswith("@") else server.url(path)
        results.append(fetcher.fetch(source(f"{base}?key={SECRET_QUERY}", **kw,
                                            headers={"Authorization": f"Bearer {SECRET_HEADER}"})))
    return results


def test_fetch_failure_is_never_absent(http_server: FixtureServer, fetcher: Fetcher) -> None:
    results = _probe_all(http_server, fetcher)
    assert {r.outcome for r in results} == {Outcome.HTTP_ERROR, Outcome.BLOCKED, Outcome.TIMEOUT, Outcome.TOO_LARGE,
                                            Outcome.REDIRECTED_OFF_SOURCE, Outcome.NETWORK_ERROR}
    for r in results:
        assert r.outcome.failed and not r.outcome.answered and r.body is None and r.error


def test_error_never_contains_a_secret(http_server: FixtureServer, fetcher: Fetcher) -> None:
    for r in _probe_all(http_server, fetcher):
        assert r.error and "\n" not in r.error
        assert SECRET_HEADER not in r.error and SECRET_QUERY not in r.error and "?" not in r.error, r.error
