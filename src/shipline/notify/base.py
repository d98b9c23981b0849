"""Notifications: the three messages of a load (file detected, loaded, failed)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

log = logging.getLogger(__name__)

Kind = Literal["upload", "success", "failure"]


@dataclass(frozen=True)
class Notification:
    """One message: a kind, a one-line subject, a body and structured details."""

    kind: Kind
    subject: str
    text: str
    details: dict[str, Any] = field(default_factory=dict)


class Notifier(Protocol):
    """Something that delivers notifications."""

    def send(self, notification: Notification) -> None:
        """Deliver one notification; raise if it could not be delivered."""


class FanOut:
    """Send to several notifiers; one that fails is logged and never fails the load."""

    def __init__(self, notifiers: Sequence[Notifier]) -> None:
        self.notifiers = list(notifiers)

    def send(self, notification: Notification) -> None:
        """Deliver to every notifier, logging (not raising) failures."""
        for notifier in self.notifiers:
            try:
                notifier.send(notification)
            except Exception as error:  # a notifier must never fail a load
                log.warning(
                    "notification %r via %s failed: %s",
                    notification.subject,
                    type(notifier).__name__,
                    error,
                )


def upload_message(file_key: str, size: int, table: str | None) -> Notification:
    """File detected: what arrived and where it is going."""
    target = f" for table {table}" if table else ""
    return Notification(
        kind="upload",
        subject=f"shipline: file detected: {file_key}",
        text=f"New file {file_key} ({size:,} bytes) detected{target}; loading it now.",
        details={"file_key": file_key, "size": size, "table": table},
    )


def success_message(
    file_key: str, table: str, rows: int, inserted: int, updated: int, duration_ms: float
) -> Notification:
    """Loaded: the table and how many rows."""
    return Notification(
        kind="success",
        subject=f"shipline: loaded {rows:,} rows into {table}",
        text=(
            f"{file_key} loaded into table {table}: {rows:,} rows ({inserted:,} inserted,"
            f" {updated:,} updated) in {duration_ms:,.0f} ms."
        ),
        details={
            "file_key": file_key,
            "table": table,
            "rows": rows,
            "inserted": inserted,
            "updated": updated,
            "duration_ms": round(duration_ms, 1),
        },
    )


def failure_message(
    file_key: str, table: str | None, reason: str, quarantined_to: str | None
) -> Notification:
    """Failed: the reason and what to do."""
    where = f" It was moved to {quarantined_to}." if quarantined_to else ""
    return Notification(
        kind="failure",
        subject=f"shipline: load failed: {file_key}",
        text=(
            f"{file_key} was not loaded{f' into {table}' if table else ''}: {reason}."
            f"{where} The table is unchanged. Fix the file and upload it again; see"
            " `shipline loads list --status failed` and `shipline dlq list`."
        ),
        details={
            "file_key": file_key,
            "table": table,
            "reason": reason,
            "quarantined_to": quarantined_to,
        },
    )
