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
    assert [c[:10] for c in before] == ["2025-12-16", "2026-05-04"]
    for c in before:
        assert "verdict: no_evidence · gpt-image-2: no first-party evidence" in c
        assert "┌─" not in c and "notice due" not in c


def test_the_cycle_after_the_release_confirms_and_alerts(demo) -> None:  # type: ignore[no-untyped-def]
    after = cycles(demo[0].stdout)[2]
    assert after.startswith("2026-05-05")
    assert "verdict: confirmed · gpt-image-2: first-party evidence found in 1 of 2 sources (openai-python)" in after
    assert "┌─ Slack · slack-demo (rendered here, not sent)" in after
    assert "*gpt-image-2: first-party evidence found in 1 source (openai-python)*" in after
    assert "┌─ E-mail · email-demo to you@example.invalid (rendered here, not sent)" in after
    assert "Subject: [watcher] gpt-image-2: first-party evidence found in 1 source (openai-python)" in after
    assert "sdk_value" in after and "/openai/openai-python/main/src/openai/types/image_model.py" in after
    # the replayed day, not the day the demo runs; to the second, with the zone
    assert re.search(r"First seen: 2026-05-05 \d\d:\d\d:\d\d UTC", after), after
    assert "gpt-image-2, gpt-image-2-2026-04-21" in after  # one block naming both ids


def test_the_release_alert_is_printed_once(demo) -> None:  # type: ignore[no-untyped-def]
    out = demo[0].stdout
    assert out.count("Subject: [watcher] gpt-image-2: first-party evidence found") == 1
    assert out.count("*gpt-image-2: first-party evidence found in 1 source (openai-python)*") == 1
    assert out.count("release:gpt-image-2") == 2  # the Slack footer and the e-mail's, nothing later
    later = "".join(cycles(out)[3:])
    # node and go confirm the same day: one corroboration naming both, not one message each
    assert later.count("notice due · corroboration: gpt-image-2: also confirmed by openai-go and openai-node;") == 1
    assert "release" not in later


def test_the_history_lists_the_sdk_sources(demo) -> None:  # type: ignore[no-untyped-def]
    history = demo[0].stdout.split("── evidence history for gpt-image-2", 1)[1]
    lines = history.splitlines()
    for date, source in (("2026-05-05", "openai-python"), ("2026-05-07", "openai-node"),
                         ("2026-05-07", "openai-go"), ("2026-08-20", "openai-openapi")):
        assert any(line.split()[:4] == [date, source, "confirmed", "sdk_value" if source != "openai-openapi"
                                        else "spec_value"] for line in lines), (date, source)
    assert any(line.split()[:3] == ["2026-05-13", "openai-openapi", "mentioned"] for line in lines)
    assert "First confirmed: 2026-05-05 at openai-python" in history


def test_the_demo_leaves_nothing_behind(demo) -> None:  # type: ignore[no-untyped-def]
    _, _, cwd = demo
    assert list(cwd.iterdir()) == []
