"""`watcher demo`: the first thing a newcomer runs, so it is tested the way they run it, in a subprocess."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], float, Path]:
    cwd = tmp_path_factory.mktemp("demo-cwd")
    env = {k: v for k, v in os.environ.items() if not k.startswith("WATCHER_")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    t0 = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "watcher", "demo"], cwd=cwd, env=env, capture_output=True,
                            text=True, timeout=60)
    return result, time.monotonic() - t0, cwd


def cycles(out: str) -> list[str]:
    """The demo's output cut into one chunk per probe cycle (the history after the last one dropped)."""
    parts = re.split(r"^── cycle \d+ of \d+ · ", out, flags=re.MULTILINE)[1:]
    parts[-1] = parts[-1].split("── evidence history", 1)[0]
    return parts


def test_demo_runs_offline_in_seconds_and_exits_0(demo) -> None:  # type: ignore[no-untyped-def]
    result, elapsed, _ = demo
    assert result.returncode == 0, result.stderr
    assert elapsed < 30
    assert result.stderr == ""


def test_cycles_before_the_release_find_no_evidence(demo) -> None:  # type: ignore[no-untyped-def]
    before = cycles(demo[0].stdout)[:2]
    assert [c[:10] for c in before] == ["2025-12-16", "2026-04-15"]
    for c in before:
        assert "verdict: no_evidence · gpt-image-2: no first-party evidence" in c
        assert "┌─" not in c and "notice due" not in c


DOCS = ["docs-changelog", "docs-image-guide", "docs-models", "docs-pricing"]


def test_release_day_on_the_docs_is_one_alert_naming_every_page(demo) -> None:  # type: ignore[no-untyped-def]
    after = cycles(demo[0].stdout)[2]
    assert after.startswith("2026-04-21")
    assert "verdict: confirmed · gpt-image-2: first-party evidence found in 4 of 6 sources" in after
    line = f"gpt-image-2: first-party evidence found in 4 sources ({', '.join(DOCS)})"
    assert "┌─ Slack · slack-demo (rendered here, not sent)" in after and f"*{line}*" in after
    assert "┌─ E-mail · email-demo to you@example.invalid (rendered here, not sent)" in after
    assert f"Subject: [watcher] {line}" in after
    for kind in ("changelog_entry", "pricing_row", "model_listed", "api_example"):
        assert kind in after
    assert 'model: "gpt-image-2"' in after  # the guide's example, excerpted around the line that sets the model
    assert "more places at docs-image-guide" in after  # thirty examples: a few shown, the rest counted
    # the replayed day, not the day the demo runs; to the second, with the zone
    assert re.search(r"first seen 2026-04-21 \d\d:\d\d:\d\d UTC", after), after


def test_the_release_alert_is_printed_once_and_the_sdks_corroborate(demo) -> None:  # type: ignore[no-untyped-def]
    out = demo[0].stdout
    assert out.count("Subject: [watcher] gpt-image-2: first-party evidence found") == 1
    assert out.count("release:gpt-image-2") == 2  # the Slack footer and the e-mail's, nothing later
    later = cycles(out)[3:]
    assert "notice due · corroboration: gpt-image-2: also confirmed by openai-python;" in later[0]
    # node and go confirm the same day: one corroboration naming both, not one message each
    assert later[1].count("notice due · corroboration: gpt-image-2: also confirmed by openai-go and openai-node;") == 1
    assert all("release" not in c for c in later)
    assert "gpt-image-2, gpt-image-2-2026-04-21" in out  # one block naming both ids


def test_the_history_lists_the_docs_first_then_the_sdks(demo) -> None:  # type: ignore[no-untyped-def]
    history = demo[0].stdout.split("── evidence history for gpt-image-2", 1)[1]
    lines = history.splitlines()
    for date, source, kind in (("2026-04-21", "docs-changelog", "changelog_entry"),
                               ("2026-04-21", "docs-pricing", "pricing_row"),
                               ("2026-04-21", "docs-models", "model_listed"),
                               ("2026-04-21", "docs-image-guide", "api_example"),
                               ("2026-05-05", "openai-python", "sdk_value"), ("2026-05-07", "openai-node", "sdk_value"),
                               ("2026-05-07", "openai-go", "sdk_value"),
                               ("2026-08-20", "openai-openapi", "spec_value")):
        assert any(line.split()[:4] == [date, source, "confirmed", kind] for line in lines), (date, source)
    assert any(line.split()[:3] == ["2026-05-13", "openai-openapi", "mentioned"] for line in lines)
    assert "First confirmed: 2026-04-21 at docs-" in history


def test_the_demo_leaves_nothing_behind(demo) -> None:  # type: ignore[no-untyped-def]
    _, _, cwd = demo
    assert list(cwd.iterdir()) == []
