"""The pure decider: a target's verdict from the sources' last outcomes and the live evidence.

Does not interact with the network or the database; it only processes data handed to it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .evidence import Authority, Outcome, SignalRow, Verdict


@dataclass(frozen=True)
class TargetVerdict:
    target: str
    verdict: Verdict
    confirmed_by: tuple[str, ...] = ()  # first-party sources with confirmed evidence now
    mentioned_by: tuple[str, ...] = ()  # first-party sources with prose mentions only
    unread: tuple[str, ...] = ()  # first-party sources whose last probe could not read them
    answered: int = 0  # first-party sources whose last probe answered
    watched: int = 0  # first-party sources watched for this target (not_configured excluded)
    not_configured: tuple[str, ...] = ()
    other_authority: tuple[str, ...] = ()  # consumer / third-party sources that show it (never raise it)
    unprobed: tuple[str, ...] = ()  # those of `unread` that were never probed (before the first run)

    @property
    def sources(self) -> tuple[str, ...]:
        """The sources behind the verdict."""
        if self.verdict is Verdict.CONFIRMED:
            return self.confirmed_by
        if self.verdict is Verdict.MENTIONED:
            return self.mentioned_by
        if self.verdict is Verdict.UNKNOWN:
            return self.unread
        return ()

    def summary(self) -> str:
        """The seed question's answer in one line."""
        n = len(self.confirmed_by)
        if self.verdict is Verdict.CONFIRMED:
            return (f"{self.target}: first-party evidence found in {n} of {self.watched} sources "
                    f"({', '.join(self.confirmed_by)})")
        if self.verdict is Verdict.MENTIONED:
            return (f"{self.target}: mentioned in first-party prose only ({', '.join(self.mentioned_by)}); "
                    "not yet listed as usable")
        if self.verdict is Verdict.NO_EVIDENCE:
            return f"{self.target}: no first-party evidence; all {self.watched} first-party sources answered"
        if self.unprobed and len(self.unprobed) == self.watched:
            return (f"{self.target}: unknown; none of the {self.watched} first-party sources has been probed yet "
                    "(watcher run --once)")
        failed = [s for s in self.unread if s not in self.unprobed]
        parts = ([f"{len(self.unprobed)} not probed yet ({', '.join(self.unprobed)})"] if self.unprobed else []) + \
                ([f"{len(failed)} could not be read ({', '.join(failed)})"] if failed else [])
        if not parts:
            return f"{self.target}: unknown; no first-party source is watched for it"
        return (f"{self.target}: unknown; nothing found, but of {self.watched} first-party sources "
                f"{' and '.join(parts)}")


def decide_verdict(target: str, sources: Sequence[Any], outcomes: Mapping[str, str | None],
                   live: Iterable[SignalRow]) -> TargetVerdict:
    """`sources`: configs (name, authority, target, configured); `outcomes`: last outcome by source name;
    `live`: live signal rows for this target (source, authority, level)."""
    relevant = [s for s in sources if s.target in (None, target)]
    first = [s for s in relevant if _auth(s.authority) is Authority.FIRST_PARTY]
    watched = [s for s in first if s.configured]
    not_configured = tuple(s.name for s in first if not s.configured)
    names = {s.name for s in watched}
    confirmed: list[str] = []
    mentioned: list[str] = []
    other: list[str] = []
    for row in live:
        src = row.source
        if _auth(row.authority) is not Authority.FIRST_PARTY:
            if src not in other:
                other.append(src)
            continue
        if src not in names:
            continue
        bucket = confirmed if row.confirmed else mentioned
        if src not in bucket:
            bucket.append(src)
    mentioned = [m for m in mentioned if m not in confirmed]
    unread = tuple(s.name for s in watched if not _answered(outcomes.get(s.name)))
    answered = len(watched) - len(unread)
    if confirmed:
        verdict = Verdict.CONFIRMED
    elif mentioned:
        verdict = Verdict.MENTIONED
    elif unread or not watched:
        verdict = Verdict.UNKNOWN
    else:
        verdict = Verdict.NO_EVIDENCE
    return TargetVerdict(target=target, verdict=verdict, confirmed_by=tuple(confirmed),
                         mentioned_by=tuple(mentioned), unread=unread, answered=answered,
                         watched=len(watched), not_configured=not_configured, other_authority=tuple(other),
                         unprobed=tuple(n for n in unread if outcomes.get(n) is None))


