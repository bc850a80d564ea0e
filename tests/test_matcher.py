"""The model-id matcher: a target's exact id and its dated snapshots, nothing longer."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from watcher.targets import Matcher, Target, base_id


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("gpt-image-2", ["gpt-image-2"]),
        ("use `gpt-image-2-2026-04-21` now", ["gpt-image-2-2026-04-21"]),
        ("GPT-IMAGE-2 in capitals", ["gpt-image-2"]),
        ("gpt-image-2.", ["gpt-image-2"]),  # sentence punctuation is not part of the id
        ("'gpt-image-2', \"gpt-image-2\"", ["gpt-image-2", "gpt-image-2"]),
        ("gpt-image-20", []),
        ("gpt-image-2.5", []),
        ("gpt-image-2-mini", []),
        ("gpt-image-2_beta", []),
        ("xgpt-image-2", []),
        ("update image 2", []),
        ("models/gpt-image-2?x=1", ["gpt-image-2"]),
    ],
)
def test_find_names_the_id_and_its_snapshots_only(text: str, found: list[str]) -> None:
    assert [m.model_id for m in Matcher(["gpt-image-2"]).find(text)] == found


def test_match_value_is_a_whole_value_decision() -> None:
    m = Matcher(["gpt-image-2"])
    assert m.match_value("gpt-image-2") is not None
    assert m.match_value(" gpt-image-2-2026-04-21 ").model_id == "gpt-image-2-2026-04-21"  # type: ignore[union-attr]
    assert m.match_value("gpt-image-2 is great") is None
    assert m.match_value("gpt-image-1.5") is None


def test_snapshots_belong_to_their_model() -> None:
    assert base_id("gpt-image-2-2026-04-21") == "gpt-image-2"
    assert base_id("gpt-4-0613") == "gpt-4"
    assert base_id("gpt-image-1.5") == "gpt-image-1.5"
    hit = next(Matcher(["gpt-image-2"]).find("gpt-image-2-2026-04-21"))
    assert (hit.target, hit.model_id) == ("gpt-image-2", "gpt-image-2-2026-04-21")


def test_gpt_image_1_does_not_claim_its_siblings() -> None:
    m = Matcher(["gpt-image-1"])
    assert [x.model_id for x in m.find("gpt-image-1.5, gpt-image-1-mini, gpt-image-1")] == ["gpt-image-1"]


def test_a_family_matches_any_id_of_its_shape_folding_snapshots() -> None:
    m = Matcher([Target(family="gpt-image-*")])
    found = [(x.target, x.model_id, x.family) for x in m.find("gpt-image-3 and gpt-image-3-2027-01-01")]
    assert found == [("gpt-image-3", "gpt-image-3", "gpt-image-*"),
                     ("gpt-image-3", "gpt-image-3-2027-01-01", "gpt-image-*")]


def test_several_targets_at_once() -> None:
    m = Matcher(["gpt-image-2", "gpt-image-1"])
    assert {x.target for x in m.find("gpt-image-1 then gpt-image-2")} == {"gpt-image-1", "gpt-image-2"}
    assert Matcher([]).could_match("gpt-image-2") is False


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_find_never_raises_and_every_match_is_a_target_or_snapshot(text: str) -> None:
    m = Matcher(["gpt-image-2"])
    for hit in m.find(text):
        assert hit.target == "gpt-image-2"
        assert base_id(hit.model_id) == "gpt-image-2" or hit.model_id == "gpt-image-2"
        assert text[hit.start : hit.end].lower() == hit.model_id


ID_CHAR = st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789._-")
SNAPSHOT = st.one_of(
    st.dates().map(lambda d: f"-{d:%Y-%m-%d}"),
    st.integers(0, 9999).map(lambda n: f"-{n:04d}"),
)


@settings(max_examples=300, deadline=None)
@given(prefix=st.one_of(st.just(""), st.text(ID_CHAR, min_size=1, max_size=5)),
       suffix=st.one_of(st.just(""), SNAPSHOT, st.text(ID_CHAR, min_size=1, max_size=6)),
       before=st.sampled_from([" ", "`", "/", "(", "\n", '"']), after=st.sampled_from([" ", "`", ")", ".", ",", "\n"]))
def test_matcher_agrees_with_the_model_id_rules(prefix: str, suffix: str, before: str, after: str) -> None:
    """The rule, stated plainly: the id, or the id and a dated snapshot, standing alone; a trailing
    '.', '-' or '_' is punctuation. Anything longer is another model; anything glued in front too."""
    import re

    text = f"see{before}{prefix}gpt-image-2{suffix}{after} end"
    token = ("gpt-image-2" + suffix).rstrip("._-")
    expected = not prefix and bool(re.fullmatch(r"gpt-image-2(-\d{4}-\d{2}-\d{2}|-\d{4})?", token))
    hits = list(Matcher(["gpt-image-2"]).find(text))
    assert bool(hits) == expected, (text, hits)
    if expected:
        assert [h.model_id for h in hits] == [token]


@settings(max_examples=300)
@given(text=st.text(st.sampled_from(list("gptGPT-imageIMAGE2 xo1kK\u212a\u0131\u0130\u017f.`é")), max_size=40),
       target=st.sampled_from(["gpt-image-2", "o1-k"]))
def test_the_whole_document_precheck_never_misses_a_match(text: str, target: str) -> None:
    """Parsers skip a document whose precheck says no target can be in it: that must never hide a hit,
    whatever the case or the Unicode look-alikes (a Kelvin sign lower-cases to k)."""
    m = Matcher([target, "gpt-image-*"])
    if list(m.find(text)):
        assert m.could_name_any(text)
