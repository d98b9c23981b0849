"""Input shapes: JSON objects, arrays, NDJSON, CSV and Parquet, to one raw table.

Record-shaped input (JSON) is checked for shape only here (is it an object, is a
field a string); the contract itself is checked by ``validate`` for every shape
alike. Files are read column-wise with pyarrow, never row by row.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from shipline.errors import ValidationError
from shipline.events.json_records import (
    Unparsable,
    is_unicode,
    parse_json_lines,
    parse_json_records,
    printable,
)
from shipline.events.validate import RAW_COLUMNS

_STRING_FIELDS = tuple(name for name in RAW_COLUMNS if name != "event_data")


def parse_json_body(body: bytes | str) -> list[Any]:
    """Parse a JSON object, a JSON array of objects, or NDJSON into records.

    A record that does not parse (a broken NDJSON line, an array element nested too
    deep, a repeated key) becomes an ``Unparsable`` carrying its reason, so it is
    rejected alone rather than failing the whole body. Bytes that are not UTF-8 only
    spoil the record they are in.
    """
    text = body.decode("utf-8", errors="surrogateescape") if isinstance(body, bytes) else body
    if not text.strip():
        raise ValidationError("body: empty; send a JSON object, a JSON array or NDJSON")
    return parse_json_records(text)


def all_unparsable(records: Sequence[Any]) -> bool:
    """Whether no record of a body parsed at all (the body is not JSON)."""
    return bool(records) and all(isinstance(record, Unparsable) for record in records)


def records_to_raw(records: Sequence[Any], line_numbers: Sequence[int] | None = None) -> pa.Table:
    """Turn parsed JSON records into a raw table, noting shape errors per record."""
    columns: dict[str, list[Any]] = {name: [] for name in RAW_COLUMNS}
    payloads: list[str] = []
    shape_errors: list[list[str] | None] = []
    for record in records:
        payload, fields, errors = _record_columns(record)
        payloads.append(payload)
        for name in RAW_COLUMNS:
            columns[name].append(fields.get(name))
        shape_errors.append(errors or None)
    try:
        arrays = {name: pa.array(values, pa.string()) for name, values in columns.items()}
        payload_array = pa.array(payloads, pa.string())
    except UnicodeEncodeError:
        # Rare: a lone surrogate ("\ud800") or a byte that is not UTF-8. Only then is
        # each record checked on its own, so the common case pays nothing for it.
        return records_to_raw([_unicode_checked(record) for record in records], line_numbers)
    table = pa.table(arrays).append_column("payload", payload_array)
    table = table.append_column("shape_errors", pa.array(shape_errors, pa.list_(pa.string())))
    if line_numbers is not None:
        table = table.append_column("line_number", pa.array(line_numbers, pa.int64()))
    return table


def _record_columns(record: Any) -> tuple[str, dict[str, Any], list[str]]:
    """A record's payload text, its raw column values and its shape errors."""
    if isinstance(record, Unparsable):
        return record.text, {}, [record.reason]
    try:
        payload = json.dumps(record, ensure_ascii=False)
    except (RecursionError, ValueError):
        return (
            "(not kept: nested too deeply to serialise)",
            {},
            ["record: nested too deeply to parse"],
        )
    if not isinstance(record, dict):
        return payload, {}, [f"record: expected a JSON object, got {_json_type(record)}"]
    fields: dict[str, Any] = {}
    errors: list[str] = []
    for name in _STRING_FIELDS:
        value = record.get(name)
        if value is not None and not isinstance(value, str):
            errors.append(f"{name}: expected a string, got {_json_type(value)}")
            value = None
        fields[name] = value
    data = record.get("event_data")
    if data is not None:
        fields["event_data"] = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return payload, fields, errors


def _unicode_checked(record: Any) -> Any:
    """The record, or an ``Unparsable`` naming its field that is not valid Unicode."""
    if isinstance(record, Unparsable) or is_unicode(json.dumps(record, ensure_ascii=False)):
        return record
    where = ""
    if isinstance(record, dict):
        bad = [
            name
            for name, value in record.items()
            if not (is_unicode(name) and is_unicode(json.dumps(value, ensure_ascii=False)))
        ]
        if bad and is_unicode(bad[0]):
            where = f" in {bad[0]}"
    return Unparsable(
        json.dumps(record),  # ASCII, the bad character escaped: exactly what came
        f"record: text{where} is not valid Unicode (an unpaired surrogate such as"
        " \\ud800, or a byte that is not UTF-8); send UTF-8 text",
    )


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


FILE_FORMATS = {
    ".parquet": "parquet",
    ".csv": "csv",
    ".json": "json",
    ".ndjson": "json",
    ".jsonl": "json",
}


