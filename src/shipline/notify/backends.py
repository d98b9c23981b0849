"""Notification backends: the log, a Slack-compatible webhook, and SMTP e-mail."""

from __future__ import annotations

import json
import logging
import smtplib
import urllib.request
from collections.abc import Sequence
from email.message import EmailMessage

from shipline.notify.base import Notification

log = logging.getLogger("shipline.notify")


class LogNotifier:
    """Write each notification to the ``shipline.notify`` logger (failures as errors)."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger or log

    def send(self, notification: Notification) -> None:
        """Log the notification's text."""
        level = logging.ERROR if notification.kind == "failure" else logging.INFO
        self.logger.log(level, "%s", notification.text, extra={"notification": notification})


class WebhookNotifier:
    """POST ``{"text": ..., "kind": ..., "details": {...}}``: Slack's incoming-webhook shape."""

    def __init__(self, url: str, timeout_seconds: float = 5.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"webhook url {url!r}: use an http:// or https:// address")
        self.url = url
        self.timeout_seconds = timeout_seconds

    def send(self, notification: Notification) -> None:
        """POST the notification as JSON; raise if the receiver does not answer 2xx."""
        body = json.dumps(
            {
                "text": f"*{notification.subject}*\n{notification.text}",
                "kind": notification.kind,
                "details": notification.details,
            },
            default=str,
        ).encode()
        request = urllib.request.Request(
            self.url, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:
            status = int(response.status)
        if not 200 <= status < 300:
            raise OSError(f"webhook answered HTTP {status}")


class SmtpNotifier:
    """Send each notification as a plain-text e-mail."""

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        recipients: Sequence[str],
        *,
        starttls: bool = False,
        username: str | None = None,
        password: str | None = None,
        timeout_seconds: float = 10.0,
    ) -> None:
        if not recipients:
            raise ValueError("e-mail notifications need at least one recipient")
        self.host = host
        self.port = port
        self.sender = sender
        self.recipients = list(recipients)
        self.starttls = starttls
        self.username = username
        self.password = password
        self.timeout_seconds = timeout_seconds

    def send(self, notification: Notification) -> None:
        """Deliver the message through the SMTP server."""
        message = EmailMessage()
        message["Subject"] = notification.subject
        message["From"] = self.sender
        message["To"] = ", ".join(self.recipients)
        message.set_content(notification.text)
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout_seconds) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.username:
                smtp.login(self.username, self.password or "")
            smtp.send_message(message)
