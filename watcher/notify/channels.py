"""Sending one Delivery: render it once, then hand it to the module of its channel's type.

Each channel module maps its own failures to DeliveryError, permanent or transient.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import jinja2

from ..config import ChannelConfig, Config
from ..errors import DeliveryError
from ..logs import redact
from . import mail, slack, webhook
from .render import Rendered, render

if TYPE_CHECKING:
    from . import Delivery

Sender = Callable[[ChannelConfig, Rendered, str], None]
SENDERS: dict[str, Sender] = {"slack": slack.send, "email": mail.send, "webhook": webhook.send}


def send(delivery: Delivery, config: Config) -> None:
    """Deliver or raise DeliveryError; the dispatcher marks the notice sent, retried or failed."""
    channel = delivery.channel
    sender = SENDERS.get(channel.type)
    if sender is None:
        raise DeliveryError(f"channel {channel.name!r}: unknown type {channel.type!r}", permanent=True)
    try:
        rendered = render(delivery, config)
    except jinja2.TemplateError as exc:
        # Transient: once the template is fixed, the notice goes out instead of being lost.
        where = f"{exc.name}:{exc.lineno}" if isinstance(exc, jinja2.TemplateSyntaxError) else "template"
        raise DeliveryError(redact(f"channel {channel.name!r}: {where}: {type(exc).__name__}: {exc.message}")) \
            from None
    sender(channel, rendered, delivery.key)
