"""The pure decider: verdicts and which notices a probe makes due."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pytest

from watcher.decide import ProbeFacts, ReleaseState, decide_verdict, due_notices, release_changes
from watcher.evidence import Authority, SignalRow, Verdict


@dataclass(frozen=True)
class Src:
    name: str
    authority: Authority = Authority.FIRST_PARTY
    target: str | None = None
    configured: bool = True


SOURCES = [Src("spec"), Src("sdk"), Src("gateway", Authority.THIRD_PARTY), Src("api", configured=False),
           Src("page/gpt-image-2", target="gpt-image-2"), Src("page/gpt-4o", target="gpt-4o")]


SEEN = datetime(2026, 5, 5, 12, 0)


def live(source, level, authority="first_party"):
    return SignalRow(source=source, target="gpt-image-2", model_id="gpt-image-2", level=level,
                     evidence_type="spec_value", excerpt="enum", location="a.b", url="https://x",
                     authority=authority, first_seen=SEEN)


def test_confirmed_when_a_first_party_source_lists_it_even_if_another_is_down():
    outcomes = {"spec": "ok", "sdk": "timeout", "page/gpt-image-2": "ok"}
    v = decide_verdict("gpt-image-2", SOURCES, outcomes, [live("spec", "confirmed")])
    assert v.verdict is Verdict.CONFIRMED and v.sources == ("spec",)
    assert v.watched == 3  # spec, sdk, its own page; not the gateway, not the unconfigured api, not gpt-4o's page


def test_third_party_evidence_never_raises_the_verdict():
    outcomes = {"spec": "ok", "sdk": "ok", "page/gpt-image-2": "absent", "gateway": "ok"}
    v = decide_verdict("gpt-image-2", SOURCES, outcomes, [live("gateway", "confirmed", "third_party")])
    assert v.verdict is Verdict.NO_EVIDENCE
    assert v.other_authority == ("gateway",)


def test_a_source_that_could_not_be_read_makes_it_unknown_never_absent():
    outcomes = {"spec": "ok", "sdk": "blocked", "page/gpt-image-2": "ok"}
    v = decide_verdict("gpt-image-2", SOURCES, outcomes, [])
    assert v.verdict is Verdict.UNKNOWN and v.unread == ("sdk",)
    assert "could not be read (sdk)" in v.summary()


@pytest.mark.parametrize("broken", ["not_found", "empty", "truncated", "format_changed"])
def test_a_broken_source_is_unread_not_absent(broken):
    outcomes = {"spec": "ok", "sdk": broken, "page/gpt-image-2": "ok"}
    v = decide_verdict("gpt-image-2", SOURCES, outcomes, [])
    assert v.verdict is Verdict.UNKNOWN and v.unread == ("sdk",)
    # while another first-party source confirms, the broken one changes nothing
    assert decide_verdict("gpt-image-2", SOURCES, outcomes, [live("spec", "confirmed")]).verdict is Verdict.CONFIRMED
    down = due_notices(facts(source="sdk", outcome=broken, failure_streak=3))
    assert [(n.kind, n.payload["state"]) for n in down] == [("source_health", "down")]


def test_never_probed_is_unknown():
    assert decide_verdict("gpt-image-2", SOURCES, {}, []).verdict is Verdict.UNKNOWN


def test_prose_only_is_mentioned():
    outcomes = {"spec": "ok", "sdk": "ok", "page/gpt-image-2": "ok"}
    v = decide_verdict("gpt-image-2", SOURCES, outcomes, [live("spec", "mentioned")])
    assert v.verdict is Verdict.MENTIONED


def facts(**kw):
    base = dict(source="spec", url="https://x/spec.yaml", authority="first_party", outcome="ok", error=None,
                run_id=7, added=[], vanished=[], confirmed_elsewhere={}, confirmed_here_after=frozenset(),
                mentioned_before=frozenset(), failure_streak=0, health_alerted=False, first_read=False,
                configured_targets=frozenset({"gpt-image-2"}), families={})
    base.update(kw)
    return ProbeFacts(**base)


def row(level="confirmed", target="gpt-image-2"):
    return SignalRow(source="spec", target=target, model_id=target, level=level, evidence_type="spec_value",
                     excerpt="enum", location="a.b", url="https://x", authority="first_party", first_seen=SEEN)


def test_first_confirmed_evidence_is_a_release_then_others_corroborate():
    first = due_notices(facts(added=[row()]))
    assert [(n.kind, n.key) for n in first] == [("release", "release:gpt-image-2")]
    assert release_changes(facts(added=[row()])).opened == {"gpt-image-2": 1}
    opened = {"gpt-image-2": ReleaseState(1, True)}
    later = due_notices(facts(source="sdk", added=[row()], confirmed_elsewhere={"gpt-image-2": ["spec"]},
                              releases=opened))
    assert [(n.kind, n.key, n.joins) for n in later] == [
        ("corroboration", "corroboration:gpt-image-2:sdk", "release:gpt-image-2")]
    assert later[0].payload["confirmed_by"] == ["sdk", "spec"]


def test_sources_confirming_together_see_each_other_but_only_the_release_state_decides():
    """On release day every source's probe sees the others confirming; the first to take the target's
    release row opens it, and no one else does."""
    both = facts(source="sdk", added=[row()], confirmed_elsewhere={"gpt-image-2": ["spec", "guide"]})
    assert [n.kind for n in due_notices(both)] == ["release"]
    assert due_notices(both)[0].payload["confirmed_by"] == ["guide", "sdk", "spec"]


def test_a_release_withdrawn_everywhere_closes_and_a_comeback_is_announced_again():
    opened = {"gpt-image-2": ReleaseState(1, True)}
    gone = facts(vanished=[row()], releases=opened)
    assert release_changes(gone).closed == {"gpt-image-2"}
    # still confirmed by another first-party source: the release stands
    assert release_changes(facts(vanished=[row()], releases=opened,
                                 confirmed_elsewhere={"gpt-image-2": ["sdk"]})).closed == frozenset()
    back = facts(added=[row()], releases={"gpt-image-2": ReleaseState(1, False)})
    assert [(n.kind, n.key) for n in due_notices(back)] == [("release", "release:gpt-image-2:2")]
    assert release_changes(back).opened == {"gpt-image-2": 2}
    again = facts(source="sdk", added=[row()], releases={"gpt-image-2": ReleaseState(2, True)})
    assert [n.key for n in due_notices(again)] == ["corroboration:gpt-image-2:2:sdk"]


def test_new_rows_at_a_source_that_already_confirmed_the_target_are_not_news():
    moved = facts(added=[row()], confirmed_here_before=frozenset({"gpt-image-2"}),
                  releases={"gpt-image-2": ReleaseState(1, True)})
    assert due_notices(moved) == []
    assert due_notices(moved, alert_on=("confirmed", "mentioned")) == []


def test_third_party_and_consumer_evidence_make_no_release():
    for auth in ("third_party", "consumer"):
        assert due_notices(facts(authority=auth, added=[row()])) == []


def test_mentions_alert_only_when_asked():
    assert due_notices(facts(added=[row("mentioned")])) == []
    ns = due_notices(facts(added=[row("mentioned")]), alert_on=("confirmed", "mentioned"))
    assert [n.kind for n in ns] == ["mentioned"]


def test_withdrawn_only_when_the_source_answered():
    gone = [row()]
    assert [n.kind for n in due_notices(facts(vanished=gone))] == ["withdrawn"]
    assert due_notices(facts(vanished=gone, outcome="timeout", failure_streak=1)) == []
    # still confirmed here at another location: nothing was withdrawn
    assert due_notices(facts(vanished=gone, confirmed_here_after=frozenset({"gpt-image-2"}))) == []


def test_source_health_once_down_once_up():
    assert due_notices(facts(outcome="timeout", failure_streak=2)) == []
    down = due_notices(facts(outcome="timeout", failure_streak=3))
    assert [(n.kind, n.payload["state"]) for n in down] == [("source_health", "down")]
    assert due_notices(facts(outcome="timeout", failure_streak=4, health_alerted=True)) == []
    blocked = due_notices(facts(outcome="blocked", failure_streak=1))
    assert [n.payload["state"] for n in blocked] == ["down"]
    up = due_notices(facts(outcome="not_modified", health_alerted=True))
    assert [(n.kind, n.payload["state"]) for n in up] == [("source_health", "up")]


def test_family_members_in_the_baseline_are_not_news_but_later_ones_are_discovered():
    fam = {"gpt-image-2.5": "gpt-image-*"}
    assert due_notices(facts(added=[row(target="gpt-image-2.5")], families=fam, first_read=True)) == []
    ns = due_notices(facts(added=[row(target="gpt-image-2.5")], families=fam))
    assert [n.kind for n in ns] == ["discovered", "release"]
    assert ns[1].key == "release:gpt-image-2.5"
