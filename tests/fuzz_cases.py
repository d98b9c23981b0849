"""Records that client input may hold, good and hostile, and the bodies that carry them.

Each ``Record`` is the bytes of one record (an NDJSON line, a JSON array element, a
PutEvents ``Detail``) and what the server must do with it:

* ``ACCEPT``: a good record; it is stored exactly once, under its ``event_id``.
* ``REJECT``: it breaks the contract or cannot be parsed at all; it gets a per-record
  error and a dead letter. With ``keeps_raw`` (records that cannot be parsed), the
  dead letter's payload is the record's own text.
* ``ANY``: either outcome, so long as the response is the normal per-record one.

``framed`` says whether the record is a complete JSON value (possibly with NaN, huge
numbers or deep nesting), so that a JSON array of such records still has
unambiguous element boundaries. A byte flip or a truncation is not framed: in an
array it may break the whole body, and a 400 is a fair answer there. In NDJSON
every record is one line, so the line is the boundary whatever its bytes.

Ids are given when a record is made (``make(tag)``), never when a case is drawn, so
that a case replayed by hypothesis sends new events, not duplicates.
"""

from __future__ import annotations

import csv
import io
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

ACCEPT = "accept"
REJECT = "reject"
ANY = "any"

EVENT_TYPES = ("created", "picked_up", "in_transit", "arrived_at_facility", "delivered")
BAD_TIMESTAMPS = (
    "0000-06-01T00:00:00Z",
    "294247-01-10T04:00:54Z",
    "2026-11-23",
    "2026-11-23T08:00:00+25:00",
    "1969-12-31T23:59:59Z",
    "2100-01-01T00:00:00Z",
    "2026-13-45T99:99:99Z",
    "",
)
"""Not ISO-8601 with a UTC offset, or outside the accepted range [1970, 2100)."""

STRING_FIELDS = ("shipment_id", "event_timestamp", "event_type", "location_id", "carrier")
LIMITED_FIELDS = {"shipment_id": 64, "location_id": 128, "carrier": 128, "event_id": 128}


@dataclass(frozen=True)
class Record:
    """One record as sent, and what the server must do with it."""

    name: str
    raw: bytes
    expect: str
    framed: bool = True
    keeps_raw: bool = False
    event_id: str | None = None
    shipment_id: str | None = None

    @property
    def text(self) -> str | None:
        """The record as text, or None when its bytes are not UTF-8."""
        try:
            return self.raw.decode("utf-8")
        except UnicodeDecodeError:
            return None


def fields(tag: str, *, good: bool = True) -> dict[str, Any]:
    """A valid event's fields; ``tag`` makes its ids unique.

    Good events go to ``G-`` shipments, four events each; the others to ``B-`` ones,
    so a hostile record that happens to be accepted never joins a good timeline.
    """
    prefix, _, counter = tag.rpartition("-")
    number = int(counter) if counter.isdigit() else sum(map(ord, tag))
    shipment = f"{prefix}-{number // 4}" if counter.isdigit() else tag
    return {
        "event_id": f"{'good' if good else 'bad'}-{tag}",
        "shipment_id": f"{'G' if good else 'B'}-{shipment}",
        "event_timestamp": (
            f"2026-11-{1 + number % 28:02d}T{number % 24:02d}:{number % 60:02d}:{number % 59:02d}Z"
        ),
        "event_type": EVENT_TYPES[number % len(EVENT_TYPES)],
        "location_id": f"HUB-{number % 50}",
        "carrier": "ACME",
    }


def dumps(value: Any, *, ascii_only: bool = False) -> bytes:
    """Compact JSON bytes; non-ASCII raw (UTF-8) unless ``ascii_only``."""
    return json.dumps(value, ensure_ascii=ascii_only, separators=(",", ":")).encode()


def splice(record: dict[str, Any], name: str, text: str) -> bytes:
    """``record`` as JSON with field ``name`` written as the literal JSON ``text``
    (for what ``json.dumps`` cannot write: huge integers, duplicate keys, NaN)."""
    marker = "\u0000SPLICE\u0000"
    return dumps({**record, name: marker}, ascii_only=True).replace(
        dumps(marker, ascii_only=True), text.encode()
    )


def nested(depth: int, leaf: str = "1") -> str:
    """JSON arrays nested ``depth`` deep around ``leaf``."""
    return "[" * depth + leaf + "]" * depth


