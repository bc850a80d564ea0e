"""Where the tests' real documents live: `tests/fixtures/`, and the demo bundle (`watcher/demo_data/`),
package data that holds the SDK captures the demo replays. Each file exists once; the tests read the
demo's copy rather than keeping their own."""

from __future__ import annotations

from pathlib import Path

import watcher

FIXTURES = Path(__file__).parent / "fixtures"
DEMO_DATA = Path(watcher.__file__).parent / "demo_data"
_DEMO = "demo_data/"


def fixture_path(name: str) -> Path:
    """`demo_data/openai-python/x.py` is a file of the demo bundle; any other name is under tests/fixtures."""
    return DEMO_DATA / name[len(_DEMO):] if name.startswith(_DEMO) else FIXTURES / name
