"""Notifications about loads: log, Slack-compatible webhook, SMTP e-mail."""

from shipline.notify.backends import LogNotifier, SmtpNotifier, WebhookNotifier
from shipline.notify.base import (
    FanOut,
    Notification,
    Notifier,
    failure_message,
    success_message,
    upload_message,
)

__all__ = [
    "FanOut",
    "LogNotifier",
    "Notification",
    "Notifier",
    "SmtpNotifier",
    "WebhookNotifier",
    "failure_message",
    "success_message",
    "upload_message",
]
