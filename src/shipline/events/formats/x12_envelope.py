"""The envelopes of an X12 file: interchanges (ISA/IEA), groups and transaction sets
(ST/SE), read with the delimiters each ISA header declares.

A small tokenizer rather than a general X12 library: a 214 needs no schema to be
read, only its delimiters, and each interchange of a file may declare its own.
The element separator is the ISA's 4th character, ISA-16 the component separator,
the character after it the segment terminator; line breaks after a terminator (LF
or CRLF) are not part of the next segment.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from shipline.errors import ValidationError

Segment = list[str]

_BLANK = " \t\r\n"


@dataclass(frozen=True)
class Delimiters:
    """What an interchange's ISA header declares."""

    element: str
    component: str
    repetition: str | None
    segment: str


@dataclass(frozen=True)
class Interchange:
    """One ISA..IEA envelope: its delimiters and its segments, split into elements."""

    delimiters: Delimiters
    segments: list[Segment]

    def text(self, segments: Sequence[Segment]) -> str:
        """Segments written back as the interchange wrote them (for a dead letter)."""
        return "".join(self.delimiters.element.join(s) + self.delimiters.segment for s in segments)


def x12_document(data: bytes) -> str:
    """The text of an X12 file: UTF-8 (a byte order mark is dropped), else Latin-1;
    ValidationError when it does not start with an ISA header."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    text = text.lstrip()
    if not text.startswith("ISA"):
        raise ValidationError(
            "x12: the content does not start with an ISA interchange header;"
            " an X12 file begins with ISA and its element separator, e.g. ISA*00*"
        )
    return text


def delimiters_at(text: str, start: int) -> tuple[Delimiters, Segment, int] | None:
    """The delimiters of the ISA header at ``start``, its elements and where the next
    segment begins; None when no readable ISA header is there."""
    if not text.startswith("ISA", start) or len(text) < start + 6:
        return None
    element = text[start + 3]
    if element.isalnum() or element in _BLANK:
        return None
    parts = text[start : start + 256].split(element, 16)
    if len(parts) < 17 or len(parts[16]) < 2:
        return None
    component, segment = parts[16][0], parts[16][1]
    if segment.isalnum() or segment in (element, component):
        return None
    version, repetition = parts[12].strip(), parts[11]
    repeats = version >= "00402" and len(repetition) == 1 and not repetition.isalnum()
    declared = Delimiters(element, component, repetition if repeats else None, segment)
    end = start + len(element.join(parts[:16])) + len(element) + 2
    return declared, [*parts[:16], component], end


def interchanges(text: str, skipped: Counter[str]) -> Iterator[Interchange]:
    """Every interchange of the text; text that is not one is counted in ``skipped``."""
    position = _skip_blank(text, 0)
    while position < len(text):
        header = delimiters_at(text, position)
        if header is None:
            following = text.find("ISA", position + 1)
            skipped["x12 text outside an ISA/IEA interchange"] += 1
            if following < 0:
                return
            position = following
            continue
        declared, isa, position = header
        segments, position = _segments(text, position, declared)
        yield Interchange(declared, [isa, *segments])
        position = _skip_blank(text, position)


def _segments(text: str, position: int, declared: Delimiters) -> tuple[list[Segment], int]:
    """An interchange's segments after its ISA, up to its IEA (or the next ISA, when
    the IEA is missing: that one declares its own delimiters), and where they end."""
    segments: list[Segment] = []
    for raw in text[position:].split(declared.segment):
        segment = raw.strip(_BLANK)
        if segment.startswith("ISA"):
            return segments, _skip_blank(text, position)
        position += len(raw) + 1
        if segment:
            segments.append(segment.split(declared.element))
            if segments[-1][0] == "IEA":
                break
    return segments, position


def transactions(segments: Sequence[Segment]) -> Iterator[list[Segment]]:
    """The ST..SE transaction sets of an interchange (one cut short ends at the next ST)."""
    current: list[Segment] | None = None
    for segment in segments:
        tag = segment[0]
        if tag == "ST":
            if current:
                yield current
            current = [segment]
        elif current is not None:
            current.append(segment)
            if tag == "SE":
                yield current
                current = None
    if current:
        yield current


def _skip_blank(text: str, position: int) -> int:
    while position < len(text) and text[position] in _BLANK:
        position += 1
    return position


def element(segment: Segment, position: int) -> str:
    """Element ``position`` (1-based, as X12 numbers them) trimmed, or ``""``."""
    return segment[position].strip() if len(segment) > position else ""
