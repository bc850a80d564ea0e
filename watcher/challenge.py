"""Bot-challenge pages: the interstitial a bot wall (Cloudflare, Akamai, DataDome, PerimeterX, Imperva,
AWS WAF) serves instead of the document. Pure: the fetcher and the parsers both ask `is_challenge`.

A challenge page is *blocked*, never a document that lacks the target: mistaking one for the page would
turn "could not read" into "absent".
"""

from __future__ import annotations

import re

HEAD_CHARS = 64 * 1024  # challenge pages are small; a marker deeper than this is page content

_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
TITLES = (
    "just a moment",  # Cloudflare
    "attention required",  # Cloudflare (the older block page)
    "checking your browser",  # Cloudflare, DDoS-Guard
    "access denied",  # Akamai, AWS WAF
    "captcha",
    "verify you are human",
    "are you a robot",
    "one more step",  # Cloudflare (the captcha page)
)
# Not "/cdn-cgi/challenge-platform/": Cloudflare injects that script into ordinary pages too.
MARKS = (
    "cf-chl", "cf_chl",  # Cloudflare's challenge options and tokens (_cf_chl_opt, cf_chl_rt_tk)
    "cf-browser-verification", "challenges.cloudflare.com",
    "enable javascript and cookies to continue",
    "captcha-delivery.com",  # DataDome
    "px-captcha",  # PerimeterX
    "_incapsula_resource",  # Imperva
    "awswafintegration",  # AWS WAF
    "errors.edgesuite.net",  # Akamai
)


def is_challenge(text: str) -> bool:
    """Whether a page (its start is enough) is a bot wall: a challenge title, or a challenge marker."""
    head = text[:HEAD_CHARS].lower()
    m = _TITLE.search(head)
    if m and any(t in m.group(1) for t in TITLES):
        return True
    return any(mark in head for mark in MARKS)
