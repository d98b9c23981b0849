"""Ingest for the API: bodies to records, an ingest's result to per-record outcomes.

The API tells a client, record by record, whether it was ``accepted`` (stored
now), a ``duplicate`` (stored before, or earlier in the same body) or
``rejected`` (with its field errors and dead letter).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from shipline.errors import ValidationError
from shipline.events.json_records import (
    Unparsable,
    loads_strict,
    parse_json_lines,
    printable,
    unicode_problem,
)
from shipline.events.shapes import all_unparsable
from shipline.ingest.service import IngestResult

ROUTED_SOURCE = "shipment.service"
ROUTED_DETAIL_TYPE_PREFIX = "shipment."


@dataclass(frozen=True)
class Outcome:
    """What happened to one record of a request."""

    index: int
    outcome: str
    errors: list[str] = field(default_factory=list)
    dead_letter_id: int | None = None
    line_number: int | None = None
    change: str | None = None
    """For an accepted record that changed a stored event: revision or retraction."""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready; errors only for rejected records, the line for NDJSON's."""
        data: dict[str, Any] = {"index": self.index, "outcome": self.outcome}
        if self.change is not None:
            data["change"] = self.change
        if self.outcome == "rejected":
            data["errors"] = self.errors
            data["dead_letter_id"] = self.dead_letter_id
            if self.line_number is not None:
                data["line"] = self.line_number
        return data


def parse_body(body: bytes) -> tuple[list[Any], list[int] | None]:
    """A JSON object, a JSON array or NDJSON, as records (and NDJSON's line numbers).

    A body in which no record parses at all is refused whole (``ValidationError``,
    HTTP 400); a body in which only some records are broken (a bad NDJSON line, an
    element nested too deep, bytes that are not UTF-8) gets those rejected alone.
    """
    if not body.strip():
        raise ValidationError("body: empty; send a JSON object, a JSON array or NDJSON")
    records, line_numbers = parse_json_lines(body.decode("utf-8", errors="surrogateescape"))
    if all_unparsable(records):
        raise ValidationError(
            "body: not JSON; send a JSON object, a JSON array of objects or NDJSON (one"
            " object per line)"
        )
    return records, line_numbers


def outcomes(result: IngestResult) -> list[Outcome]:
    """Per-record outcomes of one ingest, as the API reports them."""
    rejected = {error.index: error for error in result.errors}
    changes = result.changes()
    return [
        Outcome(
            index,
            "rejected",
            rejected[index].errors,
            rejected[index].dead_letter_id,
            rejected[index].line_number,
        )
        if outcome == "rejected"
        else Outcome(index, outcome, change=changes.get(index))
        for index, outcome in enumerate(result.outcomes())
    ]


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
        return {"EventId": self.event_id or ""}


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
        if source != ROUTED_SOURCE or not str(detail_type).startswith(ROUTED_DETAIL_TYPE_PREFIX):
            routed.results[position] = PutEventsEntryResult(event_id=str(uuid.uuid4()))
            continue
        try:
            record = loads_strict(str(detail))
        except ValueError as error:
            routed.malformed[position] = f"Detail: not JSON ({error})"
            record = Unparsable(printable(str(detail)), f"record: Detail is not JSON ({error})")
        else:
            problem = unicode_problem(record)
            if problem is not None:  # keep the Detail as it came, for its dead letter
                record = Unparsable(printable(str(detail)), problem)
        routed.positions.append(position)
        routed.records.append(record)
    return routed


def _entry_error(code: str, message: str) -> PutEventsEntryResult:
    return PutEventsEntryResult(error_code=code, error_message=message)
