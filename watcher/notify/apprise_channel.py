"""The apprise channel: one notice through an Apprise URL (Discord, Microsoft Teams, Telegram, ntfy,
Matrix, Pushover, json://, ...), with the outbox's guarantees: a failure is retried, a success is once.

Needs the `apprise` extra. Apprise answers only "sent" or "not sent", so every failure is transient
(retried with backoff); a URL Apprise does not recognise is permanent. Its own log lines about the
failure become the error text, with the URL (which holds the service's token) redacted.
"""

from __future__ import annotations

import logging
import threading
from typing import Any
from urllib.parse import urlsplit

from ..config import ChannelConfig
from ..errors import DeliveryError
from ..text import redact_values, safe_line
from .declare import ChannelType, Fail
from .render import Rendered

DEFAULT_TIMEOUT = 10.0


def send(channel: ChannelConfig, rendered: Rendered, key: str) -> None:
    try:
        import apprise
    except ImportError:
        raise DeliveryError(f"apprise channel {channel.name!r}: the apprise package is not installed "
                            "(pip install 'release-evidence-watcher[apprise]')") from None
    url = channel.settings["url"]
    where = f"apprise channel {channel.name!r}"
    scheme = urlsplit(url).scheme or "?"
    client = apprise.Apprise()
    if not client.add(url):
        raise DeliveryError(f"{where}: Apprise does not recognise a {scheme}:// URL (see Apprise's list of "
                            "services)", permanent=True)
    result: dict[str, Any] = {}

    def notify() -> None:
        with apprise.LogCapture(level=logging.WARNING) as captured:  # type: ignore[no-untyped-call]
            result["ok"] = client.notify(body=rendered.text, title=rendered.subject,
                                         body_format=apprise.NotifyFormat.TEXT)
            result["log"] = captured.getvalue() if hasattr(captured, "getvalue") else ""

    # The channel's total deadline holds here as for the others (the outbox's claim relies on it);
    # Apprise's own timeouts are per connection and per read.
    worker = threading.Thread(target=notify, name=f"apprise-{channel.name}", daemon=True)
    worker.start()
    worker.join(channel.deadline)
    if worker.is_alive():
        raise DeliveryError(f"{where}: {scheme}:// gave no complete answer within {channel.deadline:g} s")
    ok, log_text = result.get("ok", False), result.get("log", "")
    if not ok:
        lines = [ln for ln in log_text.splitlines() if ln.strip()]
        reason = _scrub(lines[-1].split(" - ", 2)[-1] if lines else "no reason given", url)
        raise DeliveryError(f"{where}: {scheme}:// did not take the notice: {reason}")


def _scrub(text: str, url: str) -> str:
    """Without the URL or its parts (a token is often its user, password or path)."""
    parts = urlsplit(url)
    secrets = {url, parts.netloc, parts.path, parts.query, parts.username or "", parts.password or ""} - {"", "/"}
    return safe_line(redact_values(text, secrets), 300)


def _check(settings: dict[str, Any], fail: Fail) -> None:
    url = settings.get("url")
    if not isinstance(url, str) or "://" not in url:
        raise fail("url", 'must be an Apprise URL such as "discord://${DISCORD_WEBHOOK_ID}/${DISCORD_TOKEN}"')


def preview(channel: ChannelConfig, rendered: Rendered) -> tuple[str, str]:
    return f"Apprise · {channel.name}", f"{rendered.subject}\n\n{rendered.text.rstrip()}"


CHANNEL = ChannelType(
    name="apprise", summary="any service Apprise reaches (Discord, Teams, Telegram, ntfy, Matrix, ...)",
    keys=frozenset({"url", "timeout"}), required=("url",), send=send, secret_keys=("url",), check=_check,
    extra="apprise", preview=preview)
