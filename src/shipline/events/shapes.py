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
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from shipline.errors import ValidationError
from shipline.events.validate import RAW_COLUMNS

_STRING_FIELDS = tuple(name for name in RAW_COLUMNS if name != "event_data")


def parse_json_body(body: bytes | str) -> list[Any]:
    """Parse a JSON object, a JSON array of objects, or NDJSON into records.

    A line of NDJSON that is not JSON becomes a record that carries its parse error,
    so it is rejected with a reason rather than failing the whole body.
    """
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    stripped = text.strip()
    if not stripped:
        raise ValidationError("body: empty; send a JSON object, a JSON array or NDJSON")
    try:
        parsed = json.loads(stripped)
    except json.JSONDecodeError:
        return [_parse_line(number, line) for number, line in _lines(stripped)]
    if isinstance(parsed, list):
        return parsed
    return [parsed]


class _Unparsable:
    def __init__(self, text: str, reason: str) -> None:
        self.text = text
        self.reason = reason


def _lines(text: str) -> Iterable[tuple[int, str]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            yield number, line


def _parse_line(number: int, line: str) -> Any:
    try:
        return json.loads(line)
    except json.JSONDecodeError as error:
        return _Unparsable(line, f"record: line {number} is not valid JSON ({error.msg})")


def records_to_raw(records: Sequence[Any]) -> pa.Table:
    """Turn parsed JSON records into a raw table, noting shape errors per record."""
    columns: dict[str, list[Any]] = {name: [] for name in RAW_COLUMNS}
    payloads: list[str] = []
    shape_errors: list[list[str] | None] = []
    for record in records:
        errors: list[str] = []
        if isinstance(record, _Unparsable):
            payloads.append(record.text)
            errors.append(record.reason)
            record = {}
        else:
            payloads.append(json.dumps(record, ensure_ascii=False, default=str))
            if not isinstance(record, dict):
                errors.append(f"record: expected a JSON object, got {_json_type(record)}")
                record = {}
        for name in _STRING_FIELDS:
            value = record.get(name)
            if value is not None and not isinstance(value, str):
                errors.append(f"{name}: expected a string, got {_json_type(value)}")
                value = None
            columns[name].append(value)
        data = record.get("event_data")
        columns["event_data"].append(
            None if data is None else json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        )
        shape_errors.append(errors or None)
    table = pa.table({name: pa.array(values, pa.string()) for name, values in columns.items()})
    table = table.append_column("payload", pa.array(payloads, pa.string()))
    return table.append_column("shape_errors", pa.array(shape_errors, pa.list_(pa.string())))


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
    """Read a file of events into a raw table, column-wise."""
    kind = file_format(path)
    if kind == "parquet":
        schema = pq.read_schema(path)
        wanted = [name for name in RAW_COLUMNS if name in schema.names]
        return pq.read_table(path, columns=wanted)
    data = path.read_bytes()
    if path.suffix.lower() == ".gz":
        data = gzip.decompress(data)
    if kind == "csv":
        return _read_csv(data)
    return records_to_raw(parse_json_body(data))


def _read_csv(data: bytes) -> pa.Table:
    first_line = data.split(b"\n", 1)[0].decode("utf-8", errors="replace")
    names = next(csv.reader([first_line]), [])
    types = {name: pa.string() for name in names}
    table = pacsv.read_csv(
        io.BytesIO(data),
        convert_options=pacsv.ConvertOptions(
            column_types=types, strings_can_be_null=True, quoted_strings_can_be_null=False
        ),
    )
    wanted = [name for name in RAW_COLUMNS if name in table.column_names]
    return table.select(wanted)