def _auth(value: Any) -> Authority:
    return value if isinstance(value, Authority) else Authority(value)


def _answered(outcome: str | None) -> bool:
    if outcome is None:
        return False  # never probed: we do not know
    try:
        return Outcome(outcome).answered
    except ValueError:
        return False


# ---------------------------------------------------------------------------------- notices
@dataclass(frozen=True)
class Notice:
    """A message that is due. `key` names what it is about; it is unique per channel."""

    kind: str  # release, corroboration, mentioned, withdrawn, discovered, source_health, test
    key: str
    target: str | None
    payload: Mapping[str, Any]
    # corroboration: the key of the release it joins while that release is still waiting to be sent
    joins: str | None = None


@dataclass(frozen=True)
class ReleaseState:
    """A target's release as the database holds it: the epoch last announced, and whether first-party
    evidence still stands behind it (`open`). No row at all is ReleaseState(0, False)."""

    epoch: int = 0
    open: bool = False


@dataclass(frozen=True)
class ReleaseChanges:
    """What a probe does to the targets' releases: the ones it opens (target -> new epoch) and the ones
    it closes (no first-party source confirms them any more, so a comeback is announced again)."""

    opened: Mapping[str, int]
    closed: frozenset[str]


def release_key(target: str, epoch: int) -> str:
    """The first announcement keeps the plain key (outboxes written before epochs still match it)."""
    return f"release:{target}" if epoch <= 1 else f"release:{target}:{epoch}"


def corroboration_key(target: str, epoch: int, source: str) -> str:
    return f"corroboration:{target}:{source}" if epoch <= 1 else f"corroboration:{target}:{epoch}:{source}"


@dataclass(frozen=True)
class ProbeFacts:
    """What the decider needs to know about one stored probe (all plain data)."""

    source: str
    url: str
    authority: str
    outcome: str
    error: str | None
    run_id: int
    added: Sequence[SignalRow]  # signal rows added by this probe
    vanished: Sequence[SignalRow]  # signal rows that vanished in this probe
    confirmed_elsewhere: Mapping[str, Sequence[str]]  # target -> other first-party sources confirming it now
    confirmed_here_after: frozenset[str]  # targets this source still confirms after the probe
    mentioned_before: frozenset[str]  # targets that had a first-party mention anywhere before
    failure_streak: int  # after this probe
    health_alerted: bool  # a 'down' notice was already sent for the current failure streak
    first_read: bool  # this source had never answered before: its evidence is the baseline
    configured_targets: frozenset[str]  # ids the user named (not found through a family)
    families: Mapping[str, str]  # discovered id -> family, for ids first seen in this probe
    # target -> its release, read under the row's lock (targets never released are missing)
    releases: Mapping[str, ReleaseState] = field(default_factory=dict)
    # targets this source confirmed before this probe: new rows for them (a moved entry) are not news
    confirmed_here_before: frozenset[str] = frozenset()


def _evidence(row: SignalRow, source: str) -> dict[str, Any]:
    """A signal row as a notice's payload carries it (JSON, in the outbox)."""
    first = row.first_seen
    return {"source": source, "url": row.url, "level": row.level,
            "evidence_type": row.evidence_type, "excerpt": row.excerpt,
            "location": row.location, "model_id": row.model_id,
            "first_seen": first.isoformat() + "Z"}


def _newly_confirmed(f: ProbeFacts) -> dict[str, list[SignalRow]]:
    """target -> confirmed rows this first-party probe added, for targets it did not confirm before."""
    out: dict[str, list[SignalRow]] = {}
    if f.authority != Authority.FIRST_PARTY.value:
        return out
    for row in f.added:
        if row.confirmed and row.target not in f.confirmed_here_before:
            out.setdefault(row.target, []).append(row)
    return out


def release_changes(f: ProbeFacts) -> ReleaseChanges:
    """Releases this probe opens or closes. A confirmation opens the target's release unless one is open
    (the first source to confirm a target opens it, whoever else confirms it in the same moment); the
    last first-party confirmation vanishing closes it."""
    opened = {t: f.releases.get(t, ReleaseState()).epoch + 1 for t in _newly_confirmed(f)
              if not f.releases.get(t, ReleaseState()).open}
    closed = frozenset(
        t for t in {r.target for r in f.vanished if r.confirmed}
        if f.authority == Authority.FIRST_PARTY.value and f.releases.get(t, ReleaseState()).open
        and t not in f.confirmed_here_after and not f.confirmed_elsewhere.get(t) and t not in opened)
    return ReleaseChanges(opened=opened, closed=closed)


