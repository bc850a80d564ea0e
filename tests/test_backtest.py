"""`watcher backtest`: real OpenAI documents committed into a real git repository, walked through the CLI.

Fixtures (copied from /work/shared/fixtures, provenance in the file names):
  openai-python/image_model-2025-12-16-9dc1d1a0.py  src/openai/types/image_model.py before gpt-image-2
  openai-python/image_model-2026-05-05-0ba55d75.py  the first version listing gpt-image-2
  openai-openapi/openapi-2026-05-13-5162af9.yaml    the spec naming gpt-image-2 in prose only
  openai-openapi/openapi-2026-08-20-b8d775d.yaml    the first spec accepting it as a `model` value
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from fixturepaths import DEMO_DATA
from watcher.cli import cli

FIXTURES = Path(__file__).parent / "fixtures" / "openai"
DEC = (DEMO_DATA / "openai-python" / "image_model-2025-12-16-9dc1d1a0.py").read_bytes()
MAY = (DEMO_DATA / "openai-python" / "image_model-2026-05-05-0ba55d75.py").read_bytes()
SPEC_MAY = FIXTURES / "openai-openapi" / "openapi-2026-05-13-5162af9.yaml"
SPEC_AUG = FIXTURES / "openai-openapi" / "openapi-2026-08-20-b8d775d.yaml"
SDK_PATH = "src/openai/types/image_model.py"

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


class Repo:
    """A git repository in a temporary folder, committed to with fixed dates."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str, date: str = "2026-01-01T00:00:00+00:00") -> str:
        env = dict(os.environ, GIT_AUTHOR_DATE=date, GIT_COMMITTER_DATE=date, GIT_CONFIG_GLOBAL=os.devnull,
                   GIT_CONFIG_NOSYSTEM="1")
        cmd = ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false",
               *args]
        return subprocess.run(cmd, cwd=self.root, env=env, check=True, capture_output=True, text=True).stdout

    def commit(self, files: dict[str, bytes | None], date: str, message: str = "change") -> str:
        """Write (or, for None, delete) files and commit them at `date`; returns the full hash."""
        for name, body in files.items():
            p = self.root / name
            if body is None:
                self.git("rm", "-q", name)
                continue
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(body)
            self.git("add", name)
        self.git("commit", "-q", "-m", message, date=date)
        return self.git("rev-parse", "HEAD").strip()