def file_format(path: Path) -> str:
    """The format a file's name says it holds; ``.gz`` is looked through."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    if suffixes and suffixes[-1] in FILE_FORMATS:
        return FILE_FORMATS[suffixes[-1]]
    raise ValidationError(
        f"{path.name}: unknown file type; name it .parquet, .csv, .json, .ndjson or .jsonl"
        " (optionally .gz)"
    )


def read_events_file(path: Path) -> pa.Table:
    """Read a file of events into a raw table, column-wise.

    A row that is broken (a ragged CSV row, an NDJSON line that is not JSON, bytes
    that are not UTF-8) becomes a record with a shape error and its line number; a
    file that cannot be read at all is a ``ValidationError`` that names it.
    """
    kind = file_format(path)
    try:
        if kind == "parquet":
            return _read_parquet(path)
        data = path.read_bytes()
        if path.suffix.lower() == ".gz":
            data = gzip.decompress(data)
    except (OSError, EOFError, pa.ArrowException) as error:
        raise ValidationError(f"{path.name}: cannot be read as {kind} ({error})") from error
    if not data.strip():
        raise ValidationError(f"{path.name}: the file is empty")
    if kind == "csv":
        return _read_csv(path.name, data)
    records, line_numbers = parse_json_lines(data.decode("utf-8", errors="surrogateescape"))
    return records_to_raw(records, line_numbers)


def _read_parquet(path: Path) -> pa.Table:
    schema = pq.read_schema(path)
    wanted = [name for name in RAW_COLUMNS if name in schema.names]
    return pq.read_table(path, columns=wanted)


def _read_csv(name: str, data: bytes) -> pa.Table:
    """Every column as text; ragged rows and undecodable bytes are refused row by row."""
    header = data.split(b"\n", 1)[0].rstrip(b"\r")
    try:
        names = next(csv.reader([header.decode("utf-8")]), [])
    except UnicodeDecodeError as error:
        raise ValidationError(f"{name}: the header row is not UTF-8 ({error.reason})") from error
    ragged: list[tuple[int, str]] = []

    def keep_ragged(row: pacsv.InvalidRow) -> str:
        ragged.append((row.number or 0, row.text))
        return "skip"

    try:
        table = pacsv.read_csv(
            io.BytesIO(data),
            # One thread, so each invalid row knows its line number.
            read_options=pacsv.ReadOptions(use_threads=False),
            parse_options=pacsv.ParseOptions(invalid_row_handler=keep_ragged),
            convert_options=pacsv.ConvertOptions(
                column_types={column: pa.binary() for column in names},
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowException as error:
        raise ValidationError(f"{name}: not a readable CSV file ({error})") from error
    wanted = [column for column in RAW_COLUMNS if column in table.column_names]
    rows = _csv_rows(table.select(wanted), _good_row_numbers(table.num_rows, ragged))
    if ragged:
        rows = pa.concat_tables([rows, _ragged_rows(ragged, len(names))], promote_options="default")
    return rows


def _good_row_numbers(count: int, ragged: list[tuple[int, str]]) -> list[int]:
    """The line number of each row read: the header is line 1, skipped rows leave gaps."""
    skipped = {number for number, _ in ragged}
    numbers: list[int] = []
    line = 1
    while len(numbers) < count:
        line += 1
        if line not in skipped:
            numbers.append(line)
    return numbers


def _csv_rows(table: pa.Table, line_numbers: list[int]) -> pa.Table:
    """Binary CSV columns as text; a value that is not UTF-8 refuses only its row."""
    columns: dict[str, pa.Array] = {}
    errors: list[list[str] | None] = [None] * table.num_rows
    for column in table.column_names:
        values = table.column(column).combine_chunks()
        try:
            columns[column] = values.cast(pa.string())
        except pa.ArrowInvalid:
            texts = []
            for index, raw in enumerate(values.to_pylist()):
                try:
                    texts.append(None if raw is None else raw.decode("utf-8"))
                except UnicodeDecodeError as error:
                    texts.append(raw.decode("utf-8", "backslashreplace"))
                    errors[index] = [
                        *(errors[index] or []),
                        f"{column}: not UTF-8 (byte 0x{raw[error.start]:02x} at {error.start})",
                    ]
            columns[column] = pa.array(texts, pa.string())
    rows = pa.table(columns) if columns else pa.table({"shipment_id": pa.nulls(table.num_rows)})
    rows = rows.append_column("shape_errors", pa.array(errors, pa.list_(pa.string())))
    return rows.append_column("line_number", pa.array(line_numbers, pa.int64()))


def _ragged_rows(ragged: list[tuple[int, str]], expected: int) -> pa.Table:
    """Rows with the wrong number of fields, kept as their text for dead letters."""
    return pa.table(
        {
            "payload": pa.array([printable(text) for _, text in ragged], pa.string()),
            "shape_errors": pa.array(
                [[_ragged_reason(text, expected)] for _, text in ragged],
                pa.list_(pa.string()),
            ),
            "line_number": pa.array([number for number, _ in ragged], pa.int64()),
        }
    )


def _ragged_reason(text: str, expected: int) -> str:
    found = len(next(csv.reader([text]), []))
    return f"record: has {found} fields; the header has {expected}"
