"""Rendering a Delivery into what each channel sends: subject, plain text, HTML, Slack and webhook bodies.

Wording lives in Jinja2 templates beside this module (a file of the same name in `templates_dir` wins).
Every string taken from a fetched page is cleaned here (control characters, configured secrets) before
any template sees it, and escaped on the way out: HTML by autoescape, Slack by `slack_escape`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .. import __version__
from ..clock import iso, readable, utcnow
from ..config import Config
from ..links import human_link
from ..logs import redact
from ..text import clean, oneline, redact_values

if TYPE_CHECKING:
    import jinja2

    from . import Delivery

TEMPLATES = Path(__file__).parent / "templates"
SUBJECT_TEMPLATE = "subject.txt.j2"
TEXT_TEMPLATE = "message.txt.j2"
HTML_TEMPLATE = "message.html.j2"
SLACK_TEMPLATE = "slack.md.j2"

SUBJECT_MAX = 200
SLACK_SECTION_MAX = 3000  # Slack rejects a section text longer than this (invalid_blocks)
SLACK_BLOCKS_MAX = 50  # and a message with more blocks than this

_MENTION = re.compile(r"@(channel|here|everyone)", re.IGNORECASE)
_ZWJ = "\u200d"
_EVIDENCE_FIELDS = ("source", "url", "level", "evidence_type", "excerpt", "first_seen", "location", "model_id")


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str  # plain text; Slack's fallback text is this, escaped
    html: str
    slack: dict[str, Any]  # an incoming-webhook body: {"text": ..., "blocks": [...]}
    json: dict[str, Any]  # the webhook body; see webhook.schema.json
    ident: str = ""  # the notice's key and outbox row: unique to this installation (e-mail's Message-ID)


def slack_escape(text: str) -> str:
    """Text Slack shows as written: `&`, `<`, `>` escaped as Slack asks, so `<!channel>`, `<@U123>` and
    `<https://x|label>` stay inert; bare @channel, @here and @everyone get a zero-width joiner after the @."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MENTION.sub("@" + _ZWJ + r"\1", text)


def when(value: Any) -> str:
    """An ISO time (as the body carries it) for people: to the second, with its zone (UTC)."""
    if not value:
        return ""
    try:
        dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value)
    return readable(dt)


def is_http_url(value: Any) -> bool:
    """Only http(s) URLs become links in HTML (never javascript: or data:)."""
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def render(delivery: Delivery, config: Config, *, now: datetime | None = None) -> Rendered:
    """Everything a channel may send for one delivery. Raises jinja2.TemplateError on a broken template."""
    scrub = _scrubber(config, delivery.channel.settings, delivery.channel.type)
    body = _body(delivery, scrub, now or utcnow())
    text_env, slack_env = _environments(str(config.templates_dir) if config.templates_dir else None)

    context = dict(body, **shown_evidence(body["evidence"]))  # the webhook body keeps every block
    subject = oneline(text_env.get_template(SUBJECT_TEMPLATE).render(context), SUBJECT_MAX)
    text = text_env.get_template(TEXT_TEMPLATE).render(context)
    html = text_env.get_template(HTML_TEMPLATE).render(context)
    mrkdwn = slack_env.get_template(SLACK_TEMPLATE).render(context)
    slack = {"text": slack_escape(text), "blocks": _blocks(mrkdwn)}
    # The context was scrubbed already; scrubbing the output too keeps a secret out of template literals.
    made = f"|{iso(delivery.created_at)}|{delivery.ids[0]}" if delivery.created_at and delivery.ids else ""
    return Rendered(subject=scrub(subject), text=scrub(text), html=scrub(html),
                    slack=_map_strings(slack, scrub), json=_map_strings(body, scrub), ident=delivery.key + made)


