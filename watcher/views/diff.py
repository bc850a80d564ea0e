"""The diff engine: what changed between two stored documents of a source, cut to the hunks that name the
model id, with anchors that keep huge documents fast (a unified diff, `watcher explain`)."""

from __future__ import annotations

import bisect
import difflib
from collections import Counter
from dataclasses import dataclass

from ..clock import iso
from ..store.runs import RunInfo, SnapshotInfo
from ..targets import Matcher
from ..text import safe
from ._common import cut as _cut


@dataclass(frozen=True)
class Diff:
    """The unified diff from the source's previous snapshot to the one the evidence first appeared in."""

    base_run: RunInfo  # the run that read the previous snapshot
    base_snapshot: SnapshotInfo
    lines: tuple[str, ...]  # ---/+++ headers, then the hunks shown
    hunks_shown: int
    hunks_total: int
    lines_omitted: int  # diff lines left out to stay short
    names_model_id: bool  # the hunks shown are those whose changed lines name the model id


def diff_documents(old: str, new: str, base_run: RunInfo, base: SnapshotInfo, snap: SnapshotInfo, model_id: str,
          matcher: Matcher, max_lines: int) -> Diff:
    a, b = old.split("\n"), new.split("\n")
    hunks = [h for h in _hunks(a, b) if h]
    names = [h for h in hunks if any(line[:1] in "+-" and _names(line[1:], model_id, matcher) for line in h[1:])]
    chosen = names or hunks
    out: list[str] = []
    shown = omitted = 0
    for h in chosen:
        room = max_lines - len(out)
        if room < 6:  # no room for a useful piece of another hunk
            omitted += len(h)
            continue
        if len(h) > room:
            kept = _around_model_id(h, room, model_id, matcher)
            omitted += len(h) - len(kept) + 1  # the "… more lines" note is not a diff line
            h = kept
        out.extend(h)
        shown += 1
    omitted += sum(map(len, hunks)) - sum(map(len, chosen))  # the hunks that do not name the model id
    header = [f"--- snapshot #{base.id} sha256:{base.content_hash[:12]} "
              f"({iso(base_run.started_at)}, run #{base_run.id})",
              f"+++ snapshot #{snap.id} sha256:{snap.content_hash[:12]}"]
    return Diff(base_run=base_run, base_snapshot=base, lines=tuple(header + [safe(_cut(x, 0, False)) for x in out])
                if out else (), hunks_shown=shown, hunks_total=len(hunks), lines_omitted=omitted,
                names_model_id=bool(names))


def _names(line: str, model_id: str, matcher: Matcher) -> bool:
    return model_id.lower() in line.lower() and any(m.model_id == model_id.lower() for m in matcher.find(line))


def _around_model_id(hunk: list[str], room: int, model_id: str, matcher: Matcher) -> list[str]:
    """A hunk too long to show whole: its header and `room - 2` lines around its first line naming the id."""
    body = hunk[1:]
    at = next((i for i, x in enumerate(body) if x[:1] in "+-" and _names(x[1:], model_id, matcher)), 0)
    lo = max(0, min(at - (room - 2) // 2, len(body) - (room - 2)))
    return [hunk[0]] + body[lo:lo + room - 2] + [f"… ({len(body) - (room - 2)} more lines of this hunk)"]


def _hunks(a: list[str], b: list[str], n: int = 3) -> list[list[str]]:
    """Unified-diff hunks of a -> b. Lines unique to both documents anchor them (as in patience diff),
    so difflib only aligns the short stretches between anchors: a 3 MB spec diffs in well under a second."""
    ops = _opcodes(a, b)
    out = []
    for group in _Grouped(ops).get_grouped_opcodes(n):
        i1, i2, j1, j2 = group[0][1], group[-1][2], group[0][3], group[-1][4]
        lines = [f"@@ -{_range(i1, i2)} +{_range(j1, j2)} @@"]
        for tag, x1, x2, y1, y2 in group:
            if tag == "equal":
                lines += [" " + x for x in a[x1:x2]]
                continue
            lines += ["-" + x for x in a[x1:x2]]
            lines += ["+" + y for y in b[y1:y2]]
        out.append(lines)
    return out


def _range(start: int, stop: int) -> str:
    length = stop - start
    first = start + 1 if length else start
    return f"{first}" if length == 1 else f"{first},{length}"


class _Grouped(difflib.SequenceMatcher):
    """difflib's hunk grouping over opcodes computed elsewhere."""

    def __init__(self, ops: list[tuple[str, int, int, int, int]]) -> None:
        self._ops = ops

    def get_opcodes(self) -> list[tuple[str, int, int, int, int]]:  # type: ignore[override]
        return self._ops


_GAP_MAX = 4_000_000  # a stretch between anchors bigger than this (lines a x lines b) is one replacement


def _opcodes(a: list[str], b: list[str]) -> list[tuple[str, int, int, int, int]]:
    ca, cb = Counter(a), Counter(b)
    pos_a = {x: i for i, x in enumerate(a) if ca[x] == 1}
    pairs = [(pos_a[y], j) for j, y in enumerate(b) if cb[y] == 1 and y in pos_a]
    anchors = _increasing(pairs) + [(len(a), len(b))]
    ops: list[tuple[str, int, int, int, int]] = []
    i0 = j0 = 0
    for i, j in anchors:
        if i - i0 or j - j0:
            if (i - i0) * (j - j0) > _GAP_MAX:
                ops.append(("replace", i0, i, j0, j))
            else:
                sm = difflib.SequenceMatcher(None, a[i0:i], b[j0:j], autojunk=False)
                ops += [(t, x1 + i0, x2 + i0, y1 + j0, y2 + j0) for t, x1, x2, y1, y2 in sm.get_opcodes()]
        if i < len(a):
            ops.append(("equal", i, i + 1, j, j + 1))
        i0, j0 = i + 1, j + 1
    merged: list[tuple[str, int, int, int, int]] = []
    for op in ops:  # join neighbouring equal runs, as difflib's own opcodes are
        if merged and op[0] == "equal" == merged[-1][0]:
            merged[-1] = ("equal", merged[-1][1], op[2], merged[-1][3], op[4])
        else:
            merged.append(op)
    return merged or [("equal", 0, len(a), 0, len(b))]


def _increasing(pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The longest run of pairs increasing in their first item (pairs come sorted by the second)."""
    tails: list[int] = []
    tail_at: list[int] = []
    prev: list[int] = [-1] * len(pairs)
    for k, (i, _) in enumerate(pairs):
        p = bisect.bisect_left(tails, i)
        if p == len(tails):
            tails.append(i)
            tail_at.append(k)
        else:
            tails[p], tail_at[p] = i, k
        prev[k] = tail_at[p - 1] if p else -1
    out = []
    k = tail_at[-1] if tail_at else -1
    while k != -1:
        out.append(pairs[k])
        k = prev[k]
    return out[::-1]
