"""JSON text to records, one bad record never costing its neighbours.

A body is a JSON object, a JSON array of objects, or NDJSON (one object per line,
split on ``\\n`` only: U+2028 and the other Unicode line breaks are legal inside a
JSON string). Parsing is strict where Python's ``json`` is lenient: a repeated key,
``NaN`` or ``Infinity`` makes a record unparsable, as do an integer too long to
convert and nesting too deep to parse. Such a record becomes an ``Unparsable``
that carries its own text and the reason, so it can be dead-lettered while the
good records beside it are stored.

Bytes that are not UTF-8 are kept as lone surrogates (``surrogateescape``) so the
record they sit in is refused, not the body; ``printable`` turns such text back
into something a database column can hold, with the bad bytes visible.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Unparsable",
    "is_unicode",
    "loads_strict",
    "parse_json_lines",
    "parse_json_records",
    "printable",
    "unicode_problem",
]


@dataclass(frozen=True)
class Unparsable:
    """A record whose text could not be parsed, kept whole for its dead letter.

    ``not_json`` tells text that is not JSON at all from JSON the contract refuses
    (a repeated key, ``NaN``, a lone surrogate, nesting too deep): a body of nothing
    but the former is refused whole, the latter is a record's own error.
    """

    text: str
    reason: str
    not_json: bool = False


class _StrictJsonError(ValueError):
    """JSON that Python's parser would take but the contract does not."""


def _object_without_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    record = dict(pairs)
    if len(record) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _StrictJsonError(f"the key {_quote(key)} appears twice in one object")
            seen.add(key)
    return record


def _refuse_constant(name: str) -> Any:
    raise _StrictJsonError(f"{name} is not a JSON number")


_DECODER = json.JSONDecoder(
    object_pairs_hook=_object_without_repeats, parse_constant=_refuse_constant
)


def loads_strict(text: str) -> Any:
    """Parse one JSON value strictly; ``ValueError`` (with a reason) if it is not one.

    Nesting too deep for the parser is reported as a ``ValueError`` too.
    """
    try:
        value, end = _DECODER.raw_decode(text, _skip_space(text, 0))
    except RecursionError as error:
        raise ValueError("nested too deeply to parse") from error
    if _skip_space(text, end) != len(text):
        raise ValueError(f"extra data after the JSON value at character {end}")
    return value


def parse_json_records(text: str) -> list[Any]:
    """The records of a JSON object, a JSON array or NDJSON body (see the module)."""
    return parse_json_lines(text)[0]


def parse_json_lines(text: str) -> tuple[list[Any], list[int] | None]:
    """The records of a body and, when it is NDJSON, the line number of each."""
    stripped = text.strip()
    try:
        parsed = loads_strict(stripped)
    except ValueError:
        parsed = _UNPARSED
    if parsed is not _UNPARSED and not _may_hold_surrogates(stripped):
        return (parsed if isinstance(parsed, list) else [parsed]), None
    # Something in the body needs each record judged on its own text: parse the
    # elements of an array, or the lines of NDJSON, one by one.
    if stripped.startswith("["):
        elements = _array_elements(stripped)
        if elements is not None:
            return elements, None
    numbered = list(_lines(text))
    return [_parse_record(line) for _, line in numbered], [n for n, _ in numbered]


_UNPARSED = object()


def _may_hold_surrogates(text: str) -> bool:
    """Whether parsed text may hold a lone surrogate: an escaped one (``\\ud800``),
    or a byte that was not UTF-8. Paired escapes (an emoji) are fine, but rare
    enough that checking them record by record costs nothing that matters."""
    return ("\\u" in text and _SURROGATE_ESCAPE.search(text) is not None) or not is_unicode(text)


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _reason(error: ValueError) -> str:
    if isinstance(error, json.JSONDecodeError):
        return f"not valid JSON ({error.msg} at character {error.pos})"
    message = str(error)
    if "integer string conversion" in message:
        return "a number has more digits than JSON numbers may have here (4,300)"
    return message


