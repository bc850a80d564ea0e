"""Links a person can open, for a URL watcher fetches: the page behind a raw file or a Markdown twin.

Pure string work; used by the messages (notify/render.py), the report and the feed.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

_RAW = re.compile(r"^https://raw\.githubusercontent\.com/([^/]+)/([^/]+)/(.+)$")


def human_link(url: Any) -> str | None:
    """A page a person can open for a fetched URL: GitHub's blob page for a raw file (the ref kept,
    so a commit stays that commit), the page itself for a docs `.md` twin; else the URL as it is."""
    if not isinstance(url, str):
        return None
    m = _RAW.match(url)
    if m:
        owner, repo, rest = m.groups()
        return f"https://github.com/{owner}/{repo}/blob/{rest}"
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname in _DOCS_HOSTS and parts.path.endswith(".md"):
        return parts._replace(path=parts.path[:-3], query="").geturl()
    return url


_DOCS_HOSTS = frozenset({"developers.openai.com", "platform.openai.com", "help.openai.com", "openai.com"})
