"""HTTP validators (ETag, Last-Modified) that may be stored and sent back; nothing else is.

Pure: no I/O. A validator with a character HTTP cannot carry, or longer than its column, is dropped
(the next probe then reads the whole document) instead of breaking every later request.
"""

from __future__ import annotations

MAX_ETAG = 512  # real ETags are a hash in quotes; sources.etag is unbounded text, but a request is not
MAX_LAST_MODIFIED = 100  # an HTTP date is 29 characters; sources.last_modified holds 100


def sendable(value: str | None, limit: int) -> str | None:
    """`value` if it can go back in a request header as is (printable ASCII, at most `limit`), else None."""
    if not value or len(value) > limit or not all(" " <= c <= "~" for c in value):
        return None
    return value
