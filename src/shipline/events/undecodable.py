"""Bytes that are not UTF-8, carried through pyarrow's CSV reader as marks.

pyarrow hands a ragged row to its invalid-row handler as text it has decoded as
UTF-8, so one such row with a stray byte would make the whole file unreadable.
Before reading, each undecodable byte becomes a private-use character (U+10FF00
plus the byte); after reading, a value holding a mark is turned back into its
bytes, so the row that held it is refused by name and every other row is kept.
"""

from __future__ import annotations

import codecs
import re

import pyarrow as pa
import pyarrow.compute as pc

from shipline.errors import ValidationError

_MARK_BASE = 0x10FF00
_MARKS = re.compile("[\U0010ff00-\U0010ffff]")
_MARKS_IN_UTF8 = re.compile(rb"\xf4\x8f[\xbc-\xbf]")
"""U+10FF00 to U+10FFFF spelled in UTF-8: a file that already holds one cannot be marked."""


def _mark(error: UnicodeError) -> tuple[str, int]:
    assert isinstance(error, UnicodeDecodeError)
    undecodable = error.object[error.start : error.end]
    return "".join(chr(_MARK_BASE + byte) for byte in undecodable), error.end


codecs.register_error("shipline-mark", _mark)


def marked(name: str, data: bytes) -> bytes | None:
    """The data with its undecodable bytes marked, or None when it is all UTF-8."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        return None
    if _MARKS_IN_UTF8.search(data):
        raise ValidationError(
            f"{name}: holds bytes that are not UTF-8 beside characters U+10FF00 to U+10FFFF;"
            " convert it to UTF-8 first"
        )
    return data.decode("utf-8", "shipline-mark").encode("utf-8")


def unmarked(text: str) -> bytes:
    """The bytes a marked text was read from."""
    parts: list[bytes] = []
    end = 0
    for mark in _MARKS.finditer(text):
        parts.append(text[end : mark.start()].encode("utf-8"))
        parts.append(bytes([ord(mark[0]) - _MARK_BASE]))
        end = mark.end()
    parts.append(text[end:].encode("utf-8"))
    return b"".join(parts)


def holding_marks(values: pa.Array) -> list[int]:
    """The positions of the values that hold a mark."""
    found = pc.match_substring_regex(values, "[\U0010ff00-\U0010ffff]")
    return pc.indices_nonzero(pc.fill_null(found, False)).to_pylist()  # type: ignore[no-any-return]
