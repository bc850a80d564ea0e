"""The README's TOML examples are real configuration: each loads, merged over the shipped
config/watcher.toml, with its `${VAR}`s set (as urlwatch tests its documentation's examples)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from watcher.config import parse_config

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
SHIPPED = ROOT / "config" / "watcher.toml"
EXAMPLES = re.findall(r"^```toml\n(.*?)^```", README, re.MULTILINE | re.DOTALL)


def env_for(text: str) -> dict[str, str]:
    """A value for each `${VAR}` an example reads: a URL where the name says so, else a token."""
    names = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", text))
    return {n: "https://hooks.example.invalid/T0/B0/x" if "URL" in n else "token-for-readme-test" for n in names}


def test_the_readme_has_toml_examples() -> None:
    assert EXAMPLES


@pytest.mark.parametrize("example", EXAMPLES, ids=[f"example{i}" for i in range(len(EXAMPLES))])
def test_each_readme_toml_example_is_a_valid_configuration(example: str) -> None:
    raw = tomllib.loads(example)  # a syntax error in the docs fails here
    merged = {**tomllib.loads(SHIPPED.read_text(encoding="utf-8")), **raw}
    config = parse_config(merged, SHIPPED, env_for(SHIPPED.read_text(encoding="utf-8") + example))
    for table in raw.get("channels", []):
        channel = next(c for c in config.channels if c.name == table["name"])
        assert channel.configured and channel.type == table["type"]
    for table in raw.get("sources", []):
        assert table["name"] in {s.name for s in config.sources} or "{target}" in table["url"]
