"""The Atom feed of the newest evidence and notices (`watcher feed`)."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from typing import Any
from urllib.parse import quote

from .. import __version__
from ..clock import iso, utcnow
from ..store import Store
from ..store.queries import newest_notices, newest_signals
from ..text import safe
from ._common import href as _href

ATOM = "http://www.w3.org/2005/Atom"
TAG = "tag:release-evidence-watcher.invalid,2026:"  # ids stay the same across runs, prunes and hosts
_NOTICE_TITLES = {
    "release": "{target}: first-party evidence (confirmed) from {source}",
    "corroboration": "{target}: corroborated by {source}",
    "mentioned": "{target}: mentioned in first-party prose at {source}",
    "withdrawn": "{target}: evidence withdrawn at {source}",
    "discovered": "{target}: new model in family {family}",
}


def atom_feed(store: Store, *, limit: int = 100, target: str | None = None, now: datetime | None = None) -> bytes:
    """An Atom feed of the newest evidence (signals) and notices, newest first, `limit` of each at most."""
    from xml.etree import ElementTree as ET

    now = now or utcnow()
    target = target.lower() if target else None
    signals = [asdict(r) for r in newest_signals(store, limit=limit, target=target)]
    notice_rows = [asdict(r) for r in newest_notices(store, limit=limit * 4, target=target)]
    entries: list[tuple[datetime, Any]] = []
    for r in signals:
        updated = max(r["first_seen"], r["vanished_at"] or r["first_seen"])
        gone = f" (vanished {iso(r['vanished_at'])})" if r["vanished_at"] else ""
        where = safe(r["location"])
        where = where if len(where) <= 80 else where[:79] + "…"
        title = (f"{r['target']}: {r['level']} at {r['source']} ({r['evidence_type']}: {where})"
                 f"{' – vanished' if gone else ''}")
        text = "\n".join([safe(r["excerpt"]), "", f"source: {r['source']} ({r['authority']})", f"url: {r['url']}",
                          f"model id: {r['model_id']}", f"location: {safe(r['location'])}",
                          f"first seen: {iso(r['first_seen'])}", f"last seen: {iso(r['last_seen'])}{gone}",
                          f"signal id: {r['id']} (watcher explain {r['id']})"])
        eid = f"{TAG}signal/{quote(r['source'], safe='')}/{r['key_hash']}/{r['first_seen']:%Y%m%dT%H%M%S%fZ}"
        entries.append((updated, dict(id=eid, title=title, updated=updated, published=r["first_seen"],
                                      link=_href(r["url"]), text=text, category=r["level"])))
    by_key: dict[str, dict[str, Any]] = {}
    for r in notice_rows:  # one entry per notice, whatever the number of channels it went to
        e = by_key.setdefault(r["key"], dict(r, channels=[]))
        e["channels"].append(f"{r['channel']}: {r['state']}")
        e["created_at"] = min(e["created_at"], r["created_at"])
    for r in list(by_key.values())[:limit]:
        try:
            payload = json.loads(r["payload"])
        except ValueError:
            payload = {}
        evidence = payload.get("evidence") or []
        first = evidence[0] if evidence and isinstance(evidence[0], dict) else {}
        source = payload.get("source") or first.get("source") or ""
        if r["kind"] == "source_health":
            title = (f"source {source} is down ({payload.get('outcome')})" if payload.get("state") == "down"
                     else f"source {source} answers again")
        else:
            title = _NOTICE_TITLES.get(r["kind"], "{target}: " + r["kind"]).format(
                target=r["target"] or "", source=source, family=payload.get("family", ""))
        lines = [f"notice: {r['kind']}", f"channels: {', '.join(sorted(r['channels']))}"]
        lines += [f"- {e.get('source')}: {e.get('level')} {e.get('evidence_type')}: {safe(e.get('excerpt'))}"
                  for e in evidence if isinstance(e, dict)]
        if payload.get("error"):
            lines.append(f"error: {safe(str(payload['error']))}")
        eid = f"{TAG}notice/{quote(r['key'], safe='')}"
        link = _href(first.get("url") or payload.get("url"))
        entries.append((r["created_at"], dict(id=eid, title=safe(title), updated=r["created_at"],
                                              published=r["created_at"], link=link, text="\n".join(lines),
                                              category=r["kind"])))
    entries.sort(key=lambda e: e[0], reverse=True)

    ET.register_namespace("", ATOM)

    def sub(parent: Any, tag: str, text: str | None = None, **attrs: str) -> Any:
        el = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
        if text is not None:
            el.text = safe(text)
        return el

    feed = ET.Element(f"{{{ATOM}}}feed")
    sub(feed, "id", f"{TAG}feed/{quote(target or 'all', safe='')}")
    sub(feed, "title", f"watcher: release evidence{' for ' + target.lower() if target else ''}")
    sub(feed, "updated", iso(entries[0][0] if entries else now))
    sub(sub(feed, "author"), "name", "watcher")
    sub(feed, "generator", "watcher", version=__version__)
    for _, e in entries:
        entry = sub(feed, "entry")
        sub(entry, "id", e["id"])
        sub(entry, "title", e["title"])
        sub(entry, "updated", iso(e["updated"]))
        sub(entry, "published", iso(e["published"]))
        if e["link"]:
            sub(entry, "link", href=e["link"], rel="alternate")
        sub(entry, "category", term=e["category"])
        sub(entry, "content", e["text"], type="text")
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True) + b"\n"
