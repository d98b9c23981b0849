"""Dead letters: every rejected record, with its source, payload and reason."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa

from shipline.store import Backend

STATES = ("open", "redriven", "purged")
"""A dead letter's states: open until redriven (accepted) or purged (kept for audit)."""

REASON_CHARS = 2000
"""The longest reason kept: the payload is the one whole copy of a refused value.
Validation quotes at most 80 characters of one (``events.validate``); this bound
holds for every other reason too."""
ERROR_CHARS = 400
"""The longest field error kept."""
MAX_ERRORS = 50
"""Field errors kept per dead letter."""


def bounded(text: str, limit: int = REASON_CHARS) -> str:
    """A reason cut to ``limit`` characters, marked with how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit} more characters)"


@dataclass(frozen=True)
class DeadLetter:
    """A record to keep: what arrived, from where, and why it was refused."""

    source: str
    payload: str
    reason: str
    errors: list[str]


def record_dead_letters(backend: Backend, letters: Sequence[DeadLetter]) -> list[int]:
    """Store dead letters in one statement; return their ids in order."""
    if not letters:
        return []
    table = pa.table(
        {
            "position": pa.array(range(len(letters)), pa.int64()),
            "source": [letter.source for letter in letters],
            "payload": [letter.payload for letter in letters],
            "reason": [bounded(letter.reason) for letter in letters],
            "errors": [
                json.dumps([bounded(e, ERROR_CHARS) for e in letter.errors[:MAX_ERRORS]])
                for letter in letters
            ],
        }
    )
    backend.register("incoming_dead_letters", table)
    try:
        with backend.transaction():
            # Ids are numbered under a lock rather than by a sequence, which Redshift
            # lacks; INSERT ... RETURNING is missing there too.
            backend.lock("shipline.dead_letters")
            before = int(
                backend.scalar("SELECT coalesce(max(dead_letter_id), 0) FROM dead_letters")
            )
            backend.execute(
                "INSERT INTO dead_letters (dead_letter_id, received_at, source, payload, reason,"
                " errors, state) SELECT ? + position + 1, current_timestamp, source, payload,"
                " reason, errors, 'open' FROM incoming_dead_letters",
                [before],
            )
    finally:
        backend.unregister("incoming_dead_letters")
    return [before + index + 1 for index in range(len(letters))]


def list_dead_letters(
    backend: Backend,
    *,
    state: str | None = "open",
    limit: int = 100,
    payload_chars: int | None = None,
    before_id: int | None = None,
) -> list[dict[str, Any]]:
    """The newest dead letters, optionally of one state (open, redriven, purged).

    ``payload_chars`` cuts each payload to its first characters (a listing need not
    carry whole files); ``before_id`` continues a listing below that id.
    """
    where: list[str] = []
    params: list[Any] = []
    if state:
        where.append("state = ?")
        params.append(state)
    if before_id is not None:
        where.append("dead_letter_id < ?")
        params.append(before_id)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    payload, shown = "payload", []
    if payload_chars is not None:
        payload = "left(payload, ?) AS payload, length(payload) AS payload_chars"
        shown = [payload_chars]
    return backend.fetch_dicts(
        f"SELECT dead_letter_id, received_at, source, reason, state, {payload}"
        f" FROM dead_letters {clause} ORDER BY dead_letter_id DESC LIMIT ?",
        [*shown, *params, limit],
    )


def get_dead_letters(backend: Backend, ids: Sequence[int]) -> list[dict[str, Any]]:
    """Dead letters by id, in id order, each with its field errors as a list."""
    if not ids:
        return []
    placeholders = ", ".join("?" for _ in ids)
    letters = backend.fetch_dicts(
        f"SELECT * FROM dead_letters WHERE dead_letter_id IN ({placeholders})"
        " ORDER BY dead_letter_id",
        list(ids),
    )
    for letter in letters:
        letter["errors"] = json.loads(letter["errors"]) if letter.get("errors") else []
    return letters


def mark_dead_letters(backend: Backend, ids: Sequence[int], state: str) -> int:
    """Move dead letters to ``state`` (redriven or purged); return how many moved."""
    if not ids:
        return 0
    placeholders = ", ".join("?" for _ in ids)
    where = f"WHERE dead_letter_id IN ({placeholders}) AND state = 'open'"
    with backend.transaction():
        moving = int(backend.scalar(f"SELECT count(*) FROM dead_letters {where}", list(ids)))
        backend.execute(
            f"UPDATE dead_letters SET state = ?, redriven_at = current_timestamp {where}",
            [state, *ids],
        )
    return moving


def update_reason(backend: Backend, dead_letter_id: int, reason: str, errors: list[str]) -> None:
    """Keep a redriven record that still fails open, with its latest reason."""
    backend.execute(
        "UPDATE dead_letters SET reason = ?, errors = ? WHERE dead_letter_id = ?",
        [reason, json.dumps(errors), dead_letter_id],
    )


def _matching(source: str | None, before: datetime | None) -> tuple[str, list[Any]]:
    """The WHERE clause of the open dead letters of a source (``dcsa`` is also every
    ``dcsa:…``) received before a time; neither given, every open one."""
    where: list[str] = ["state = 'open'"]
    params: list[Any] = []
    if source is not None:
        escaped = source.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        where.append("(source = ? OR source LIKE ? ESCAPE '\\')")
        params += [source, escaped + ":%"]
    if before is not None:
        where.append("received_at < ?")
        params.append(before)
    return "WHERE " + " AND ".join(where), params


def count_open(backend: Backend, source: str | None, before: datetime | None) -> int:
    """How many open dead letters ``purge_open`` would purge."""
    where, params = _matching(source, before)
    return int(backend.scalar(f"SELECT count(*) FROM dead_letters {where}", params))


def purge_open(backend: Backend, source: str | None, before: datetime | None) -> int:
    """Mark purged the open dead letters of a source received before a time (every
    open one when neither is given); return how many."""
    where, params = _matching(source, before)
    with backend.transaction():
        moving = int(backend.scalar(f"SELECT count(*) FROM dead_letters {where}", params))
        backend.execute(
            f"UPDATE dead_letters SET state = 'purged', redriven_at = current_timestamp {where}",
            params,
        )
    return moving
