"""One ingest call: validate a batch, store its new events once, dead-letter the rest."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import pyarrow as pa

from shipline.events.validate import validate
from shipline.ingest.dead_letters import DeadLetter, record_dead_letters
from shipline.ingest.store_events import store_events
from shipline.store import Backend


@dataclass(frozen=True)
class RecordError:
    """Why one record of a batch was refused; ``index`` is its position in the batch."""

    index: int
    errors: list[str]
    dead_letter_id: int | None = None


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
        )


def ingest_raw(
    backend: Backend,
    raw: pa.Table,
    source: str,
    *,
    event_type_aliases: Mapping[str, str] | None = None,
    status_aliases: Mapping[str, str] | None = None,
    dead_letter: bool = True,
) -> IngestResult:
    """Validate ``raw`` and store it; the events and dead letters commit together.

    With ``dead_letter=False`` refused records are only reported (a redrive keeps
    its existing dead letters instead of adding new ones).
    """
    started = time.perf_counter()
    batch = validate(raw, event_type_aliases, status_aliases)
    with backend.transaction():
        stored = store_events(backend, batch.accepted, source)
        letters = [
            (r.record_index, DeadLetter(source, r.payload, r.reason, r.errors))
            for r in batch.rejected
        ] + [
            (c.record_index, DeadLetter(source, c.payload, c.reason, [c.reason]))
            for c in stored.conflicts
        ]
        letters.sort(key=lambda pair: pair[0])
        ids: list[int | None] = (
            list(record_dead_letters(backend, [letter for _, letter in letters]))
            if dead_letter
            else [None] * len(letters)
        )
    errors = [
        RecordError(index, letter.errors, dead_letter_id)
        for (index, letter), dead_letter_id in zip(letters, ids, strict=True)
    ]
    return IngestResult(
        source=source,
        received=raw.num_rows,
        accepted=stored.stored,
        duplicates=stored.duplicates,
        rejected=len(errors),
        errors=errors,
        first_ingest_seq=stored.first_ingest_seq,
        last_ingest_seq=stored.last_ingest_seq,
        duration_ms=(time.perf_counter() - started) * 1000,
    )
