"""Configuration: what a user writes, and the messages a mistake gets."""

from __future__ import annotations

from pathlib import Path

import pytest

from watcher.config import load_config
from watcher.durations import parse_duration
from watcher.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "watcher.toml"
    p.write_text(text)
    return p


BASE = """
database_url = "sqlite:///x.db"
[[targets]]
id = "gpt-image-2"
[[sources]]
name = "py"
kind = "sdk_types"
url = "https://example.com/a.py"
"""


def test_shipped_default_config_loads_with_gpt_image_2_and_first_party_sources():
    cfg = load_config(ROOT / "config" / "watcher.toml", env={})
    assert cfg.target_ids == ("gpt-image-2",)
    kinds = {s.kind for s in cfg.sources}
    assert kinds == {"models_api", "openapi_spec", "sdk_types", "pricing_page", "changelog", "model_page", "feed",
                     "guide_page", "model_index"}
    # the docs pages are read as their Markdown twins; openai-node's branch is `main` (`master` answers 404)
    docs = [s for s in cfg.sources if s.host == "developers.openai.com"]
    assert len(docs) == 5 and all(s.url.endswith(".md") for s in docs)
    assert cfg.source("openai-image-generation-guide").url == \
        "https://developers.openai.com/api/docs/guides/image-generation.md"
    assert cfg.source("openai-models-index").url == "https://developers.openai.com/api/docs/models.md"
    assert "/openai-node/main/" in cfg.source("openai-node-images").url
    assert all(s.authority.value == "first_party" for s in cfg.sources)
    # without a key the API sources are not configured, the others are
    api = [s for s in cfg.sources if s.kind == "models_api"]
    assert api and all(not s.configured and s.missing_env == ("OPENAI_API_KEY",) for s in api)
    assert all(s.configured for s in cfg.sources if s.kind != "models_api")
    # {target} expands per target
    assert cfg.source("openai-model-page/gpt-image-2").url.endswith("/models/gpt-image-2.md")


def test_env_var_expands_into_headers_and_is_kept_out_of_display(tmp_path):
    p = write(tmp_path, BASE + 'headers = { Authorization = "Bearer ${KEY}" }\n')
    cfg = load_config(p, env={"KEY": "sk-secret-123"})
    src = cfg.source("py")
    assert src.headers["Authorization"] == "Bearer sk-secret-123"
    assert "sk-secret-123" in cfg.secrets
    assert "sk-secret" not in src.url_display


def test_unset_env_var_in_a_source_makes_it_not_configured_not_an_error(tmp_path):
    p = write(tmp_path, BASE + 'headers = { Authorization = "Bearer ${NOPE}" }\n')
    src = load_config(p, env={}).source("py")
    assert not src.configured and src.missing_env == ("NOPE",)


@pytest.mark.parametrize("text, key, words", [
    (BASE.replace('kind = "sdk_types"', 'kind = "rss"'), "sources.py.kind", "allowed: changelog, feed"),
    (BASE + 'authority = "official"\n', "sources.py.authority", "first_party"),
    (BASE + 'colour = "red"\n', "sources.py.colour", "unknown key"),
    (BASE.replace("https://example.com/a.py", "ftp://example.com/a"), "sources.py.url", "http(s)"),
    (BASE + 'every = "soon"\n', "sources.py.every", "not a duration"),
    (BASE + BASE.split("[[sources]]")[1].join(["[[sources]]", ""]), "sources.py.name", "duplicate"),
    (BASE.replace('"sqlite:///x.db"', '"${DB_URL}"'), "database_url", "DB_URL is not set"),
    (BASE + "\n[[channels]]\nname = \"s\"\ntype = \"pager\"\n", "channels.s.type", "slack, email, webhook"),
    ("verbose = true\n" + BASE, "verbose", "unknown key"),
    (BASE.replace('id = "gpt-image-2"', 'id = "gpt image 2"'), "targets[0].id", "not a model id"),
    ("[[sources]\n", None, "not valid TOML"),
])
def test_a_broken_config_names_the_file_and_the_key(tmp_path, text, key, words):
    p = write(tmp_path, text)
    with pytest.raises(ConfigError) as e:
        load_config(p, env={})
    msg = str(e.value)
    assert str(p) in msg
    if key:
        assert f": {key}: " in msg
    assert words in msg
    assert e.value.exit_code == 3


