"""Logging to stderr, as text or one JSON object per line, with every configured secret redacted.

Levels: watcher's own loggers tell the story at INFO (a probe that changed something, a notice due,
sent, retried or failed, a source's health); third-party loggers stay at WARNING unless -vv.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

_SECRETS: set[str] = set()
LOG_FORMATS = ("text", "json")


def add_secrets(values: Iterable[str]) -> None:
    """Register values (API keys, passwords, webhook URLs) that must never appear in a log line."""
    _SECRETS.update(v for v in values if v and len(v) >= 4)


def redact(text: str) -> str:
    for secret in sorted(_SECRETS, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, "[redacted]")
    return text


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if _SECRETS:
            record.msg = redact(record.getMessage())
            record.args = None
            if record.exc_info and record.exc_info[1] is not None:
                record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
                record.exc_info = None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line (journald, Kubernetes, log shippers): time, level, logger, message,
    and the structured fields a story line carries in `extra` (source, outcome, channel, key...)."""

    _STD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds")
        out: dict[str, Any] = {"time": when.replace("+00:00", "Z"), "level": record.levelname.lower(),
                               "logger": record.name, "message": record.getMessage()}
        for k, v in vars(record).items():
            if k not in self._STD and not k.startswith("_"):
                out[k] = v if isinstance(v, (int, float, bool, type(None))) else redact(str(v))
        if record.exc_info and record.exc_info[1] is not None:
            out["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exception"] = record.exc_text
        return json.dumps(out, ensure_ascii=False, default=str)


def setup_logging(verbose: int = 0, fmt: str = "text") -> None:
    """verbose 0: watcher at INFO, others at WARNING; 1: watcher at DEBUG; 2+: everything at DEBUG."""
    own = logging.INFO if verbose <= 0 else logging.DEBUG
    others = logging.DEBUG if verbose >= 2 else logging.WARNING
    root = logging.getLogger()
    handler = next((h for h in root.handlers if getattr(h, "_watcher", False)), None)
    if handler is None:
        handler = logging.StreamHandler(sys.stderr)
        handler._watcher = True  # type: ignore[attr-defined]
        handler.addFilter(RedactingFilter())
        root.addHandler(handler)
    handler.setFormatter(JsonFormatter() if fmt == "json" else
                         logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.setLevel(others)
    logging.getLogger("watcher").setLevel(own)
