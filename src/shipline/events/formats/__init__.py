"""Importers: the industry's formats turned into raw event records (DESIGN 2a).

Each importer only maps fields. The records it returns (events, estimates and
references) go through the one validation and ingest path like any other. A new
format is one module with a ``FORMAT`` and its code table, listed here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shipline.errors import ValidationError
from shipline.events.formats import (
    aftership,
    dcsa,
    dhl,
    easypost,
    epcis,
    fedex,
    karrio,
    shippo,
    ups,
    x12,
)
from shipline.events.formats.base import Feed, Format, Imported, json_document

__all__ = [
    "FEED_SUFFIXES",
    "FORMATS",
    "Feed",
    "Format",
    "Imported",
    "detect_format",
    "event_type_aliases",
    "format_named",
    "format_of_file",
    "read_feed",
]

FORMATS: dict[str, Format] = {
    module.FORMAT.name: module.FORMAT
    for module in (dcsa, epcis, x12, easypost, aftership, shippo, karrio, fedex, ups, dhl)
}
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
    found = _recognised(data)
    return found.format if found is not None else None


def _recognised(data: bytes) -> Feed | None:
    try:
        document: Any = json_document(data)
    except ValidationError:
        document = None
    found = next((f for f in FORMATS.values() if f.sniff(data, document)), None)
    return Feed(found, data, document) if found is not None else None


FEED_SUFFIXES = frozenset({".jsonld", ".edi", ".x12", ".214"})
"""File names that say a file is in an industry format (which one, its content says)."""


def format_of_file(name: str, data: bytes, file_format: str | None) -> Feed | None:
    """The industry format of a file: the one named, else the one its content shows
    for a ``.json`` file or one named as a feed; None for a file of shipline records.
    ValidationError for a file named as a feed whose content is none of them."""
    if file_format is not None:
        return Feed(format_named(file_format), data)
    suffix = "." + name.lower().rsplit(".", 1)[-1] if "." in name else ""
    if suffix not in FEED_SUFFIXES | {".json"}:
        return None
    found = _recognised(data)
    if found is None and suffix in FEED_SUFFIXES:
        raise ValidationError(
            f"{name}: the content is none of the formats shipline reads"
            f" ({', '.join(FORMATS)}); name one with --format"
        )
    return found


def read_feed(
    data: bytes, file_format: str | None, options: Mapping[str, Mapping[str, Any]] | None = None
) -> tuple[Format, Imported]:
    """The format and records of a document's bytes; the format is detected from
    the content when none is named, and ValidationError says when none fits;
    ``options`` are the settings' ``[formats.NAME]`` tables."""
    found = Feed(format_named(file_format), data) if file_format else _recognised(data)
    if found is None:
        raise ValidationError(
            f"format: the content is none of {', '.join(FORMATS)}; name one with --format"
        )
    return found.format, found.imported((options or {}).get(found.format.name))
