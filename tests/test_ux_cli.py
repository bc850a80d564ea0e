"""A user's first week at the command line (issue 12): logs that tell the story, errors as one line with
the documented exit code, paths that do not depend on the working directory, destructive commands that
ask first, `scan URL`, `show ID`, and the daemon's metrics. Real processes, real loopback servers."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from conftest import free_port
from test_alerts import AFTER, BEFORE, stop, write_config
from test_cli import PY_AFTER, PY_BEFORE, SPEC_AUG, write
from test_cli import real as watcher  # log lines on stderr and exit codes of a real process

TRACEBACK = "Traceback (most recent call last)"


def one_line_error(r: subprocess.CompletedProcess, code: int, *needles: str) -> None:
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    assert TRACEBACK not in r.stderr, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("watcher: "), r.stderr
    for n in needles:
        assert n in lines[0], (n, lines[0])


# ---------------------------------------------------------------------------------- logs
def test_run_logs_the_story_at_info_and_unchanged_probes_stay_quiet(http_server, tmp_path):
    http_server.route("/image_model.py", PY_BEFORE)
    cfg = write(tmp_path, http_server, [("py", "sdk_types", "/image_model.py")],
                extra='[[channels]]\nname = "hook"\ntype = "webhook"\nurl = "http://127.0.0.1:9/x"\n')
    r = watcher(cfg, "run", "--once")
    assert r.returncode == 0 and "watcher.cycle" not in r.stderr  # a first read that found nothing
    http_server.route("/image_model.py", PY_AFTER)
    r = watcher(cfg, "run", "--once")
    assert re.search(r"INFO watcher\.cycle: source py: ok, \+2 signals \(gpt-image-2, gpt-image-2-2026-04-21\)",
                     r.stderr), r.stderr
    assert re.search(r"INFO watcher\.notify: notice due: release for gpt-image-2 to channel hook", r.stderr)
    assert re.search(r"WARNING watcher\.notify: notice not delivered, to retry: release for gpt-image-2 to channel "
                     r"hook \(release:gpt-image-2\): .*127\.0\.0\.1", r.stderr), r.stderr
    assert "httpx" not in r.stderr  # the libraries' INFO lines stay out unless -vv
    r = watcher(cfg, "run", "--once")
    assert "watcher.cycle" not in r.stderr  # nothing changed: DEBUG only

    r = watcher(cfg, "-vv", "run", "--once")
    assert "httpx: HTTP Request: GET" in r.stderr and "DEBUG watcher.cycle: source py: ok, nothing changed" in r.stderr


def test_log_format_json_writes_one_object_per_line(http_server, tmp_path):
    http_server.route("/image_model.py", PY_AFTER)
    cfg = write(tmp_path, http_server, [("py", "sdk_types", "/image_model.py")])
    r = watcher(cfg, "--log-format", "json", "run", "--once")
    assert r.returncode == 0, r.stderr
    records = [json.loads(line) for line in r.stderr.splitlines()]
    (probe,) = [x for x in records if x["logger"] == "watcher.cycle"]
    assert probe["level"] == "info" and probe["source"] == "py" and probe["signals_added"] == 2
    assert probe["outcome"] == "ok" and probe["time"].endswith("Z")


# ---------------------------------------------------------------------------------- errors
def test_errors_are_one_line_with_the_documented_exit_code(http_server, tmp_path):
    http_server.route("/image_model.py", PY_AFTER)
    cfg = write(tmp_path, http_server, [("py", "sdk_types", "/image_model.py")])
    assert watcher(cfg, "run", "--once").returncode == 0
    one_line_error(watcher(cfg, "db", "downgrade", "0009", "--yes"), 2, "'0009'", "known revisions: base,")
    one_line_error(watcher(cfg, "report", "--out", str(tmp_path / "missing-dir" / "r.html")), 2, "missing-dir",
                   "does not exist")
    one_line_error(watcher(cfg, "feed", "--out", str(tmp_path / "missing-dir" / "f.atom")), 2, "missing-dir")
    one_line_error(watcher(cfg, "history", "--source", "nope"), 2, "'nope' is not one of: py")
    one_line_error(watcher(cfg, "history", "--type", "bogus"), 2, "'bogus' is not one of:", "sdk_value")
    one_line_error(watcher(cfg, "feed", "-t", "unknown-target", "-o", "-"), 2, "is not one of: gpt-image-2")
    mysql = tmp_path / "mysql.toml"
    mysql.write_text('database_url = "mysql://u@127.0.0.1/w"\n')
    one_line_error(watcher(mysql, "status"), 4, "mysql://u@127.0.0.1/w", "driver is not installed")


def test_notify_test_with_an_unset_variable_exits_1(tmp_path):
    cfg = tmp_path / "w.toml"
    cfg.write_text(f'database_url = "sqlite:///{tmp_path}/w.db"\n[[channels]]\nname = "s"\ntype = "slack"\n'
                   'webhook_url = "${NO_SUCH_SLACK_URL}"\n')
    env = {k: v for k, v in os.environ.items() if k != "NO_SUCH_SLACK_URL"}
    r = subprocess.run([sys.executable, "-m", "watcher", "-c", str(cfg), "notify", "test"], capture_output=True,
                       text=True, timeout=60, env=env)
    assert r.returncode == 1 and "s: not configured (set NO_SUCH_SLACK_URL)" in r.stdout


def test_run_once_takes_a_templated_sources_base_name(http_server, tmp_path):
    http_server.route("/models/gpt-image-2", json.dumps({"id": "gpt-image-2", "object": "model"}).encode(),
                      content_type="application/json")
    http_server.route("/image_model.py", PY_BEFORE)
    cfg = write(tmp_path, http_server, [("retrieve", "models_api", "/models/{target}"),
                                        ("py", "sdk_types", "/image_model.py")])
    r = watcher(cfg, "run", "--once", "-s", "retrieve")
    assert r.returncode == 0, r.stderr
    assert re.search(r"^retrieve/gpt-image-2\s+ok\s+200", r.stdout, re.M) and "\npy " not in r.stdout
    one_line_error(watcher(cfg, "run", "--once", "-s", "nope"), 2, "no such source: nope; configured: retrieve, py")


def test_a_bare_dollar_variable_in_a_header_gets_a_warning(tmp_path):
    cfg = tmp_path / "w.toml"
    cfg.write_text(f'database_url = "sqlite:///{tmp_path}/w.db"\n[[sources]]\nname = "api"\nkind = "models_api"\n'
                   'url = "https://api.openai.com/v1/models"\nheaders = { Authorization = "Bearer $MY_KEY" }\n')
    r = subprocess.run([sys.executable, "-m", "watcher", "-c", str(cfg), "sources"], capture_output=True, text=True,
                       timeout=60, env={**os.environ, "MY_KEY": "sk-test-1234"})
    assert r.returncode == 0
    assert "sources.api.headers.Authorization: $MY_KEY is not expanded; write ${MY_KEY}" in r.stderr
    assert "sk-test-1234" not in r.stderr


# ---------------------------------------------------------------------------------- paths, destructive commands
def test_a_relative_sqlite_path_is_next_to_the_config_file(http_server, tmp_path):
    http_server.route("/image_model.py", PY_AFTER)
    folder = tmp_path / "etc"
    folder.mkdir()
    cfg = folder / "watcher.toml"
    cfg.write_text(f'database_url = "sqlite:///watcher.db"\n[[sources]]\nname = "py"\nkind = "sdk_types"\n'
                   f'url = "{http_server.url("/image_model.py")}"\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for cwd in (elsewhere, tmp_path):
        r = subprocess.run([sys.executable, "-m", "watcher", "-c", str(cfg), "run" if cwd == elsewhere else "status"]
                           + (["--once"] if cwd == elsewhere else []), capture_output=True, text=True, timeout=60,
                           cwd=cwd, env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)})
        assert r.returncode == 0, r.stderr
    assert (folder / "watcher.db").exists() and list(elsewhere.iterdir()) == []
    assert re.search(r"^py\s+first_party\s+ok\s", r.stdout, re.M)  # status from another folder read the same file


def test_prune_ages_cannot_be_misread(http_server, tmp_path):
    http_server.route("/image_model.py", PY_AFTER)
    cfg = write(tmp_path, http_server, [("py", "sdk_types", "/image_model.py")])
    watcher(cfg, "run", "--once")
    one_line_error(watcher(cfg, "prune", "--older-than", "1m"), 2, "'1m' is ambiguous", "30min", "30d")
    one_line_error(watcher(cfg, "prune", "--older-than", "90"), 2, "90d, 2w, 12h, 30min")
    r = watcher(cfg, "prune", "--older-than", "30min", "--dry-run")
    assert r.returncode == 0 and "would remove" in r.stdout


def _on_a_terminal(args: list[str], answer: bytes) -> tuple[int, str]:
    """Run watcher with a pseudo-terminal as stdin (so it asks) and type `answer`."""
    import pty

    main, secondary = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "watcher", *args], stdin=secondary, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    os.close(secondary)
    os.write(main, answer)
    out, _ = proc.communicate(timeout=60)
    os.close(main)
    return proc.returncode, out.decode()


def test_prune_and_downgrade_ask_first_on_a_terminal(http_server, tmp_path):
    http_server.route("/image_model.py", PY_AFTER)
    cfg = write(tmp_path, http_server, [("py", "sdk_types", "/image_model.py")])
    watcher(cfg, "run", "--once")
    code, out = _on_a_terminal(["-c", str(cfg), "db", "downgrade", "base"], b"n\n")
    assert code == 1 and "Downgrade the database from" in out and "Aborted" in out
    assert watcher(cfg, "db", "current").stdout.strip() != "base (empty)"  # nothing was dropped
    code, out = _on_a_terminal(["-c", str(cfg), "prune", "--older-than", "1d"], b"n\n")
    assert code == 1 and "Delete the probe runs before" in out and "Aborted" in out
    code, out = _on_a_terminal(["-c", str(cfg), "prune", "--older-than", "1d", "--yes"], b"")
    assert code == 0 and "removed" in out and "Delete the probe runs" not in out


# ---------------------------------------------------------------------------------- status, alerts
def test_status_before_the_first_run_says_not_probed_yet(http_server, tmp_path):
    cfg = write(tmp_path, http_server, [("py", "sdk_types", "/image_model.py")])
    r = watcher(cfg, "status")
    assert r.returncode == 0
    assert re.search(r"^py\s+first_party\s+not probed yet", r.stdout, re.M)
    assert "none of the 1 first-party sources has been probed yet" in r.stdout
    assert "could not be read" not in r.stdout


def test_tables_fit_the_terminal_width():
    from watcher.cli import _table

    rows = [["openai-python", "ok", "x" * 120], ["go", "http_error", "HTTP 503 Service Unavailable " * 4]]
    out = _table(rows, ["source", "outcome", "note"], width=60)
    assert all(len(line) <= 60 for line in out.splitlines()), out
    assert "openai-python" in out and "http_error" in out and "…" in out  # the note gives way, not the name


def test_tables_count_wide_characters_as_two_columns():
    from wcwidth import wcswidth

    from watcher.cli import _table

    rows = [["docs-cn", "ok", "模型发布说明：gpt-image-2 已上线" * 3], ["go", "ok", "plain"]]
    out = _table(rows, ["source", "outcome", "note"], width=50)
    lines = out.splitlines()
    assert all(wcswidth(line) <= 50 for line in lines), out
    notes = [line.index("ok") for line in lines[2:]]
    assert len(set(notes)) == 1  # columns line up on screen, whatever the script


def test_alerts_json_payload_is_an_object(http_server, tmp_path):
    http_server.route("/image_model.py", PY_AFTER)
    cfg = write(tmp_path, http_server, [("py", "sdk_types", "/image_model.py")],
                extra='[[channels]]\nname = "hook"\ntype = "webhook"\nurl = "http://127.0.0.1:9/x"\n')
    watcher(cfg, "run", "--once")
    (notice,) = json.loads(watcher(cfg, "alerts", "--format", "json").stdout)
    assert isinstance(notice["payload"], dict) and notice["payload"]["kind"] == "release"


# ---------------------------------------------------------------------------------- show, scan URL
def test_show_prints_the_stored_document_behind_a_signal(http_server, tmp_path):
    http_server.route("/image_model.py", PY_AFTER)
    cfg = write(tmp_path, http_server, [("py", "sdk_types", "/image_model.py")])
    watcher(cfg, "run", "--once")
    sid = json.loads(watcher(cfg, "history", "--format", "json").stdout)[0]["id"]
    r = watcher(cfg, "show", str(sid))
    assert r.returncode == 0 and r.stdout == PY_AFTER.decode()
    assert f"signal {sid} (gpt-image-2" in r.stderr and "sha256" in r.stderr
    r = watcher(cfg, "show", str(sid), "--context", "1")
    lines = r.stdout.splitlines()
    assert len(lines) <= 3 + 2 and any(ln.startswith(">") and "gpt-image-2" in ln for ln in lines), r.stdout
    one_line_error(watcher(cfg, "show", "999999"), 2, "no signal with id 999999")


def test_scan_fetches_a_url_once_and_stores_nothing(http_server, tmp_path):
    http_server.route("/openapi.yaml", SPEC_AUG.read_bytes(), content_type="application/yaml")
    http_server.route("/gone", b"", status=503)
    r = subprocess.run([sys.executable, "-m", "watcher", "scan", http_server.url("/openapi.yaml"), "-k",
                        "openapi_spec", "--format", "json"], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "confirmed" in {x["level"] for x in json.loads(r.stdout)}
    assert "nothing stored" in r.stderr and list(tmp_path.iterdir()) == []
    r = subprocess.run([sys.executable, "-m", "watcher", "scan", http_server.url("/gone"), "-k", "openapi_spec"],
                       capture_output=True, text=True, timeout=60, cwd=tmp_path)
    one_line_error(r, 5, "http_error", "503")


def test_scan_url_with_a_sources_settings_keeps_its_headers_on_its_host(http_server, tmp_path):
    http_server.route("/openapi.yaml", SPEC_AUG.read_bytes(), content_type="application/yaml")
    cfg = tmp_path / "w.toml"
    cfg.write_text(f'database_url = "sqlite:///{tmp_path}/w.db"\n[[sources]]\nname = "spec"\nkind = "openapi_spec"\n'
                   f'url = "{http_server.url("/openapi.yaml")}"\nheaders = {{ X-Token = "${{SPEC_TOKEN}}" }}\n')
    env = {"SPEC_TOKEN": "tok-abcdef"}
    r = watcher(cfg, "scan", http_server.url("/openapi.yaml"), "--source", "spec", env=env)
    assert r.returncode == 0 and re.search(r"gpt-image-2\s+.*confirmed\s+spec_value", r.stdout), r.stderr
    assert http_server.requests[-1].headers.get("x-token") == "tok-abcdef"
    other = http_server.url("/openapi.yaml").replace("127.0.0.1", "localhost")
    r = watcher(cfg, "scan", other, "--source", "spec", env=env)
    assert "is not spec's host: its headers are not sent" in r.stderr
    assert http_server.requests[-1].headers.get("x-token") is None


# ---------------------------------------------------------------------------------- metrics
@pytest.mark.slow
def test_run_metrics_serves_prometheus_and_healthz(http_server, tmp_path):
    pytest.importorskip("prometheus_client")
    http_server.route("/v1/models", BEFORE, content_type="application/json")
    http_server.route("/down", b"", status=503)
    cfg = write_config(tmp_path, http_server, sources=[("models", "/v1/models", "first_party"),
                                                       ("down", "/down", "first_party")],
                       channels=[{"name": "hook", "type": "webhook", "url": "http://127.0.0.1:9/x"}])
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "watcher", "-c", str(cfg), "run", "--metrics",
                             f"127.0.0.1:{port}"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        text = ""
        while time.monotonic() < deadline:
            try:
                text = httpx.get(f"{base}/metrics", timeout=2).text
            except httpx.TransportError:
                text = ""
            if 'watcher_probes_total{outcome="http_error",source="down"}' in text and \
                    'watcher_probes_total{outcome="ok",source="models"}' in text:
                break
            http_server.route("/v1/models", AFTER, content_type="application/json")
            time.sleep(0.3)
        assert 'watcher_probes_total{outcome="ok",source="models"}' in text, text[-3000:]
        assert 'watcher_source_last_success_timestamp_seconds{source="models"}' in text
        assert 'watcher_source_last_success_timestamp_seconds{source="down"}' not in text
        while 'watcher_notices_total{channel="hook",state="retry"}' not in text and time.monotonic() < deadline:
            time.sleep(0.3)
            text = httpx.get(f"{base}/metrics", timeout=2).text
        assert 'watcher_notices_total{channel="hook",state="retry"}' in text
        assert "watcher_dispatcher_lag_seconds" in text
        h = httpx.get(f"{base}/healthz", timeout=2)
        assert h.status_code == 200 and h.text == "ok\n"
    finally:
        code, out = stop(proc)
    assert code == 0, out
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)


def test_a_healthy_source_shows_no_last_error(http_server, tmp_path):
    """A 304 is an answer: its note ("HTTP 304 Not Modified since the last probe") is no error."""
    http_server.route("/image_model.py", PY_AFTER, etag="v1")
    http_server.route("/down", b"", status=503)
    cfg = write(tmp_path, http_server, [("py", "sdk_types", "/image_model.py"), ("down", "models_api", "/down")])
    watcher(cfg, "run", "--once")
    r = watcher(cfg, "run", "--once")
    assert re.search(r"^py\s+not_modified\s+304", r.stdout, re.M), r.stdout
    status = watcher(cfg, "status").stdout
    assert re.search(r"^py\s+first_party\s+not_modified\s+\S+ \S+ \S+\s*$", status, re.M), status
    assert re.search(r"^down\s+first_party\s+http_error\s.*HTTP 503", status, re.M), status
    html = watcher(cfg, "report", "--out", "-").stdout
    health = html.split('id="sources"', 1)[1]
    assert "Not Modified" not in health and "HTTP 503" in health
