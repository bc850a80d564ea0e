"""The model-id matcher: a target's exact id and its dated snapshots, nothing longer.

`gpt-image-2` matches `gpt-image-2` and `gpt-image-2-2026-04-21`; `gpt-image-20`, `gpt-image-2.5`
and `gpt-image-2-mini` are other models. A family (`gpt-image-*`) matches any id of that shape.
Pure: no I/O.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

ID_CHARS = "A-Za-z0-9._-"
_ID_SET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")
# Dated snapshots as OpenAI writes them: -2026-04-21, and the older -0613.
_SNAPSHOT = re.compile(r"^(?P<base>.+?)(?:-\d{4}-\d{2}-\d{2}|-\d{4})$")
_VALID_ID = re.compile(r"^[a-z0-9][a-z0-9._-]*[a-z0-9]$")
# The longest id that is a model id: what the database keeps (signals.target and model_id are 200
# characters). A longer token is no model's name, and storing it would fail or be cut.
MAX_ID = 200


def is_valid_id(value: str) -> bool:
    return len(value) <= MAX_ID and bool(_VALID_ID.match(value))


def base_id(model_id: str) -> str:
    """The model a dated snapshot belongs to (`gpt-image-2-2026-04-21` -> `gpt-image-2`)."""
    m = _SNAPSHOT.match(model_id)
    return m.group("base") if m else model_id


@dataclass(frozen=True)
class Target:
    """What a user watches: one model id, or a family glob such as `gpt-image-*`."""

    id: str | None = None
    family: str | None = None

    @property
    def name(self) -> str:
        return self.id or self.family or ""


@dataclass(frozen=True)
class Match:
    target: str  # the watched id (for a family: the id found, snapshots folded to their model)
    model_id: str  # what the text says, lower-cased: the id or one of its snapshots
    start: int
    end: int
    family: str | None = None


class Matcher:
    """Finds the ids of a set of targets in text, or decides whether a value is one."""

    def __init__(self, targets: Iterable[Target | str]) -> None:
        self.ids: frozenset[str] = frozenset()
        self.families: tuple[str, ...] = ()
        ids: set[str] = set()
        families: list[str] = []
        for t in targets:
            t = Target(id=t) if isinstance(t, str) else t
            if t.id:
                ids.add(t.id.lower())
            elif t.family:
                families.append(t.family.lower())
        self.ids = frozenset(ids)
        self.families = tuple(families)
        prefixes = sorted(ids | {f.split("*", 1)[0].split("?", 1)[0] for f in families}, key=len, reverse=True)
        # what every match starts with, longest first (a family's text before its wildcard; "" for `*`)
        self.prefixes: tuple[str, ...] = tuple(prefixes)
        if prefixes:
            alternation = "|".join(re.escape(p) for p in prefixes)
            # No look-behind for "not inside a longer id": with IGNORECASE it keeps the regex engine
            # from skipping ahead to a possible first character (2.4x slower over the 3 MB spec), so
            # the preceding character is checked in Python, on the rare hits only.
            self._search = re.compile(rf"(?:{alternation})[{ID_CHARS}]*", re.IGNORECASE)
        else:
            self._search = re.compile(r"(?!x)x")

    def classify(self, token: str) -> tuple[str, str | None] | None:
        """(target, family) for a whole id-shaped token, or None when it names no target."""
        token = token.lower()
        if len(token) > MAX_ID:
            return None
        if token in self.ids:
            return token, None
        base = base_id(token)
        if base != token and base in self.ids:
            return base, None
        for fam in self.families:
            if fnmatch.fnmatchcase(base, fam) and is_valid_id(base):
                return base, fam
        return None

    def _hits(self, text: str) -> Iterator[re.Match[str]]:
        """Id-shaped runs that start with a target's prefix and are not the tail of a longer id. A run
        preceded by an id character is skipped whole: any later start inside it is preceded by one too."""
        for m in self._search.finditer(text):
            start = m.start()
            if start == 0 or text[start - 1] not in _ID_SET:
                yield m

    def find(self, text: str) -> Iterator[Match]:
        """Every place in `text` that names a target."""
        for m in self._hits(text):
            token = m.group(0).rstrip("._-")
            hit = self.classify(token)
            if hit is not None:
                yield Match(hit[0], token.lower(), m.start(), m.start() + len(token), hit[1])

    def match_value(self, value: str) -> Match | None:
        """The Match when the whole value (a spec enum entry, an SDK literal) is a target's id."""
        token = value.strip()
        hit = self.classify(token)
        if hit is None:
            return None
        return Match(hit[0], token.lower(), 0, len(value), hit[1])

    def could_name_any(self, document: str) -> bool:
        """could_match for a whole document, several times faster over 3 MB: its UTF-8 bytes lower-cased
        (ASCII letters only, so cheap), then a plain substring search per prefix. It may say yes where
        could_match says no, never no where find() would report a match: of the other characters that
        IGNORECASE equates with an ASCII letter only the Kelvin sign lower-cases to one (k), and a
        document holding it gets the exact check; dotless i, dotted I and long s make no valid id."""
        if "\u212a" in document or not all(p.isascii() for p in self.prefixes):
            return self.could_match(document)
        lowered = document.encode("utf-8", "surrogatepass").lower()
        return any(p.encode() in lowered for p in self.prefixes)

    def prefix_offsets(self, utf8: bytes) -> list[int]:
        """Where a prefix starts in a document's UTF-8, in any ASCII case: every offset find() could
        report a match at, and more (could_name_any's case folding; a caller whose document may hold
        the Kelvin sign, or whose prefixes are not ASCII, must not rely on it)."""
        lowered = utf8.lower()
        found: list[int] = []
        for prefix in self.prefixes:
            needle = prefix.encode()
            pos = lowered.find(needle)
            while pos != -1:
                found.append(pos)
                pos = lowered.find(needle, pos + 1)
        return found

    def could_match(self, text: str) -> bool:
        """A cheap pre-check: does the text contain anything worth a closer look?"""
        search = self._search.search
        m = search(text)
        while m is not None:  # _hits, inlined: the spec parser asks this of every scalar
            start = m.start()
            if start == 0 or text[start - 1] not in _ID_SET:
                return True
            m = search(text, m.end())
        return False
