"""One ingest call: validate a batch, store its new events once, dead-letter the rest."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import pyarrow as pa
import pyarrow.compute as pc

from shipline.errors import ShiplineError
from shipline.events.validate import Rejection, Rules
from shipline.ingest.dead_letters import DeadLetter, record_dead_letters
from shipline.ingest.local_times import resolve_local_times
from shipline.ingest.side_data import store_side_data
from shipline.ingest.store_events import Conflict, store_events
from shipline.store import Backend


@dataclass(frozen=True)
class RecordError:
    """Why one record of a batch was refused; ``index`` is its position in the batch,
    ``line_number`` its line in a file."""

    index: int
    errors: list[str]
    dead_letter_id: int | None = None
    line_number: int | None = None
    file: str | None = None
    """The file the record came from, when an ingest read several."""


@dataclass(frozen=True)
class IngestResult:
    """Per-batch counts. ``rejected`` counts contract violations and conflicts."""

    source: str
    received: int
    accepted: int
    duplicates: int
    rejected: int
    errors: list[RecordError] = field(default_factory=list)
    first_ingest_seq: int | None = None
    last_ingest_seq: int | None = None
    duration_ms: float = 0.0
    duplicate_indexes: list[int] = field(default_factory=list)
    """The records found already stored (or earlier in the same batch)."""
    refused_files: list[str] = field(default_factory=list)
    """Files that could not be read at all, each with its reason."""
    skipped: dict[str, int] = field(default_factory=dict)
    """Source records an importer did not make records of (not movements), by reason;
    not counted in ``received``."""
    revision_indexes: list[int] = field(default_factory=list)
    """Accepted records that replace an earlier revision (counted in ``accepted``)."""
    retraction_indexes: list[int] = field(default_factory=list)
    estimates: int = 0
    """Estimates and references the accepted records carried."""
    references: int = 0

    @property
    def revisions(self) -> int:
        return len(self.revision_indexes)

    @property
    def retractions(self) -> int:
        return len(self.retraction_indexes)

    def changes(self) -> dict[int, str]:
        """The accepted records that changed a stored event: revision or retraction."""
        return {i: "revision" for i in self.revision_indexes} | {
            i: "retraction" for i in self.retraction_indexes
        }

    def outcomes(self) -> list[str]:
        """Each record's outcome in batch order: accepted, duplicate or rejected."""
        outcomes = ["accepted"] * self.received
        for index in self.duplicate_indexes:
            outcomes[index] = "duplicate"
        for error in self.errors:
            outcomes[error.index] = "rejected"
        return outcomes

    def merge(self, other: IngestResult) -> IngestResult:
        """Counts of two batches together (record indexes are not renumbered)."""
        seqs = [s for s in (self.first_ingest_seq, other.first_ingest_seq) if s is not None]
        lasts = [s for s in (self.last_ingest_seq, other.last_ingest_seq) if s is not None]
        return IngestResult(
            source=self.source,
            received=self.received + other.received,
            accepted=self.accepted + other.accepted,
            duplicates=self.duplicates + other.duplicates,
            rejected=self.rejected + other.rejected,
            errors=[*self.errors, *other.errors],
            first_ingest_seq=min(seqs) if seqs else None,
            last_ingest_seq=max(lasts) if lasts else None,
            duration_ms=self.duration_ms + other.duration_ms,
            duplicate_indexes=[*self.duplicate_indexes, *other.duplicate_indexes],
            refused_files=[*self.refused_files, *other.refused_files],
            skipped=dict(Counter(self.skipped) + Counter(other.skipped)),
            revision_indexes=[*self.revision_indexes, *other.revision_indexes],
            retraction_indexes=[*self.retraction_indexes, *other.retraction_indexes],
            estimates=self.estimates + other.estimates,
            references=self.references + other.references,
        )


_SIDE_FIELDS = ["is_event", "estimates", "references"]
"""Accepted columns that are not the event's: stored by ``store_side_data``."""