# ---------------------------------------------------------------------------------- the body
def _body(d: Delivery, scrub: Callable[[str], str], now: datetime) -> dict[str, Any]:
    """The webhook body, also the templates' variables. Strings cleaned and scrubbed."""
    payloads = [_map_strings(dict(p), lambda s: scrub(clean(s))) for p in d.payloads]
    first = payloads[0] if payloads else {}
    evidence = group_evidence(e for p in payloads for e in p.get("evidence") or ())
    details = {k: v for k, v in first.items() if k not in ("kind", "target", "key", "evidence")}
    confirmed = sorted({s for p in payloads for s in p.get("confirmed_by") or ()})
    if not confirmed and d.kind in ("release", "corroboration"):
        confirmed = sorted({e["source"] for e in evidence if e["source"]})
    if confirmed:
        details["confirmed_by"] = confirmed
    if d.kind == "corroboration" and len(payloads) > 1:  # several sources confirming in one message
        details["source"] = ", ".join(sorted({str(p["source"]) for p in payloads if p.get("source")}))
    if d.kind == "discovered" and "source" not in details and evidence:
        details["source"] = evidence[0]["source"]
    body: dict[str, Any] = {
        "kind": d.kind,
        "target": d.target,
        "key": d.key,
        "notice_keys": [d.key] + [str(p["key"]) for p in payloads[1:] if p.get("key")],
        "channel": d.channel.name,
        "summary": "",
        "evidence": evidence,
        "details": details,
        "sent_at": iso(now),
        "watcher_version": __version__,
    }
    body["summary"] = scrub(clean(summary(body)))
    return body


