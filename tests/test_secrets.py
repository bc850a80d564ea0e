"""Secrets (API keys, SMTP passwords, webhook URLs) come from the environment and never reach the
logs, the database, the CLI's output or a notice. TLS certificates are verified by default."""

from __future__ import annotations

import http.server
import json
import os
import sqlite3
import ssl
import subprocess
import sys
import threading
from pathlib import Path

from servers import HookReceiver

SECRETS = {
    "OPENAI_API_KEY": "sk-test-S3CRET-apikey-0001",
    "QUERY_KEY": "qk-S3CRET-query-0002",
    "SMTP_PASSWORD": "pw-S3CRET-smtp-0003",
    "HOOK_TOKEN": "S3CRET-hook-path-0004",
}


def test_no_secret_reaches_logs_database_output_or_notices(http_server, smtp_server, tmp_path):
    models = json.dumps({"object": "list", "data": [{"id": "gpt-image-2", "object": "model"}]}).encode()
    http_server.route("/v1/models", models, content_type="application/json")
    http_server.route("/broken", b"no", status=500)
    http_server.route("/away", lambda h: (302, {"Location": "http://elsewhere.example/x?k=" + SECRETS["QUERY_KEY"]},
                                          b""))
    with HookReceiver() as rec:
        rec.script([500] * 10)  # failing: its error is stored, and must not carry the URL
        cfg = tmp_path / "watcher.toml"
        cfg.write_text(f"""
database_url = "sqlite:///{tmp_path}/w.db"
[[targets]]
id = "gpt-image-2"
[[sources]]
name = "models"
kind = "models_api"
url = "{http_server.url('/v1/models')}"
headers = {{ Authorization = "Bearer ${{OPENAI_API_KEY}}" }}
[[sources]]
name = "broken"
kind = "models_api"
url = "{http_server.url('/broken')}?key=${{QUERY_KEY}}"
headers = {{ Authorization = "Bearer ${{OPENAI_API_KEY}}" }}
[[sources]]
name = "away"
kind = "models_api"
url = "{http_server.url('/away')}?key=${{QUERY_KEY}}"
[[channels]]
name = "slack"
type = "slack"
webhook_url = "{rec.url('/services/T0/B0/')}${{HOOK_TOKEN}}"
[[channels]]
name = "mail"
type = "email"
smtp_host = "127.0.0.1"
smtp_port = {smtp_server.port}
security = "none"
smtp_user = "watcher"
smtp_password = "${{SMTP_PASSWORD}}"
from = "w@example.com"
to = ["t@example.com"]
""")
        env = {**os.environ, **SECRETS}
        outputs = []
        for args in (["-vv", "run", "--once"], ["run", "--once"], ["status"], ["sources"],
                     ["alerts", "--format", "json"], ["history", "--format", "json"], ["notify", "test"]):
            r = subprocess.run([sys.executable, "-m", "watcher", "--config", str(cfg), *args], env=env,
                               capture_output=True, text=True, timeout=60)
            outputs.append(r.stdout + r.stderr)
        assert "Bearer" not in "".join(outputs)
        received = [h.body.decode(errors="replace") + json.dumps(h.headers) for h in rec.received]
    first = next(r for r in http_server.requests if r.path == "/v1/models")
    assert first.headers["authorization"] == "Bearer " + SECRETS["OPENAI_API_KEY"]  # it was used
    assert rec.received, "the Slack stand-in was called"
    mails = [m.data if hasattr(m, "data") else str(m) for m in smtp_server.messages]
    con = sqlite3.connect(tmp_path / "w.db")
    dump = "\n".join(con.iterdump())
    con.close()
    raw = (tmp_path / "w.db").read_bytes()
    for name, secret in SECRETS.items():
        for i, out in enumerate(outputs):
            assert secret not in out, (name, i, out)
        assert secret not in dump, name
        assert secret.encode() not in raw, name
        for body in received + [str(m) for m in mails]:
            assert secret not in body, name


def test_tls_certificates_are_verified_by_default(tmp_path, tls_cert):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(*tls_cert)

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *a):  # noqa: ANN002
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        from watcher.config import parse_config
        from watcher.fetch import Fetcher

        cfg = parse_config({"targets": [{"id": "gpt-image-2"}], "sources": [
            {"name": "tls", "kind": "models_api", "url": f"https://127.0.0.1:{httpd.server_address[1]}/v1/models"}]},
            Path("t.toml"), {})
        with Fetcher() as f:
            result = f.fetch(cfg.sources[0])
    finally:
        httpd.shutdown()
    assert result.outcome.value == "network_error"
    assert "certificate" in (result.error or "").lower()
