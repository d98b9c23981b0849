"""Limits that keep one hostile file from taking the loader down.

A gzip file is decompressed a chunk at a time and refused once it passes the cap
(``loader_max_uncompressed_bytes``), so a small file that expands to gigabytes
costs at most the cap. JSON is measured for nesting depth before pyarrow reads
it: pyarrow's JSON reader recurses once per level and overflows the C stack (the
process dies, nothing can catch it) at some ten thousand levels.
"""

from __future__ import annotations

import gzip
import io
import re
import zlib

import numpy as np

from shipline.errors import LoadError

MAX_UNCOMPRESSED_BYTES = 1024 * 1024 * 1024
"""The default cap, as ``Settings.loader_max_uncompressed_bytes``."""
MAX_JSON_DEPTH = 500
"""The deepest nesting of JSON arrays and objects a file may have; far below where
pyarrow's reader crashes, and below Python's recursion limit for ``json.loads``."""

_CHUNK_BYTES = 1024 * 1024
_SETTING = "loader_max_uncompressed_bytes"
# JSON reduced to what decides nesting: quotes, brackets, and newlines (a raw newline
# never occurs inside a valid string, so each line starts outside one).
_DROPPED = bytes(sorted(set(range(256)) - set(b'"[]{}\n')))
_AS_SQUARE = bytes.maketrans(b"{}", b"[]")
_STRING = re.compile(rb'"[^"\n]*"')
_PAIR_PASSES = 8
_SCAN_CHUNK = 1 << 22


def too_big(name: str, size: int, cap: int) -> LoadError:
    """The refusal of a file of ``size`` bytes, more than the cap, before it is read."""
    return LoadError(
        f"{name}: {size:,} bytes, more than the {cap:,} bytes {_SETTING} allows; split the"
        f" file, or raise {_SETTING}"
    )


def decompress(name: str, data: bytes, gzipped: bool, cap: int) -> bytes | bytearray:
    """The file's bytes without gzip; ``LoadError`` past ``cap`` bytes, or if corrupt."""
    if not gzipped:
        if len(data) > cap:
            raise too_big(name, len(data), cap)
        return data
    expanded = bytearray()
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
            while chunk := stream.read(_CHUNK_BYTES):
                expanded += chunk
                if len(expanded) > cap:
                    raise LoadError(
                        f"{name}: expands to more than the {cap:,} bytes {_SETTING} allows"
                        f" when decompressed; split the file, or raise {_SETTING}"
                    )
    except (OSError, EOFError, zlib.error) as error:
        raise LoadError(
            f"{name}: not a readable gzip file ({error}); upload it again or remove the .gz suffix"
        ) from error
    return expanded


def check_json_depth(name: str, raw: bytes | bytearray) -> None:
    """``LoadError`` if JSON text nests arrays and objects more than ``MAX_JSON_DEPTH`` deep."""
    depth = json_depth(raw)
    if depth > MAX_JSON_DEPTH:
        raise LoadError(
            f"{name}: JSON nested {depth:,} levels deep, more than the {MAX_JSON_DEPTH} the"
            " loader reads; flatten the file"
        )


def json_depth(raw: bytes | bytearray) -> int:
    """The deepest nesting of arrays and objects in JSON text, brackets in strings aside.

    Broken JSON gets a depth too, never less than a reader would reach: a close with
    nothing open counts from zero again, and a quote left open at the end of its line
    hides nothing (the brackets after it count). The work is bytes operations and a
    numpy prefix sum, linear in the file's size.
    """
    text = raw
    if b"\\" in text:
        # Escaped backslashes first, so that what remains of \" is an escaped quote.
        text = text.replace(b"\\\\", b"").replace(b'\\"', b"")
    # Two quotes side by side close one string and open the next, or enclose nothing:
    # dropping them leaves every other quote's parity, and so every string, as it was.
    marks = text.translate(None, delete=_DROPPED).replace(b'""', b"")
    del text
    if b'"' in marks:
        marks = _STRING.sub(b"", marks)
    brackets = marks.translate(_AS_SQUARE, delete=b'"\n')
    del marks
    # Each pass drops every innermost "[]", so the depth is one less; most files are
    # shallow and end here with nothing left.
    passes = 0
    while brackets and passes < _PAIR_PASSES:
        shorter = brackets.replace(b"[]", b"")
        if len(shorter) == len(brackets):
            break
        brackets, passes = shorter, passes + 1
    return passes + _prefix_depth(brackets)


def _prefix_depth(brackets: bytes | bytearray) -> int:
    """The highest level of a walk over ``[`` (+1) and ``]`` (-1) that never goes below zero."""
    deepest = level = floor = 0
    for start in range(0, len(brackets), _SCAN_CHUNK):
        chunk = np.frombuffer(brackets, np.uint8, min(_SCAN_CHUNK, len(brackets) - start), start)
        # ord("[") is 91 and ord("]") is 93: 92 - byte is +1 or -1.
        levels = np.cumsum(92 - chunk.astype(np.int64)) + level
        floors = np.minimum(np.minimum.accumulate(levels), floor)
        deepest = max(deepest, int((levels - floors).max()))
        level, floor = int(levels[-1]), int(floors[-1])
    return deepest
