"""Text from the web, made fit to read and to show: decoding bytes, telling HTML from Markdown, and
sanitising (control characters, bidi overrides, secrets), collapsing and clipping it to one line.

Pure: no I/O. Every module that shows or stores fetched text calls these; none keeps its own copy.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable
from typing import Any

from .logs import redact

EXCERPT_MAX = 400  # characters of an evidence excerpt

# --- sanitising -------------------------------------------------------------------------------

# C0/C1 controls (tab and newline kept), DEL, bidi overrides and isolates ("Trojan Source"), and the
# two non-characters XML 1.0 refuses: what a fetched page may hold that must not reach a terminal, a
# chat message, a browser or a feed reader as anything but plain text.
UNSAFE_CHARS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ufffe\uffff]")


def clean(text: str) -> str:
    """Fetched text made safe to show: line endings unified, control characters and bidi overrides removed."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n").replace("\u2029", "\n")
    return UNSAFE_CHARS.sub("", text)


def safe(text: str | None) -> str:
    """`clean`, and every configured secret redacted (an error message may quote a URL that carried a key)."""
    return redact(clean(text or ""))


def redact_values(text: str, secrets: Iterable[str]) -> str:
    """`text` with each of `secrets` (a channel's URL, a source's header values) replaced by `[redacted]`,
    longest first so that a secret holding another goes whole. `safe` does this for the configured ones."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, "[redacted]")
    return text


def oneline(value: Any, limit: int | None = None) -> str:
    """A value's text on one line (white space collapsed), cut to `limit` characters with "…"."""
    text = " ".join(str(value).split()) if value is not None else ""
    return text if limit is None or len(text) <= limit else text[: limit - 1] + "…"


def safe_line(text: str | None, limit: int | None = None) -> str:
    """An error text from a server or a page for a log line or an exception: `safe`, on one line."""
    return oneline(safe(text), limit)


def clip(text: str, limit: int = EXCERPT_MAX) -> str:
    """An excerpt: every non-printable character (controls, format characters) and run of white space
    becomes one space, and the length is bounded."""
    return oneline("".join(ch if ch.isprintable() else " " for ch in text), limit)


# --- decoding ---------------------------------------------------------------------------------

_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9._:-]+)", re.IGNORECASE)
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16 LE, whose BOM is its prefix
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def charset(content_type: str | None) -> str | None:
    """The charset a Content-Type header declares, when it names one Python knows."""
    if not content_type:
        return None
    m = _CHARSET.search(content_type)
    return _codec(m.group(1)) if m else None


def _codec(name: str) -> str | None:
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def _declared_in_document(body: bytes) -> str | None:
    """The encoding the document itself declares: `<meta charset>`, `<meta http-equiv>` or `<?xml encoding>`."""
    from bs4.dammit import EncodingDetector  # bs4 is imported by whoever decodes a page that needs it

    name = EncodingDetector.find_declared_encoding(body, is_html=True)
    return _codec(name) if name else None


def _decode_as(body: bytes, declared: str) -> str | None:
    """`body` in a declared charset, or None when that charset cannot be believed.

    One that is not ASCII-compatible (UTF-16 without a BOM) is believed only when the body holds NUL
    bytes, as text in it always does; otherwise an ASCII body mislabelled UTF-16 would turn every
    model id into CJK. One that cannot decode the body (a server that lies) is not believed either.
    """
    try:
        ascii_compatible = "Az09-.".encode(declared) == b"Az09-."
    except (UnicodeError, LookupError, ValueError):  # also bytes-to-bytes codecs (base64, rot13)
        ascii_compatible = False
    if not (ascii_compatible or b"\x00" in body):
        return None
    try:
        return body.decode(declared)
    except (UnicodeError, LookupError, ValueError):
        return None


def decode(body: bytes, content_type: str | None = None) -> str:
    """Text of a body: its BOM, else the charset its Content-Type declares, else UTF-8 when it is valid
    UTF-8, else the charset the document declares in itself (`<meta charset="windows-1252">`, read by
    bs4's UnicodeDammit machinery), else UTF-8 with replacement. Never raises.

    Valid UTF-8 wins over an in-document declaration because a page whose bytes are valid UTF-8 is
    almost never in another charset, while copied-in `<meta>` tags often lie.
    """
    for bom, codec in _BOMS:
        if body.startswith(bom):
            try:
                return body.decode(codec)
            except UnicodeError:
                break
    declared = charset(content_type)
    if declared and declared not in ("utf-8", "utf-8-sig"):
        text = _decode_as(body, declared)
        if text is not None:
            return text
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if not declared:  # a header's charset=utf-8 is the server's word, kept over the document's
        in_doc = _declared_in_document(body)
        if in_doc and in_doc not in ("utf-8", "utf-8-sig"):
            text = _decode_as(body, in_doc)
            if text is not None:
                return text
    return body.decode("utf-8", errors="replace")


# --- HTML or Markdown -------------------------------------------------------------------------

_HTML_SNIFF = re.compile(
    r"<(?:!doctype\s+html|html|head|body|div|p|table|tr|h[1-6]|section|article|main|ul|title|meta)\b",
    re.IGNORECASE,
)
_MD_START = re.compile(r"\A\ufeff?\s*#{1,6}[ \t]+\S")


def is_html(text: str, content_type: str | None = None) -> bool:
    """Whether a document is HTML rather than Markdown (or plain text, JSON, YAML, source code)."""
    ctype = (content_type or "").split(";", 1)[0].strip().lower()
    if ctype in ("text/html", "application/xhtml+xml"):
        return True
    if ctype in ("text/markdown", "text/x-markdown"):
        return False
    if _MD_START.match(text):  # a Markdown twin opens with its `# Title`, and may embed HTML (JSX) later
        return False
    return bool(_HTML_SNIFF.search(text[:4096]))
