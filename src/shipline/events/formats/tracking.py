"""What every parcel tracker is: a tracking number with a list of checkpoints.

EasyPost, AfterShip, Shippo, karrio and the carriers' own tracking APIs all answer
with the same thing in other words, and all resend the whole history on every
update. Each importer only says where its fields are (a ``Tracker`` of
``Checkpoint`` values); this module turns one into shipline records, the same way
for all of them:

* One record per checkpoint. Its event type is ``PROVIDER:CODE`` (``easypost:
  arrived_at_facility``, ``aftership:InTransit_002``), which the provider's code
  table maps; a code it does not map is passed on, so validation refuses it and
  names the ``[aliases.event_type]`` that fixes it. Codes the table lists as not
  movements (a tracker still waiting for its first scan) are skipped and counted.
* The event id is a hash of the checkpoint's stable content (tracking number,
  time as written, code, location, message), so the same checkpoint resent in the
  next update is a duplicate, and two checkpoints at one instant with another
  status or message are two events. Ids the providers give per delivery, per
  response or per checkpoint object (Shippo's ``object_id`` changes between two
  answers about the same history) are never used, nor kept in ``event_data``.
* A time is passed on as written: with an offset it keeps it, without one (a
  carrier's local time) the pipeline resolves it from the location's or the
  source's zone. A checkpoint whose time is missing or not a time is refused by
  validation, which names the source's field (``source_fields``); the others go
  on, and the dead letter is the mapped record, to fix and redrive.
* The location id is the checkpoint's country, state, city and postal code,
  trimmed, upper-cased, joined by ``/`` (empty parts kept in place, trailing empty
  ones dropped): ``US/FL/ORLANDO/32809``, ``US///32837``. A carrier's free-text
  location is upper-cased as it is. Load ``locations`` under these ids to give
  them a timezone.
* The carrier is the provider's carrier name or code, lower-cased (EasyPost's
  ``FedEx`` and AfterShip's ``fedex`` are one carrier).
* Expected delivery becomes an estimate (kind ``delivery``), never an event, and
  the provider's ids become references; both ride on the first checkpoint's
  record (so a resent history stays all duplicates) or, without checkpoints, on a
  record of their own.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from shipline.events.formats.base import Imported, code_table

_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")
_OFFSET = re.compile(r".*(Z|z|[+-]\d{2}:?\d{2})$")


@dataclass(frozen=True, slots=True)
class Place:
    """Where a checkpoint happened, in the provider's parts."""

    country: Any = None
    state: Any = None
    city: Any = None
    postal_code: Any = None

    def location_id(self) -> str | None:
        """The normalised id (see the module's docstring), or None with no part."""
        parts = [_clean(part) for part in (self.country, self.state, self.city, self.postal_code)]
        while parts and not parts[-1]:
            parts.pop()
        return _identifier("/".join(parts)) if parts else None


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """One scan in a tracker's history.

    ``details`` is the source's useful raw content, kept in ``event_data``; it must
    hold nothing that changes between two sends of the same checkpoint.
    """

    at: Any
    code: Any
    message: Any = None
    place: Place | str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Estimate:
    """An expected time the provider gives for the shipment (not an event)."""

    at: Any
    classifier: str
    kind: str = "delivery"
    where: str = ""


@dataclass
class Tracker:
    """A tracking number, its carrier, references, estimates and checkpoints."""

    tracking_number: Any
    carrier: Any = None
    checkpoints: list[Checkpoint] = field(default_factory=list)
    references: list[tuple[str, Any]] = field(default_factory=list)
    estimates: list[Estimate] = field(default_factory=list)


@dataclass(frozen=True)
class Codes:
    """A provider's code table: which of its codes are which event type, and which
    are not movements. The file holds ``movements`` and ``not_movements``."""

    provider: str
    movements: Mapping[str, str]
    not_movements: frozenset[str]

    @classmethod
    def load(cls, provider: str, filename: str) -> Codes:
        """The table ``filename`` shipped beside the importers, for ``provider``."""
        table = code_table(filename)
        return cls(provider, table["movements"], frozenset(table.get("not_movements", ())))

    def finer(self, detail: Any, status: Any) -> Any:
        """A detailed code (EasyPost's ``status_detail``, Shippo's substatus) when
        the table maps it, else the coarse status it details."""
        return detail if isinstance(detail, str) and detail in self.movements else status

    def aliases(self) -> dict[str, str]:
        """The table as ``event_type`` aliases, written ``provider:CODE``."""
        return {f"{self.provider}:{code}": kind for code, kind in self.movements.items()}


def tracker_records(tracker: Tracker, codes: Codes, imported: Imported) -> None:
    """Append one tracker's records to ``imported`` (see the module's docstring)."""
    shipment_id = _trimmed(tracker.tracking_number)
    carrier = _clean(tracker.carrier).lower() or None
    side = _side(tracker, codes, shipment_id, imported)
    records: list[Any] = []
    for checkpoint in tracker.checkpoints:
        code = _clean(checkpoint.code)
        if code in codes.not_movements:
            imported.skipped[f"{codes.provider} {code} checkpoint (not a movement)"] += 1
            continue
        record = _record(codes.provider, shipment_id, carrier, checkpoint, code)
        if side:
            record.update(side)
            side = {}
        records.append(record)
    if side:
        records.append({"shipment_id": shipment_id, **side})
    imported.records.extend(records)


