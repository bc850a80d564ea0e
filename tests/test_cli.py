"""The `watcher` command as a user runs it, against a real loopback server and a real database. Most calls run
in-process through click's CliRunner (the same entry point, argument parsing, output and exit codes); the
README's first commands and a broken configuration's exit code also run as real processes (`real`)."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from fixturepaths import DEMO_DATA
from watcher.cli import cli

FIX = Path(__file__).parent / "fixtures"
ROOT = Path(__file__).resolve().parent.parent
PY_BEFORE = (DEMO_DATA / "openai-python/image_model-2025-12-16-9dc1d1a0.py").read_bytes()
PY_AFTER = (DEMO_DATA / "openai-python/image_model-2026-05-05-0ba55d75.py").read_bytes()
SPEC_MAY = FIX / "openai/openai-openapi/openapi-2026-05-13-5162af9.yaml"
SPEC_AUG = FIX / "openai/openai-openapi/openapi-2026-08-20-b8d775d.yaml"


@dataclass(frozen=True)
class Ran:
    returncode: int
    stdout: str
    stderr: str


def watcher(cfg: Path | None, *args: str, env: dict[str, str | None] | None = None) -> Ran:
    """`watcher [--config cfg] args` in this process; `env` values of None unset a variable."""
    pre = ["--config", str(cfg)] if cfg else []
    r = CliRunner().invoke(cli, [*pre, *args], env=env, catch_exceptions=False)
    return Ran(r.exit_code, r.stdout, r.stderr)


def real(cfg: Path | None, *args: str, env: dict[str, str] | None = None) -> Ran:
    """`python -m watcher [--config cfg] args` as a separate process: the smoke tests of the real command."""
    pre = ["--config", str(cfg)] if cfg else []
    r = subprocess.run([sys.executable, "-m", "watcher", *pre, *args], capture_output=True, text=True,
                       timeout=120, env={**os.environ, **(env or {})})
    return Ran(r.returncode, r.stdout, r.stderr)


def write(tmp_path: Path, server, sources: list[tuple[str, str, str]], extra: str = "") -> Path:
    text = f'database_url = "sqlite:///{tmp_path}/w.db"\n{extra}\n[[targets]]\nid = "gpt-image-2"\n'
    for name, kind, path in sources:
        url = path if "${" in path else server.url(path)
        text += f'[[sources]]\nname = "{name}"\nkind = "{kind}"\nurl = "{url}"\ntimeout = "2s"\n'
    p = tmp_path / "watcher.toml"
    p.write_text(text)
    return p


def test_run_once_status_history_and_check_tell_the_story(http_server, tmp_path):
    http_server.route("/image_model.py", PY_BEFORE)
    cfg = write(tmp_path, http_server, [("py", "sdk_types", "/image_model.py")])
    r = real(cfg, "run", "--once")
    assert r.returncode == 0, r.stderr
    assert re.search(r"^py\s+ok\s+200\s+0\b", r.stdout, re.M)
    assert "gpt-image-2: no first-party evidence" in r.stdout
    assert real(cfg, "check", "gpt-image-2").returncode == 11

    http_server.route("/image_model.py", PY_AFTER)
    r = watcher(cfg, "run", "--once")
    assert r.returncode == 0 and re.search(r"^py\s+ok\s+200\s+2 \+2", r.stdout, re.M), r.stdout
    c = watcher(cfg, "check", "gpt-image-2")
    assert c.returncode == 0 and c.stdout.startswith("confirmed: gpt-image-2: first-party evidence found in 1 of 1")

    st = watcher(cfg, "status")
    assert re.search(r"^gpt-image-2\s+confirmed\s+py", st.stdout, re.M)
    assert re.search(r"^py\s+first_party\s+ok\s", st.stdout, re.M)

    rows = json.loads(watcher(cfg, "history", "--format", "json").stdout)
    assert {r["model_id"] for r in rows} == {"gpt-image-2", "gpt-image-2-2026-04-21"}
    for r in rows:
        assert {"target", "source", "url", "authority", "level", "evidence_type", "excerpt", "location",
                "first_seen", "last_seen"} <= set(r)
        assert r["url"] == http_server.url("/image_model.py") and r["level"] == "confirmed"
        assert r["first_seen"].endswith("Z")
    table = watcher(cfg, "history", "--format", "csv").stdout
    assert len(list(csv.DictReader(io.StringIO(table)))) == 2
    assert json.loads(watcher(cfg, "history", "--format", "json", "--level", "mentioned").stdout) == []
    assert len(watcher(cfg, "history", "--format", "jsonl", "--since", "1d").stdout.splitlines()) == 2
    assert watcher(cfg, "history", "--format", "json", "--until", "2020-01-01").stdout.strip() == "[]"


def test_exit_codes_when_sources_fail_or_the_target_is_mentioned_or_unknown(http_server, tmp_path):
    http_server.route("/spec.yaml", SPEC_MAY.read_bytes())
    http_server.route("/down", b"", status=503)
    cfg = write(tmp_path, http_server, [("spec", "openapi_spec", "/spec.yaml"), ("down", "models_api", "/down")])
    r = watcher(cfg, "run", "--once")
    assert r.returncode == 5 and re.search(r"^down\s+http_error\s+503", r.stdout, re.M)
    assert watcher(cfg, "check", "gpt-image-2").returncode == 10  # mentioned wins over unknown
    cfg2 = write(tmp_path, http_server, [("down", "models_api", "/down")])
    (tmp_path / "w.db").unlink()
    watcher(cfg2, "run", "--once")
    c = watcher(cfg2, "check", "gpt-image-2")
    assert c.returncode == 12 and "could not be read (down)" in c.stdout
    assert watcher(cfg2, "check", "gpt-image-9").returncode == 2


def test_not_configured_sources_are_shown_and_do_not_fail_the_run(http_server, tmp_path):
    http_server.route("/image_model.py", PY_BEFORE)
    cfg = write(tmp_path, http_server, [("py", "sdk_types", "/image_model.py"),
                                        ("api", "models_api", "https://api.openai.com/v1/models?k=${NO_SUCH_KEY}")])
    r = watcher(cfg, "run", "--once", env={"NO_SUCH_KEY": None})
    assert r.returncode == 0
    assert re.search(r"^api\s+not_configured\s.*NO_SUCH_KEY", r.stdout, re.M)
    src = watcher(cfg, "sources").stdout
    assert "${NO_SUCH_KEY}" in src and "no: set NO_SUCH_KEY" in src


def test_a_broken_config_exits_3_naming_file_and_key(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text('[[sources]]\nname = "x"\nkind = "rss"\nurl = "https://example.com"\n')
    r = real(p, "status")
    assert r.returncode == 3
    from watcher.sources import names

    assert r.stderr.strip() == f"watcher: {p}: sources.x.kind: unknown kind 'rss'; allowed: {', '.join(names())}"
    assert "sdk_types" in names() and "changelog" in names()
    r = watcher(None, "status", env={"WATCHER_CONFIG": str(tmp_path / "missing.toml")})
    assert r.returncode == 3 and "missing.toml" in r.stderr


@pytest.mark.parametrize("spec, level", [(SPEC_MAY, "mentioned"), (SPEC_AUG, "confirmed")])
def test_scan_reads_a_local_file_without_network_or_database(tmp_path, monkeypatch, spec, level):
    monkeypatch.chdir(tmp_path)
    r = watcher(None, "scan", str(spec), "--kind", "openapi_spec", "--format", "json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert level in {x["level"] for x in rows}
    if level == "mentioned":
        assert {x["level"] for x in rows} == {"mentioned"}
    assert all({"target", "level", "evidence_type", "excerpt", "location"} <= set(x) for x in rows)
    assert list(tmp_path.iterdir()) == []  # no database was made


def test_every_command_has_help_and_is_in_the_readme():
    readme = (ROOT / "README.md").read_text()

    def walk(group: click.Group, prefix: str):
        for name, cmd in group.commands.items():
            yield f"{prefix}{name}", cmd
            if isinstance(cmd, click.Group):
                yield from walk(cmd, f"{prefix}{name} ")

    for name, cmd in walk(cli, ""):
        assert (cmd.help or "").strip(), f"watcher {name} has no help"
        assert f"watcher {name}" in readme, f"watcher {name} is not documented in README.md"


def test_the_console_script_collects_garbage_once_the_database_layer_is_imported():
    """The console script imports SQLAlchemy with the collector held (none of those objects can be
    freed), then freezes them: a daemon must still collect its own garbage for days afterwards."""
    import gc

    from watcher import cli as cli_module

    try:
        cli_module._import_the_store()
        assert gc.isenabled()
        assert gc.get_freeze_count() > 0  # the start-up's objects are left out of every later collection
        cycle: list[object] = []
        cycle.append(cycle)
        del cycle
        assert gc.collect() >= 1  # a cycle made afterwards is still found and freed
    finally:
        gc.unfreeze()
        gc.enable()
