"""The Models API: GET /v1/models (the list an API key can use) or GET /v1/models/{id}. An id in the
list yields a model_list_entry; a retrieve answered for the id yields a model_retrieve.

Both are confirmations: the API itself says the model exists. Any body that is not JSON of one of
those two shapes (an error object, an HTML page served with 200) is a parse error, never absence.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from typing import Any

from ..errors import ParseError
from ..evidence import EvidenceType, Signal, Signals
from ..targets import Matcher
from ..text import clip, decode
from . import Anchor, Document, Kind


def _created(entry: dict[str, Any]) -> str | None:
    created = entry.get("created")
    if isinstance(created, bool) or not isinstance(created, (int, float)):
        return None
    try:
        return dt.datetime.fromtimestamp(created, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return None


def _excerpt(entry: dict[str, Any]) -> str:
    try:
        return clip(json.dumps(entry, ensure_ascii=False, default=str))
    except (ValueError, RecursionError):  # a pathological entry; its id is excerpt enough
        return clip(str(entry.get("id")))


def parse(doc: Document, matcher: Matcher) -> list[Signal]:
    try:
        data = json.loads(decode(doc.body, doc.content_type))
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise ParseError(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ParseError("not a Models API answer: the JSON is not an object")

    found = Signals()
    if isinstance(data.get("data"), list) and data.get("object", "list") == "list":
        for entry in data["data"]:
            if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
                continue
            m = matcher.match_value(entry["id"])
            if m is None:
                continue
            found.add(
                m.target,
                m.model_id,
                EvidenceType.MODEL_LIST_ENTRY,
                f"data[id={entry['id'].strip()}]",
                functools.partial(_excerpt, entry),
                published=_created(entry),
            )
    elif isinstance(data.get("id"), str) and data.get("object") == "model":
        m = matcher.match_value(data["id"])
        if m is not None:
            found.add(m.target, m.model_id, EvidenceType.MODEL_RETRIEVE, "id", _excerpt(data), _created(data))
    else:
        raise ParseError("not a Models API answer: neither a model list nor a model object")
    return found.kept


def anchor(doc: Document) -> Anchor:
    """The `data` list of a model list, or a retrieve's model object."""
    try:
        data = json.loads(decode(doc.body, doc.content_type))
    except (ValueError, RecursionError):
        return Anchor(False, "not JSON")
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        ids = [e["id"] for e in data["data"] if isinstance(e, dict) and isinstance(e.get("id"), str)]
        return Anchor(bool(ids), f"model list: {len(ids)} ids")
    if isinstance(data, dict) and data.get("object") == "model" and isinstance(data.get("id"), str):
        return Anchor(True, f"model object: {clip(data['id'], 80)}")
    return Anchor(False, "no `data` list and no model object")


KIND = Kind(
    name="models_api",
    parse=parse,
    anchor=anchor,
    evidence_types=(EvidenceType.MODEL_LIST_ENTRY, EvidenceType.MODEL_RETRIEVE),
    reads="JSON of `GET /v1/models` or `GET /v1/models/{id}`",
    not_found_is_absent=True,  # GET /v1/models/{id} answers 404 model_not_found
)
