"""The audit log: who (a key id, or ``cli:`` and the OS user), when, what, the outcome.

Values are shortened on the way in, so a request cannot make its own row large.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shipline.store import Backend

FIELD_CHARS = 300
"""The longest text an audit field keeps (more is cut, with an ellipsis)."""


def shorten(text: str | None, limit: int = FIELD_CHARS) -> str | None:
    """``text`` cut to ``limit`` characters, marked with ``…`` when it was longer."""
    if text is None or len(text) <= limit:
        return text
    return text[: limit - 1] + "…"


@dataclass(frozen=True)
class AuditEntry:
    """One row of the audit log."""

    at: datetime
    actor: str
    action: str
    status: int
    client: str | None = None
    subject: str | None = None
    detail: str | None = None

    def values(self) -> list[Any]:
        """The row's values in the table's column order, shortened."""
        return [
            self.at,
            shorten(self.actor),
            shorten(self.client),
            shorten(self.action),
            shorten(self.subject),
            shorten(self.detail),
            self.status,
        ]


ROWS_PER_STATEMENT = 200


def record_audit(backend: Backend, entries: Sequence[AuditEntry]) -> None:
    """Append ``entries`` in a few multi-row INSERTs, in one transaction."""
    if not entries:
        return
    with backend.transaction():
        for start in range(0, len(entries), ROWS_PER_STATEMENT):
            chunk = entries[start : start + ROWS_PER_STATEMENT]
            rows = ", ".join("(?, ?, ?, ?, ?, ?, ?)" for _ in chunk)
            backend.execute(
                "INSERT INTO audit_log"
                " (occurred_at, actor, client, action, subject, detail, status)"
                f" VALUES {rows}",
                [value for entry in chunk for value in entry.values()],
            )


def list_audit(
    backend: Backend,
    *,
    actor: str | None = None,
    since: datetime | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """The newest audit rows, optionally of one actor and from ``since`` on."""
    where: list[str] = []
    params: list[Any] = []
    if actor is not None:
        where.append("actor = ?")
        params.append(actor)
    if since is not None:
        where.append("occurred_at >= ?")
        params.append(since)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    return backend.fetch_dicts(
        "SELECT occurred_at, actor, client, action, subject, detail, status"
        f" FROM audit_log {clause} ORDER BY occurred_at DESC LIMIT ?",
        [*params, limit],
    )


def remove_audit_before(backend: Backend, cutoff: datetime) -> int:
    """Delete audit rows older than ``cutoff``; how many went."""
    return backend.execute_count("DELETE FROM audit_log WHERE occurred_at < ?", [cutoff])
