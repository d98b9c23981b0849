"""GS1 EPCIS 2.0 JSON-LD events as shipline records.

Read: an ``EPCISDocument`` (``epcisBody.eventList``), an ``EPCISQueryDocument``
(``epcisBody.queryResults.resultsBody.eventList``), a bare list of events, one
event, or a list of any of these. The rules:

* ObjectEvent, AggregationEvent and TransactionEvent are read; AssociationEvent
  and TransformationEvent (objects joined or made, not moved) are skipped and
  counted by reason.
* The event type comes from the CBV ``bizStep`` (short, URN or Web URI form),
  else from the ``disposition``, written ``epcis:bizStep:shipping`` or
  ``epcis:disposition:in_transit``; ``epcis_codes.json`` maps them and says why.
  A CBV step that is not a movement (commissioning, packing, inspecting, ...) is
  skipped and counted; a step outside the CBV is passed on, so validation refuses
  it with the alias that fixes it.
* ``eventTime`` is the instant, taken as written. ``eventTimeZoneOffset`` is kept
  in ``event_data`` and applied only to an eventTime without an offset (which
  EPCIS does not allow but producers send): it is then the one offset the event
  has. An offset is never applied to a time that has one.
* The location is ``readPoint.id``, where the event happened, else
  ``bizLocation.id``, where the objects are after it (the CBV leaves it out of a
  shipping event, since the goods are then at no business location). SGLN and
  Digital Link ids are kept as they are.
* By default each EPC is a shipment (``epcList``, ``parentID``, ``childEPCs``, and
  a lot's ``quantityList`` class; a product class or an id pattern names no
  thing that moves); with ``shipment_key="business_transaction"`` the event's
  business transaction is, by the precedence in the code table. The other
  identifiers (business transactions, the parent SSCC) become references.
* An event's id is its ``eventID`` joined with the shipment's key (hashed when
  long), so that each shipment of one event has an id of its own, the same at
  every re-send; an event without ``eventID`` gets a hash of its content.
* ``errorDeclaration`` retracts the event (same ids); ``correctiveEventIDs`` are
  kept in the retraction's ``event_data``, and the corrective events are events.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Iterator
from typing import Any, Literal, get_args

from shipline.errors import ConfigError
from shipline.events.formats.base import Format, Imported, code_table
from shipline.events.json_records import Unparsable

_CODES = code_table("epcis_codes.json")
_MOVEMENTS: dict[str, str] = _CODES["movements"]
_NOT_MOVEMENTS = frozenset(_CODES["not_movements"])
_PREFIXES: dict[str, list[str]] = _CODES["vocabulary_prefixes"]

EVENT_TYPE_ALIASES: dict[str, str] = {f"epcis:{code}": kind for code, kind in _MOVEMENTS.items()}
"""The CBV codes every installation maps, as ``event_type`` aliases."""

ShipmentKey = Literal["epc", "business_transaction"]
SHIPMENT_KEY: ShipmentKey = "epc"
"""What a shipment is unless told otherwise: each EPC (a thing that moves)."""

_READ_EVENT_TYPES = ("ObjectEvent", "AggregationEvent", "TransactionEvent")
_NOT_MOVEMENT_TYPES = tuple(_CODES["not_movement_event_types"])
EVENT_TYPES = (*_READ_EVENT_TYPES, *_NOT_MOVEMENT_TYPES)
DOCUMENT_TYPES = ("EPCISDocument", "EPCISQueryDocument")
_MAX_ID = 128
# xsd:dateTime as EPCIS writes it; without an offset it is read at the event's
# eventTimeZoneOffset, and without that too it is left to shipline's local times.
# local-time rules to resolve or refuse.
_DATE_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(?P<offset>[Zz]|[+-]\d\d:\d\d)?")
_OFFSET = re.compile(r"[+-]\d\d:\d\d")
_SSCC = re.compile(r"^urn:epc:id:sscc:|/00/\d{18}(?:[/?#]|$)")
_LOT = re.compile(r"^urn:epc:class:lgtin:|/01/\d{14}/10/[^/?#]+")


def epcis_records(document: Any, shipment_key: ShipmentKey = SHIPMENT_KEY) -> Imported:
    """The records of an EPCIS document, query document, event list or event.

    ``shipment_key`` is ``"epc"`` (a record per EPC of an event) or
    ``"business_transaction"`` (a record per event, keyed by its transaction).
    A member that is not an object is passed on as it is, for validation to refuse.
    """
    if shipment_key not in get_args(ShipmentKey):
        raise ConfigError(
            f"epcis shipment_key {shipment_key!r}: use one of {', '.join(get_args(ShipmentKey))}"
        )
    imported = Imported()
    for event in _events(document):
        if not isinstance(event, dict):
            imported.records.append(event)
            continue
        kind = _type(event)
        code = _event_code(event) if kind in _READ_EVENT_TYPES else None
        if kind in _NOT_MOVEMENT_TYPES:
            imported.skipped[f"epcis {kind} (not a movement)"] += 1
        elif kind not in _READ_EVENT_TYPES:
            reason = f"type: {_quote(kind)} is not one of {', '.join(EVENT_TYPES)}"
            imported.records.append(Unparsable(_text(event), reason))
        elif code is None:
            imported.skipped["epcis event without a bizStep or disposition (not a movement)"] += 1
        elif code in _NOT_MOVEMENTS:
            imported.skipped[f"epcis {code.replace(':', ' ', 1)} (not a movement)"] += 1
        else:
            imported.records.extend(_records(event, code, shipment_key))
    return imported


def _events(document: Any) -> Iterator[Any]:
    """The events of a document, of a query document, of a list, or the event."""
    if isinstance(document, list):
        for member in document:
            yield from _events(member)
    elif isinstance(document, dict) and (
        _type(document) in DOCUMENT_TYPES or "epcisBody" in document
    ):
        events = _event_list(document)
        if isinstance(events, list):
            yield from events
        else:
            where = "queryResults.resultsBody." if "Query" in str(_type(document)) else ""
            yield Unparsable(_text(document), f"epcisBody.{where}eventList: not a list of events")
    else:
        yield document


def _event_list(document: dict[str, Any]) -> Any:
    body = document.get("epcisBody")
    if not isinstance(body, dict):
        return None
    results = body.get("queryResults")
    if isinstance(results, dict):
        return (results.get("resultsBody") or {}).get("eventList")
    return body.get("eventList")


def _type(value: dict[str, Any]) -> Any:
    """The JSON-LD type: ``type`` (2.0), ``@type``, or ``isA`` (drafts of 2.0)."""
    return value.get("type", value.get("@type", value.get("isA")))


def _event_code(event: dict[str, Any]) -> str | None:
    """The code the event is written with: its bizStep when that is a movement or a
    step outside the CBV (for an alias to map: the user's word wins over ours); else
    its disposition when that is a movement or outside the CBV; else the known step
    or disposition that moves nothing; None without either."""
    step = _cbv("bizStep", event.get("bizStep"))
    disposition = _cbv("disposition", event.get("disposition"))
    for code in (step, disposition):
        if code is not None and code not in _NOT_MOVEMENTS:
            return code
    return step or disposition


def _cbv(kind: str, value: Any) -> str | None:
    """``kind:name`` for a CBV value in any of its forms; other values kept whole."""
    return _cbv_name(kind, value.strip()) if isinstance(value, str) and value.strip() else None


@functools.lru_cache(maxsize=4096)
def _cbv_name(kind: str, name: str) -> str:
    for prefix in _PREFIXES[kind]:
        if name.lower().startswith(prefix.lower()):
            name = name[len(prefix) :]
            break
    known = f"{kind}:{name.lower()}"
    return known if known in _MOVEMENTS or known in _NOT_MOVEMENTS else f"{kind}:{name}"


def _records(event: dict[str, Any], code: str, shipment_key: ShipmentKey) -> list[Any]:
    at = event.get("eventTime")
    written = _DATE_TIME.fullmatch(at.strip()) if isinstance(at, str) else None
    if written is None:
        shown = "required" if at is None else f"{_quote(at)} is not a date and time"
        reason = f"eventTime: {shown} (such as 2005-04-03T20:33:31.116-06:00)"
        return [Unparsable(_text(event), reason)]
    declaration = event.get("errorDeclaration")
    if declaration is not None and not isinstance(declaration, dict):
        return [Unparsable(_text(event), "errorDeclaration: not an object")]
    base: dict[str, Any] = {
        "event_timestamp": _instant(written, event.get("eventTimeZoneOffset")),
        "event_type": f"epcis:{code}",
        "location_id": _place(event, "readPoint") or _place(event, "bizLocation"),
        "event_data": {"epcis": _details(event)},
    }
    if declaration is not None:
        base["retracted"] = True
    event_id = _source_event_id(event)
    return [
        _record(base, event_id, shipment_id, references)
        for shipment_id, references in _shipments(event, shipment_key)
    ]


def _instant(written: re.Match[str], zone_offset: Any) -> str:
    """eventTime as written, or at eventTimeZoneOffset when it has no offset."""
    if written["offset"] or not isinstance(zone_offset, str):
        return written[0]
    offset = zone_offset.strip()
    return written[0] + offset if _OFFSET.fullmatch(offset) else written[0]


def _record(
    base: dict[str, Any], event_id: str, shipment_id: str | None, references: list[dict[str, str]]
) -> dict[str, Any]:
    record = {**base, "shipment_id": shipment_id, "event_id": _joined_id(event_id, shipment_id)}
    if references:
        record["references"] = references
    return {name: value for name, value in record.items() if value is not None}


def _shipments(
    event: dict[str, Any], shipment_key: ShipmentKey
) -> list[tuple[str | None, list[dict[str, str]]]]:
    """Each shipment the event is part of, with the other names it goes by."""
    parent = _identifier(event.get("parentID"))
    epcs = _epcs(event, parent)
    transactions = _transactions(event)
    if shipment_key == "business_transaction" and transactions:
        key = _by_precedence(transactions)
        others = [t for t in transactions if t is not key]
        names = [{"type": _epc_type(epc, epc == parent), "reference": epc} for epc in epcs]
        return [(key["reference"], [*others, *names])]
    if not epcs:
        return [(None, transactions)]  # refused: the event names nothing that moves
    parent_name = {"type": _epc_type(parent, True), "reference": parent} if parent else None
    return [
        (epc, [*transactions, parent_name] if parent_name and epc != parent else transactions)
        for epc in epcs
    ]


def _epcs(event: dict[str, Any], parent: str | None) -> list[str]:
    """The event's instance ids, parent first, then its lots; each once."""
    found: dict[str, None] = {parent: None} if parent else {}
    for name in ("epcList", "childEPCs"):
        for epc in _list(event.get(name)):
            if (identifier := _identifier(epc)) is not None:
                found.setdefault(identifier)
    for name in ("quantityList", "childQuantityList"):
        for quantity in _list(event.get(name)):
            lot = _identifier(quantity.get("epcClass")) if isinstance(quantity, dict) else None
            if lot is not None and _LOT.search(lot):
                found.setdefault(lot)
    return list(found)


def _transactions(event: dict[str, Any]) -> list[dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    for transaction in _list(event.get("bizTransactionList")):
        if not isinstance(transaction, dict):
            continue
        reference = _identifier(transaction.get("bizTransaction"))
        if reference is not None and reference not in found:
            kind = transaction.get("type")
            found[reference] = {
                "type": _reference_type(kind if isinstance(kind, str) else ""),
                "reference": reference,
            }
    return list(found.values())


@functools.lru_cache(maxsize=1024)
def _reference_type(kind: str) -> str:
    """The reference type of a business transaction type (``po``, a CBV URI, ...)."""
    name = kind.strip().lower()
    for prefix in _PREFIXES["bizTransactionType"]:
        if name.startswith(prefix.lower()):
            name = name[len(prefix) :]
            break
    found: str = _CODES["references"].get(name, "business_transaction")
    return found


def _by_precedence(transactions: list[dict[str, str]]) -> dict[str, str]:
    """The transaction that keys the shipment: the first type by precedence, else the first."""
    rank = [_CODES["references"][kind] for kind in _CODES["business_transaction_key"]]
    return min(
        transactions,
        key=lambda t: rank.index(t["type"]) if t["type"] in rank else len(rank),
    )


def _epc_type(epc: str, parent: bool) -> str:
    if _SSCC.search(epc):
        return "sscc"
    return "parent_epc" if parent else "epc"


def _source_event_id(event: dict[str, Any]) -> str:
    """``eventID``, else a hash of the event's content without what a repository adds
    (``recordTime``) or a retraction changes (``errorDeclaration``)."""
    given = event.get("eventID")
    if isinstance(given, str) and given.strip():
        return given.strip()
    content = {
        k: v for k, v in event.items() if k not in ("recordTime", "errorDeclaration", "@context")
    }
    return _hashed(json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":")))


