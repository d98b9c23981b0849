"""Ingest for the API: bodies to records, records to per-record outcomes.

The facade reports counts and the rejected records; the API also tells a client,
record by record, whether it was ``accepted`` (stored now) or a ``duplicate``
(stored before, or earlier in the same body).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from shipline.errors import ValidationError
from shipline.events.shapes import parse_json_body, records_to_raw
from shipline.events.validate import validate
from shipline.ingest.service import IngestResult
from shipline.pipeline import Pipeline

ROUTED_SOURCE = "shipment.service"
ROUTED_DETAIL_TYPE_PREFIX = "shipment."


@dataclass(frozen=True)
class Outcome:
    """What happened to one record of a request."""

    index: int
    outcome: str
    errors: list[str] = field(default_factory=list)
    dead_letter_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready; errors only for rejected records."""
        data: dict[str, Any] = {"index": self.index, "outcome": self.outcome}
        if self.outcome == "rejected":
            data["errors"] = self.errors
            data["dead_letter_id"] = self.dead_letter_id
        return data


def parse_body(body: bytes) -> list[Any]:
    """A JSON object, a JSON array or NDJSON, as records; ValidationError if unparsable.

    A body in which no record parses at all is refused whole (HTTP 400); a body in
    which only some NDJSON lines are broken gets those lines rejected one by one.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValidationError(f"body: not UTF-8 ({error.reason} at byte {error.start})") from error
    records = parse_json_body(text)
    if records and all(type(record).__name__ == "_Unparsable" for record in records):
        raise ValidationError(
            "body: not JSON; send a JSON object, a JSON array of objects or NDJSON (one"
            " object per line)"
        )
    return records


def ingest_records(pipeline: Pipeline, records: list[Any], source: str) -> list[Outcome]:
    """Ingest records in one transaction and say what happened to each."""
    return ingest_table(pipeline, records_to_raw(records), source)


def ingest_table(pipeline: Pipeline, raw: pa.Table, source: str) -> list[Outcome]:
    """Ingest a raw table (``records_to_raw``) in one transaction; each row's outcome."""
    result = pipeline.ingest_table(raw, source)
    return outcomes(pipeline, raw, result)


def outcomes(pipeline: Pipeline, raw: pa.Table, result: IngestResult) -> list[Outcome]:
    """Per-record outcomes of an ingest of ``raw``."""
    rejected = {error.index: error for error in result.errors}
    n = result.received
    if result.duplicates == 0:
        return [
            Outcome(i, "rejected", rejected[i].errors, rejected[i].dead_letter_id)
            if i in rejected
            else Outcome(i, "accepted")
            for i in range(n)
        ]
    # Some were duplicates: which ones? Validation is pure and deterministic, so it
    # gives each record's event_id; the events stored by this call are those with
    # this call's ingest_seq range, and the first record of each is the one stored.
    accepted = validate(
        raw, pipeline.settings.aliases.event_type, pipeline.settings.aliases.status
    ).accepted
    stored: set[str] = set()
    if result.first_ingest_seq is not None and result.last_ingest_seq is not None:
        stored = {
            str(row[0])
            for row in pipeline.backend.fetchall(
                "SELECT event_id FROM shipment_events WHERE ingest_seq BETWEEN ? AND ?",
                [result.first_ingest_seq, result.last_ingest_seq],
            )
        }
    event_ids = dict(
        zip(
            accepted.column("record_index").to_pylist(),
            accepted.column("event_id").to_pylist(),
            strict=True,
        )
    )
    seen: set[str] = set()
    found: list[Outcome] = []
    for i in range(n):
        if i in rejected:
            found.append(Outcome(i, "rejected", rejected[i].errors, rejected[i].dead_letter_id))
            continue
        event_id = event_ids.get(i)
        if event_id in stored and event_id not in seen:
            seen.add(event_id)
            found.append(Outcome(i, "accepted"))
        else:
            found.append(Outcome(i, "duplicate"))
    return found


@dataclass(frozen=True)
class PutEventsEntryResult:
    """One entry of a PutEvents response."""

    event_id: str | None = None
    error_code: str | None = None
    error_message: str | None = None

    def as_dict(self) -> dict[str, str]:
        """As EventBridge writes it."""
        if self.error_code is not None:
            return {"ErrorCode": self.error_code, "ErrorMessage": self.error_message or ""}
        assert self.event_id is not None
        return {"EventId": self.event_id}


@dataclass
class RoutedEntries:
    """A PutEvents body after routing: the records to ingest and the entries' results."""

    results: list[PutEventsEntryResult | None]
    positions: list[int]
    records: list[Any]
    malformed: dict[int, str]

    def finish(self, outcomes: list[Outcome]) -> list[PutEventsEntryResult]:
        """Every entry's result, given the outcomes of ``records``."""
        results = list(self.results)
        for position, outcome in zip(self.positions, outcomes, strict=True):
            if position in self.malformed:
                results[position] = _entry_error(
                    "MalformedDetail",
                    f"{self.malformed[position]} (dead letter {outcome.dead_letter_id})",
                )
            elif outcome.outcome == "rejected":
                results[position] = _entry_error(
                    "InvalidArgument",
                    "; ".join(outcome.errors) + f" (dead letter {outcome.dead_letter_id})",
                )
            else:
                results[position] = PutEventsEntryResult(event_id=str(uuid.uuid4()))
        return [result for result in results if result is not None]


def route_entries(payload: Any) -> RoutedEntries:
    """Route a PutEvents body.

    Entries whose ``Source`` is not ``shipment.service`` or whose ``DetailType`` does
    not start with ``shipment.`` match no rule: like EventBridge, the bus takes them
    (they get an EventId) and delivers them nowhere. A routed ``Detail`` that is not
    JSON is dead-lettered like any bad record and reported as ``MalformedDetail``.
    """
    if not isinstance(payload, dict) or not isinstance(payload.get("Entries"), list):
        raise ValidationError('body: expected {"Entries": [...]} (EventBridge PutEvents)')
    entries: list[Any] = payload["Entries"]
    routed = RoutedEntries([None] * len(entries), [], [], {})
    for position, entry in enumerate(entries):
        if not isinstance(entry, dict):
            routed.results[position] = _entry_error("InvalidArgument", "entry: expected an object")
            continue
        source, detail_type, detail = (
            entry.get("Source"),
            entry.get("DetailType"),
            entry.get("Detail"),
        )
        missing = [
            name
            for name, value in (("Source", source), ("DetailType", detail_type), ("Detail", detail))
            if not isinstance(value, str) or not value
        ]
        if missing:
            routed.results[position] = _entry_error(
                "InvalidArgument", f"{', '.join(missing)}: required, a non-empty string"
            )
            continue
        assert isinstance(detail_type, str) and isinstance(detail, str)
        if source != ROUTED_SOURCE or not detail_type.startswith(ROUTED_DETAIL_TYPE_PREFIX):
            routed.results[position] = PutEventsEntryResult(event_id=str(uuid.uuid4()))
            continue
        try:
            record = json.loads(detail)
        except json.JSONDecodeError as error:
            routed.malformed[position] = f"Detail: not JSON ({error.msg})"
            record = detail
        routed.positions.append(position)
        routed.records.append(record)
    return routed


def _entry_error(code: str, message: str) -> PutEventsEntryResult:
    return PutEventsEntryResult(error_code=code, error_message=message)
