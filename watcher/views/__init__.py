"""The read side: what people ask of the evidence history, one module each. explain (one signal's
provenance, and `show`), timeline, report (HTML), feed (Atom), and diff (the engine explain uses). Each reads
through `store.queries` and returns frozen dataclasses, text or bytes; the CLI only prints them."""
