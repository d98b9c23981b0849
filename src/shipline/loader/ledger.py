"""The load ledger: which file (by key and checksum) went where, and how it went."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shipline.store import Backend

LOADED = "loaded"
FAILED = "failed"


@dataclass(frozen=True)
class LedgerEntry:
    """One attempt to load one file."""

    file_key: str
    size: int
    checksum: str
    table: str | None
    rows: int
    inserted: int
    updated: int
    duration_ms: float
    status: str
    error: str | None = None
    quarantined_to: str | None = None


def already_loaded(backend: Backend, file_key: str, checksum: str) -> bool:
    """Whether this exact file (same key, same checksum) has been loaded before."""
    found = backend.scalar(
        "SELECT count(*) FROM load_ledger WHERE file_key = ? AND checksum = ? AND status = ?",
        [file_key, checksum, LOADED],
    )
    return bool(found)


def earlier_outcome(backend: Backend, file_key: str, checksum: str) -> str | None:
    """What became of this exact file (same key, same checksum) before, if it matters now.

    ``LOADED`` if it was loaded; ``FAILED`` if its latest attempt failed and the file
    could not be moved to quarantine, so it is still there as it was; else None (new,
    changed, or back from quarantine: load it).
    """
    if already_loaded(backend, file_key, checksum):
        return LOADED
    latest = backend.fetchone(
        "SELECT checksum, status, quarantined_to FROM load_ledger WHERE file_key = ?"
        " ORDER BY load_id DESC LIMIT 1",
        [file_key],
    )
    if latest is not None and tuple(latest) == (checksum, FAILED, None):
        return FAILED
    return None


def record(backend: Backend, entry: LedgerEntry) -> int:
    """Append one ledger row; return its id.

    Ids are numbered under a lock held to the end of the transaction, not by a
    sequence with ``RETURNING``, which Redshift lacks.
    """
    with backend.transaction():
        backend.lock("shipline.load_ledger")
        load_id = int(backend.scalar("SELECT coalesce(max(load_id), 0) + 1 FROM load_ledger"))
        backend.execute(
            "INSERT INTO load_ledger (load_id, file_key, size, checksum, table_name, rows,"
            " inserted, updated, duration_ms, status, error, quarantined_to, loaded_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, current_timestamp)",
            [
                load_id,
                entry.file_key,
                entry.size,
                entry.checksum,
                entry.table,
                entry.rows,
                entry.inserted,
                entry.updated,
                entry.duration_ms,
                entry.status,
                entry.error,
                entry.quarantined_to,
            ],
        )
    return load_id


def list_loads(
    backend: Backend, *, status: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """The newest ledger rows, optionally of one status (loaded, failed)."""
    where = "WHERE status = ?" if status else ""
    params: list[Any] = [status] if status else []
    return backend.fetch_dicts(
        "SELECT load_id, loaded_at, file_key, table_name, status, rows, inserted, updated,"
        " duration_ms, size, checksum, error, quarantined_to"
        f" FROM load_ledger {where} ORDER BY load_id DESC LIMIT ?",
        [*params, limit],
    )
