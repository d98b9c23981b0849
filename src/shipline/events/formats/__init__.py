"""Importers: the industry's formats turned into raw event records (DESIGN 2a).

Each importer only maps fields. The records it returns (events, estimates and
references) go through the one validation and ingest path like any other.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shipline.errors import ValidationError
from shipline.events.formats.dcsa import Imported, dcsa_records

IMPORTERS: dict[str, Callable[[Any], Imported]] = {"dcsa": dcsa_records}
"""The industry formats shipline reads, each a function of a parsed document."""


def import_document(file_format: str, document: Any) -> Imported:
    """The records of a parsed document of ``file_format``; ValidationError for a
    format shipline does not read."""
    importer = IMPORTERS.get(file_format)
    if importer is None:
        raise ValidationError(
            f"format: {file_format!r} is not one shipline reads; use {', '.join(IMPORTERS)}"
        )
    return importer(document)
