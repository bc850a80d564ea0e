"""The HTML report in a real headless Chromium: it renders, the browser logs nothing (no script error,
no blocked load, no Content-Security-Policy violation), it shows the evidence, and hostile excerpts
stay text. The screenshot is kept for a person to look at; the test prints where.

Needs Debian's `chromium` (apt-get install -y chromium). Without it these tests skip with the reason,
except in CI (CI=true), where they fail: CI must test the report in a browser.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from servers import FixtureServer
from test_history import HOSTILE, record_release
from watcher.cli import cli

pytestmark = pytest.mark.slow

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--enable-logging=stderr", "--v=0"]


@pytest.fixture(scope="module")
def chromium() -> str:
    exe = os.environ.get("WATCHER_TEST_CHROMIUM") or next(filter(None, map(shutil.which, NAMES)), None)
    if exe is None:
        reason = "chromium is not installed (Debian: apt-get install -y chromium); the report's browser tests need it"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must test the report in a browser: {reason}")
        pytest.skip(reason)
    return exe


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The report of a release recorded through the real pipeline (see test_history.record_release)."""
    tmp = tmp_path_factory.mktemp("report")
    with FixtureServer() as server:
        config = record_release(tmp, server)
    out = tmp / "report.html"
    result = CliRunner().invoke(cli, ["-c", str(config), "report", "--out", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    yield out


def browse(exe: str, tmp: Path, page: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    profile = tmp / f"chromium-profile-{uuid.uuid4().hex[:8]}"
    return subprocess.run([exe, *FLAGS, f"--user-data-dir={profile}", *extra, page.as_uri()],
                          capture_output=True, text=True, timeout=120, cwd=tmp)


def console(stderr: str) -> list[str]:
    """What the page said to the console: script errors, CSP violations, blocked loads, console.log."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


def test_report_renders_in_chromium_with_a_silent_console(chromium, report, tmp_path):
    result = browse(chromium, tmp_path, report, "--dump-dom")
    assert result.returncode == 0, result.stderr[-2000:]
    assert console(result.stderr) == []
    dom = result.stdout
    for text in ("Release evidence", "Source health", "Timeline: when each source first showed it",
                 "first-party evidence found in 1 of 3 sources (openai-openapi)",
                 "schema CreateImageRequest (POST /images/generations) accepts gpt-image-2"):
        assert text in dom
    # the hostile excerpt is in the page as text; no element came of it, and the page has no script
    assert "&lt;img src=x onerror=alert(1)&gt;gpt-image-2" in dom and HOSTILE not in dom
    assert "<img" not in dom and "<script" not in dom


def test_report_screenshot_for_a_person_to_look_at(chromium, report, tmp_path):
    shot = tmp_path / "report.png"
    result = browse(chromium, tmp_path, report, f"--screenshot={shot}", "--window-size=1280,2000",
                    "--hide-scrollbars")
    assert result.returncode == 0, result.stderr[-2000:]
    assert console(result.stderr) == []
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", data[16:24]) == (1280, 2000)
    assert len(data) > 50_000  # a rendered page, not a blank one
    print(f"report screenshot: {shot}")


def test_the_console_check_catches_a_broken_page(chromium, tmp_path):
    """The check above can fail: a script error and a blocked load both reach stderr."""
    page = tmp_path / "broken.html"
    page.write_text('<!DOCTYPE html><meta http-equiv="Content-Security-Policy" content="img-src \'none\'">'
                    '<img src="data:image/png;base64,iVBORw0KGgo="><script>undefined_function()</script>')
    result = browse(chromium, tmp_path, page, "--dump-dom")
    found = console(result.stderr)
    assert any("Uncaught ReferenceError" in line for line in found)
    assert any("Content Security Policy" in line for line in found)


MEASURE = """<pre id="measured"></pre><script>
const px = (sel) => [...document.querySelectorAll(sel)].map((e) => Math.round(e.getBoundingClientRect().width));
document.getElementById("measured").textContent = JSON.stringify({
  excerpt: px("section.target table td.excerpt"), page: Math.round(document.body.getBoundingClientRect().width)});
</script>"""


def test_the_excerpt_column_is_wide_enough_to_read(chromium, report, tmp_path):
    """The browser's own layout of the report's tables, measured in the page: the report itself has no
    script (its CSP forbids one), so a copy without the CSP gets a few lines that measure and write down."""
    import json
    import re

    html = report.read_text()
    html = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", html)
    page = tmp_path / "measured.html"
    page.write_text(html.replace("</body>", MEASURE + "</body>"))
    result = browse(chromium, tmp_path, page, "--dump-dom", "--window-size=1280,2000")
    assert result.returncode == 0, result.stderr[-2000:]
    found = re.search(r'<pre id="measured">(.*?)</pre>', result.stdout, re.S)
    assert found, result.stdout[-2000:]
    sizes = json.loads(found.group(1).replace("&quot;", '"'))
    assert sizes["excerpt"], sizes  # the evidence tables have excerpt cells
    assert min(sizes["excerpt"]) >= 280, sizes  # a column a person reads (22em), never 90 px