def _joined_id(event_id: str, shipment_id: str | None) -> str:
    """``EVENTID#KEY`` when short and unambiguous, else a hash of the pair."""
    if shipment_id is None:
        return event_id if len(event_id) <= _MAX_ID else _hashed(event_id)
    if "#" not in event_id and len(event_id) + 1 + len(shipment_id) <= _MAX_ID:
        return f"{event_id}#{shipment_id}"
    return _hashed(json.dumps([event_id, shipment_id], ensure_ascii=False))


def _hashed(text: str) -> str:
    return "epcis:" + hashlib.sha256(text.encode()).hexdigest()[:40]


def _details(event: dict[str, Any]) -> dict[str, Any]:
    """The source's own details worth keeping beside the event; not ``recordTime``,
    which a repository sets when it stores the event, so that the same event from
    a capture and from a query is the same content."""
    kept = (
        "eventID", "action", "bizStep", "disposition", "eventTimeZoneOffset",
        "readPoint", "bizLocation", "parentID", "bizTransactionList", "sourceList",
        "destinationList", "persistentDisposition", "errorDeclaration",
    )  # fmt: skip
    details = {"type": _type(event)}
    details.update((name, event[name]) for name in kept if name in event)
    return details


def _place(event: dict[str, Any], name: str) -> str | None:
    place = event.get(name)
    return _identifier(place.get("id", place.get("@id")) if isinstance(place, dict) else place)


