"""Rendering and the three channels against real servers on 127.0.0.1: Slack and webhook (HookReceiver),
e-mail (aiosmtpd, plain, STARTTLS and implicit TLS with a self-signed certificate made by openssl)."""

from __future__ import annotations

import email
import email.policy
import email.utils
import json
import re
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from conftest import SMTP_PASSWORD, SMTP_USER, SMTPServer, free_port
from servers import HookReceiver
from watcher.config import NOTICE_KINDS, ChannelConfig, Config, parse_config
from watcher.errors import DeliveryError
from watcher.notify import Delivery
from watcher.notify.channels import send
from watcher.notify.mail import message_id
from watcher.notify.render import human_link, render, slack_escape

SCHEMA = Path(__file__).parent.parent / "watcher" / "notify" / "webhook.schema.json"
SECRET = "sk-proj-secret-7c41e2"  # an API key the configuration takes from the environment
ANSWER = "gpt-image-2: first-party evidence found in 2 sources (openai-openapi-spec, openai-python-image-model)"
HOSTILE = ("<!channel> <@U123> @here @Everyone <https://evil.example|click> <script>alert(1)</script> "
           "a&b \x07bell\x1b[31mred\u202eevil\x00")
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


# ---------------------------------------------------------------------------------- builders
def make_config(templates_dir: Path | None = None) -> Config:
    raw: dict[str, Any] = {"sources": [{"name": "openai-models", "kind": "models_api",
                                        "url": "https://api.openai.com/v1/models",
                                        "headers": {"Authorization": "Bearer ${OPENAI_API_KEY}"}}]}
    if templates_dir is not None:
        raw["templates_dir"] = str(templates_dir)
    return parse_config(raw, Path("test.toml"), {"OPENAI_API_KEY": SECRET})


def evidence(source: str, evidence_type: str, url: str, excerpt: str, level: str = "confirmed") -> dict[str, Any]:
    return {"source": source, "url": url, "level": level, "evidence_type": evidence_type, "excerpt": excerpt,
            "location": None, "model_id": "gpt-image-2", "first_seen": "2026-04-21T17:02:11Z"}


SDK = evidence("openai-python-image-model", "sdk_value",
               "https://raw.githubusercontent.com/openai/openai-python/main/src/openai/types/image_model.py",
               "ImageModel: TypeAlias = Literal[\"dall-e-2\", \"dall-e-3\", \"gpt-image-1\", \"gpt-image-2\"]")
SPEC = evidence("openai-openapi-spec", "spec_value",
                "https://app.stainless.com/api/spec/documented/openai/openapi.documented.yml",
                "enum: [dall-e-2, dall-e-3, gpt-image-1, gpt-image-2]")

PAYLOADS: dict[str, dict[str, Any]] = {
    "release": {"kind": "release", "target": "gpt-image-2", "source": "openai-python-image-model",
                "confirmed_by": ["openai-python-image-model"], "evidence": [SDK], "key": "release:gpt-image-2"},
    "corroboration": {"kind": "corroboration", "target": "gpt-image-2", "source": "openai-openapi-spec",
                      "confirmed_by": ["openai-openapi-spec", "openai-python-image-model"], "evidence": [SPEC],
                      "key": "corroboration:gpt-image-2:openai-openapi-spec"},
    "mentioned": {"kind": "mentioned", "target": "gpt-image-2", "source": "openai-changelog",
                  "evidence": [evidence("openai-changelog", "page_mention", "https://platform.openai.com/docs/changelog",
                                        "gpt-image-2 is coming soon", level="mentioned")]},
    "withdrawn": {"kind": "withdrawn", "target": "gpt-image-2", "source": "openai-openapi-spec", "outcome": "ok",
                  "still_confirmed_by": ["openai-python-image-model"], "evidence": [SPEC]},
    "discovered": {"kind": "discovered", "target": "gpt-image-3", "family": "gpt-image-*",
                   "evidence": [dict(SDK, model_id="gpt-image-3")]},
    "source_health": {"kind": "source_health", "state": "down", "source": "openai-models",
                      "url": "https://api.openai.com/v1/models", "outcome": "timeout",
                      "error": "no answer within 20 s", "failure_streak": 3},
    "source_health_up": {"kind": "source_health", "state": "up", "source": "openai-models",
                         "url": "https://api.openai.com/v1/models", "outcome": "ok"},
    "test": {"kind": "test", "key": "test:ops:1", "channel": "ops"},
}


