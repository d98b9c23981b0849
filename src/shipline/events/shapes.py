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
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from shipline.errors import ValidationError
from shipline.events.json_records import (
    Unparsable,
    loads_strict,
    parse_json_lines,
    parse_json_records,
    printable,
    unicode_problem,
)
from shipline.events.undecodable import holding_marks, marked, unmarked
from shipline.events.validate import RAW_COLUMNS, SIDE_COLUMNS

_SCALAR_FIELDS: dict[str, tuple[type, ...]] = {"revision": (int, str), "retracted": (bool, str)}
"""Fields JSON may also send as a number (``revision``) or a boolean (``retracted``)."""

_STRING_FIELDS = tuple(
    name for name in RAW_COLUMNS if name != "event_data" and name not in _SCALAR_FIELDS
)


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
    """Whether a body is not JSON at all: no record of it is JSON text.

    A body of one record that is JSON the contract refuses (``NaN``, a repeated key,
    nesting too deep) is not that: it gets the record's own error and dead letter.
    """
    return bool(records) and all(
        isinstance(record, Unparsable) and record.not_json for record in records
    )


def records_to_raw(records: Sequence[Any], line_numbers: Sequence[int] | None = None) -> pa.Table:
    """Turn parsed JSON records into a raw table, noting shape errors per record."""
    columns: dict[str, list[Any]] = {name: [] for name in (*RAW_COLUMNS, *SIDE_COLUMNS)}
    payloads: list[str] = []
    shape_errors: list[list[str] | None] = []
    for record in records:
        payload, fields, errors = _record_columns(record)
        payloads.append(payload)
        for name in columns:
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
    for name, kinds in _SCALAR_FIELDS.items():
        value = record.get(name)
        if value is not None and (not isinstance(value, kinds) or _is_bool_for_int(name, value)):
            errors.append(f"{name}: expected {_expected(kinds)}, got {_json_type(value)}")
            value = None
        fields[name] = None if value is None else _scalar_text(value)
    for name in SIDE_COLUMNS:
        value = record.get(name)
        problem = None if value is None else _side_problem(value)
        if problem is not None:
            errors.append(f"{name}: {problem}")
        elif value is not None:
            fields[name] = json.dumps(value, ensure_ascii=False)
    data = record.get("event_data")
    if data is not None:
        fields["event_data"] = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return payload, fields, errors


def _side_problem(value: Any) -> str | None:
    """Why a list of estimates or references has the wrong shape, or None."""
    if not isinstance(value, list):
        return f"expected an array of objects, got {_json_type(value)}"
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            return f"item {index} is {_json_type(item)}, not an object"
        for key, field_value in item.items():
            if field_value is not None and not isinstance(field_value, str):
                return f"item {index}: {key} is {_json_type(field_value)}, not a string"
    return None


def _is_bool_for_int(name: str, value: Any) -> bool:
    """``True`` is an ``int`` to Python, not a revision number."""
    return isinstance(value, bool) and name == "revision"


def _expected(kinds: tuple[type, ...]) -> str:
    names = {int: "a number", bool: "a boolean", str: "a string"}
    return " or ".join(names[kind] for kind in kinds)