def _identifier(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _quote(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."


def _text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _contexts(document: dict[str, Any]) -> list[str]:
    context = document.get("@context")
    members = context if isinstance(context, list) else [context]
    return [member.lower() for member in members if isinstance(member, str)]


def _sniff(_data: bytes, document: Any) -> bool:
    """EPCIS: a GS1/EPCIS ``@context``, an EPCIS document type, or events that have
    an ``eventTime`` and an EPCIS event type (DCSA's have ``eventDateTime``)."""
    first = document[0] if isinstance(document, list) and document else document
    if not isinstance(first, dict):
        return False
    if any("gs1" in c or "epcis" in c for c in _contexts(first)):
        return True
    kind = _type(first)
    return kind in DOCUMENT_TYPES or (kind in EVENT_TYPES and "eventTime" in first)


FORMAT = Format(
    name="epcis",
    title="GS1 EPCIS 2.0 JSON-LD",
    records=epcis_records,
    options=frozenset({"shipment_key"}),
    sniff=_sniff,
    event_type_aliases=EVENT_TYPE_ALIASES,
    source_fields={
        "shipment_id": "epcList, parentID, childEPCs or a lot's quantityList epcClass"
        "; bizTransactionList when keyed by business transaction",
        "event_id": "eventID",
        "event_timestamp": "eventTime",
        "event_type": "bizStep, else disposition",
        "location_id": "readPoint.id, else bizLocation.id",
        "retracted": "errorDeclaration",
        "references": "bizTransactionList and parentID",
    },
)