def ingest_raw(
    backend: Backend,
    raw: pa.Table,
    source: str,
    *,
    rules: Rules | None = None,
    dead_letter: bool = True,
) -> IngestResult:
    """Validate ``raw`` and store it; the events and dead letters commit together.

    With ``dead_letter=False`` refused records are only reported (a redrive keeps
    its existing dead letters instead of adding new ones). A format's source
    (``dcsa:…``) has each reason name its field in the format's own terms too.
    """
    started = time.perf_counter()
    rules = rules or Rules()
    raw = resolve_local_times(backend, raw, rules.zone_for(source))
    batch = rules.validate(raw)
    source_fields = rules.source_fields_for(source)
    if source_fields:
        batch = replace(
            batch, rejected=[_in_source_terms(r, source_fields) for r in batch.rejected]
        )
    is_event = batch.accepted.column("is_event")
    # Most batches are events only, and a filter copies every column of every row.
    everything = pc.all(pc.fill_null(is_event, False)).as_py() is not False
    events = batch.accepted if everything else batch.accepted.filter(is_event)
    side_only = batch.accepted.num_rows - events.num_rows
    with backend.transaction():
        stored = store_events(backend, events.drop_columns(_SIDE_FIELDS), source)
        side = store_side_data(
            backend, batch.accepted, source, [c.record_index for c in stored.conflicts]
        )
        # Line numbers are looked up for refused records only: most records pass.
        lines = {r.record_index: r.line_number for r in batch.rejected} | _line_numbers(
            raw, [c.record_index for c in stored.conflicts]
        )
        letters = [
            (r.record_index, DeadLetter(source, r.payload, r.reason, r.errors))
            for r in batch.rejected
        ] + [
            (c.record_index, DeadLetter(source, c.payload, _at_line(lines, c), [c.reason]))
            for c in stored.conflicts
        ]
        letters.sort(key=lambda pair: pair[0])
        ids: list[int | None] = (
            list(record_dead_letters(backend, [letter for _, letter in letters]))
            if dead_letter
            else [None] * len(letters)
        )
        result = IngestResult(
            source=source,
            received=raw.num_rows,
            accepted=stored.stored + side_only,
            duplicates=stored.duplicates,
            rejected=len(letters),
            errors=[
                RecordError(index, letter.errors, dead_letter_id, lines.get(index))
                for (index, letter), dead_letter_id in zip(letters, ids, strict=True)
            ],
            first_ingest_seq=stored.first_ingest_seq,
            last_ingest_seq=stored.last_ingest_seq,
            duration_ms=(time.perf_counter() - started) * 1000,
            duplicate_indexes=stored.duplicate_indexes,
            revision_indexes=stored.revision_indexes,
            retraction_indexes=stored.retraction_indexes,
            estimates=side.estimates,
            references=side.references,
        )
        # Every record is accounted for, or nothing commits: a record that vanished
        # between validation and storage would be lost without a trace.
        if result.received != result.accepted + result.duplicates + result.rejected:
            raise ShiplineError(
                f"ingest of {result.received} records accounted for only"
                f" {result.accepted + result.duplicates + result.rejected}; nothing was"
                " stored. Please report this with the input"
            )
    return result


def _in_source_terms(rejection: Rejection, source_fields: Mapping[str, str]) -> Rejection:
    """``event_timestamp: ...`` said as ``event_timestamp (eventDateTime): ...``."""

    def named(error: str) -> str:
        name, colon, reason = error.partition(":")
        term = source_fields.get(name)
        return f"{name} ({term}):{reason}" if colon and term else error

    return replace(rejection, errors=[named(error) for error in rejection.errors])


def _line_numbers(raw: pa.Table, indexes: list[int]) -> dict[int, int | None]:
    """The file lines of the records at these indexes (``record_index`` is a row's
    position, as ``validate`` numbers a table without one)."""
    if not indexes or "line_number" not in raw.column_names:
        return {}
    column = raw.column("line_number")
    return {index: column[index].as_py() for index in indexes}


def _at_line(lines: dict[int, int | None], conflict: Conflict) -> str:
    line = lines.get(conflict.record_index)
    return conflict.reason if line is None else f"line {line}: {conflict.reason}"