def backtest(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["backtest", *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def without_gpt_image_2(body: bytes) -> bytes:
    """The May file with the two gpt-image-2 lines taken out again, as a revert would."""
    lines = body.decode().splitlines(keepends=True)
    return "".join(line for line in lines if "gpt-image-2" not in line).encode()


@pytest.fixture
def sdk_repo(tmp_path: Path) -> tuple[Repo, list[str]]:
    repo = Repo(tmp_path / "openai-python")
    commits = [
        repo.commit({SDK_PATH: DEC}, "2025-12-16T18:05:41+00:00", "feat(api): gpt-image-1.5"),
        repo.commit({"README.md": b"unrelated\n"}, "2026-01-10T09:00:00+00:00", "docs"),
        repo.commit({SDK_PATH: MAY}, "2026-05-05T16:20:00+00:00", "feat(api): update image 2"),
        repo.commit({SDK_PATH: without_gpt_image_2(MAY)}, "2026-05-06T08:00:00+00:00", "revert"),
        repo.commit({SDK_PATH: MAY}, "2026-05-07T11:30:00+00:00", "feat(api): update image 2 again"),
    ]
    return repo, commits


def test_git_history_lists_every_level_change_oldest_first(sdk_repo: tuple[Repo, list[str]]) -> None:
    repo, c = sdk_repo
    code, out, err = backtest("--git", str(repo.root), "--path", SDK_PATH, "--kind", "sdk_types",
                              "--format", "json")
    assert code == 0, err
    assert json.loads(out) == [
        {"target": "gpt-image-2", "level": "confirmed", "commit": c[2], "date": "2026-05-05T16:20:00+00:00"},
        {"target": "gpt-image-2", "level": None, "commit": c[3], "date": "2026-05-06T08:00:00+00:00"},
        {"target": "gpt-image-2", "level": "confirmed", "commit": c[4], "date": "2026-05-07T11:30:00+00:00"},
    ]
    assert err == ""


def test_each_target_is_followed_on_its_own(sdk_repo: tuple[Repo, list[str]]) -> None:
    repo, c = sdk_repo
    code, out, _ = backtest("--git", str(repo.root), "--path", SDK_PATH, "--kind", "sdk_types", "--format", "json",
                            "-t", "gpt-image-1.5", "-t", "gpt-image-2", "-t", "gpt-image-20", "--jobs", "1")
    assert code == 0
    assert [(e["target"], e["level"], e["commit"]) for e in json.loads(out)] == [
        ("gpt-image-1.5", "confirmed", c[0]),
        ("gpt-image-2", "confirmed", c[2]),
        ("gpt-image-2", None, c[3]),
        ("gpt-image-2", "confirmed", c[4]),
    ]


def test_table_names_the_first_commit_of_each_level(sdk_repo: tuple[Repo, list[str]]) -> None:
    repo, c = sdk_repo
    code, out, _ = backtest("--git", str(repo.root), "--path", SDK_PATH, "--kind", "sdk_types")
    assert code == 0
    assert "gpt-image-2: first mentioned: never" in out
    assert f"gpt-image-2: first confirmed: 2026-05-05T16:20:00+00:00 ({c[2][:12]})" in out
    assert f"{c[3][:12]}  gpt-image-2  null (vanished)" in out
    assert "4 versions read" in out  # the README commit does not touch the file


def test_a_deleted_file_takes_the_evidence_with_it(sdk_repo: tuple[Repo, list[str]]) -> None:
    repo, _ = sdk_repo
    gone = repo.commit({SDK_PATH: None}, "2026-06-01T00:00:00+00:00", "remove")
    code, out, _ = backtest("--git", str(repo.root), "--path", SDK_PATH, "--kind", "sdk_types", "--format", "json")
    assert code == 0
    assert json.loads(out)[-1] == {"target": "gpt-image-2", "level": None, "commit": gone,
                                   "date": "2026-06-01T00:00:00+00:00"}


def test_a_merge_that_takes_one_sides_file_is_not_a_version(tmp_path: Path) -> None:
    repo = Repo(tmp_path)
    base = repo.commit({SDK_PATH: DEC}, "2025-12-16T00:00:00+00:00")
    repo.git("checkout", "-q", "-b", "side")
    added = repo.commit({SDK_PATH: MAY}, "2026-05-05T00:00:00+00:00")
    repo.git("checkout", "-q", "main")
    repo.commit({"other.txt": b"x\n"}, "2026-05-06T00:00:00+00:00")
    repo.git("merge", "-q", "--no-ff", "-m", "merge side", "side", date="2026-05-07T00:00:00+00:00")
    merge = repo.git("rev-parse", "HEAD").strip()
    code, out, _ = backtest("--git", str(repo.root), "--path", SDK_PATH, "--kind", "sdk_types", "--format", "json")
    assert code == 0
    assert json.loads(out) == [{"target": "gpt-image-2", "level": "confirmed", "commit": added,
                                "date": "2026-05-05T00:00:00+00:00"}]
    assert merge not in out and base not in out


def test_spec_folder_goes_from_mentioned_to_confirmed(tmp_path: Path) -> None:
    folder = tmp_path / "specs"
    folder.mkdir()
    shutil.copy(SPEC_AUG, folder)  # copied in the wrong order on purpose: the names' dates decide
    shutil.copy(SPEC_MAY, folder)
    code, out, err = backtest("--dir", str(folder), "--kind", "openapi_spec", "--format", "json")
    assert code == 0, err
    assert json.loads(out) == [
        {"target": "gpt-image-2", "level": "mentioned", "commit": SPEC_MAY.name, "date": "2026-05-13"},
        {"target": "gpt-image-2", "level": "confirmed", "commit": SPEC_AUG.name, "date": "2026-08-20"},
    ]


def test_an_unreadable_version_is_reported_and_changes_no_level(tmp_path: Path) -> None:
    folder = tmp_path / "specs"
    folder.mkdir()
    shutil.copy(SPEC_MAY, folder)
    (folder / "openapi-2026-06-30-broken.yaml").write_bytes(b"openapi: 3.1.0\ninfo: [unclosed\n  title: x\n")
    shutil.copy(SPEC_AUG, folder)
    code, out, err = backtest("--dir", str(folder), "--kind", "openapi_spec", "--format", "json")
    assert code == 0
    assert json.loads(out) == [
        {"target": "gpt-image-2", "level": "mentioned", "commit": SPEC_MAY.name, "date": "2026-05-13"},
        {"target": "gpt-image-2", "level": "confirmed", "commit": SPEC_AUG.name, "date": "2026-08-20"},
    ]
    assert "openapi-2026-06-30-broken.yaml" in err and "parse_error" in err and len(err.splitlines()) == 1

    code, out, _ = backtest("--dir", str(folder), "--kind", "openapi_spec")
    assert code == 0
    broken = next(line for line in out.splitlines() if "broken" in line)
    assert broken.startswith("2026-06-30  openapi-2026-06-30-broken.yaml") and "unreadable" in broken


def test_not_a_git_repository_is_a_usage_error(tmp_path: Path) -> None:
    code, _, err = backtest("--git", str(tmp_path), "--path", SDK_PATH, "--kind", "sdk_types")
    assert code == 2 and "not a git repository" in err


def test_a_path_that_never_existed_is_a_usage_error(sdk_repo: tuple[Repo, list[str]]) -> None:
    repo, _ = sdk_repo
    code, _, err = backtest("--git", str(repo.root), "--path", "src/openai/types/nope.py", "--kind", "sdk_types")
    assert code == 2 and "no commit" in err
