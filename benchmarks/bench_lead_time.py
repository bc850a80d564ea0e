"""Lead time: replay OpenAI's real captures in date order through the real parsers and print, per source
kind, the first date each would have confirmed the target (default gpt-image-2). A script, not a test.

    python benchmarks/bench_lead_time.py [TARGET]

Dates come from the captures' file names (`image_model-2026-05-05-0ba55d75.py`). The docs captures
(pricing, models index, guide) are named by their archive commit, not a date; OpenAI published them
with the changelog entry that announced the model, so they are dated by that entry's `published`
date, which the changelog parser reads from the changelog capture itself.
"""

from __future__ import annotations

import datetime as dt
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from watcher.evidence import Level
from watcher.sources import Document, get
from watcher.targets import Matcher

FIX = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "openai"
DEMO = Path(__file__).resolve().parent.parent / "watcher" / "demo_data"  # the SDK captures, kept once there
_DATE = re.compile(r"-(\d{4}-\d{2}-\d{2})-")


@dataclass(frozen=True)
class Capture:
    source: str  # what a user would configure
    kind: str
    path: Path
    url: str  # the URL the capture was taken from (the SDK parser reads the language from it)


CAPTURES = [
    Capture("openai-changelog", "changelog", FIX / "developers-docs/changelog-2026-07-22.md", "changelog.md"),
    Capture("openai-pricing", "pricing_page", FIX / "developers-docs/pricing-a30a622.md", "pricing.md"),
    Capture("openai-models-index", "model_index", FIX / "developers-docs/models-a30a622.md", "models.md"),
    Capture("openai-image-generation-guide", "guide_page",
            FIX / "developers-docs/guides-image-generation-d4e9eef.md", "image-generation.md"),
    *[Capture("openai-python-image-model", "sdk_types", p, "image_model.py")
      for p in sorted((DEMO / "openai-python").glob("image_model-*.py"))],
    *[Capture("openai-node-images", "sdk_types", p, "images.ts") for p in sorted((DEMO / "openai-node").glob("*.ts"))],
    *[Capture("openai-go-image", "sdk_types", p, "image.go") for p in sorted((DEMO / "openai-go").glob("*.go"))],
    *[Capture("openai-openapi-spec", "openapi_spec", p, "openapi.yaml")
      for p in sorted((FIX / "openai-openapi").glob("*.yaml"))],
]


@dataclass(frozen=True)
class Replayed:
    capture: Capture
    date: str
    dated_by: str  # "file name" or "changelog entry"
    level: str  # confirmed, mentioned or "-"
    evidence: str
    seconds: float


def replay(target: str) -> list[Replayed]:
    matcher = Matcher([target])
    parsed = []
    for c in CAPTURES:
        start = time.perf_counter()
        signals = get(c.kind).parse(Document(c.path.read_bytes(), url=c.url), matcher)
        parsed.append((c, signals, time.perf_counter() - start))
    # the date OpenAI announced the target, from the changelog capture's own entries
    announced = min((s.published for c, signals, _ in parsed if c.kind == "changelog" for s in signals
                     if s.level is Level.CONFIRMED and s.published), default=None)
    out = []
    for c, signals, seconds in parsed:
        confirmed = [s for s in signals if s.level is Level.CONFIRMED]
        level = "confirmed" if confirmed else "mentioned" if signals else "-"
        evidence = ", ".join(sorted({s.evidence_type.value for s in confirmed or signals}))
        m = _DATE.search(c.path.name)
        if c.kind == "changelog" and announced:
            date, by = announced, "its entry's date"
        elif m:
            date, by = m.group(1), "file name"
        elif announced:
            date, by = announced, "the changelog entry"
        else:
            continue  # an undated capture and no announcement to date it by
        out.append(Replayed(c, date, by, level, evidence, seconds))
    return sorted(out, key=lambda r: r.date)


def main(argv: list[str]) -> int:
    target = argv[0] if argv else "gpt-image-2"
    replayed = replay(target)
    print(f"Replay of {len(replayed)} real captures, in date order, for {target}:")
    for r in replayed:
        print(f"  {r.date}  {r.capture.path.name:<44} {r.capture.kind:<13} {r.level:<9} {r.evidence}"
              f"  ({r.seconds * 1000:.0f} ms)")
    first: dict[str, Replayed] = {}
    for r in replayed:
        if r.level == "confirmed":
            first.setdefault(r.capture.source, r)
    spec = first.get("openai-openapi-spec")
    print(f"\nFirst date each source would have confirmed {target}:\n")
    print("| source | kind | first confirmed | evidence | days before the OpenAPI spec |")
    print("| --- | --- | --- | --- | --- |")
    for r in sorted(first.values(), key=lambda r: (r.date, r.capture.source)):
        lead = (dt.date.fromisoformat(spec.date) - dt.date.fromisoformat(r.date)).days if spec else None
        print(f"| `{r.capture.source}` | {r.capture.kind} | {r.date} | {r.evidence} | "
              f"{lead if lead is not None else '?'} |")
    print("\n(docs captures without a date in their name are dated by the changelog entry that announced the model)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
