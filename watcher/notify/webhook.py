"""The generic webhook channel: the JSON body of webhook.schema.json, POSTed with an Idempotency-Key.

Also holds `post`, the one HTTP POST both HTTP channels use, and its mapping of answers to DeliveryError.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from .. import __version__
from ..config import ChannelConfig
from ..errors import DeliveryError
from ..fetch import retry_after_seconds
from ..text import redact_values, safe_line
from .render import Rendered

USER_AGENT = f"release-evidence-watcher/{__version__}"
SNIPPET = 200  # characters of an error answer's body kept in the error message


def send(channel: ChannelConfig, rendered: Rendered, key: str) -> None:
    headers = {str(k): str(v) for k, v in (channel.settings.get("headers") or {}).items()}
    # Ours win: the body is JSON, and the key is what lets the receiver drop a repeat.
    headers.update({"Content-Type": "application/json", "Idempotency-Key": key})
    body = json.dumps(rendered.json, ensure_ascii=False).encode("utf-8")
    post(channel, channel.settings["url"], body, headers)


def post(channel: ChannelConfig, url: str, body: bytes, headers: Mapping[str, str]) -> httpx.Response:
    """POST once, no redirects. 2xx returns; anything else raises DeliveryError naming channel and host only.

    429 and 503 are transient with the server's Retry-After; 408 and other 5xx, timeouts and connection
    errors are transient; a redirect and every other 4xx are permanent (the same request will fail again).
    """
    host = urlsplit(url).hostname or "?"
    where = f"{channel.type} channel {channel.name!r}"
    deadline = channel.deadline

    async def attempt() -> httpx.Response:
        async with httpx.AsyncClient(timeout=httpx.Timeout(deadline), follow_redirects=False,
                                     headers={"User-Agent": USER_AGENT}) as client:
            # A total deadline, not per read: a receiver trickling its answer a byte at a time is cut
            # off (and its connection closed) when the time is up.
            return await asyncio.wait_for(client.post(url, content=body, headers=dict(headers)), deadline)

    try:
        resp = _run(attempt())
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
        raise DeliveryError(f"{where}: the URL is not a usable http(s) URL ({type(exc).__name__})",
                            permanent=True) from None
    except (httpx.TimeoutException, asyncio.TimeoutError) as exc:
        raise DeliveryError(f"{where}: no complete answer from {host} within {deadline:g} s "
                            f"({type(exc).__name__})") from None
    except httpx.TransportError as exc:
        raise DeliveryError(f"{where}: cannot reach {host}: {type(exc).__name__}: "
                            f"{_scrub(str(exc), url)}") from None
    status = resp.status_code
    if 200 <= status < 300:
        return resp
    detail = _scrub(resp.text[:SNIPPET * 2], url)[:SNIPPET]
    message = f"{where}: HTTP {status} from {host}" + (f": {detail}" if detail else "")
    if status in (429, 503):
        raise DeliveryError(message, retry_after=retry_after_seconds(resp.headers.get("retry-after")))
    if status >= 500 or status == 408:
        raise DeliveryError(message)
    if 300 <= status < 400:
        raise DeliveryError(message + " (redirects are not followed; configure the final URL)", permanent=True)
    raise DeliveryError(message, permanent=True)


def _run(coro: Coroutine[Any, Any, httpx.Response]) -> httpx.Response:
    """asyncio.run, except that closing the loop never waits for a resolver thread (getaddrinfo) still
    stuck past the deadline: the deadline holds for DNS too."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


def _scrub(text: str, url: str) -> str:
    """An error text without the URL, its path or query (a Slack webhook's path is its secret)."""
    parts = urlsplit(url)
    return safe_line(redact_values(text, {url, parts.path, parts.query} - {"/"}))
