"""What a channel type declares about itself: its name, its config keys and checks, how it sends.

Each channel module (slack, mail, webhook, apprise_channel) exports one `CHANNEL`; `registry.py`
lists them, and the configuration, the sender and the renderer read that list instead of spelling
channel types themselves. Importing this module costs nothing: it holds only the shape.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..config import ChannelConfig
    from .render import Rendered

# fail(key, message) -> the ConfigError to raise, naming the file and `channels.NAME.key`
Fail = Callable[[str, str], Exception]
Check = Callable[[dict[str, Any], Fail], None]


@dataclass(frozen=True)
class ChannelType:
    name: str  # what `type = "..."` says
    summary: str  # one line for the README table and error messages
    keys: frozenset[str]  # the type's own settings (besides name, type, kinds, targets, enabled, corroboration)
    required: tuple[str, ...]
    send: Callable[[ChannelConfig, Rendered, str], None]  # deliver or raise DeliveryError
    url_keys: tuple[str, ...] = ()  # settings that must be http(s) URLs, checked when the config loads
    secret_keys: tuple[str, ...] = ()  # settings whose values never appear in a message (headers: every value)
    # normalises and checks the (unexpanded) settings in place; raises fail(key, message)
    check: Check | None = None
    extra: str | None = None  # the pip extra the type needs, if any
    # the render hook: (heading, text) of the message as a person sees it in this channel, for
    # `watcher demo` (which shows messages instead of sending them)
    preview: Callable[[ChannelConfig, Rendered], tuple[str, str]] | None = None
    defaults: Mapping[str, Any] = field(default_factory=dict)