def nested_object(depth: int) -> str:
    """JSON objects nested ``depth`` deep."""
    return '{"a":' * depth + "1" + "}" * depth


def good(tag: str, event_data: Any = None, *, name: str = "good record") -> Record:
    """A good record, optionally with ``event_data`` (a JSON-ready object)."""
    record = fields(tag)
    if event_data is not None:
        record["event_data"] = event_data
    return Record(
        name,
        dumps(record),
        ACCEPT,
        event_id=record["event_id"],
        shipment_id=record["shipment_id"],
    )


def _with_data(tag: str, name: str, data: str, expect: str = REJECT) -> Record:
    """A record whose event_data is the literal JSON ``data``."""
    return Record(
        name,
        splice(fields(tag, good=False), "event_data", data),
        expect,
        keeps_raw=expect == REJECT,
    )


def _with_field(tag: str, name: str, field: str, text: str) -> Record:
    """A record whose ``field`` is the literal JSON ``text``, which cannot be parsed."""
    return Record(name, splice(fields(tag, good=False), field, text), REJECT, keeps_raw=True)


def _raw_in_string(tag: str, name: str, char: str, expect: str) -> Record:
    """A record whose carrier holds ``char`` unescaped, as raw UTF-8."""
    record = fields(tag, good=expect == ACCEPT)
    record["carrier"] = f"AC{char}ME"
    raw = dumps(record)
    if char < " ":  # json.dumps escapes control characters; put it back raw
        raw = raw.replace(dumps(record["carrier"]), f'"AC{char}ME"'.encode())
    accepted = expect == ACCEPT
    return Record(
        name,
        raw,
        expect,
        framed=accepted,
        keeps_raw=not accepted,
        event_id=record["event_id"] if accepted else None,
        shipment_id=record["shipment_id"] if accepted else None,
    )


def _bad_timestamp(tag: str, value: str) -> Record:
    record = {**fields(tag, good=False), "event_timestamp": value}
    return Record(f"event_timestamp {value!r}", dumps(record), REJECT)


def _bytes_in_carrier(tag: str, name: str, data: bytes) -> Record:
    """A record whose carrier holds ``data``, bytes that are not UTF-8."""
    raw = dumps({**fields(tag, good=False), "carrier": "AC?ME"}).replace(b"?", data)
    return Record(name, raw, REJECT, framed=False)


EXPLICIT: dict[str, Callable[[str], Record]] = {
    "lone surrogate in a string field": lambda tag: _with_field(
        tag, "lone surrogate in a string field", "carrier", '"\\ud800"'
    ),
    "lone surrogate in event_data": lambda tag: _with_data(
        tag, "lone surrogate in event_data", '{"note":"\\ud800"}'
    ),
    "lone surrogate as raw bytes (ED A0 80)": lambda tag: _bytes_in_carrier(
        tag, "lone surrogate as raw bytes (ED A0 80)", b"\xed\xa0\x80"
    ),
    "5,000-digit integer in event_data": lambda tag: _with_data(
        tag, "5,000-digit integer in event_data", '{"n":' + "7" * 5000 + "}"
    ),
    "5,000-digit integer as shipment_id": lambda tag: _with_field(
        tag, "5,000-digit integer as shipment_id", "shipment_id", "9" * 5000
    ),
    "event_data nested 1,000 deep": lambda tag: _with_data(
        tag, "event_data nested 1,000 deep", nested_object(1000), ANY
    ),
    "record nested 1,000 deep": lambda tag: Record(
        "record nested 1,000 deep", nested(1000).encode(), REJECT
    ),
    "event_data nested 100,000 deep": lambda tag: _with_data(
        tag, "event_data nested 100,000 deep", '{"a":' + nested(100_000) + "}"
    ),
    "record nested 100,000 deep": lambda tag: Record(
        "record nested 100,000 deep", nested(100_000).encode(), REJECT, keeps_raw=True
    ),
    "NaN in event_data": lambda tag: _with_data(tag, "NaN in event_data", '{"x":NaN}'),
    "Infinity in event_data": lambda tag: _with_data(
        tag, "Infinity in event_data", '{"x":Infinity}'
    ),
    "-Infinity in event_data": lambda tag: _with_data(
        tag, "-Infinity in event_data", '{"x":-Infinity}'
    ),
    "duplicate keys in event_data": lambda tag: _with_data(
        tag, "duplicate keys in event_data", '{"a":1,"a":2}'
    ),
    "1e999 in event_data": lambda tag: _with_data(tag, "1e999 in event_data", '{"x":1e999}', ANY),
    "raw U+2028 inside a string": lambda tag: _raw_in_string(
        tag, "raw U+2028 inside a string", "\u2028", ACCEPT
    ),
    "raw U+2029 inside a string": lambda tag: _raw_in_string(
        tag, "raw U+2029 inside a string", "\u2029", ACCEPT
    ),
    "raw U+0085 inside a string": lambda tag: _raw_in_string(
        tag, "raw U+0085 inside a string", "\u0085", ACCEPT
    ),
    "raw U+001E inside a string": lambda tag: _raw_in_string(
        tag, "raw U+001E inside a string", "\u001e", REJECT
    ),
    "invalid UTF-8 byte in a string": lambda tag: _bytes_in_carrier(
        tag, "invalid UTF-8 byte in a string", b"\xff"
    ),
    **{
        f"event_timestamp {value!r}": partial(_bad_timestamp, value=value)
        for value in BAD_TIMESTAMPS
    },
}
"""The cases the issue names, each as a function of the record's tag."""


