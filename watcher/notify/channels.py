"""Sending one Delivery: render it once, then hand it to its channel type's declared `send`.

Each channel module maps its own failures to DeliveryError, permanent or transient; the types are
those of registry.TYPES.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import jinja2

from ..config import Config
from ..errors import DeliveryError
from ..logs import redact
from .registry import TYPES
from .render import render

if TYPE_CHECKING:
    from . import Delivery


def send(delivery: Delivery, config: Config) -> None:
    """Deliver or raise DeliveryError; the dispatcher marks the notice sent, retried or failed."""
    channel = delivery.channel
    ctype = TYPES.get(channel.type)
    if ctype is None:
        raise DeliveryError(f"channel {channel.name!r}: unknown type {channel.type!r}", permanent=True)
    try:
        rendered = render(delivery, config)
    except jinja2.TemplateError as exc:
        # Transient: once the template is fixed, the notice goes out instead of being lost.
        where = f"{exc.name}:{exc.lineno}" if isinstance(exc, jinja2.TemplateSyntaxError) else "template"
        raise DeliveryError(redact(f"channel {channel.name!r}: {where}: {type(exc).__name__}: {exc.message}")) \
            from None
    ctype.send(channel, rendered, delivery.key)
