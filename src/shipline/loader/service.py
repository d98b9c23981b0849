"""The loader: one file at a time, one transaction per file, a ledger and notifications.

A file already in the ledger with the same checksum is skipped. A file that cannot
be loaded, for any reason (a symbolic link, past the decompression cap, unreadable,
refused by its table, or any error at all while it loads), leaves its table
untouched (the transaction rolls back), is moved to quarantine, and is recorded in
the ledger and in the dead letters (source ``loader``); the next file loads
regardless. A file that cannot be moved to quarantine is recorded the same way,
once: it stays where it is and is skipped until it changes. Only a file that cannot
be read (gone, storage unreachable) or a busy database is worth retrying as it is.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import pyarrow as pa

from shipline.errors import LoadError, ShiplineError, TransientBackendError
from shipline.ingest.dead_letters import DeadLetter, record_dead_letters
from shipline.loader import ledger
from shipline.loader.files import (
    FileKind,
    check_readable,
    detect_kind,
    feed_format_for_key,
    read_table,
    table_for_key,
)
from shipline.loader.limits import MAX_UNCOMPRESSED_BYTES, too_big
from shipline.loader.sources import LandingFile, Source
from shipline.loader.warehouse import UpsertResult, upsert
from shipline.notify.base import (
    Notifier,
    failure_message,
    success_message,
    upload_message,
)
from shipline.store import Backend
from shipline.store.backend import owned_tables
from shipline.timeline.views import VIEWS

log = logging.getLogger(__name__)

EVENTS_TABLE = "shipment_events"
# The upsert keys of the landing-zone tables shipline knows; the default of Settings.loader_keys.
DEFAULT_KEYS: dict[str, list[str]] = {
    "order_summary": ["order_id"],
    "order_items": ["order_id", "line_number"],
    "order_flattened": ["order_id", "line_number"],
}
# shipline's own tables and views, read from its migrations so that a new table is
# protected the day it is added: never a landing-zone target (a landed api_keys.csv
# must not make a key). shipment_events is the one table files may feed, through
# the event ingest path.
PROTECTED_TABLES = (owned_tables() | {name for name, _ in VIEWS}) - {EVENTS_TABLE}

LINK_REFUSAL = (
    "symlink; the loader does not follow links; put the file itself in the landing folder"
)

Status = Literal["loaded", "skipped", "failed"]
EventsLoader = Callable[[Path, str | None], tuple[int, int, int]]
"""Ingest a file of shipment events (in an industry format, if one is named); return
(received, accepted, duplicates + rejected)."""


@dataclass(frozen=True)
class FileOutcome:
    """What happened to one file.

    ``retryable`` says the same file may load if tried again (it could not be read, or
    the database was busy): nothing was recorded. Every other failure is recorded
    once, and the file is not tried again until it changes.
    """

    file_key: str
    status: Status
    table: str | None = None
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    duration_ms: float = 0.0
    error: str | None = None
    quarantined_to: str | None = None
    load_id: int | None = None
    retryable: bool = False

    def as_dict(self) -> dict[str, object]:
        """The outcome as plain values."""
        return asdict(self)


class Loader:
    """Loads landing-zone files into warehouse tables over one backend."""

    def __init__(
        self,
        backend: Backend,
        notifier: Notifier,
        *,
        keys: Mapping[str, Sequence[str]] | None = None,
        events_loader: EventsLoader | None = None,
        redshift_iam_role: str | None = None,
        max_uncompressed_bytes: int = MAX_UNCOMPRESSED_BYTES,
    ) -> None:
        self.backend = backend
        self.notifier = notifier
        self.keys = {k.lower(): list(v) for k, v in (keys or DEFAULT_KEYS).items()}
        self.events_loader = events_loader
        self.redshift_iam_role = redshift_iam_role
        self.max_uncompressed_bytes = max_uncompressed_bytes

    def load_all(self, source: Source) -> list[FileOutcome]:
        """Load every file waiting in a landing zone, in key order."""
        return [self.load(source, file) for file in source.list_files()]

    def load(self, source: Source, file: LandingFile) -> FileOutcome:
        """Load one file; never raises for a bad file (see the outcome instead)."""
        started = time.perf_counter()
        known = source.known_checksum(file)
        if known is not None and (earlier := self._earlier(file, known)) is not None:
            return earlier
        refusal = self._refusal(file)
        data = b""
        if refusal is None:
            try:
                data = source.read(file)
                checksum = source.checksum(file, data)
            except Exception as error:  # vanished, or storage unreachable: try again later
                log.warning("cannot read %s: %s", file.key, error)
                error_text = f"cannot be read: {error}; retry later"
                return FileOutcome(file.key, "failed", error=error_text, retryable=True)
        else:
            # Not read: a link has no bytes of its own; a file past the cap stays on disk.
            checksum = known or f"unread {file.stamp}"
        if known is None and (earlier := self._earlier(file, checksum)) is not None:
            return earlier
        try:
            table: str | None = table_for_key(file.relative)
        except LoadError:
            table = None
        self.notifier.send(upload_message(file.key, file.size, table))
        if refusal is not None:
            return self._fail(source, file, checksum, table, refusal, started)
        try:
            outcome = self._load_read(source, file, data, checksum, started)
        except TransientBackendError as error:
            # The database is busy: leave the file where it is for the next attempt.
            log.warning("load of %s postponed: %s", file.key, error)
            return FileOutcome(file.key, "failed", table=table, error=str(error), retryable=True)
        except Exception as error:  # anything else is this file's: quarantine it, go on
            return self._fail(source, file, checksum, table, _reason(file, error), started)
        self.notifier.send(
            success_message(
                file.key,
                outcome.table or "",
                outcome.rows,
                outcome.inserted,
                outcome.updated,
                outcome.duration_ms,
            )
        )
        return outcome

    def _earlier(self, file: LandingFile, checksum: str) -> FileOutcome | None:
        """A skip if this exact file was loaded before, or failed and is still here."""
        earlier = ledger.earlier_outcome(self.backend, file.key, checksum)
        if earlier == ledger.LOADED:
            return FileOutcome(file.key, "skipped", error="already loaded with this checksum")
        if earlier == ledger.FAILED:
            reason = (
                "failed before with this checksum and could not be moved to quarantine; fix"
                " or remove the file (`shipline loads list --status failed` says why)"
            )
            return FileOutcome(file.key, "skipped", error=reason)
        return None

    def _refusal(self, file: LandingFile) -> str | None:
        """Why a file is refused unread: a link, or more bytes than the cap."""
        if file.link:
            return LINK_REFUSAL
        if file.size > self.max_uncompressed_bytes:
            name = file.relative.rsplit("/", 1)[-1]
            return str(too_big(name, file.size, self.max_uncompressed_bytes))
        return None

    def _load_read(
        self, source: Source, file: LandingFile, data: bytes, checksum: str, started: float
    ) -> FileOutcome:
        """Load a file's bytes into its table (or the event ingest path)."""
        feed = feed_format_for_key(file.relative)
        if feed is not None:
            return self._load_events(source, file, data, checksum, started, feed)
        kind = detect_kind(file.relative, data)
        table = table_for_key(file.relative)
        if table in PROTECTED_TABLES:
            raise LoadError(
                f"table {table} belongs to shipline and cannot be loaded from files;"
                " rename the file or its folder"
            )
        if table == EVENTS_TABLE:
            check_readable(file.relative, data, kind, self.max_uncompressed_bytes)
            return self._load_events(source, file, data, checksum, started)
        return self._load_table(file, data, checksum, table, kind, started)

    def _load_table(
        self,
        file: LandingFile,
        data: bytes,
        checksum: str,
        table: str,
        kind: FileKind,
        started: float,
    ) -> FileOutcome:
        keys = self.keys.get(table)
        if not keys:
            raise LoadError(
                f"table {table} has no key configured; set loader_keys.{table} to its key"
                " column(s) so rows can be upserted"
            )
        rows = read_table(file.relative, data, kind, self.max_uncompressed_bytes)
        load_ids: list[int] = []

        def record(result: UpsertResult) -> None:
            load_ids.append(
                ledger.record(
                    self.backend,
                    ledger.LedgerEntry(
                        file_key=file.key,
                        size=file.size,
                        checksum=checksum,
                        table=table,
                        rows=result.rows,
                        inserted=result.inserted,
                        updated=result.updated,
                        duration_ms=(time.perf_counter() - started) * 1000,
                        status=ledger.LOADED,
                    ),
                )
            )

        result = upsert(
            self.backend, table, rows, keys, before_commit=record, stage=self._stage(file, kind)
        )
        duration_ms = (time.perf_counter() - started) * 1000
        load_id = load_ids[0]
        return FileOutcome(
            file.key,
            "loaded",
            table=table,
            rows=result.rows,
            inserted=result.inserted,
            updated=result.updated,
            duration_ms=duration_ms,
            load_id=load_id,
        )

    def _stage(self, file: LandingFile, kind: FileKind) -> Callable[[str, pa.Table], None] | None:
        """With a role to read S3, stage an S3 file by the engine's COPY (Redshift's);
        None for the default staging, by the rows this process read."""
        backend = self.backend
        role = self.redshift_iam_role
        if not (role and file.key.startswith("s3://")):
            return None

        def copy(name: str, data: pa.Table) -> None:
            if not backend.copy_from_s3(
                name, data.schema, file.key, kind.format, kind.gzipped, role
            ):
                backend.register(name, data)

        return copy

    def _load_events(
        self,
        source: Source,
        file: LandingFile,
        data: bytes,
        checksum: str,
        started: float,
        feed: str | None = None,
    ) -> FileOutcome:
        if self.events_loader is None:
            raise LoadError(
                "shipment event files need the event ingest path; load them through the"
                " Pipeline (shipline load)"
            )
        with source.local_copy(file, data) as path:
            try:
                received, accepted, others = self.events_loader(path, feed)
            except (pa.ArrowException, OSError, ValueError) as error:
                raise LoadError(
                    f"cannot be read as shipment events ({error}); fix or re-export the file"
                ) from error
        if received == 0:
            raise LoadError("the file has no events; upload a file with data")
        duration_ms = (time.perf_counter() - started) * 1000
        load_id = ledger.record(
            self.backend,
            ledger.LedgerEntry(
                file_key=file.key,
                size=file.size,
                checksum=checksum,
                table=EVENTS_TABLE,
                rows=received,
                inserted=accepted,
                updated=0,
                duration_ms=duration_ms,
                status=ledger.LOADED,
                error=f"{others} duplicate or rejected events" if others else None,
            ),
        )
        return FileOutcome(
            file.key,
            "loaded",
            table=EVENTS_TABLE,
            rows=received,
            inserted=accepted,
            duration_ms=duration_ms,
            load_id=load_id,
        )

    def _fail(
        self,
        source: Source,
        file: LandingFile,
        checksum: str,
        table: str | None,
        reason: str,
        started: float,
    ) -> FileOutcome:
        """Quarantine a file that failed, record it, notify; the outcome says so."""
        quarantined_to: str | None = None
        try:
            quarantined_to = source.quarantine(file, reason)
        except Exception as error:  # keep the record even if the move fails
            log.warning("could not quarantine %s: %s", file.key, error)
            reason = (
                f"{reason} (not quarantined: {error}; the file stays where it is and is not"
                " tried again until it changes)"
            )
        duration_ms = (time.perf_counter() - started) * 1000
        with self.backend.transaction():
            load_id = ledger.record(
                self.backend,
                ledger.LedgerEntry(
                    file_key=file.key,
                    size=file.size,
                    checksum=checksum,
                    table=table,
                    rows=0,
                    inserted=0,
                    updated=0,
                    duration_ms=duration_ms,
                    status=ledger.FAILED,
                    error=reason,
                    quarantined_to=quarantined_to,
                ),
            )
            payload = {
                "file_key": file.key,
                "size": file.size,
                "checksum": checksum,
                "table": table,
                "quarantined_to": quarantined_to,
                "load_id": load_id,
            }
            record_dead_letters(
                self.backend, [DeadLetter("loader", json.dumps(payload), reason, [reason])]
            )
        self.notifier.send(failure_message(file.key, table, reason, quarantined_to))
        return FileOutcome(
            file.key,
            "failed",
            table=table,
            duration_ms=duration_ms,
            error=reason,
            quarantined_to=quarantined_to,
            load_id=load_id,
        )

    def watch(
        self,
        source: Source,
        *,
        interval_seconds: float,
        should_stop: Callable[[], bool],
        on_outcome: Callable[[FileOutcome], None] | None = None,
    ) -> Iterator[list[FileOutcome]]:
        """Poll a landing zone; yield each poll's outcomes until ``should_stop()``.

        A file is loaded once it is unchanged between two polls (so half-written
        files wait), and a file already loaded or failed is not read again while
        unchanged (same size and mtime, or ETag); only a retryable failure is.
        """
        seen: dict[str, str] = {}
        done: dict[str, str] = {}
        while True:
            outcomes = []
            for file in source.list_files():
                if done.get(file.key) == file.stamp:
                    continue
                if seen.get(file.key) != file.stamp:
                    seen[file.key] = file.stamp
                    continue
                outcome = self.load(source, file)
                if not outcome.retryable:
                    done[file.key] = file.stamp
                outcomes.append(outcome)
                if on_outcome is not None and outcome.status != "skipped":
                    on_outcome(outcome)
            yield outcomes
            if should_stop():
                return
            time.sleep(interval_seconds)


def _reason(file: LandingFile, error: Exception) -> str:
    """What to record for a file that failed: shipline's own message, else the error's."""
    if isinstance(error, ShiplineError):
        return str(error)
    log.exception("unexpected error loading %s", file.key)
    if isinstance(error, RecursionError):
        return "nested too deeply to be read; flatten the file"
    return f"cannot be loaded ({type(error).__name__}: {error}); fix or re-export the file"