def troublesome(value: Any) -> bool:
    """Whether a parsed JSON value holds what the issue says no record may carry:
    a lone surrogate, NaN or an infinity."""
    if isinstance(value, str):
        return any("\ud800" <= char <= "\udfff" for char in value)
    if isinstance(value, float):
        return value != value or value in (float("inf"), float("-inf"))
    if isinstance(value, list):
        return any(troublesome(item) for item in value)
    if isinstance(value, dict):
        return any(troublesome(k) or troublesome(v) for k, v in value.items())
    return False


def with_event_data(tag: str, data: Any) -> Record:
    """A record with ``data`` as its event_data: accepted when it is a clean object
    (or null), rejected when it is another type or troublesome."""
    if data is None or (isinstance(data, dict) and not troublesome(data)):
        return good(tag, data, name="good record, random event_data")
    record = fields(tag, good=False)
    trouble = troublesome(data)
    raw = json.dumps({**record, "event_data": data}, ensure_ascii=trouble, allow_nan=True)
    name = "troublesome event_data" if trouble else "event_data not an object"
    return Record(name, raw.encode(), REJECT, keeps_raw=trouble)


def json_value_record(data: Any) -> Record:
    """Any JSON value as a whole record; it lacks the required fields, so it is refused."""
    trouble = troublesome(data)
    raw = json.dumps(data, ensure_ascii=trouble, allow_nan=True).encode()
    return Record("random JSON value", raw, REJECT, keeps_raw=trouble)


def bytes_record(data: bytes) -> Record:
    """Arbitrary bytes as one record: one line, never blank."""
    line = data.replace(b"\n", b" ").replace(b"\r", b" ")
    if not line.decode("utf-8", errors="replace").strip():
        line += b"?"
    return Record("random bytes", line, ANY, framed=False)


def mutate(rng: random.Random, tag: str) -> Record:
    """One hostile or odd record, chosen and built with ``rng``."""
    kind = rng.choice(MUTATIONS)
    return kind(rng, tag)


def _byte_flip(rng: random.Random, tag: str) -> Record:
    raw = bytearray(dumps(fields(tag, good=False)))
    for _ in range(rng.randint(1, 3)):
        raw[rng.randrange(len(raw))] = rng.choice([b for b in range(256) if b not in b"\n\r"])
    return Record("byte flip", bytes(raw), ANY, framed=False)


def _truncation(rng: random.Random, tag: str) -> Record:
    record = fields(tag, good=False)
    record["carrier"] = rng.choice(["ACME", "Ærø ✈ 運送", "\u2028"])
    raw = dumps(record)
    cut = raw[: rng.randrange(1, len(raw) - 1)]
    valid = _is_utf8(cut)
    return Record("truncation", cut, REJECT, framed=False, keeps_raw=valid)


