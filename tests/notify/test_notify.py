"""Notifiers against real local receivers: an HTTP webhook and a minimal SMTP server."""

from __future__ import annotations

import json
import logging
import socketserver
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from shipline.errors import ConfigError
from shipline.notify import (
    FanOut,
    LogNotifier,
    SmtpNotifier,
    WebhookNotifier,
    failure_message,
    success_message,
    upload_message,
)
from shipline.notify.config import build_notifier
from shipline.settings import Settings


class _Webhook(BaseHTTPRequestHandler):
    received: list[dict[str, Any]]
    status = 200

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        self.received.append(
            {"body": json.loads(self.rfile.read(length)), "type": self.headers["Content-Type"]}
        )
        self.send_response(self.status)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]], type[_Webhook]]]:
    received: list[dict[str, Any]] = []
    handler = type("Handler", (_Webhook,), {"received": received, "status": 200})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", received, handler
    server.shutdown()
    server.server_close()
    thread.join()


def test_webhook_posts_slack_compatible_json(
    webhook: tuple[str, list[dict[str, Any]], type[_Webhook]],
) -> None:
    url, received, _ = webhook
    notifier = WebhookNotifier(url)
    notifier.send(upload_message("s3://b/order_items/x.parquet", 1234, "order_items"))
    notifier.send(success_message("k", "order_items", 10, 7, 3, 12.5))
    notifier.send(failure_message("k", "order_items", "column 'qty' is VARCHAR", "q/k"))
    assert [r["type"] for r in received] == ["application/json"] * 3
    bodies = [r["body"] for r in received]
    assert [b["kind"] for b in bodies] == ["upload", "success", "failure"]
    assert all(isinstance(b["text"], str) for b in bodies)
    assert "1,234 bytes" in bodies[0]["text"]
    assert bodies[1]["details"] == {
        "file_key": "k",
        "table": "order_items",
        "rows": 10,
        "inserted": 7,
        "updated": 3,
        "duration_ms": 12.5,
    }
    assert "Fix the file and upload it again" in bodies[2]["text"]


def test_a_failing_webhook_never_fails_the_caller(
    webhook: tuple[str, list[dict[str, Any]], type[_Webhook]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    url, received, handler = webhook
    handler.status = 500
    fan = FanOut([WebhookNotifier(url), LogNotifier()])
    caplog.set_level(logging.INFO)
    fan.send(success_message("k", "t", 1, 1, 0, 1.0))
    assert len(received) == 1
    assert any("via WebhookNotifier failed" in r.getMessage() for r in caplog.records)
    assert any("loaded into table t" in r.getMessage() for r in caplog.records)


class _Smtp(socketserver.StreamRequestHandler):
    """Just enough SMTP to receive one message per connection."""

    messages: list[str]

    def handle(self) -> None:
        self.wfile.write(b"220 localhost test SMTP\r\n")
        while line := self.rfile.readline():
            command = line.decode().strip().upper()
            if command.startswith(("EHLO", "HELO")):
                self.wfile.write(b"250 localhost\r\n")
            elif command == "DATA":
                self.wfile.write(b"354 end with .\r\n")
                data = []
                while (part := self.rfile.readline()) not in (b".\r\n", b""):
                    data.append(part.decode())
                self.messages.append("".join(data))
                self.wfile.write(b"250 queued\r\n")
            elif command == "QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"250 ok\r\n")


def test_smtp_sends_a_plain_text_message() -> None:
    messages: list[str] = []
    handler = type("Handler", (_Smtp,), {"messages": messages})
    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            notifier = SmtpNotifier(
                "127.0.0.1", server.server_address[1], "shipline@test", ["ops@test"]
            )
            notifier.send(failure_message("k.parquet", "order_items", "corrupt", None))
        finally:
            server.shutdown()
            thread.join()
    (message,) = messages
    assert "Subject: shipline: load failed: k.parquet" in message
    assert "To: ops@test" in message
    assert "k.parquet was not loaded into order_items: corrupt." in message


def test_build_notifier_from_settings() -> None:
    fan = build_notifier(
        Settings(notify_backends=["log", "webhook"], notify_webhook_url="http://127.0.0.1:1/")
    )
    assert [type(n).__name__ for n in fan.notifiers] == ["LogNotifier", "WebhookNotifier"]
    with pytest.raises(ConfigError, match="notify_webhook_url is not set"):
        build_notifier(Settings(notify_backends=["webhook"]))
    with pytest.raises(ConfigError, match="notify_smtp_host or notify_email_to"):
        build_notifier(Settings(notify_backends=["email"]))
    with pytest.raises(ConfigError, match="unknown backend 'sns'"):
        build_notifier(Settings(notify_backends=["sns"]))
