"""Build the notifier the settings ask for."""

from __future__ import annotations

from shipline.errors import ConfigError
from shipline.notify.backends import LogNotifier, SmtpNotifier, WebhookNotifier
from shipline.notify.base import FanOut, Notifier
from shipline.settings import Settings

BACKENDS = ("log", "webhook", "email")


def build_notifier(settings: Settings) -> FanOut:
    """A fan-out over ``notify_backends`` (log, webhook, email); ``ConfigError`` if incomplete."""
    notifiers: list[Notifier] = []
    for name in settings.notify_backends:
        if name == "log":
            notifiers.append(LogNotifier())
        elif name == "webhook":
            if not settings.notify_webhook_url:
                raise ConfigError(
                    "notify_backends has webhook but notify_webhook_url is not set; set it"
                    " (SHIPLINE_NOTIFY_WEBHOOK_URL) or remove webhook"
                )
            try:
                notifiers.append(WebhookNotifier(settings.notify_webhook_url))
            except ValueError as error:
                raise ConfigError(str(error)) from error
        elif name == "email":
            if not settings.notify_smtp_host or not settings.notify_email_to:
                raise ConfigError(
                    "notify_backends has email but notify_smtp_host or notify_email_to is not"
                    " set; set both or remove email"
                )
            password = settings.notify_smtp_password
            notifiers.append(
                SmtpNotifier(
                    settings.notify_smtp_host,
                    settings.notify_smtp_port,
                    settings.notify_email_from,
                    settings.notify_email_to,
                    starttls=settings.notify_smtp_starttls,
                    username=settings.notify_smtp_username,
                    password=password.get_secret_value() if password else None,
                )
            )
        else:
            raise ConfigError(
                f"notify_backends: unknown backend {name!r}; use {', '.join(BACKENDS)}"
            )
    return FanOut(notifiers)
