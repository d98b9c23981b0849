"""What every importer is: a parser, a mapper of fields, and a way to be recognised.

An importer never validates: it maps the producer's fields onto shipline's record
(``shipment_id``, ``event_timestamp``, ``event_type`` and the rest, plus
``estimates`` and ``references``) and passes on what it cannot map unchanged, so
the one validation pass refuses it with its reason and the rest of the file goes on.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from shipline.errors import ConfigError, ValidationError
from shipline.events.json_records import loads_strict


@dataclass
class Imported:
    """What an importer made of a document: records for the ingest path, and the
    source records it skipped, counted by reason."""

    records: list[Any] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)


SignatureCheck = Callable[[Mapping[str, str], bytes, str], bool]
"""``(headers with lower-case names, body, secret)``: whether a webhook is signed."""


def json_document(data: bytes) -> Any:
    """A whole JSON document, strictly parsed (a repeated key or NaN refuses it)."""
    try:
        return loads_strict(data.decode("utf-8"))
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError is a ValueError
        raise ValidationError(f"not a JSON document ({error})") from None


@dataclass(frozen=True)
class Format:
    """One industry format shipline reads.

    ``parse`` turns a file's or request's bytes into the document ``records`` maps
    (a JSON value, or text for EDI), raising ``ValidationError`` when the bytes are
    not that format at all. ``sniff`` recognises a document from its bytes and,
    when they are JSON, its parsed value (else ``None``). ``source_fields`` names
    each shipline field in the producer's own terms (``event_timestamp`` is DCSA's
    ``eventDateTime``), so a refused record's reason says where to look.
    """

    name: str
    title: str
    records: Callable[..., Imported]
    sniff: Callable[[bytes, Any], bool]
    parse: Callable[[bytes], Any] = json_document
    event_type_aliases: Mapping[str, str] = field(default_factory=dict)
    source_fields: Mapping[str, str] = field(default_factory=dict)
    signature: SignatureCheck | None = None
    signature_header: str | None = None
    options: frozenset[str] = frozenset()
    """What ``[formats.NAME]`` in shipline.toml may set, passed to ``records``."""

    def import_document(self, document: Any, options: Mapping[str, Any] | None = None) -> Imported:
        """The records of a parsed document, under the settings' options for this format."""
        unknown = sorted(set(options or {}) - self.options)
        if unknown:
            allowed = ", ".join(sorted(self.options)) or "none"
            raise ConfigError(
                f"[formats.{self.name}] {', '.join(unknown)}: not an option of {self.name}"
                f" (its options: {allowed})"
            )
        return self.records(document, **(options or {}))

    @property
    def parses_json(self) -> bool:
        """Whether the documents are JSON (parsed by ``json_document``)."""
        return self.parse is json_document

    def read(self, data: bytes, options: Mapping[str, Any] | None = None) -> Imported:
        """The records of one document's bytes."""
        return self.import_document(self.parse(data), options)


@dataclass(frozen=True)
class Feed:
    """A document recognised as one format; a JSON one is parsed once, to be recognised."""

    format: Format
    data: bytes
    document: Any = None
    """The parsed JSON, when the format's documents are JSON and it was parsed."""

    def imported(self, options: Mapping[str, Any] | None = None) -> Imported:
        """The document's records, under the settings' options for its format."""
        if self.document is not None and self.format.parses_json:
            return self.format.import_document(self.document, options)
        return self.format.read(self.data, options)


def code_table(filename: str) -> dict[str, Any]:
    """A code table shipped in the package, beside the importers."""
    text = (resources.files("shipline.events.formats") / filename).read_text(encoding="utf-8")
    table: dict[str, Any] = json.loads(text)
    return table