def channel(type_: str, **settings: Any) -> ChannelConfig:
    return ChannelConfig(name="ops", type=type_, kinds=NOTICE_KINDS, targets=(), settings=settings)


def delivery(ch: ChannelConfig, *payloads: dict[str, Any], key: str | None = None) -> Delivery:
    first = payloads[0]
    target = first.get("target")
    return Delivery(channel=ch, kind=first["kind"], target=target,
                    key=key or first.get("key") or f"{first['kind']}:{target or first.get('source')}",
                    ids=tuple(range(1, len(payloads) + 1)), payloads=payloads)


def release(ch: ChannelConfig, excerpt: str | None = None, key: str = "release:gpt-image-2") -> Delivery:
    """A release merged with its same-cycle corroboration, as the dispatcher's group() builds it."""
    rel = dict(PAYLOADS["release"])
    if excerpt is not None:
        rel["evidence"] = [dict(SDK, excerpt=excerpt)]
    return delivery(ch, rel, PAYLOADS["corroboration"], key=key)


def slack(receiver: HookReceiver, **settings: Any) -> ChannelConfig:
    return channel("slack", webhook_url=receiver.url("/services/T0001/B0002/hooksecret123"), **settings)


def hook(receiver: HookReceiver, **settings: Any) -> ChannelConfig:
    return channel("webhook", url=receiver.url("/watcher"), **settings)


def mail(server: SMTPServer, **settings: Any) -> ChannelConfig:
    base: dict[str, Any] = {"smtp_host": server.host, "smtp_port": server.port, "from": "watcher@example.com",
                            "to": ["ops@example.com", "lead@example.com"], "security": "none", "timeout": 5}
    return channel("email", **{**base, **settings})


