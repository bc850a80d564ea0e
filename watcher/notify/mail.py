"""The e-mail channel: one multipart/alternative message (text and HTML) per notice over smtplib.

One short-lived connection per message. `security`: starttls (default, port 587), tls (implicit TLS,
port 465) or none (port 25); certificates are verified against the system's trust store.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import smtplib
import socket
import ssl
import threading
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

from ..config import ChannelConfig
from ..errors import DeliveryError
from ..text import safe_line
from .declare import ChannelType, Fail
from .render import Rendered

log = logging.getLogger(__name__)

DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}


def message_id(ident: str) -> str:
    """The same notice always gets the same Message-ID, so a mail client can fold a repeat into one.
    `ident` is the rendered message's: the notice's key and the outbox row it was made in, so two
    watcher databases never give two different mails one id."""
    return f"<{hashlib.sha256(ident.encode('utf-8')).hexdigest()[:32]}@watcher>"


def build(channel: ChannelConfig, rendered: Rendered, key: str) -> EmailMessage:
    s = channel.settings
    msg = EmailMessage()
    msg["Subject"] = rendered.subject
    msg["From"] = s["from"]
    msg["To"] = ", ".join(s["to"])
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = message_id(rendered.ident or key)
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to a robot
    msg.set_content(rendered.text)
    msg.add_alternative(rendered.html, subtype="html")
    return msg


def send(channel: ChannelConfig, rendered: Rendered, key: str) -> None:
    """Send within the channel's total deadline: smtplib runs in a thread whose socket is shut down
    when the time is up (socket timeouts alone let a server trickling its greeting stall us for ever)."""
    s = channel.settings
    host = s["smtp_host"]
    port = int(s.get("smtp_port") or DEFAULT_PORTS[s.get("security", "starttls")])
    deadline = channel.deadline
    box: list[smtplib.SMTP] = []
    failure: list[BaseException] = []
    cancelled = threading.Event()

    def work() -> None:
        try:
            _send(channel, rendered, key, box, cancelled)
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread as is
            failure.append(exc)

    worker = threading.Thread(target=work, name=f"smtp-{channel.name}", daemon=True)
    worker.start()
    worker.join(deadline)
    if worker.is_alive():
        cancelled.set()  # a worker past the blocked step stops before the message goes out
        for smtp in box:
            sock = getattr(smtp, "sock", None)
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked read; the thread then ends
        raise DeliveryError(f"email channel {channel.name!r}: {host}:{port} did not take the message "
                            f"within {deadline:g} s")
    if failure:
        raise failure[0]


def _send(channel: ChannelConfig, rendered: Rendered, key: str, box: list[smtplib.SMTP],
          cancelled: threading.Event) -> None:
    s = channel.settings
    security = s.get("security", "starttls")
    host = s["smtp_host"]
    port = int(s.get("smtp_port") or DEFAULT_PORTS[security])
    timeout = channel.deadline
    where = f"email channel {channel.name!r}"
    msg = build(channel, rendered, key)
    context = ssl.create_default_context()
    try:
        # Made unconnected, so the watchdog can reach its socket while the greeting is read.
        smtp = (smtplib.SMTP_SSL(timeout=timeout, context=context) if security == "tls"
                else smtplib.SMTP(timeout=timeout))
        smtp._host = host  # type: ignore[attr-defined]  # private in smtplib: what STARTTLS and implicit TLS check the certificate against
        box.append(smtp)
        with smtp:
            smtp.connect(host, port)
            smtp.ehlo()
            if security == "starttls":
                smtp.starttls(context=context)
                smtp.ehlo()
            if s.get("smtp_user"):
                smtp.login(s["smtp_user"], s.get("smtp_password") or "")
            if cancelled.is_set():  # given up on (and to be retried): sending now would make it twice
                raise smtplib.SMTPServerDisconnected("given up at the deadline")
            refused = smtp.send_message(msg, from_addr=s["from"], to_addrs=list(s["to"]))
    except smtplib.SMTPAuthenticationError as exc:
        raise DeliveryError(f"{where}: {host} refused the login: {_reply(exc.smtp_code, exc.smtp_error)}",
                            permanent=True) from None
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        replies = "; ".join(f"{addr}: {_reply(code, text)}" for addr, (code, text) in exc.recipients.items())
        raise DeliveryError(f"{where}: {host} refused every recipient: {replies}",
                            permanent=any(c >= 500 for c in codes)) from None
    except smtplib.SMTPResponseException as exc:  # sender refused, data refused, connect refused, ...
        raise DeliveryError(f"{where}: {host}:{port} answered {_reply(exc.smtp_code, exc.smtp_error)}",
                            permanent=exc.smtp_code >= 500) from None
    except smtplib.SMTPNotSupportedError as exc:
        # STARTTLS or AUTH asked of a server that does not offer it: the settings are wrong.
        raise DeliveryError(f"{where}: {host}:{port} does not support it: {_text(str(exc))} "
                            f"(check security and smtp_user)", permanent=True) from None
    except ssl.SSLCertVerificationError as exc:
        raise DeliveryError(f"{where}: the TLS certificate of {host} is not trusted: {_text(exc.verify_message)}") \
            from None
    except (smtplib.SMTPException, OSError) as exc:  # disconnects, timeouts, refused connections
        raise DeliveryError(f"{where}: cannot send through {host}:{port}: {type(exc).__name__}: "
                            f"{_text(str(exc))}") from None
    if refused:
        # Taken for the others: sending again would repeat it to them, so it counts as delivered.
        log.warning("%s: %s refused %s", where, host, ", ".join(sorted(refused)))


def _reply(code: int, text: bytes | str) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return f"{code} {_text(text)}"


def _text(text: str | None) -> str:
    return safe_line(text, 300)



def _check(settings: dict[str, Any], fail: Fail) -> None:
    to = settings.get("to")
    if isinstance(to, str):
        settings["to"] = [to]
    elif not isinstance(to, list) or not to or not all(isinstance(x, str) for x in to):
        raise fail("to", "must be an address or a list of addresses")
    if settings.get("security", "starttls") not in DEFAULT_PORTS:
        raise fail("security", f"must be one of: {', '.join(DEFAULT_PORTS)}")
    port = settings.get("smtp_port", 587)
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        raise fail("smtp_port", "must be a port number")


def preview(channel: ChannelConfig, rendered: Rendered) -> tuple[str, str]:
    to = ", ".join(channel.settings.get("to") or [])
    return f"E-mail · {channel.name} to {to}", f"Subject: {rendered.subject}\n\n{rendered.text.rstrip()}"


CHANNEL = ChannelType(
    name="email", summary="one multipart (text and HTML) mail per notice over SMTP",
    keys=frozenset({"smtp_host", "smtp_port", "smtp_user", "smtp_password", "from", "to", "security", "timeout"}),
    required=("smtp_host", "from", "to"), send=send, secret_keys=("smtp_password",), check=_check, preview=preview)