def group_evidence(items: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One block per source and place (url, location, type, level), listing every id found there: the
    model and its dated snapshot are one finding, not two. The excerpt kept is the one naming the most
    ids; first_seen is the earliest."""
    blocks: dict[tuple[Any, ...], dict[str, Any]] = {}
    for e in items:
        item = {k: e.get(k) for k in _EVIDENCE_FIELDS}
        place = (item["source"], item["url"], item["location"], item["evidence_type"], item["level"])
        block = blocks.get(place)
        if block is None:
            block = blocks[place] = dict(item, model_ids=[], link=human_link(item["url"]))
        mid = item["model_id"]
        if mid and mid not in block["model_ids"]:
            block["model_ids"].append(mid)
            block["model_ids"].sort(key=lambda m: (len(m), m))  # the model before its snapshots
        excerpt = item["excerpt"] or ""
        if sum(m in excerpt for m in block["model_ids"]) > sum(m in (block["excerpt"] or "")
                                                               for m in block["model_ids"]):
            block["excerpt"] = excerpt
        if item["first_seen"] and (not block["first_seen"] or str(item["first_seen"]) < str(block["first_seen"])):
            block["first_seen"] = item["first_seen"]
    for block in blocks.values():
        block["model_id"] = block["model_ids"][0] if block["model_ids"] else block["model_id"]
    return list(blocks.values())


PLACES_SHOWN = 3  # evidence blocks per source in a message people read; the webhook body has them all


def shown_evidence(evidence: list[dict[str, Any]]) -> dict[str, Any]:
    """What a person reads: at most PLACES_SHOWN blocks per source (`shown`), and per source how many
    more places there are (`more`), so a guide with thirty examples is not thirty blocks of a message."""
    shown: list[dict[str, Any]] = []
    per: dict[Any, int] = {}
    more: dict[Any, int] = {}
    for e in evidence:
        per[e["source"]] = per.get(e["source"], 0) + 1
        if per[e["source"]] <= PLACES_SHOWN:
            shown.append(e)
        else:
            more[e["source"]] = more.get(e["source"], 0) + 1
    return {"shown": shown, "more": more}


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def summary(body: Mapping[str, Any]) -> str:
    """The notice's answer in one line."""
    kind, target, det = body["kind"], body["target"], body["details"]
    source = det.get("source") or "?"
    confirmed = det.get("confirmed_by") or []
    if kind == "release":
        return (f"{target}: first-party evidence found in {_plural(len(confirmed), 'source')} "
                f"({', '.join(confirmed)})")
    if kind == "corroboration":  # the full list is the "Confirmed by" line; the summary stays short
        return (f"{target}: also confirmed by {_and(source.split(', '))}; "
                f"now in {_plural(len(confirmed), 'first-party source')}")
    if kind == "mentioned":
        return f"{target}: mentioned in first-party prose at {source}; not yet listed as usable"
    if kind == "withdrawn":
        still = det.get("still_confirmed_by") or []
        rest = f"still confirmed by {', '.join(still)}" if still else "no other first-party source confirms it now"
        return f"{target}: evidence withdrawn at {source}; {rest}"
    if kind == "discovered":
        return f"{target}: new model in family {det.get('family') or '?'}, first seen at {source}"
    if kind == "source_health":
        if det.get("state") == "up":
            return f"source {source} is back: {det.get('outcome')}"
        streak = det.get("failure_streak")
        after = f" after {_plural(streak, 'failed probe')}" if isinstance(streak, int) and streak > 0 else ""
        error = f" ({oneline(det['error'])})" if det.get("error") else ""
        return f"source {source} is down: {det.get('outcome')}{after}{error}"
    if kind == "test":
        return f"test notice from watcher to channel {det.get('channel') or body['channel']}"
    return f"{kind}: {target or ''}".strip()


# ---------------------------------------------------------------------------------- secrets
def _scrubber(config: Config, settings: Mapping[str, Any], channel_type: str) -> Callable[[str], str]:
    """Redaction of every secret logging knows, the configuration's, and this channel's own settings."""
    from .registry import TYPES

    own: list[str] = []
    ctype = TYPES.get(channel_type)
    for key in ctype.secret_keys if ctype else ():
        value = settings.get(key)
        if isinstance(value, str):
            own.append(value)
        elif isinstance(value, Mapping):  # headers: every value may carry a token
            own += [str(v) for v in value.values()]
    secrets = {s for s in (*config.secrets, *own) if len(s) >= 4}

    def scrub(text: str) -> str:
        return redact_values(redact(text), secrets)

    return scrub


def _map_strings(value: Any, fn: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, Mapping):
        return {k: _map_strings(v, fn) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_map_strings(v, fn) for v in value]
    if isinstance(value, datetime):
        return fn(iso(value) or "")
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return fn(str(value))  # anything else a payload may carry arrives as its text


# ---------------------------------------------------------------------------------- templates
def _text_finalize(value: Any) -> Any:
    return "" if value is None else value


def _slack_finalize(value: Any) -> str:
    return "" if value is None else slack_escape(str(value))


@functools.lru_cache(maxsize=8)
def _environments(templates_dir: str | None) -> tuple[jinja2.Environment, jinja2.Environment]:
    """(text and HTML environment, Slack environment), built once per templates_dir."""
    import jinja2  # here, not at the top: loading a configuration imports this module, not Jinja
    loaders: list[jinja2.BaseLoader] = [jinja2.FileSystemLoader(TEMPLATES)]
    if templates_dir:
        loaders.insert(0, jinja2.FileSystemLoader(templates_dir))
    loader = jinja2.ChoiceLoader(loaders)
    common: dict[str, Any] = dict(loader=loader, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    text_env = jinja2.Environment(
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "htm", "html.j2", "htm.j2"),
                                            default_for_string=False, default=False),
        finalize=_text_finalize, **common)
    # Slack's mrkdwn: every {{ expression }} is escaped; the template's own text is trusted markup.
    slack_env = jinja2.Environment(autoescape=False, finalize=_slack_finalize, **common)
    for env in (text_env, slack_env):
        env.filters["oneline"] = oneline
        env.filters["when"] = when
        env.tests["http_url"] = is_http_url
    return text_env, slack_env


def _blocks(mrkdwn: str) -> list[dict[str, Any]]:
    """Section blocks, one per paragraph of the Slack template, within Slack's size limits."""
    paragraphs = [p.strip("\n") for p in re.split(r"\n\s*\n", mrkdwn) if p.strip()]
    sections: list[str] = []
    for p in paragraphs:
        sections += _chunks(p, SLACK_SECTION_MAX)
    if len(sections) > SLACK_BLOCKS_MAX:
        dropped = len(sections) - (SLACK_BLOCKS_MAX - 1)
        sections = sections[:SLACK_BLOCKS_MAX - 1] + [f"_… {dropped} more parts in the e-mail or webhook body_"]
    return [{"type": "section", "text": {"type": "mrkdwn", "text": s}} for s in sections]


def _chunks(text: str, size: int) -> Iterable[str]:
    while len(text) > size:
        cut = text.rfind("\n", 0, size)
        cut = cut if cut > 0 else size
        # never split an escape such as &amp; in two
        amp = text.rfind("&", max(0, cut - 5), cut)
        if amp > 0 and ";" not in text[amp:cut]:
            cut = amp
        yield text[:cut]
        text = text[cut:].lstrip("\n")
    if text:
        yield text
