"""Messages people read (issue 12): one evidence block per source and place, links a person can open,
times to the second with their zone, Message-IDs unique per installation, and the apprise channel
through a real local receiver (Apprise's json:// target) with the outbox's guarantees."""

from __future__ import annotations

import email
import email.policy
import json
import time
from datetime import datetime
from pathlib import Path

import pytest

from conftest import SMTPServer
from servers import HookReceiver
from test_alerts import AFTER, cycle_and_deliver, deliver_until, write_config
from test_channels import SDK, channel, delivery, mail, make_config
from watcher import notify
from watcher.config import load_config
from watcher.errors import ConfigError, DeliveryError
from watcher.notify.channels import send
from watcher.notify.render import human_link, render
from watcher.store import Store, outbox

SNAPSHOT = "gpt-image-2-2026-04-21"
BOTH = 'ImageModel: TypeAlias = Literal["gpt-image-1", "gpt-image-2", "gpt-image-2-2026-04-21"]'


def two_ids_one_place() -> dict:
    """What the SDK parser yields for one Literal naming the model and its snapshot: two signals."""
    return {"kind": "release", "target": "gpt-image-2", "source": SDK["source"], "key": "release:gpt-image-2",
            "confirmed_by": [SDK["source"]],
            "evidence": [dict(SDK, location="ImageModel", excerpt=BOTH[:60]),
                         dict(SDK, location="ImageModel", model_id=SNAPSHOT, excerpt=BOTH,
                              first_seen="2026-04-21T17:02:11.734512Z")]}


def test_one_evidence_block_per_source_and_place_lists_every_id_found_there() -> None:
    r = render(delivery(channel("webhook", url="http://127.0.0.1:1/"), two_ids_one_place()), make_config())
    (block,) = r.json["evidence"]
    assert block["model_ids"] == ["gpt-image-2", SNAPSHOT] and block["model_id"] == "gpt-image-2"
    assert block["excerpt"] == BOTH  # the excerpt that shows both ids
    slack_text = "\n".join(b["text"]["text"] for b in r.slack["blocks"])
    for out in (r.text, r.html, slack_text):
        assert f"gpt-image-2, {SNAPSHOT}" in out  # the model id is visible, not only in the summary
        assert out.count("ImageModel") >= 1 and "Evidence (2)" not in out
        assert ".734512" not in out and "2026-04-21 17:02:11 UTC" in out  # no microseconds, the zone named


def test_links_open_the_page_a_person_reads() -> None:
    assert human_link("https://raw.githubusercontent.com/openai/openai-python/main/src/openai/types/image_model.py") \
        == "https://github.com/openai/openai-python/blob/main/src/openai/types/image_model.py"
    assert human_link("https://raw.githubusercontent.com/openai/openai-go/3336103/image.go") \
        == "https://github.com/openai/openai-go/blob/3336103/image.go"
    assert human_link("https://developers.openai.com/api/docs/models/gpt-image-2.md") \
        == "https://developers.openai.com/api/docs/models/gpt-image-2"
    assert human_link("https://api.openai.com/v1/models") == "https://api.openai.com/v1/models"
    r = render(delivery(channel("webhook", url="http://127.0.0.1:1/"), two_ids_one_place()), make_config())
    blob = "https://github.com/openai/openai-python/blob/main/src/openai/types/image_model.py"
    assert f'<a href="{blob}">' in r.html and f"Link: {blob}" in r.text
    assert r.json["evidence"][0]["url"] == SDK["url"]  # the webhook keeps what was fetched, and adds the link


def test_message_id_is_stable_for_a_notice_and_unique_per_installation(smtp_server: SMTPServer) -> None:
    ch = mail(smtp_server)
    payload = two_ids_one_place()

    def made(at: str, row: int):  # the same notice, as two watcher databases would hold it
        d = delivery(ch, payload)
        return type(d)(**{**d.__dict__, "created_at": datetime.fromisoformat(at), "ids": (row,)})

    ours, ours_again = made("2026-05-05 10:00:00.123456", 1), made("2026-05-05 10:00:00.123456", 1)
    theirs = made("2026-05-05 10:00:02.654321", 1)
    for d in (ours, ours_again, theirs):
        send(d, make_config())
    ids = [email.message_from_bytes(m.content, policy=email.policy.default)["Message-ID"]
           for m in smtp_server.messages]
    assert ids[0] == ids[1] and ids[0] != ids[2]