def _wrong_type(rng: random.Random, tag: str) -> Record:
    record = fields(tag, good=False)
    field = rng.choice([*STRING_FIELDS, "event_id", "event_data"])
    wrong: list[Any] = [7, -1.5, True, [1, "a"], {"k": "v"}]
    if field == "event_data":
        wrong = [7, "text", [1, 2], True]
    record[field] = rng.choice(wrong)
    return Record(f"wrong type for {field}", dumps(record), REJECT)


def _huge_string(rng: random.Random, tag: str) -> Record:
    field = rng.choice([*LIMITED_FIELDS, "event_data"])
    size = rng.choice([200, 1_000, 10_000, 100_000])
    text = rng.choice("xé✈") * size
    record = fields(tag, good=False)
    if field == "event_data":
        record["event_data"] = {"blob": text}
        return Record("huge string in event_data", dumps(record), ANY)
    record[field] = text
    return Record(f"huge {field}", dumps(record), REJECT)


def _missing_field(rng: random.Random, tag: str) -> Record:
    record = fields(tag, good=False)
    field = rng.choice(["shipment_id", "event_timestamp", "event_type"])
    del record[field]
    return Record(f"missing {field}", dumps(record), REJECT)


def _unknown_value(rng: random.Random, tag: str) -> Record:
    record = fields(tag, good=False)
    field = rng.choice(["event_type", "status"])
    record[field] = rng.choice(["warp", "DELIVERED!", "ü", " "])
    return Record(f"unknown {field}", dumps(record), REJECT)


def _odd_but_good(rng: random.Random, tag: str) -> Record:
    data = {
        "note": rng.choice(["\u2028", "\u2029", "\u0085", "😀", "\x00", "\\", '"', "日本"]),
        "n": rng.choice([0, -1, 2**63, 2**64 + 1, 1.5e300, -0.0]),
        "list": [None, True, False, {}],
    }
    return good(tag, data, name="good record, odd event_data")


def _explicit(rng: random.Random, tag: str) -> Record:
    return EXPLICIT[rng.choice(sorted(EXPLICIT))](tag)


def _bad_timestamp_mutation(rng: random.Random, tag: str) -> Record:
    return _bad_timestamp(tag, rng.choice(BAD_TIMESTAMPS))


MUTATIONS: Sequence[Callable[[random.Random, str], Record]] = (
    _byte_flip,
    _truncation,
    _wrong_type,
    _huge_string,
    _missing_field,
    _unknown_value,
    _bad_timestamp_mutation,
    _odd_but_good,
    _explicit,
    _explicit,
)


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


# Bodies --------------------------------------------------------------------------


def ndjson_body(records: Sequence[Record]) -> bytes:
    """One record per line."""
    return b"\n".join(record.raw for record in records) + b"\n"


def array_body(records: Sequence[Record]) -> bytes:
    """A JSON array of the records' texts, as sent (not re-serialised)."""
    return b"[" + b",".join(record.raw for record in records) + b"]"


def put_events_body(records: Sequence[Record], *, ascii_only: bool = True) -> bytes:
    """An EventBridge PutEvents body, each record the ``Detail`` of a routed entry.

    Only records whose bytes are UTF-8 can be a ``Detail`` string."""
    entries = [
        {"Source": "shipment.service", "DetailType": "shipment.event", "Detail": record.text}
        for record in records
    ]
    assert all(entry["Detail"] is not None for entry in entries)
    return json.dumps({"Entries": entries}, ensure_ascii=ascii_only).encode()


NOT_JSON_BODIES = {
    "plain text": b"hello, world",
    "XML": b'<?xml version="1.0"?><event/>',
    "binary": b"\x00\xff\xfe\x01garbage",
    "unclosed array": b"[1, 2",
    "form data": b"shipment_id=S1&event_type=created",
    "empty": b"",
    "whitespace": b"  \n\t \n",
}
"""Bodies that are not JSON at all: each is a 400 that says so."""


# CSV files -------------------------------------------------------------------------

CSV_COLUMNS = (
    "event_id",
    "shipment_id",
    "event_timestamp",
    "event_type",
    "location_id",
    "carrier",
    "event_data",
)


def csv_line(values: dict[str, Any]) -> bytes:
    """One CSV row of ``values`` (quoted where needed), without its line end."""
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow([values.get(name, "") for name in CSV_COLUMNS])
    return out.getvalue().encode("utf-8", errors="surrogatepass")


