"""The TLS context for fetching, built in a background thread as soon as a run starts.

Loading the CA bundle costs ~40 ms of a run's start-up; OpenSSL does it without holding the GIL, so
it overlaps with importing SQLAlchemy. Certificates are always verified: certifi's bundle, or
SSL_CERT_FILE / SSL_CERT_DIR when set (as httpx does).
"""

from __future__ import annotations

import os
import ssl
import threading

_ctx: ssl.SSLContext | None = None
_error: BaseException | None = None
_thread: threading.Thread | None = None
_lock = threading.Lock()


def _build() -> None:
    global _ctx, _error
    try:
        cafile, capath = os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR")
        if not cafile and not capath:
            import certifi

            cafile = certifi.where()
        _ctx = ssl.create_default_context(cafile=cafile, capath=capath)
    except BaseException as exc:  # noqa: BLE001 - re-raised by context() in the caller's thread
        _error = exc


def warm() -> None:
    """Start building the context in the background (idempotent)."""
    global _thread
    with _lock:
        if _thread is None and _ctx is None:
            _thread = threading.Thread(target=_build, name="watcher-tls", daemon=True)
            _thread.start()


def context() -> ssl.SSLContext:
    """The verifying context, waiting for the background build if it is still running."""
    warm()
    assert _thread is not None or _ctx is not None
    if _thread is not None:
        _thread.join()
    if _error is not None:
        raise _error
    assert _ctx is not None
    return _ctx