# ---------------------------------------------------------------------------------- apprise
def apprise_channel(receiver: HookReceiver) -> dict:
    port = receiver.url("/").split(":")[-1].rstrip("/")
    return {"name": "chat", "type": "apprise", "url": "json://127.0.0.1:" + port + "/notify/${CHAT_TOKEN}"}


def test_apprise_channel_is_retried_on_failure_and_delivered_once(http_server, tmp_path, monkeypatch) -> None:
    pytest.importorskip("apprise")
    monkeypatch.setattr(notify, "BACKOFF_BASE", 0.01)
    monkeypatch.setenv("CHAT_TOKEN", "tok-5e7a91")
    http_server.route("/v1/models", AFTER, content_type="application/json")
    with HookReceiver(hang=5.0) as receiver:
        receiver.script([500, 503])
        cfg = write_config(tmp_path, http_server, channels=[apprise_channel(receiver)])
        _, counts = cycle_and_deliver(cfg)
        assert counts["retry"] == 1
        config = load_config(cfg)
        store = Store(config.database_url)
        with store.engine.connect() as conn:
            (n,) = outbox.list_notices(conn)
        assert n["state"] == "pending" and "500" in n["last_error"] and "tok-5e7a91" not in n["last_error"]
        deliver_until(config, store, receiver, 3, timeout=20)
        cycle_and_deliver(cfg)  # the evidence again: no second message
        assert len(receiver.received) == 3  # two refusals, one success
        got = receiver.received[-1]
        assert got.path == "/notify/tok-5e7a91"
        body = json.loads(got.body)
        assert body["title"].startswith("[watcher] gpt-image-2: first-party evidence found")
        assert "gpt-image-2" in body["message"] and "tok-5e7a91" not in body["message"]
        with store.engine.connect() as conn:
            (n,) = outbox.list_notices(conn)
        assert n["state"] == "sent" and n["attempts"] == 3
        store.close()


def test_an_apprise_url_apprise_does_not_know_fails_for_good() -> None:
    pytest.importorskip("apprise")
    ch = channel("apprise", url="nosuchservice://x/y")
    with pytest.raises(DeliveryError) as err:
        send(delivery(ch, two_ids_one_place()), make_config())
    assert err.value.permanent and "nosuchservice://" in str(err.value)


def test_channel_config_errors_name_the_value(tmp_path: Path) -> None:
    base = 'database_url = "sqlite:///w.db"\n[[targets]]\nid = "gpt-image-2"\n[[targets]]\nfamily = "gpt-image-*"\n'
    cases = [('kinds = ["release", "releases"]', "channels.c.kinds: unknown notice kind 'releases'"),
             ('targets = ["gpt-imge-2"]', "channels.c.targets: 'gpt-imge-2' is no configured target or family"),
             ('type2 = 1', "channels.c.type2: unknown key")]
    for line, message in cases:
        p = tmp_path / "w.toml"
        p.write_text(base + f'[[channels]]\nname = "c"\ntype = "apprise"\nurl = "ntfy://topic"\n{line}\n')
        with pytest.raises(ConfigError) as err:
            load_config(p, env={})
        assert message in str(err.value)
    p.write_text(base + '[[channels]]\nname = "c"\ntype = "apprise"\nurl = "ntfy://topic"\ntargets = ["gpt-image-3"]\n')
    assert load_config(p, env={}).channels[0].targets == ("gpt-image-3",)  # a family member is fine


def test_every_channel_type_declares_itself_and_is_in_the_readme() -> None:
    from watcher.notify.registry import TYPES

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert set(TYPES) == {"slack", "email", "webhook", "apprise"}
    for name, t in TYPES.items():
        assert t.name == name and set(t.required) <= t.keys and callable(t.send)
        assert f"| `{name}` |" in readme, f"channel type {name} is not in the README's table"


def test_an_apprise_send_ends_by_the_channels_deadline() -> None:
    """A receiver that never answers: the send gives up at the channel's timeout (a transient failure,
    retried), so the outbox's claim outlives it as for every other channel."""
    pytest.importorskip("apprise")
    with HookReceiver(hang=10.0) as receiver:
        receiver.script(["hang"])
        port = receiver.url("/").split(":")[-1].rstrip("/")
        ch = channel("apprise", url=f"json://127.0.0.1:{port}/slow", timeout=1.0)
        t0 = time.monotonic()
        with pytest.raises(DeliveryError) as err:
            send(delivery(ch, two_ids_one_place()), make_config())
        assert time.monotonic() - t0 < 5 and not err.value.permanent
        assert "no complete answer within 1 s" in str(err.value)