def test_missing_config_file_says_how_to_pick_one(tmp_path):
    with pytest.raises(ConfigError, match="WATCHER_CONFIG"):
        load_config(tmp_path / "nope.toml", env={})


def test_database_url_env_overrides_the_file(tmp_path):
    cfg = load_config(write(tmp_path, BASE), env={"WATCHER_DATABASE_URL": "sqlite:///other.db"})
    assert cfg.database_url == "sqlite:///other.db"


def test_several_targets_and_families(tmp_path):
    text = BASE.replace('[[targets]]\nid = "gpt-image-2"',
                        '[[targets]]\nid = "gpt-image-2"\n[[targets]]\nid = "GPT-4o"\n[[targets]]\nfamily = "gpt-image-*"')
    cfg = load_config(write(tmp_path, text), env={})
    assert cfg.target_ids == ("gpt-image-2", "gpt-4o")
    assert [t.family for t in cfg.targets if t.family] == ["gpt-image-*"]


@pytest.mark.parametrize("value, seconds", [("15m", 900), ("1s", 1), ("2h", 7200), ("1d", 86400), (30, 30),
                                            ("500ms", 0.5)])
def test_durations(value, seconds):
    assert parse_duration(value) == seconds


# --- a kind declares its own keys ------------------------------------------------------------------

PLUGIN = '''"""A test kind. Yields page_mention for any line naming the target."""
from watcher.evidence import EvidenceType
from watcher.sources import Anchor, Kind, Option


def _lines(value):
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError("must be a whole number of lines, at least 1")
    return value


KIND = Kind(name="lines_kind", parse=lambda doc, matcher: [], anchor=lambda doc: Anchor(bool(doc.body), "lines"),
            evidence_types=(EvidenceType.PAGE_MENTION,), reads="lines",
            options=(Option("max_lines", _lines, "read at most this many lines"),))
'''


@pytest.fixture
def extra_kind(tmp_path: Path):
    """A kind module dropped beside the shipped ones: adding a kind is one module."""
    import sys

    import watcher.sources as registry

    folder = tmp_path / "kinds"
    folder.mkdir()
    (folder / "lines_kind.py").write_text(PLUGIN)
    registry.__path__.append(str(folder))
    registry.names.cache_clear()
    yield "lines_kind"
    registry.__path__.remove(str(folder))
    registry.names.cache_clear()
    sys.modules.pop("watcher.sources.lines_kind", None)


def test_a_new_kind_module_is_accepted_with_its_own_keys_and_their_checks(tmp_path: Path, extra_kind: str) -> None:
    from watcher.sources import names

    assert extra_kind in names()
    text = BASE.replace('kind = "sdk_types"', f'kind = "{extra_kind}"\nmax_lines = 40')
    cfg = load_config(write(tmp_path, text), env={})
    assert cfg.sources[0].kind == extra_kind and cfg.sources[0].option("max_lines") == 40
    with pytest.raises(ConfigError, match="sources.py.max_lines: must be a whole number of lines"):
        load_config(write(tmp_path, text.replace("max_lines = 40", "max_lines = 0")), env={})
    # another kind does not accept that key
    with pytest.raises(ConfigError, match="max_lines"):
        load_config(write(tmp_path, BASE.replace('kind = "sdk_types"', 'kind = "sdk_types"\nmax_lines = 40')), env={})


def test_an_unknown_source_name_is_the_trees_usage_error_listing_the_configured_ones():
    from watcher.errors import BacktestError, UnknownNameError, WatcherError

    config = load_config(ROOT / "config" / "watcher.toml", env={})
    with pytest.raises(UnknownNameError, match=r"unknown source 'no-such-source'; configured: .*openapi") as info:
        config.source("no-such-source")
    assert isinstance(info.value, WatcherError) and info.value.exit_code == 2
    assert issubclass(BacktestError, WatcherError) and BacktestError.exit_code == 2
