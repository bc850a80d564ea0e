"""The one home of text handling (`watcher.text`), challenge-page detection (`watcher.challenge`) and
durations (`watcher.durations`): decoding real pages, sanitising what is shown, telling a bot wall from
a document."""

from __future__ import annotations

import html
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from fixturepaths import DEMO_DATA
from servers import FixtureServer
from watcher import logs
from watcher.challenge import is_challenge
from watcher.config import SourceConfig
from watcher.durations import compact, offset
from watcher.evidence import Authority, EvidenceType, Outcome
from watcher.fetch import Fetcher
from watcher.logs import add_secrets
from watcher.sources import Document, get
from watcher.targets import Matcher
from watcher.text import EXCERPT_MAX, clean, clip, decode, oneline, redact_values, safe, safe_line

FIXTURES = Path(__file__).parent / "fixtures"
CHANGELOG = FIXTURES / "openai" / "developers-docs" / "changelog-2026-07-22.md"


@pytest.fixture
def fetcher() -> Iterator[Fetcher]:
    with Fetcher() as f:
        yield f


def source(url: str) -> SourceConfig:
    return SourceConfig(name="changelog", kind="changelog", url=url, url_display=url,
                        authority=Authority.FIRST_PARTY)


def changelog_page(charset: str) -> str:
    """The real changelog capture as an HTML page declaring `charset` in a <meta>: each `#` line a heading,
    every other line a paragraph (its text escaped). Its tag lines hold `·`, its prose `—` and `’`."""
    body = []
    for line in CHANGELOG.read_text(encoding="utf-8").splitlines():
        hashes = len(line) - len(line.lstrip("#"))
        if 1 <= hashes <= 6 and line[hashes:hashes + 1] == " ":
            body.append(f"<h{hashes}>{html.escape(line[hashes + 1:])}</h{hashes}>")
        elif line.strip():
            body.append(f"<p>{html.escape(line)}</p>")
    return (f'<!DOCTYPE html><html><head><meta charset="{charset}"><title>Changelog | OpenAI API</title>'
            f"</head><body>{''.join(body)}</body></html>")


# --- decoding -------------------------------------------------------------------------------------


def test_a_windows_1252_page_without_a_charset_header_decodes_by_its_meta_charset(
        http_server: FixtureServer, fetcher: Fetcher) -> None:
    page = changelog_page("windows-1252")
    http_server.route("/changelog", page.encode("cp1252"), content_type="text/html")
    got = fetcher.fetch(source(http_server.url("/changelog")))
    assert got.outcome is Outcome.OK and got.body is not None
    text = decode(got.body, got.content_type)
    assert text == page and "\ufffd" not in text

    # What a user sees: the changelog entry's excerpt keeps its `·`, and reads as the UTF-8 page does.
    matcher = Matcher(["gpt-image-2"])
    signals = get("changelog").parse(Document(got.body, url=got.final_url or "", content_type=got.content_type),
                                     matcher)
    utf8 = get("changelog").parse(Document(changelog_page("utf-8").encode(), url=got.final_url or "",
                                           content_type="text/html"), matcher)
    entries = [s for s in signals if s.evidence_type is EvidenceType.CHANGELOG_ENTRY]
    assert entries and all("\ufffd" not in s.excerpt for s in signals)
    assert any("·" in s.excerpt for s in entries)
    assert [(s.key, s.excerpt) for s in signals] == [(s.key, s.excerpt) for s in utf8]


def test_the_charset_header_wins_over_the_meta_and_valid_utf8_over_a_lying_meta() -> None:
    page = changelog_page("windows-1252")
    cp1252 = page.encode("cp1252")
    assert decode(cp1252, "text/html; charset=iso-8859-1") == cp1252.decode("latin-1")  # the server's word
    assert decode(page.encode("utf-8"), "text/html") == page  # the meta says 1252, the bytes are UTF-8
    assert decode("caf\u00e9 \u2019".encode("cp1252"), None) == "caf\ufffd \ufffd"  # nothing declared: replaced


# --- challenge pages ------------------------------------------------------------------------------


def test_the_real_cloudflare_challenge_is_a_challenge() -> None:
    assert is_challenge((FIXTURES / "docs" / "cf-challenge.html").read_text(encoding="utf-8"))


def test_no_real_document_is_taken_for_a_challenge() -> None:
    documents = [p for root in (FIXTURES, DEMO_DATA) for p in root.rglob("*") if p.is_file()
                 and p.suffix != ".toml" and p.name not in ("README.md", "cf-challenge.html")]
    assert len(documents) > 20
    assert [p.name for p in documents if is_challenge(p.read_bytes().decode("utf-8", "replace"))] == []


@pytest.mark.parametrize("page", [
    "<html><head><title>Attention Required! | Cloudflare</title></head></html>",  # the parsers' old list
    "<html><head><title>Checking your browser before accessing</title></head></html>",
    "<html><head><title>Access Denied</title></head><body>errors.edgesuite.net</body></html>",  # the fetcher's
    "<html><body><div id='px-captcha'></div></body></html>",
    "<html><script src='https://challenges.cloudflare.com/turnstile/v0/api.js'></script></html>",
])
def test_both_former_marker_lists_are_recognised(page: str) -> None:
    assert is_challenge(page)


def test_cloudflares_script_on_an_ordinary_page_is_not_a_challenge() -> None:
    assert not is_challenge("<html><head><title>Pricing</title><script src='/cdn-cgi/challenge-platform/"
                            "scripts/jsd/main.js'></script></head><body>gpt-image-2</body></html>")


# --- sanitising -----------------------------------------------------------------------------------


def test_fetched_text_loses_controls_and_bidi_overrides_but_keeps_its_lines() -> None:
    assert clean("a\r\nb\u202egpt\x1b[31m\u2066x\x00") == "a\nbgpt[31mx"


def test_safe_redacts_configured_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logs, "_SECRETS", set())
    add_secrets(["sk-text-secret-9f2c"])
    assert safe("key=sk-text-secret-9f2c\x07") == "key=[redacted]"
    assert safe_line("failed:\n  key sk-text-secret-9f2c", 20) == "failed: key [redact…"
    assert safe(None) == ""


def test_a_secret_that_holds_another_is_redacted_whole() -> None:
    url = "https://hooks.slack.com/services/T0/B0/xyzzy"
    assert redact_values(f"POST {url} failed (path /services/T0/B0/xyzzy)", [url, "/services/T0/B0/xyzzy", ""]) \
        == "POST [redacted] failed (path [redacted])"


def test_excerpts_are_one_printable_line_of_bounded_length() -> None:
    assert clip("a\u200b\tb\n\nc") == "a b c"
    long = clip("word " * 1000)
    assert len(long) == EXCERPT_MAX and long.endswith("…")
    assert oneline(None) == "" and oneline(" a \n b ", 3) == "a b"


# --- durations ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("delta", "text"), [
    (timedelta(minutes=5), "+5 min"),
    (timedelta(hours=2, minutes=5), "+2 h 5 min"),
    (timedelta(days=3, hours=4, minutes=1), "+3 d 4 h"),
    (timedelta(days=3), "+3 d"),
    (timedelta(seconds=-30), "+0 min"),
])
def test_offsets_read_as_people_write_them(delta: timedelta, text: str) -> None:
    assert offset(delta) == text


@pytest.mark.parametrize(("seconds", "text"), [(900, "15m"), (3600, "1h"), (86400 * 2, "2d"), (90, "90s"),
                                               (0.5, "0.5s")])
def test_intervals_are_written_as_the_configuration_writes_them(seconds: float, text: str) -> None:
    assert compact(seconds) == text