def parse(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[return-value]


def parts(msg: EmailMessage) -> tuple[str, str]:
    text = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


def strings(value: Any) -> list[str]:
    """Every string inside a JSON value."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


def validate(body: dict[str, Any]) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(body)


# ---------------------------------------------------------------------------------- content
def test_release_names_target_answer_and_every_piece_of_evidence() -> None:
    r = render(release(channel("webhook", url="http://127.0.0.1:1/")), make_config())
    assert ANSWER in r.subject
    slack_text = "\n".join(b["text"]["text"] for b in r.slack["blocks"])
    for out in (r.text, r.html, slack_text, json.dumps(r.json)):
        assert "gpt-image-2" in out
        assert ANSWER in out
        for e in (SDK, SPEC):
            assert e["source"] in out and human_link(e["url"]) in out and e["evidence_type"] in out
            # people read the time to the second with its zone; the webhook body keeps ISO 8601
            assert ("2026-04-21T17:02:11Z" if out.startswith("{") else "2026-04-21 17:02:11 UTC") in out
    assert SDK["excerpt"] in r.text and SPEC["excerpt"] in r.text
    assert "ImageModel: TypeAlias = Literal[&#34;dall-e-2&#34;" in r.html or "Literal[&quot;dall-e-2&quot;" in r.html
    assert r.json["summary"] == ANSWER
    assert r.json["notice_keys"] == ["release:gpt-image-2", "corroboration:gpt-image-2:openai-openapi-spec"]
    assert [e["source"] for e in r.json["evidence"]] == ["openai-python-image-model", "openai-openapi-spec"]
    assert r.slack["text"].startswith(ANSWER)


@pytest.mark.parametrize("name, answer", [
    ("release", "gpt-image-2: first-party evidence found in 1 source (openai-python-image-model)"),
    ("corroboration", "gpt-image-2: also confirmed by openai-openapi-spec; now in 2 first-party sources"),
    ("mentioned", "gpt-image-2: mentioned in first-party prose at openai-changelog; not yet listed as usable"),
    ("withdrawn", "gpt-image-2: evidence withdrawn at openai-openapi-spec; still confirmed by openai-python-image"),
    ("discovered", "gpt-image-3: new model in family gpt-image-*, first seen at openai-python-image-model"),
    ("source_health", "source openai-models is down: timeout after 3 failed probes (no answer within 20 s)"),
    ("source_health_up", "source openai-models is back: ok"),
    ("test", "test notice from watcher to channel ops"),
])
def test_every_kind_renders_its_answer_and_a_valid_webhook_body(name: str, answer: str) -> None:
    r = render(delivery(channel("webhook", url="http://127.0.0.1:1/"), PAYLOADS[name]), make_config())
    assert answer in r.subject and answer in r.text and answer in r.html
    assert answer in r.slack["blocks"][0]["text"]["text"]
    assert r.json["summary"].startswith(answer)
    validate(r.json)


def test_webhook_schema_names_every_notice_kind() -> None:
    schema = json.loads(SCHEMA.read_text())
    assert tuple(schema["properties"]["kind"]["enum"]) == NOTICE_KINDS
    assert {"kind", "target", "key", "evidence", "summary", "sent_at", "watcher_version"} <= set(schema["required"])


def test_slack_escape_leaves_mentions_and_links_inert() -> None:
    assert slack_escape("<!channel> & <@U123>") == "&lt;!channel&gt; &amp; &lt;@U123&gt;"
    assert slack_escape("<https://evil.example|click>") == "&lt;https://evil.example|click&gt;"
    for word in ("@channel", "@here", "@everyone", "@HERE"):
        assert slack_escape(word) == "@\u200d" + word[1:]
    assert slack_escape("mail ops@example.com") == "mail ops@example.com"


# ---------------------------------------------------------------------------------- Slack and webhook
def test_slack_gets_block_kit_body(hook_receiver: HookReceiver) -> None:
    send(release(slack(hook_receiver)), make_config())
    (got,) = hook_receiver.wait_for(1)
    assert got.path == "/services/T0001/B0002/hooksecret123"
    assert got.headers["content-type"].startswith("application/json")
    body = got.json()
    assert body["text"].startswith(ANSWER)
    assert all(b["type"] == "section" and b["text"]["type"] == "mrkdwn" for b in body["blocks"])
    assert ANSWER in body["blocks"][0]["text"]["text"]
    assert any(SPEC["url"] in b["text"]["text"] for b in body["blocks"])


def test_hostile_excerpt_arrives_inert_in_slack(hook_receiver: HookReceiver) -> None:
    send(release(slack(hook_receiver), excerpt=HOSTILE), make_config())
    body = hook_receiver.wait_for(1)[0].json()
    texts = strings(body)
    joined = "\n".join(texts)
    assert "<" not in joined and ">" not in re.sub(r"(?m)^> ", "", joined)  # "> " quotes are the template's
    assert "&lt;!channel&gt;" in joined and "&lt;@U123&gt;" in joined
    assert "&lt;https://evil.example|click&gt;" in joined
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in joined and "a&amp;b" in joined
    assert not re.search(r"@(here|channel|everyone)", joined, re.IGNORECASE)
    assert "@\u200dhere" in joined and "@\u200dEveryone" in joined
    assert not any(CONTROL.search(t) for t in texts)
    assert "bellred" in joined.replace("[31m", "")  # the text around the controls survives


def test_webhook_sends_key_headers_and_a_schema_valid_body(hook_receiver: HookReceiver) -> None:
    ch = hook(hook_receiver, headers={"Authorization": "Bearer hook-token-99", "Idempotency-Key": "mine"})
    send(release(ch), make_config())
    (got,) = hook_receiver.wait_for(1)
    assert got.headers["idempotency-key"] == "release:gpt-image-2"
    assert got.headers["content-type"] == "application/json"
    assert got.headers["authorization"] == "Bearer hook-token-99"
    body = got.json()
    validate(body)
    assert (body["kind"], body["target"], body["key"]) == ("release", "gpt-image-2", "release:gpt-image-2")
    assert body["evidence"][0] == dict({k: SDK[k] for k in ("source", "url", "level", "evidence_type", "excerpt",
                                                            "first_seen", "location", "model_id")},
                                       model_ids=["gpt-image-2"], link=human_link(SDK["url"]))
    assert body["details"]["confirmed_by"] == ["openai-openapi-spec", "openai-python-image-model"]


def test_webhook_body_keeps_hostile_text_verbatim_but_without_controls(hook_receiver: HookReceiver) -> None:
    send(release(hook(hook_receiver), excerpt=HOSTILE), make_config())
    body = hook_receiver.wait_for(1)[0].json()
    excerpt = body["evidence"][0]["excerpt"]
    assert excerpt.startswith("<!channel> <@U123> @here")  # the receiver escapes for where it shows it
    assert not CONTROL.search(excerpt)
    validate(body)


@pytest.mark.parametrize("make", [slack, hook], ids=["slack", "webhook"])
@pytest.mark.parametrize("status, retry_header, expected", [
    (429, "7", 7.0),
    (503, "120", 120.0),
    (429, None, None),
])
def test_rate_limit_and_unavailable_are_transient_with_retry_after(
        hook_receiver: HookReceiver, make: Any, status: int, retry_header: str | None,
        expected: float | None) -> None:
    hook_receiver.script([(status, {"Retry-After": retry_header} if retry_header else {})])
    with pytest.raises(DeliveryError) as err:
        send(release(make(hook_receiver)), make_config())
    assert not err.value.permanent
    assert err.value.retry_after == expected
    assert f"HTTP {status}" in str(err.value)


def test_retry_after_as_an_http_date(hook_receiver: HookReceiver) -> None:
    hook_receiver.script([(429, {"Retry-After": email.utils.formatdate(time.time() + 90, usegmt=True)})])
    with pytest.raises(DeliveryError) as err:
        send(release(slack(hook_receiver)), make_config())
    assert err.value.retry_after is not None and 80 <= err.value.retry_after <= 91


@pytest.mark.parametrize("make", [slack, hook], ids=["slack", "webhook"])
def test_server_error_is_transient(hook_receiver: HookReceiver, make: Any) -> None:
    hook_receiver.script([(500, {}, b"rollup_error")])
    with pytest.raises(DeliveryError) as err:
        send(release(make(hook_receiver)), make_config())
    assert not err.value.permanent and err.value.retry_after is None
    assert "rollup_error" in str(err.value)


@pytest.mark.parametrize("status, body", [
    (400, b"invalid_payload"), (403, b"action_prohibited"), (404, b"no_service"), (410, b"channel_is_archived"),
])
def test_slack_refusals_are_permanent(hook_receiver: HookReceiver, status: int, body: bytes) -> None:
    hook_receiver.script([(status, {}, body)])
    with pytest.raises(DeliveryError) as err:
        send(release(slack(hook_receiver)), make_config())
    assert err.value.permanent
    assert body.decode() in str(err.value) and f"HTTP {status}" in str(err.value)


def test_webhook_client_error_is_permanent(hook_receiver: HookReceiver) -> None:
    hook_receiver.script([400])
    with pytest.raises(DeliveryError) as err:
        send(release(hook(hook_receiver)), make_config())
    assert err.value.permanent


def test_errors_name_the_channel_and_host_never_the_url(hook_receiver: HookReceiver) -> None:
    ch = slack(hook_receiver)
    # a server that echoes the URL back must not put the secret path in our error either
    hook_receiver.script([(400, {}, ch.settings["webhook_url"].encode() + b" invalid_payload")])
    with pytest.raises(DeliveryError) as err:
        send(release(ch), make_config())
    message = str(err.value)
    assert "'ops'" in message and "127.0.0.1" in message
    assert "hooksecret123" not in message and "/services/" not in message


def test_a_hung_receiver_is_a_quick_transient_timeout(hook_receiver: HookReceiver) -> None:
    hook_receiver.script(["hang"])
    started = time.monotonic()
    with pytest.raises(DeliveryError) as err:
        send(release(hook(hook_receiver, timeout=1)), make_config())
    assert time.monotonic() - started < 3
    assert not err.value.permanent
    assert "within 1 s" in str(err.value)


def test_nothing_listening_is_transient() -> None:
    ch = channel("webhook", url=f"http://127.0.0.1:{free_port()}/hook", timeout=2)
    with pytest.raises(DeliveryError) as err:
        send(release(ch), make_config())
    assert not err.value.permanent and "cannot reach 127.0.0.1" in str(err.value)


def test_redirects_are_not_followed(hook_receiver: HookReceiver) -> None:
    hook_receiver.script([(302, {"Location": hook_receiver.url("/elsewhere")})])
    with pytest.raises(DeliveryError) as err:
        send(release(hook(hook_receiver)), make_config())
    assert err.value.permanent
    time.sleep(0.1)
    assert [h.path for h in hook_receiver.received] == ["/watcher"]


def test_unknown_channel_type_is_permanent() -> None:
    with pytest.raises(DeliveryError) as err:
        send(release(channel("pager", url="http://127.0.0.1:1/")), make_config())
    assert err.value.permanent


# ---------------------------------------------------------------------------------- secrets and templates
def test_a_configured_secret_never_reaches_a_receiver(hook_receiver: HookReceiver, smtp_server: SMTPServer) -> None:
    config = make_config()
    leaked = f"key={SECRET} {HOSTILE}"
    for ch in (slack(hook_receiver), hook(hook_receiver), mail(smtp_server)):
        send(release(ch, excerpt=leaked), config)
    raws = [h.body for h in hook_receiver.wait_for(2)] + [m.content for m in smtp_server.messages]
    assert len(raws) == 3
    for raw in raws:
        assert SECRET.encode() not in raw
        assert b"[redacted]" in raw


def test_templates_dir_override_wins(tmp_path: Path) -> None:
    (tmp_path / "subject.txt.j2").write_text("ALERT {{ target }} ({{ kind }})\n")
    (tmp_path / "message.html.j2").write_text("<p>{{ evidence[0].excerpt }}</p>")
    (tmp_path / "slack.md.j2").write_text("*{{ target }}*\n\n{{ evidence[0].excerpt }}")
    r = render(release(channel("slack", webhook_url="http://127.0.0.1:1/"), excerpt=HOSTILE),
               make_config(templates_dir=tmp_path))
    assert r.subject == "ALERT gpt-image-2 (release)"
    assert r.html.startswith("<p>&lt;!channel&gt;") and "<script>" not in r.html  # overrides are autoescaped too
    assert r.slack["blocks"][0]["text"]["text"] == "*gpt-image-2*"
    assert r.slack["blocks"][1]["text"]["text"].startswith("&lt;!channel&gt;")
    assert ANSWER in r.text  # message.txt.j2 was not overridden: the shipped one is used
    assert render(release(channel("slack", webhook_url="http://127.0.0.1:1/")),
                  make_config()).subject.startswith("[watcher] ")


def test_a_broken_template_is_a_transient_delivery_error(tmp_path: Path, hook_receiver: HookReceiver) -> None:
    (tmp_path / "message.txt.j2").write_text("{% if %}")
    with pytest.raises(DeliveryError) as err:
        send(release(hook(hook_receiver)), make_config(templates_dir=tmp_path))
    assert not err.value.permanent and "message.txt.j2" in str(err.value)
    assert hook_receiver.received == []


# ---------------------------------------------------------------------------------- e-mail
def test_email_is_multipart_text_and_html_with_a_stable_message_id(smtp_server: SMTPServer) -> None:
    ch = mail(smtp_server)
    send(release(ch), make_config())
    send(release(ch), make_config())
    send(release(ch, key="release:gpt-image-3"), make_config())
    assert len(smtp_server.messages) == 3
    first, again, other = (parse(m.content) for m in smtp_server.messages)
    assert first.get_content_type() == "multipart/alternative"
    text, html = parts(first)
    assert ANSWER in text and SDK["excerpt"] in text and SPEC["url"] in text
    assert "<html>" in html and ANSWER in html and f'<a href="{SPEC["url"]}">' in html
    assert ANSWER in first["Subject"]
    assert first["Message-ID"] == again["Message-ID"] == message_id("release:gpt-image-2")
    assert re.fullmatch(r"<[0-9a-f]{32}@watcher>", first["Message-ID"])
    assert other["Message-ID"] != first["Message-ID"]
    m = smtp_server.messages[0]
    assert m.mail_from == "watcher@example.com" and m.rcpt_tos == ["ops@example.com", "lead@example.com"]
    assert (m.login, m.tls) == (None, False)


def test_hostile_excerpt_is_escaped_in_html_email(smtp_server: SMTPServer) -> None:
    rel = dict(PAYLOADS["release"], evidence=[dict(SDK, excerpt=HOSTILE, url="javascript:alert(1)")])
    send(delivery(mail(smtp_server), rel), make_config())
    msg = parse(smtp_server.messages[0].content)
    text, html = (p.replace("\r\n", "\n") for p in parts(msg))  # the wire's line ends are not controls
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;!channel&gt;" in html and "a&amp;b" in html
    assert 'href="javascript:' not in html  # only http(s) URLs become links
    assert not CONTROL.search(html) and not CONTROL.search(text) and not CONTROL.search(str(msg["Subject"]))


def test_email_login_without_tls_when_security_is_none(smtp_server: SMTPServer) -> None:
    send(release(mail(smtp_server, smtp_user=SMTP_USER, smtp_password=SMTP_PASSWORD)), make_config())
    assert smtp_server.messages[0].login == SMTP_USER


def test_email_wrong_password_is_permanent(smtp_server: SMTPServer) -> None:
    with pytest.raises(DeliveryError) as err:
        send(release(mail(smtp_server, smtp_user=SMTP_USER, smtp_password="wrong-password")), make_config())
    assert err.value.permanent and "535" in str(err.value)
    assert "wrong-password" not in str(err.value)
    assert smtp_server.messages == []


def test_email_login_over_starttls_with_a_verified_certificate(starttls_smtp_server: SMTPServer,
                                                                trust_tls_cert: Path) -> None:
    ch = mail(starttls_smtp_server, security="starttls", smtp_user=SMTP_USER, smtp_password=SMTP_PASSWORD)
    send(release(ch), make_config())
    m = starttls_smtp_server.messages[0]
    assert (m.login, m.tls) == (SMTP_USER, True)


def test_email_over_implicit_tls(tls_smtp_server: SMTPServer, trust_tls_cert: Path) -> None:
    send(release(mail(tls_smtp_server, security="tls")), make_config())
    assert tls_smtp_server.messages[0].tls


def test_email_refuses_an_untrusted_certificate(starttls_smtp_server: SMTPServer,
                                                 monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "no-such-bundle.pem"))  # trust nothing
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))
    ch = mail(starttls_smtp_server, security="starttls", smtp_user=SMTP_USER, smtp_password=SMTP_PASSWORD)
    with pytest.raises(DeliveryError) as err:
        send(release(ch), make_config())
    assert "certificate" in str(err.value) and not err.value.permanent
    assert starttls_smtp_server.messages == []


def test_starttls_asked_of_a_server_without_it_is_permanent(smtp_server: SMTPServer) -> None:
    with pytest.raises(DeliveryError) as err:
        send(release(mail(smtp_server, security="starttls")), make_config())
    assert err.value.permanent and "security" in str(err.value)


@pytest.mark.parametrize("where, reply, permanent", [
    ("rcpt", "550 5.1.1 no such user", True),
    ("rcpt", "451 4.3.0 try again later", False),
    ("data", "554 5.7.1 rejected as spam", True),
    ("data", "452 4.3.1 insufficient storage", False),
])
def test_smtp_refusals_map_by_reply_code(smtp_server: SMTPServer, where: str, reply: str,
                                         permanent: bool) -> None:
    setattr(smtp_server.handler, f"{where}_reply", reply)
    with pytest.raises(DeliveryError) as err:
        send(release(mail(smtp_server)), make_config())
    assert err.value.permanent is permanent
    assert reply.split()[0] in str(err.value)


def test_smtp_server_not_listening_is_transient() -> None:
    ch = channel("email", smtp_host="127.0.0.1", smtp_port=free_port(), **{"from": "w@example.com"},
                 to=["ops@example.com"], security="none", timeout=2)
    with pytest.raises(DeliveryError) as err:
        send(release(ch), make_config())
    assert not err.value.permanent