def csv_body(records: Sequence[Record]) -> bytes:
    """A CSV file: the header, then one row per record."""
    return ",".join(CSV_COLUMNS).encode() + b"\n" + b"\n".join(r.raw for r in records) + b"\n"


def csv_good(tag: str, carrier: str = "ACME", name: str = "good row") -> Record:
    """A good CSV row."""
    values = {**fields(tag), "carrier": carrier, "event_data": '{"k":"v"}'}
    return Record(
        name,
        csv_line(values),
        ACCEPT,
        framed=False,
        event_id=values["event_id"],
        shipment_id=values["shipment_id"],
    )


def _csv_row(tag: str, name: str, expect: str = REJECT, **changes: str) -> Record:
    return Record(name, csv_line({**fields(tag, good=False), **changes}), expect, framed=False)


def _csv_timestamp(tag: str, value: str) -> Record:
    return _csv_row(tag, f"event_timestamp {value!r}", event_timestamp=value)


def _csv_bytes(tag: str, name: str, data: bytes) -> Record:
    raw = csv_line({**fields(tag, good=False), "carrier": "AC?ME"}).replace(b"?", data)
    return Record(name, raw, REJECT, framed=False)


def _csv_columns(tag: str, name: str, extra: bool) -> Record:
    raw = csv_line(fields(tag, good=False))
    return Record(name, raw + b",extra" if extra else raw.rsplit(b",", 2)[0], REJECT, framed=False)


CSV_EXPLICIT: dict[str, Callable[[str], Record]] = {
    "raw U+2028 in a field": lambda tag: csv_good(tag, "AC\u2028ME", "raw U+2028 in a field"),
    "a column too many": lambda tag: _csv_columns(tag, "a column too many", extra=True),
    "two columns too few": lambda tag: _csv_columns(tag, "two columns too few", extra=False),
    "invalid UTF-8 byte in a field": lambda tag: _csv_bytes(
        tag, "invalid UTF-8 byte in a field", b"\xff"
    ),
    "lone surrogate as raw bytes (ED A0 80)": lambda tag: _csv_bytes(
        tag, "lone surrogate as raw bytes (ED A0 80)", b"\xed\xa0\x80"
    ),
    "lone surrogate in event_data": lambda tag: _csv_row(
        tag, "lone surrogate in event_data", event_data='{"note":"\\ud800"}'
    ),
    "5,000-digit integer in event_data": lambda tag: _csv_row(
        tag, "5,000-digit integer in event_data", event_data='{"n":' + "7" * 5000 + "}"
    ),
    "event_data nested 1,000 deep": lambda tag: _csv_row(
        tag, "event_data nested 1,000 deep", ANY, event_data=nested_object(1000)
    ),
    "event_data nested 100,000 deep": lambda tag: _csv_row(
        tag, "event_data nested 100,000 deep", event_data='{"a":' + nested(100_000) + "}"
    ),
    "NaN in event_data": lambda tag: _csv_row(tag, "NaN in event_data", event_data='{"x":NaN}'),
    "duplicate keys in event_data": lambda tag: _csv_row(
        tag, "duplicate keys in event_data", event_data='{"a":1,"a":2}'
    ),
    "NUL byte in a field": lambda tag: _csv_row(tag, "NUL byte in a field", ANY, carrier="A\0B"),
    "huge shipment_id": lambda tag: _csv_row(tag, "huge shipment_id", shipment_id="S" * 100_000),
    **{
        f"event_timestamp {value!r}": partial(_csv_timestamp, value=value)
        for value in BAD_TIMESTAMPS
    },
}
"""Hostile CSV rows, each as a function of the row's tag. Quotes stay balanced and
no row holds a line break, so each row is one record whatever its bytes."""


def csv_mutate(rng: random.Random, tag: str) -> Record:
    """One hostile CSV row: a named case, or a byte flip that leaves quoting alone."""
    if rng.random() < 0.5:
        return CSV_EXPLICIT[rng.choice(sorted(CSV_EXPLICIT))](tag)
    raw = bytearray(csv_line(fields(tag, good=False)))
    for _ in range(rng.randint(1, 3)):
        position = rng.randrange(len(raw))
        if raw[position] != ord('"'):
            raw[position] = rng.choice([b for b in range(256) if b not in b'\n\r"'])
    return Record("byte flip", bytes(raw), ANY, framed=False)
