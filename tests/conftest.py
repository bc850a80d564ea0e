"""Shared fixtures: real servers on 127.0.0.1 (see servers.py), and a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from servers import FixtureServer, HookReceiver


@pytest.fixture
def http_server() -> Iterator[FixtureServer]:
    """A FixtureServer on 127.0.0.1, closed after the test."""
    with FixtureServer() as server:
        yield server


@pytest.fixture
def hook_receiver() -> Iterator[HookReceiver]:
    """A HookReceiver (Slack or generic webhook endpoint) on 127.0.0.1, closed after the test."""
    with HookReceiver() as receiver:
        yield receiver


# ---------------------------------------------------------------------------------- SMTP
SMTP_USER = "watcher"
SMTP_PASSWORD = "smtp-pass-5d1e"


@dataclass(frozen=True)
class Mail:
    """One message the SMTP server accepted."""

    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    login: str | None  # who authenticated, if anyone
    tls: bool  # whether the session was encrypted


class SMTPRecorder:
    """An aiosmtpd handler that records what it accepts. Set `rcpt_reply` or `data_reply` (e.g. "550 no
    such user") to refuse instead; logins are accepted for SMTP_USER / SMTP_PASSWORD only."""

    def __init__(self) -> None:
        self.messages: list[Mail] = []
        self.rcpt_reply: str | None = None
        self.data_reply: str | None = None

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_reply:
            return self.data_reply
        login = session.auth_data.login.decode() if session.authenticated else None
        tls = server.transport.get_extra_info("ssl_object") is not None
        self.messages.append(Mail(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content or b"",
                                  login, tls))
        return "250 Message accepted for delivery"

    @staticmethod
    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> Any:
        from aiosmtpd.smtp import AuthResult

        ok = (auth_data.login, auth_data.password) == (SMTP_USER.encode(), SMTP_PASSWORD.encode())
        return AuthResult(success=ok, handled=False, auth_data=auth_data)


class SMTPServer:
    """aiosmtpd's threaded Controller on 127.0.0.1 around an SMTPRecorder."""

    def __init__(self, *, starttls: ssl.SSLContext | None = None, implicit_tls: ssl.SSLContext | None = None,
                 auth_require_tls: bool = False, port: int | None = None) -> None:
        from aiosmtpd.controller import Controller

        self.handler = SMTPRecorder()
        self.host = "127.0.0.1"
        self.port = port or free_port()
        kwargs: dict[str, Any] = dict(authenticator=SMTPRecorder.authenticate, auth_require_tls=auth_require_tls)
        if starttls is not None:
            kwargs.update(tls_context=starttls, require_starttls=True)
        self._controller = Controller(self.handler, hostname=self.host, port=self.port, ssl_context=implicit_tls,
                                      ready_timeout=5.0, **kwargs)
        self._controller.start()

    @property
    def messages(self) -> list[Mail]:
        return self.handler.messages

    def close(self) -> None:
        self._controller.stop()


def free_port() -> int:
    """A port nothing listens on right now (for a server to take, or to find a connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp_server() -> Iterator[SMTPServer]:
    """A plain SMTP server (no TLS) that offers AUTH; for `security = "none"`."""
    server = SMTPServer()
    yield server
    server.close()


@pytest.fixture(scope="session")
def tls_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made by the openssl command: (cert.pem, key.pem)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is not installed")
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True, timeout=30)
    return cert, key


def _server_context(tls_cert: tuple[Path, Path]) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(*tls_cert)
    return ctx


@pytest.fixture
def starttls_smtp_server(tls_cert: tuple[Path, Path]) -> Iterator[SMTPServer]:
    """An SMTP server that requires STARTTLS (self-signed `tls_cert`) and offers AUTH only after it."""
    server = SMTPServer(starttls=_server_context(tls_cert), auth_require_tls=True)
    yield server
    server.close()


@pytest.fixture
def tls_smtp_server(tls_cert: tuple[Path, Path]) -> Iterator[SMTPServer]:
    """An SMTP server speaking implicit TLS (SMTPS) with the self-signed `tls_cert`."""
    server = SMTPServer(implicit_tls=_server_context(tls_cert))
    yield server
    server.close()


@pytest.fixture
def trust_tls_cert(tls_cert: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> Path:
    """Make ssl.create_default_context() trust `tls_cert` (OpenSSL reads SSL_CERT_FILE when it is called)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_cert[0]))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    return tls_cert[0]


from pg import pg_url  # noqa: E402,F401  (PostgreSQL: a fresh database per test)