def _scalar_text(value: Any) -> str:
    """The raw text of a scalar, as a file would hold it (``true``, ``3``)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _unicode_checked(record: Any) -> Any:
    """The record, or an ``Unparsable`` naming its field that is not valid Unicode.

    Bodies and files never get here with such a record (their parser keeps each
    record's own text); this is for records built in code.
    """
    if isinstance(record, Unparsable):
        return record
    problem = unicode_problem(record)
    return record if problem is None else Unparsable(json.dumps(record), problem)


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
        return strict_event_data(_read_csv(path.name, data))
    records, line_numbers = parse_json_lines(data.decode("utf-8", errors="surrogateescape"))
    return records_to_raw(records, line_numbers)


PLAIN_FORMATS = ("csv", "ndjson", "json", "parquet")
"""shipline's own record formats, as ``--format`` names them for data on stdin."""


def read_events_data(data: bytes, kind: str, name: str = "stdin") -> pa.Table:
    """Read events in one of ``PLAIN_FORMATS`` from bytes (stdin), as a file of that
    format is read."""
    if not data.strip():
        raise ValidationError(f"{name}: no data")
    if kind == "csv":
        return strict_event_data(_read_csv(name, data))
    if kind == "parquet":
        try:
            table = pq.read_table(io.BytesIO(data))
        except pa.ArrowException as error:
            raise ValidationError(f"{name}: cannot be read as parquet ({error})") from error
        names = contract_names(name, table.column_names)
        table = table.select(list(names)).rename_columns(list(names.values()))
        return strict_event_data(table)
    records, line_numbers = parse_json_lines(data.decode("utf-8", errors="surrogateescape"))
    return records_to_raw(records, line_numbers)


def _read_parquet(path: Path) -> pa.Table:
    schema = pq.read_schema(path)
    names = contract_names(path.name, schema.names)
    table = pq.read_table(path, columns=list(names))
    return strict_event_data(table.rename_columns([names[name] for name in table.column_names]))


REQUIRED_COLUMNS = ("shipment_id", "event_timestamp", "event_type")
"""Columns a file of events must have: without one, every row would be refused alike."""


def contract_names(file_name: str, names: Sequence[str]) -> dict[str, str]:
    """The file's columns that are event fields, each to its field's name (headers are
    matched case-insensitively and without surrounding spaces).

    A file without a required column is refused whole, once, naming what it has.
    """
    known = {name.lower(): name for name in RAW_COLUMNS}
    found: dict[str, str] = {}
    for name in names:
        field = known.get(name.strip().lower())
        if field is not None and field not in found.values():
            found[name] = field
    missing = [name for name in REQUIRED_COLUMNS if name not in found.values()]
    if missing:
        shown = ", ".join(names[:20]) + (", …" if len(names) > 20 else "") or "no columns"
        raise ValidationError(
            f"{file_name}: missing column {', '.join(missing)}; found {shown}"
            f" (a file of events needs {', '.join(REQUIRED_COLUMNS)})"
            + _reference_hint(file_name, names)
        )
    return found


_REFERENCE_SIGNS = {
    "locations": {"location_id", "location_name"},
    "packages": {"shipment_id", "promised_delivery_at"},
}
"""Columns that make a file one of the reference tables (as ``shipline generate``
writes them beside its events)."""


def _reference_hint(file_name: str, names: Sequence[str]) -> str:
    """Where a refused file of reference data belongs, if it looks like one."""
    present = {name.strip().lower() for name in names}
    for table, signs in _REFERENCE_SIGNS.items():
        if signs <= present:
            return (
                f"; it looks like the {table} reference table: load it with"
                f" `shipline reference load {table} {file_name}`"
            )
    return ""


_SUSPECT_JSON = r"NaN|Infinity|\\u[dD][89a-fA-F]|[0-9]{1000}"
"""What may make JSON text one the contract refuses; such values are parsed again."""

_DEEP = 256
"""Brackets past which a value is parsed again, for its depth."""


def strict_event_data(table: pa.Table) -> pa.Table:
    """A file's ``event_data`` text judged as a JSON body's is: a value with ``NaN``,
    a lone surrogate, a huge number or deep nesting refuses its row.

    Only values a vectorised scan finds suspect are parsed in Python, so a file of
    plain objects costs one pass of pyarrow. (A key repeated inside a nested
    object of a file's ``event_data`` is not looked for: it would need every value
    parsed; a repeated top-level key is refused by validation.)
    """
    if "event_data" not in table.column_names:
        return table
    column = table.column("event_data").combine_chunks()
    if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
        return table
    suspect = pc.or_kleene(
        pc.match_substring_regex(column, _SUSPECT_JSON),
        pc.greater(pc.count_substring_regex(column, r"[\[{]"), _DEEP),
    )
    positions = pc.indices_nonzero(pc.fill_null(suspect, False)).to_pylist()
    problems = {}
    for position in positions:
        text = column[position].as_py()
        try:
            problem = unicode_problem(loads_strict(text))
        except ValueError as error:
            problem = f"event_data: not valid JSON ({error})"
        if problem is not None:
            problems[position] = problem.replace("record: text", "event_data: text", 1)
    if not problems:
        return table
    return _refuse_rows(table, column, problems)


def _refuse_rows(table: pa.Table, column: pa.Array, problems: dict[int, str]) -> pa.Table:
    """The table with these rows' ``event_data`` kept only in their payload, refused."""
    values = column.to_pylist()
    existing = (
        table.column("shape_errors").to_pylist()
        if "shape_errors" in table.column_names
        else [None] * table.num_rows
    )
    errors = list(existing)
    payloads: list[str | None] = (
        table.column("payload").to_pylist()
        if "payload" in table.column_names
        else [None] * table.num_rows
    )
    for position, problem in problems.items():
        errors[position] = [*(existing[position] or []), problem]
        row = {
            name: table.column(name)[position].as_py()
            for name in table.column_names
            if name in RAW_COLUMNS and name != "event_data"
        }
        payloads[position] = json.dumps(
            {**row, "event_data": printable(values[position])}, default=str
        )
        values[position] = None  # never handed to the engine's JSON parser
    for name, array in (
        ("event_data", pa.array(values, pa.string())),
        ("shape_errors", pa.array(errors, pa.list_(pa.string()))),
        ("payload", pa.array(payloads, pa.string())),
    ):
        if name in table.column_names:
            table = table.drop_columns([name])
        table = table.append_column(name, array)
    return table


def _read_csv(name: str, data: bytes) -> pa.Table:
    """Every column as text; ragged rows and undecodable bytes are refused row by row.

    The delimiter is a comma, else the ``;`` or tab the header is split by.
    """
    header = data.split(b"\n", 1)[0].rstrip(b"\r").removeprefix(b"\xef\xbb\xbf")
    try:
        text = header.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValidationError(f"{name}: the header row is not UTF-8 ({error.reason})") from error
    delimiter = _delimiter(text)
    names = next(csv.reader([text], delimiter=delimiter), [])
    fields = contract_names(name, names)
    marked_data = marked(name, data)
    ragged: list[tuple[int, str]] = []

    def keep_ragged(row: pacsv.InvalidRow) -> str:
        original = unmarked(row.text) if marked_data else row.text.encode("utf-8")
        ragged.append((row.number or 0, original.decode("utf-8", "backslashreplace")))
        return "skip"

    try:
        table = pacsv.read_csv(
            io.BytesIO(data if marked_data is None else marked_data),
            # One thread, so each invalid row knows its line number.
            read_options=pacsv.ReadOptions(use_threads=False),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, invalid_row_handler=keep_ragged),
            convert_options=pacsv.ConvertOptions(
                column_types={column: pa.string() for column in names},
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowException as error:
        raise ValidationError(f"{name}: not a readable CSV file ({error})") from error
    table = table.select(list(fields)).rename_columns(list(fields.values()))
    line_numbers = _good_row_numbers(table.num_rows, ragged)
    rows = _csv_rows(table, line_numbers, marked=marked_data is not None)
    if ragged:
        rows = pa.concat_tables([rows, _ragged_rows(ragged, len(names))], promote_options="default")
        rows = rows.sort_by("line_number")  # each record's index is its place in the file
    return rows


def _delimiter(header: str) -> str:
    """``,`` unless the header holds none and is split by ``;`` or a tab instead."""
    if "," in header:
        return ","
    return next((other for other in (";", "\t") if other in header), ",")


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


def _csv_rows(table: pa.Table, line_numbers: list[int], *, marked: bool) -> pa.Table:
    """The rows read, each refused if one of its values held a byte that is not UTF-8."""
    columns: dict[str, pa.Array] = {}
    errors: list[list[str] | None] = [None] * table.num_rows
    for column in table.column_names:
        values = table.column(column).combine_chunks()
        if marked and (positions := holding_marks(values)):
            texts = values.to_pylist()
            for index in positions:
                raw = unmarked(texts[index])
                start = _first_undecodable(raw)
                texts[index] = raw.decode("utf-8", "backslashreplace")
                errors[index] = [
                    *(errors[index] or []),
                    f"{column}: not UTF-8 (byte 0x{raw[start]:02x} at {start})",
                ]
            values = pa.array(texts, pa.string())
        columns[column] = values
    rows = pa.table(columns) if columns else pa.table({"shipment_id": pa.nulls(table.num_rows)})
    rows = rows.append_column("shape_errors", pa.array(errors, pa.list_(pa.string())))
    return rows.append_column("line_number", pa.array(line_numbers, pa.int64()))


def _first_undecodable(raw: bytes) -> int:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as error:
        return error.start
    return 0


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