def due_notices(f: ProbeFacts, *, alert_on: Sequence[str] = ("confirmed",),
                failure_threshold: int = 3) -> list[Notice]:
    """The notices one stored probe makes due. Consumer and third-party evidence never makes one."""
    out: list[Notice] = []
    first_party = f.authority == Authority.FIRST_PARTY.value

    # Source health: one notice when it goes down (N failures in a row, or blocked), one when it recovers.
    failed = not _answered(f.outcome) and f.outcome != Outcome.NOT_CONFIGURED.value
    if failed and not f.health_alerted and (f.failure_streak >= failure_threshold
                                            or f.outcome == Outcome.BLOCKED.value):
        out.append(Notice("source_health", f"source_health:{f.source}:down:{f.run_id}", None, {
            "kind": "source_health", "state": "down", "source": f.source, "url": f.url, "outcome": f.outcome,
            "error": f.error, "failure_streak": f.failure_streak}))
    elif not failed and f.health_alerted and f.outcome != Outcome.NOT_CONFIGURED.value:
        out.append(Notice("source_health", f"source_health:{f.source}:up:{f.run_id}", None, {
            "kind": "source_health", "state": "up", "source": f.source, "url": f.url, "outcome": f.outcome}))

    if not first_party:
        return out

    added_by_target: dict[str, list[SignalRow]] = {}
    for row in f.added:
        added_by_target.setdefault(row.target, []).append(row)
    newly = _newly_confirmed(f)

    for target, rows in added_by_target.items():
        discovered = target not in f.configured_targets
        if discovered and target in f.families and not f.first_read:
            out.append(Notice("discovered", f"discovered:{target}", target, {
                "kind": "discovered", "target": target, "family": f.families[target],
                "evidence": [_evidence(r, f.source) for r in rows]}))
        if discovered and f.first_read:
            continue  # a family's existing members are the baseline, not news
        confirmed = newly.get(target, [])
        if confirmed:
            # Release or corroboration is decided by the target's release, read under its lock, never by
            # "does another source confirm it now": sources confirming together all see each other.
            state = f.releases.get(target, ReleaseState())
            others = [s for s in f.confirmed_elsewhere.get(target, ()) if s != f.source]
            payload = {"target": target, "source": f.source, "confirmed_by": sorted(set(others) | {f.source}),
                       "evidence": [_evidence(r, f.source) for r in confirmed]}
            if not state.open:
                epoch = state.epoch + 1
                out.append(Notice("release", release_key(target, epoch), target,
                                  {"kind": "release", "epoch": epoch, **payload}))
            else:
                out.append(Notice("corroboration", corroboration_key(target, state.epoch, f.source), target,
                                  {"kind": "corroboration", "epoch": state.epoch, **payload},
                                  joins=release_key(target, state.epoch)))
        elif target in f.confirmed_here_before:
            continue  # this source confirmed it already; a moved entry is not news
        elif "mentioned" in alert_on and not f.confirmed_elsewhere.get(target) \
                and target not in f.mentioned_before:
            out.append(Notice("mentioned", f"mentioned:{target}", target, {
                "kind": "mentioned", "target": target, "source": f.source,
                "evidence": [_evidence(r, f.source) for r in rows]}))

    # Withdrawn: this source answered and no longer shows confirmed evidence it showed before (the store
    # lets evidence vanish only at the second answer in a row without it).
    if _answered(f.outcome):
        for target in sorted({r.target for r in f.vanished if r.confirmed}):
            if target in f.confirmed_here_after:
                continue
            rows = [r for r in f.vanished if r.target == target and r.confirmed]
            out.append(Notice("withdrawn", f"withdrawn:{target}:{f.source}:{f.run_id}", target, {
                "kind": "withdrawn", "target": target, "source": f.source, "outcome": f.outcome,
                "still_confirmed_by": list(f.confirmed_elsewhere.get(target, ())),
                "evidence": [_evidence(r, f.source) for r in rows]}))
    return out