def _lines(text: str) -> Iterator[tuple[int, str]]:
    for number, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            yield number, line.rstrip("\r")


def _parse_record(text: str) -> Any:
    """One record from its own text, or an ``Unparsable`` that keeps the text."""
    try:
        value = loads_strict(text)
    except ValueError as error:
        return Unparsable(
            printable(text), f"record: {_reason(error)}", isinstance(error, json.JSONDecodeError)
        )
    problem = unicode_problem(value)
    return value if problem is None else Unparsable(printable(text), problem)


def unicode_problem(record: Any) -> str | None:
    """Why a parsed record cannot be stored as UTF-8 text, naming its field; None if it can."""
    try:
        if is_unicode(json.dumps(record, ensure_ascii=False)):
            return None
    except (RecursionError, ValueError):
        return "record: nested too deeply to parse"
    where = ""
    if isinstance(record, dict):
        bad = [
            name
            for name, value in record.items()
            if not (is_unicode(name) and is_unicode(json.dumps(value, ensure_ascii=False)))
        ]
        if bad and is_unicode(bad[0]):
            where = f" in {bad[0]}"
    return (
        f"record: text{where} is not valid Unicode (an unpaired surrogate such as \\ud800,"
        " or a byte that is not UTF-8); send UTF-8 text"
    )


_STRUCTURE = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{},]', re.DOTALL)
"""A JSON string (skipped whole) or a structural character."""


def _array_elements(text: str) -> list[Any] | None:
    """The elements of a JSON array, parsing each alone; None if it is no array.

    The common case never gets here: a body that parses whole is taken whole. An
    element that does not parse is found by bracket depth alone, so its neighbours
    are still read, however deep or long it is.
    """
    records: list[Any] = []
    position = _skip_space(text, 1)
    if text.startswith("]", position):
        return [] if _skip_space(text, position + 1) == len(text) else None
    while position < len(text):
        try:
            value, end = _DECODER.raw_decode(text, position)
        except (ValueError, RecursionError) as error:
            end = _end_of_value(text, position)
            records.append(_unparsable_element(text[position:end], error))
        else:
            problem = unicode_problem(value)
            records.append(
                value if problem is None else Unparsable(printable(text[position:end]), problem)
            )
        position = _skip_space(text, end)
        if text.startswith(",", position):
            position = _skip_space(text, position + 1)
        elif text.startswith("]", position):
            return records if _skip_space(text, position + 1) == len(text) else None
        else:
            return None
    return None


def _unparsable_element(text: str, error: ValueError | RecursionError) -> Unparsable:
    if isinstance(error, RecursionError):
        return Unparsable(printable(text), "record: nested too deeply to parse")
    return Unparsable(
        printable(text), f"record: {_reason(error)}", isinstance(error, json.JSONDecodeError)
    )


def _end_of_value(text: str, start: int) -> int:
    """Where the array element starting at ``start`` ends, by bracket depth."""
    depth = 0
    for match in _STRUCTURE.finditer(text, start):
        token = match.group()
        if token in "[{":
            depth += 1
        elif token in "]}":
            if depth == 0:
                return match.start()
            depth -= 1
        elif token == "," and depth == 0:
            return match.start()
    return len(text)


_SPACE = re.compile(r"[ \t\n\r]*")


def _skip_space(text: str, position: int) -> int:
    match = _SPACE.match(text, position)
    return match.end() if match else position


def is_unicode(text: str) -> bool:
    """Whether ``text`` can be stored as UTF-8 (no lone surrogate, no undecodable byte)."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def printable(text: str) -> str:
    """``text`` as valid Unicode: undecodable bytes as ``\\xNN``, lone surrogates as
    ``\\udNNN``; text that is already valid comes back unchanged."""
    if is_unicode(text):
        return text
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", "backslashreplace")


def _quote(value: str, limit: int = 80) -> str:
    shown = value if len(value) <= limit else value[:limit] + "…"
    return json.dumps(printable(shown), ensure_ascii=False)
