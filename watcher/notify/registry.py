"""The channel types watcher knows: each module's `CHANNEL` declaration, by the name a config uses.

A new channel type is one module exporting `CHANNEL` and one line here; config.py, channels.py and
render.py read `TYPES` and never spell a channel type's name.
"""

from __future__ import annotations

from . import apprise_channel, mail, slack, webhook
from .declare import ChannelType

TYPES: dict[str, ChannelType] = {t.name: t for t in (slack.CHANNEL, mail.CHANNEL, webhook.CHANNEL,
                                                      apprise_channel.CHANNEL)}
