"""Markdown block parsing on the real docs captures: the hand-written `markdown_blocks` against
markdown-it-py's tokenizer alone, and the whole parse of each capture by its kind. Best of 7, in ms.
A script, not a test.

    python benchmarks/bench_markdown.py

markdown-it-py is not a dependency (see `watcher/sources/_text.py`: it was measured and is slower);
install it by hand to see its column (`pip install markdown-it-py`).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

from watcher.sources import Document, get
from watcher.sources._text import markdown_blocks
from watcher.targets import Matcher

DOCS = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "openai" / "developers-docs"
CAPTURES = [  # (file, kind that reads it)
    ("changelog-2026-07-22.md", "changelog"),
    ("pricing-a30a622.md", "pricing_page"),
    ("guides-image-generation-d4e9eef.md", "guide_page"),
    ("models-a30a622.md", "model_index"),
    ("models-gpt-image-1.5.md", "model_page"),
]
REPEAT = 7


def best_ms(fn: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(REPEAT):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best * 1000


def main() -> int:
    try:
        from markdown_it import MarkdownIt

        tokenize: Callable[[str], object] | None = MarkdownIt("commonmark").enable("table").parse
    except ImportError:
        tokenize = None
    matcher = Matcher(["gpt-image-2", "gpt-image-1.5"])
    print(f"{'capture':38} {'size':>8} {'hand-written':>13} {'markdown-it':>12} {'whole parse':>12}")
    for name, kind in CAPTURES:
        body = (DOCS / name).read_bytes()
        text = body.decode()
        ours = best_ms(lambda text=text: markdown_blocks(text))
        theirs = f"{best_ms(lambda text=text: tokenize(text)):9.1f} ms" if tokenize else "      (n/a)"
        parse = get(kind).parse
        whole = best_ms(lambda parse=parse, body=body, name=name: parse(
            Document(body, url=name, content_type="text/markdown"), matcher))
        print(f"{name:38} {len(body) / 1000:6.1f} kB {ours:10.1f} ms {theirs:>12} {whole:9.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