def _record(
    provider: str, shipment_id: Any, carrier: str | None, checkpoint: Checkpoint, code: str
) -> dict[str, Any]:
    place = checkpoint.place
    location = place.location_id() if isinstance(place, Place) else _identifier(_clean(place))
    message = _clean(checkpoint.message) or None
    at = _clean(checkpoint.at)
    # The parts are cleaned text, so none holds the separator (whitespace collapses).
    stable = "\x1f".join((_clean(shipment_id), at, code, location or "", message or ""))
    digest = hashlib.sha256(stable.encode("utf-8", "surrogatepass")).hexdigest()
    details = {name: value for name, value in checkpoint.details.items() if value not in (None, "")}
    record: dict[str, Any] = {
        "shipment_id": shipment_id,
        "event_id": f"{provider}:{digest[:32]}",
        "event_timestamp": at,
        "event_type": f"{provider}:{code}",
        "location_id": location,
        "carrier": carrier,
        "event_data": {provider: {"code": code, "message": message, **details}},
    }
    return {name: value for name, value in record.items() if value is not None}


def _side(tracker: Tracker, codes: Codes, shipment_id: Any, imported: Imported) -> dict[str, Any]:
    """The tracker's estimate and references, as record fields."""
    side: dict[str, Any] = {}
    estimate = _estimate(tracker.estimates, codes.provider, imported)
    if estimate:
        side["estimates"] = [estimate]
    references = _references(tracker.references, shipment_id)
    if references:
        side["references"] = references
    return side


def _estimate(
    estimates: list[Estimate], provider: str, imported: Imported
) -> dict[str, Any] | None:
    """The first usable estimate: the providers list them best first. One without
    an offset (a bare date) cannot be placed in time; it is counted, not stored."""
    for estimate in estimates:
        at = _clean(estimate.at)
        if not at:
            continue
        if _OFFSET.match(at) and _DATE_TIME.match(at):
            return {"kind": estimate.kind, "estimated_at": at, "classifier": estimate.classifier}
        imported.skipped[f"{provider} {estimate.where} without a time offset (not stored)"] += 1
    return None


def _references(references: Iterable[tuple[str, Any]], shipment_id: Any) -> list[dict[str, str]]:
    found: list[dict[str, str]] = []
    for kind, value in references:
        text = _trimmed(value)
        entry = {"type": kind, "reference": text}
        if isinstance(text, str) and text and text != shipment_id and entry not in found:
            found.append(entry)
    return found


def _clean(value: Any) -> str:
    """Text trimmed, upper/lower case kept, inner whitespace collapsed; "" for none."""
    if isinstance(value, str):
        return " ".join(value.split())
    if value is None or isinstance(value, dict | list | bool):
        return ""
    return " ".join(str(value).split())


def _trimmed(value: Any) -> Any:
    """Text trimmed, a whole number as text (DHL's ids are numbers), else as it is."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value.strip() if isinstance(value, str) else value


def _identifier(text: str) -> str | None:
    """An id as it is, upper-cased; a hash when it would be over 128 characters."""
    if not text:
        return None
    text = text.upper()
    if len(text) <= 128:
        return text
    return f"{text[:95]}~{hashlib.sha256(text.encode()).hexdigest()[:32]}"


def local_time(date: Any, time: Any, offset: Any = None) -> Any:
    """A carrier's separate date (``20220126``) and time (``163000``) as ISO-8601
    (``2022-01-26T16:30:00``), with the offset when the carrier gives one. What is
    not digits of those lengths is returned as it came, for its refusal."""
    day = _clean(date).replace("-", "")
    clock = _clean(time).replace(":", "")
    if not (len(day) == 8 and day.isdigit() and len(clock) in (4, 6) and clock.isdigit()):
        return f"{_clean(date)} {_clean(time)}".strip() or None
    clock = clock if len(clock) == 6 else clock + "00"
    text = f"{day[:4]}-{day[4:6]}-{day[6:]}T{clock[:2]}:{clock[2:4]}:{clock[4:]}"
    return text + _clean(offset)


def hmac_matches(expected: str, given: str | None) -> bool:
    """Whether a webhook's signature header is the one expected, in constant time."""
    if not given:
        return False
    return hmac.compare_digest(expected.encode(), given.strip().encode())


def objects(document: Any, unwrap: Any) -> list[Any]:
    """Every tracker object of a document: ``unwrap`` takes one JSON value to the
    trackers it holds (an envelope, a page, a bare object); lists are flattened
    (an array of them, or NDJSON)."""
    if isinstance(document, list):
        return [found for item in document for found in objects(item, unwrap)]
    found: list[Any] = unwrap(document)
    return found


def at(value: Any, *path: str | int) -> Any:
    """``value[path[0]][path[1]]...``, or None where a step is missing."""
    for step in path:
        if isinstance(step, int):
            value = value[step] if isinstance(value, list) and len(value) > step else None
        else:
            value = value.get(step) if isinstance(value, dict) else None
    return value


def listed(value: Any) -> list[Any]:
    """A list as it is, else no items."""
    return value if isinstance(value, list) else []
