"""Configuration files for tests that start watcher as a user does: a TOML file in the test's folder."""

from __future__ import annotations

import json
from pathlib import Path


def source(name: str, url: str, every: str = "1m", extra: str = "") -> str:
    return (f'[[sources]]\nname = "{name}"\nkind = "models_api"\nurl = "{url}"\nevery = "{every}"\n'
            f'timeout = "5s"\n{extra}')


def write_config(tmp_path: Path, db: str, sources: str = "", channels: list[dict] = (), head: str = "",
                 targets: str = '[[targets]]\nid = "gpt-image-2"\n') -> Path:
    text = f'database_url = "{db}"\njitter = 0\n{head}\n{targets}{sources}'
    for ch in channels:
        text += "[[channels]]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in ch.items())
    p = tmp_path / "watcher.toml"
    p.write_text(text)
    return p
