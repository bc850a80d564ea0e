"""The Slack channel: an incoming-webhook POST of the rendered Block Kit body.

Slack answers 200 "ok"; its refusals are 400 invalid_payload, 403 action_prohibited, 404 no_service or
channel_not_found and 410 channel_is_archived (permanent), 429 with Retry-After and 500 (transient).
"""

from __future__ import annotations

import json

from ..config import ChannelConfig
from .declare import ChannelType
from .render import Rendered
from .webhook import post


def send(channel: ChannelConfig, rendered: Rendered, key: str) -> None:
    # Slack keeps no idempotency key: the outbox's window of one is all there is.
    body = json.dumps(rendered.slack, ensure_ascii=False).encode("utf-8")
    post(channel, channel.settings["webhook_url"], body, {"Content-Type": "application/json; charset=utf-8"})


def preview(channel: ChannelConfig, rendered: Rendered) -> tuple[str, str]:
    """The blocks as Slack displays them: its HTML-style escapes turned back into characters."""
    parts = [b["text"]["text"] for b in rendered.slack.get("blocks") or [] if b.get("type") == "section"]
    text = "\n\n".join(parts) if parts else rendered.slack.get("text", "")
    return f"Slack · {channel.name}", text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


CHANNEL = ChannelType(
    name="slack", summary="a Slack incoming webhook (Block Kit message)",
    keys=frozenset({"webhook_url", "timeout"}), required=("webhook_url",), send=send,
    url_keys=("webhook_url",), secret_keys=("webhook_url",), preview=preview)
