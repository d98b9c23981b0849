"""Importers: the industry's formats turned into raw event records (DESIGN 2a).

Each importer only maps fields. The records it returns (events, estimates and
references) go through the one validation and ingest path like any other. A new
format is one module with a ``FORMAT`` and its code table, listed here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shipline.errors import ValidationError
from shipline.events.formats import dcsa, epcis, x12
from shipline.events.formats.base import Format, Imported, json_document

__all__ = ["FORMATS", "Format", "Imported", "detect_format", "event_type_aliases", "read_feed"]

FORMATS: dict[str, Format] = {module.FORMAT.name: module.FORMAT for module in (dcsa, epcis, x12)}
"""The industry formats shipline reads, by name."""


def event_type_aliases() -> Mapping[str, str]:
    """Every importer's code table as ``event_type`` aliases (``dcsa:TRANSPORT:ARRI``)."""
    return {code: kind for f in FORMATS.values() for code, kind in f.event_type_aliases.items()}


def format_named(name: str) -> Format:
    """The format called ``name``; ValidationError naming those shipline reads."""
    found = FORMATS.get(name)
    if found is None:
        raise ValidationError(
            f"format: {name!r} is not one shipline reads; use {', '.join(FORMATS)}"
        )
    return found


def detect_format(data: bytes) -> Format | None:
    """The format a document's bytes are in, from their content; None if none fits."""
    try:
        document: Any = json_document(data)
    except ValidationError:
        document = None
    return next((f for f in FORMATS.values() if f.sniff(data, document)), None)


def import_document(file_format: str, document: Any) -> Imported:
    """The records of a parsed document of ``file_format``."""
    return format_named(file_format).records(document)


def read_feed(data: bytes, file_format: str | None) -> tuple[Format, Imported]:
    """The format and records of a document's bytes; the format is detected from
    the content when none is named, and ValidationError says when none fits."""
    found = format_named(file_format) if file_format else detect_format(data)
    if found is None:
        raise ValidationError(
            f"format: the content is none of {', '.join(FORMATS)}; name one with --format"
        )
    return found, found.read(data)
