"""Vectorised validation and normalisation of raw events (DESIGN section 2).

Every input shape (JSON, NDJSON, envelopes, CSV, Parquet) becomes one Arrow table
of raw columns, and this module checks and normalises all of it in a single SQL
pass on an in-process DuckDB. So the contract's rules live in exactly one place,
and a million-row file costs one query, not a million Python calls.

Each rejected record gets one message per failing field, ``"field: reason"``.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from string import Template
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from shipline.errors import ConfigError
from shipline.events.formats import FORMATS
from shipline.events.formats import event_type_aliases as format_event_types
from shipline.events.vocabulary import (
    BUILTIN_EVENT_TYPE_ALIASES,
    DEFAULT_STATUS,
    STATUSES,
)

RAW_COLUMNS = (
    "shipment_id",
    "event_timestamp",
    "event_type",
    "status",
    "location_id",
    "carrier",
    "event_id",
    "event_data",
    "revision",
    "updated_at",
    "retracted",
)
"""The columns an input may carry; anything else in a file is ignored.

``revision`` (a whole number) or ``updated_at`` (the source's update time, as DCSA
3.0's ``eventUpdatedDateTime``) order the revisions of one ``event_id``;
``retracted`` (true or false) says a revision withdraws the event (DESIGN 2a)."""

SIDE_COLUMNS = ("estimates", "references")
"""What a JSON record may carry beside (or instead of) an event: a list of estimates
(``kind``, ``estimated_at``, ``classifier``) and a list of references (``type``,
``reference``). A record with them and no event fields is not an event (DESIGN 2a).
Files carry events only."""

ESTIMATE_TYPE = pa.struct(
    [
        ("kind", pa.string()),
        ("estimated_at", pa.timestamp("us", tz="UTC")),
        ("classifier", pa.string()),
    ]
)
REFERENCE_TYPE = pa.struct([("type", pa.string()), ("reference", pa.string())])

ACCEPTED_SCHEMA = pa.schema(
    [
        ("record_index", pa.int64()),
        ("event_id", pa.string()),
        ("shipment_id", pa.string()),
        ("event_timestamp", pa.timestamp("us", tz="UTC")),
        ("event_type", pa.string()),
        ("status", pa.string()),
        ("location_id", pa.string()),
        ("carrier", pa.string()),
        ("event_data", pa.string()),
        ("content_hash", pa.string()),
        ("revision", pa.int64()),
        ("retracted", pa.bool_()),
        ("is_event", pa.bool_()),
        ("estimates", pa.list_(ESTIMATE_TYPE)),
        ("references", pa.list_(REFERENCE_TYPE)),
    ]
)

_CHECKS_SQL = Template("""
raw AS (
    SELECT
        record_index, payload, shape_errors, line_number,
        CAST(shipment_id AS VARCHAR) AS shipment_id,
        $timestamp_text AS timestamp_text,
        $timestamp_value AS timestamp_value,
        CAST(event_type AS VARCHAR) AS event_type_raw,
        CAST(status AS VARCHAR) AS status_raw,
        CAST(location_id AS VARCHAR) AS location_id,
        CAST(carrier AS VARCHAR) AS carrier,
        CAST(event_id AS VARCHAR) AS event_id,
        CAST(event_data AS VARCHAR) AS event_data,
        CAST(revision AS VARCHAR) AS revision_raw,
        CAST(updated_at AS VARCHAR) AS updated_at_text,
        lower(CAST(retracted AS VARCHAR)) AS retracted_raw,
        CAST(estimates AS VARCHAR) AS estimates_json,
        CAST("references" AS VARCHAR) AS references_json
    FROM raw_events
    $only
),
resolved AS (
    SELECT
        raw.*,
        coalesce(ta.canonical, tv.canonical) AS event_type,
        coalesce(sa.canonical, sv.canonical) AS given_status,
        CASE WHEN event_data IS NULL THEN NULL ELSE json_valid(event_data) END AS data_is_json,
        coalesce(
            timestamp_value,
            CASE WHEN regexp_full_match(upper(timestamp_text), '$timestamp_pattern')
                THEN TRY_CAST(upper(timestamp_text) AS TIMESTAMPTZ) END
        ) AS parsed_timestamp,
        CASE WHEN regexp_full_match(revision_raw, '[0-9]{1,18}')
            THEN CAST(revision_raw AS BIGINT) END AS given_revision,
        CASE WHEN regexp_full_match(upper(updated_at_text), '$timestamp_pattern')
            THEN TRY_CAST(upper(updated_at_text) AS TIMESTAMPTZ) END AS updated_at,
        from_json(estimates_json,
            '[{"kind": "VARCHAR", "estimated_at": "VARCHAR", "classifier": "VARCHAR"}]')
            AS estimate_texts,
        from_json(references_json, '[{"type": "VARCHAR", "reference": "VARCHAR"}]')
            AS reference_list,
        coalesce(event_type_raw, '') = '' AND coalesce(timestamp_text, '') = ''
            AND timestamp_value IS NULL
            AND (estimates_json IS NOT NULL OR references_json IS NOT NULL) AS side_only
    FROM raw
    LEFT JOIN type_aliases AS ta ON ta.code = raw.event_type_raw
    LEFT JOIN type_vocabulary AS tv ON tv.code = lower(trim(raw.event_type_raw))
    LEFT JOIN status_aliases AS sa ON sa.code = raw.status_raw
    LEFT JOIN status_vocabulary AS sv ON sv.code = lower(trim(raw.status_raw))
),
ranged AS (
    SELECT
        resolved.*,
        parsed_timestamp IS NOT NULL
            AND NOT (parsed_timestamp >= $$1 AND parsed_timestamp < $$2) AS out_of_range,
        CASE WHEN NOT coalesce(out_of_range, false) THEN parsed_timestamp END AS event_timestamp,
        list_transform(estimate_texts, lambda e: {
            'kind': e.kind,
            'estimated_at': CASE WHEN regexp_full_match(upper(e.estimated_at), '$timestamp_pattern')
                THEN TRY_CAST(upper(e.estimated_at) AS TIMESTAMPTZ) END,
            'classifier': e.classifier
        }) AS estimate_list
    FROM resolved
),
field_errors AS (
    SELECT
        ranged.*,
        CASE
            WHEN shipment_id IS NULL OR shipment_id = '' THEN 'shipment_id: required'
            ELSE 'shipment_id: ' || identifier_problem(shipment_id)
        END AS shipment_id_error,
        CASE
            WHEN event_timestamp IS NOT NULL OR side_only THEN NULL
            WHEN out_of_range THEN
                'event_timestamp: '
                || quoted(coalesce(timestamp_text, CAST(parsed_timestamp AS VARCHAR)))
                || ' is outside the accepted range, from '
                || strftime($$1, '%Y-%m-%dT%H:%M:%SZ') || ' until '
                || strftime($$2, '%Y-%m-%dT%H:%M:%SZ')
                || '; widen timestamp_min/timestamp_max in shipline.toml if it is right'
            WHEN timestamp_text IS NULL OR timestamp_text = '' THEN 'event_timestamp: required'
            WHEN NOT regexp_matches(upper(timestamp_text), '$offset_pattern') THEN
                'event_timestamp: ' || quoted(timestamp_text)
                || ' has no UTC offset; write it as ISO-8601 with Z or +HH:MM, or give its'
                || ' location a timezone in the locations table, or set [sources.NAME]'
                || ' timezone in shipline.toml'
            ELSE 'event_timestamp: ' || quoted(timestamp_text) || ' is not an RFC 3339 time;'
                || ' write YYYY-MM-DDTHH:MM:SS[.ffffff] then Z or an offset within ±18:00'
        END AS event_timestamp_error,
        CASE
            WHEN side_only THEN NULL
            WHEN event_type_raw IS NULL OR event_type_raw = '' THEN 'event_type: required'
            WHEN event_type IS NULL THEN
                'event_type: unknown value ' || quoted(event_type_raw)
                || '; use one of $event_types or add an alias under'
                || ' [aliases.event_type] in shipline.toml, then redrive'
        END AS event_type_error,
        CASE
            WHEN status_raw IS NOT NULL AND status_raw <> '' AND given_status IS NULL THEN
                'status: unknown value ' || quoted(status_raw)
                || '; use one of $statuses or add an alias under'
                || ' [aliases.status] in shipline.toml, then redrive'
        END AS status_error,
        CASE
            WHEN event_id = '' THEN 'event_id: empty; omit it to derive one'
            ELSE 'event_id: ' || identifier_problem(event_id)
        END AS event_id_error,
        CASE
            WHEN revision_raw IS NOT NULL AND given_revision IS NULL THEN
                'revision: ' || quoted(revision_raw)
                || ' is not a whole number from 0 to 999999999999999999'
            WHEN updated_at_text IS NOT NULL AND updated_at IS NULL THEN
                'updated_at: ' || quoted(updated_at_text) || ' is not an RFC 3339 time with'
                || ' an offset; write YYYY-MM-DDTHH:MM:SS[.ffffff] then Z or +HH:MM'
            WHEN retracted_raw IS NOT NULL AND retracted_raw NOT IN ('true', 'false') THEN
                'retracted: ' || quoted(retracted_raw) || ' is not true or false'
        END AS revision_error,
        CASE
            WHEN len(list_filter(estimate_list, lambda e:
                NOT coalesce(regexp_full_match(e.kind, '$kind_pattern'), false))) > 0 THEN
                'estimates: each needs a kind of lower-case letters, digits and _'
                || ' (eta, etd, pickup, delivery, ...)'
            WHEN len(list_filter(estimate_list, lambda e: e.estimated_at IS NULL)) > 0 THEN
                'estimates: each needs estimated_at, an RFC 3339 time with an offset'
            WHEN len(list_filter(estimate_list, lambda e:
                NOT (e.estimated_at >= $$1 AND e.estimated_at < $$2))) > 0 THEN
                'estimates: an estimated_at is outside the accepted range, from '
                || strftime($$1, '%Y-%m-%dT%H:%M:%SZ') || ' until '
                || strftime($$2, '%Y-%m-%dT%H:%M:%SZ')
            WHEN len(list_filter(estimate_list, lambda e: length(e.classifier) > 16)) > 0 THEN
                'estimates: a classifier is longer than 16 characters'
        END AS estimates_error,
        CASE
            WHEN len(list_filter(reference_list, lambda r:
                NOT coalesce(regexp_full_match(r.type, '$kind_pattern'), false))) > 0 THEN
                'references: each needs a type of lower-case letters, digits and _'
                || ' (booking, bill_of_lading, container, tracking_number, sscc, ...)'
            WHEN len(list_filter(reference_list, lambda r: coalesce(r.reference, '') = '')) > 0
                THEN 'references: a reference is empty'
            WHEN len(list_filter(reference_list, lambda r:
                identifier_problem(r.reference) IS NOT NULL)) > 0 THEN
                'references: ' || list_filter(list_transform(reference_list, lambda r:
                    identifier_problem(r.reference)), lambda p: p IS NOT NULL)[1]
        END AS references_error,
        CASE
            WHEN data_is_json = false THEN 'event_data: not valid JSON'
            WHEN data_is_json AND json_type(event_data) <> 'OBJECT' THEN
                'event_data: must be a JSON object, not ' || lower(json_type(event_data))
            WHEN data_is_json
                AND len(json_keys(event_data)) <> len(list_distinct(json_keys(event_data)))
                THEN 'event_data: a key appears twice in the object'
        END AS event_data_error,
        CASE
            WHEN location_id <> '' THEN 'location_id: ' || identifier_problem(location_id)
        END AS location_id_error,
        CASE WHEN length(carrier) > 128 THEN 'carrier: longer than 128 characters' END
            AS carrier_error
    FROM ranged
),
checked AS (
    SELECT
        *,
        shape_errors IS NULL AND coalesce(
            shipment_id_error, event_timestamp_error, event_type_error, status_error,
            event_id_error, event_data_error, location_id_error, carrier_error,
            revision_error, estimates_error, references_error
        ) IS NULL AS ok
    FROM field_errors
)
""")
"""Every record's normalised fields, each field's error (or NULL), and ``ok``: the
common table expressions the accepted and the rejected records are selected from.
``$only`` narrows the records checked."""

_ACCEPTED_SQL = """
normalised AS (
    SELECT
        record_index, shipment_id, event_timestamp, event_type,
        coalesce(given_status, default_status.status) AS status,
        nullif(location_id, '') AS location_id,
        nullif(carrier, '') AS carrier,
        event_id AS given_event_id,
        CAST(json(event_data) AS VARCHAR) AS event_data,
        CAST(epoch_us(event_timestamp) AS VARCHAR) AS event_us,
        coalesce(given_revision, epoch_us(updated_at)) AS revision,
        coalesce(retracted_raw = 'true', false) AS retracted,
        NOT side_only AS is_event,
        estimate_list AS estimates,
        reference_list AS "references"
    FROM checked
    LEFT JOIN type_vocabulary AS default_status ON default_status.code = checked.event_type
    WHERE ok
)
SELECT
    record_index,
    CASE
        WHEN given_event_id IS NULL
            THEN md5(shipment_id || chr(31) || event_us || chr(31) || event_type)
        ELSE given_event_id
    END AS event_id,
    shipment_id,
    event_timestamp,
    event_type,
    status,
    location_id,
    carrier,
    event_data,
    md5(concat_ws(chr(31),
        shipment_id, event_us, event_type, status,
        coalesce(location_id, chr(0)), coalesce(carrier, chr(0)), coalesce(event_data, chr(0))
    -- revision information joins the content only where it is given, so the hash of
    -- an event without it is what it always was
    ) || CASE WHEN revision IS NULL AND NOT retracted THEN ''
        ELSE chr(30) || coalesce(CAST(revision AS VARCHAR), '') || chr(31) || retracted END
    ) AS content_hash,
    revision,
    retracted,
    is_event,
    estimates,
    "references"
FROM normalised
"""

_REJECTED_SQL = """
rejected AS (
    -- Messages are assembled only for refused records: most records pass.
    SELECT
        *,
        list_transform(coalesce(shape_errors, []), lambda e: split_part(e, ':', 1))
            AS shape_fields,
        list_concat(coalesce(shape_errors, []), list_filter([
            shipment_id_error, event_timestamp_error, event_type_error, status_error,
            event_id_error, event_data_error, location_id_error, carrier_error,
            revision_error, estimates_error, references_error
        ], lambda error: error IS NOT NULL
            -- a field already refused for its shape, or a record that is not an
            -- object at all, needs no second message
            AND NOT list_contains(shape_fields, split_part(error, ':', 1))
            AND NOT list_contains(shape_fields, 'record'))) AS errors
    FROM checked WHERE NOT ok
)
SELECT
    record_index,
    coalesce(payload, CAST(to_json({
        'shipment_id': shipment_id,
        'event_timestamp': coalesce(timestamp_text, CASE WHEN isfinite(timestamp_value)
            THEN strftime(timestamp_value, '%Y-%m-%dT%H:%M:%S.%fZ')
            ELSE CAST(timestamp_value AS VARCHAR) END),
        'event_type': event_type_raw, 'status': status_raw, 'location_id': location_id,
        'carrier': carrier, 'event_id': event_id, 'event_data': event_data,
        'revision': revision_raw, 'updated_at': updated_at_text, 'retracted': retracted_raw,
        'estimates': json(estimates_json), 'references': json(references_json)
    }) AS VARCHAR)) AS payload,
    errors,
    line_number
FROM rejected
ORDER BY record_index
"""


TIMESTAMP_PATTERN = (
    r"\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[T ]([01]\d|2[0-3]):[0-5]\d:[0-5]\d"
    r"(\.\d{1,9})?(Z|[+-]((0\d|1[0-7])(:?[0-5]\d)?|18(:?00)?))"
)
"""An instant as RFC 3339 writes it (upper-cased first, so ``t`` and ``z`` do too):
date, ``T`` (or a space), time with seconds and up to nine fractional digits, then
``Z`` or an offset within ±18:00 (``+HH:MM``, ``+HHMM`` or ``+HH``). Digits beyond
the sixth fractional one are truncated: instants are kept to the microsecond."""

KIND_PATTERN = "[a-z][a-z0-9_]{0,31}"
"""An estimate's kind or a reference's type: ``eta``, ``bill_of_lading``."""

_OFFSET_AT_END = r"(Z|[+-]\d\d(:?\d\d)?)$"

DEFAULT_TIMESTAMP_RANGE = (datetime(1970, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
"""The instants a shipment can have: from (inclusive) and until (exclusive)."""


@dataclass(frozen=True)
class Rejection:
    """One record that broke the contract, with a message per failing field."""

    record_index: int
    payload: str
    errors: list[str]
    line_number: int | None = None

    @property
    def reason(self) -> str:
        """All field errors in one line, as stored in ``dead_letters.reason``; a file's
        record says its line."""
        where = f"line {self.line_number}: " if self.line_number is not None else ""
        return where + "; ".join(self.errors)


@dataclass(frozen=True)
class Rules:
    """What the settings add to the contract: aliases and the accepted time range."""

    event_type_aliases: Mapping[str, str] = field(default_factory=dict)
    status_aliases: Mapping[str, str] = field(default_factory=dict)
    timestamp_range: tuple[datetime, datetime] = DEFAULT_TIMESTAMP_RANGE
    source_zones: Mapping[str, str] = field(default_factory=dict)
    """The IANA zone a source's local times (no offset) are read in, by source name."""

    def zone_for(self, source: str) -> str | None:
        """The zone of ``source`` (``x12``, or ``x12:file.edi`` by its first part)."""
        return self.source_zones.get(source) or self.source_zones.get(source.split(":")[0])

    @staticmethod
    def source_fields_for(source: str) -> Mapping[str, str]:
        """The source's own names of fields, for a format's source (``dcsa:page.json``)."""
        found = FORMATS.get(source.split(":")[0])
        return found.source_fields if found is not None else {}

    def validate(self, raw: pa.Table) -> ValidatedBatch:
        """``validate`` under these rules."""
        return validate(raw, self.event_type_aliases, self.status_aliases, self.timestamp_range)


@dataclass(frozen=True)
class ValidatedBatch:
    """The accepted events, normalised, and the rejected records."""

    accepted: pa.Table
    rejected: list[Rejection]


def validate(
    raw: pa.Table,
    event_type_aliases: Mapping[str, str] | None = None,
    status_aliases: Mapping[str, str] | None = None,
    timestamp_range: tuple[datetime, datetime] = DEFAULT_TIMESTAMP_RANGE,
) -> ValidatedBatch:
    """Check and normalise a table of raw events.

    ``raw`` may hold any subset of ``RAW_COLUMNS`` (missing ones are null), plus the
    optional ``record_index``, ``payload`` (the original text of the record, kept
    for dead letters), ``shape_errors`` (list of messages found while parsing) and
    ``line_number`` (where a file's record came from). ``timestamp_range`` bounds
    ``event_timestamp``: from (inclusive), until (exclusive).
    """
    raw = _complete(raw)
    con = _connection(event_type_aliases or {}, status_aliases or {})
    typed = pa.types.is_timestamp(raw.schema.field("event_timestamp").type)
    bounds = list(timestamp_range)
    con.register("raw_events", raw)
    try:
        # A statement run through execute is parsed and bound once; a relation over
        # it (con.sql) twice, and its text tokenized in Python: 10 ms of a small batch.
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE accepted_events AS"
            f" WITH {_checks(typed)}, {_ACCEPTED_SQL}",
            bounds,
        )
        accepted = con.sql("SELECT * FROM accepted_events").to_arrow_table().cast(ACCEPTED_SCHEMA)
        rows: list[Any] = []
        if accepted.num_rows < raw.num_rows:
            # Most records pass, so the checks run once over all of them and again
            # only over those that did not: their messages are assembled then.
            only = "WHERE record_index NOT IN (SELECT record_index FROM accepted_events)"
            sql = f"WITH {_checks(typed, only)}, {_REJECTED_SQL}"
            rows = con.execute(sql, bounds).fetchall()
    finally:
        con.execute("DROP TABLE IF EXISTS accepted_events")
        con.unregister("raw_events")
    return ValidatedBatch(
        accepted=accepted,
        rejected=[
            Rejection(int(index), str(payload), list(errors), line)
            for index, payload, errors, line in rows
        ],
    )


def _checks(typed: bool, only: str = "") -> str:
    """The checks for a batch whose ``event_timestamp`` is text or, when ``typed``,
    already an instant; ``only`` is a WHERE clause over the raw records."""
    return _CHECKS_SQL.substitute(
        timestamp_text="CAST(NULL AS VARCHAR)" if typed else "CAST(event_timestamp AS VARCHAR)",
        timestamp_value=(
            "CAST(event_timestamp AS TIMESTAMPTZ)" if typed else "CAST(NULL AS TIMESTAMPTZ)"
        ),
        statuses=", ".join(sorted(STATUSES)),
        event_types=", ".join(sorted(DEFAULT_STATUS)),
        timestamp_pattern=TIMESTAMP_PATTERN,
        kind_pattern=KIND_PATTERN,
        offset_pattern=_OFFSET_AT_END,
        only=only,
    )


_local = threading.local()

IDENTIFIER_MAX_LENGTH = 128

_IDENTIFIER_PROBLEM = f"""
CREATE MACRO identifier_problem(value) AS CASE
    WHEN length(value) > {IDENTIFIER_MAX_LENGTH} THEN
        length(value) || ' characters; at most {IDENTIFIER_MAX_LENGTH} are allowed'
    WHEN regexp_matches(value, '\\p{{Cc}}') THEN
        quoted(value) || ' holds a control character'
    WHEN regexp_matches(value, '^\\s|\\s$') THEN
        quoted(value) || ' begins or ends with a space; send the identifier without it'
END
"""
"""Why an identifier (shipment, event, location) is refused, or NULL: 1 to 128
characters, no control characters, no space around it (DESIGN 2a). A GS1 Digital
Link URL, with its ``/``, is one."""


def _connection(
    event_type_aliases: Mapping[str, str], status_aliases: Mapping[str, str]
) -> duckdb.DuckDBPyConnection:
    """This thread's in-memory DuckDB with the vocabulary loaded.

    Opening one costs tens of milliseconds, as much as validating a small batch, so
    each thread keeps one per alias configuration.
    """
    key = (tuple(sorted(event_type_aliases.items())), tuple(sorted(status_aliases.items())))
    cached: tuple[object, duckdb.DuckDBPyConnection] | None = getattr(_local, "validator", None)
    if cached is not None and cached[0] == key:
        return cached[1]
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    # A refused value is quoted in its message, shortened: a 7 MB event_type must
    # not make a 7 MB reason.
    con.execute(
        "CREATE MACRO quoted(value) AS to_json(CASE WHEN length(value) > 80"
        " THEN left(value, 80) || '…' ELSE value END)"
    )
    con.execute(_IDENTIFIER_PROBLEM)
    _register_vocabulary(con, event_type_aliases, status_aliases)
    if cached is not None:
        cached[1].close()
    _local.validator = (key, con)
    return con


def _complete(raw: pa.Table) -> pa.Table:
    """Add the optional columns a shape did not provide, as nulls."""
    n = raw.num_rows
    for name in (*RAW_COLUMNS, *SIDE_COLUMNS):
        if name not in raw.column_names:
            raw = raw.append_column(name, pa.nulls(n, pa.string()))
    if "record_index" not in raw.column_names:
        raw = raw.append_column("record_index", pa.array(np.arange(n, dtype=np.int64)))
    if "payload" not in raw.column_names:
        raw = raw.append_column("payload", pa.nulls(n, pa.string()))
    if "shape_errors" not in raw.column_names:
        raw = raw.append_column("shape_errors", pa.nulls(n, pa.list_(pa.string())))
    if "line_number" not in raw.column_names:
        raw = raw.append_column("line_number", pa.nulls(n, pa.int64()))
    return raw


def _register_vocabulary(
    con: duckdb.DuckDBPyConnection,
    event_type_aliases: Mapping[str, str],
    status_aliases: Mapping[str, str],
) -> None:
    type_aliases = {**BUILTIN_EVENT_TYPE_ALIASES, **format_event_types(), **event_type_aliases}
    _check_aliases("event_type", type_aliases, frozenset(DEFAULT_STATUS))
    _check_aliases("status", status_aliases, STATUSES)
    tables = {
        "type_vocabulary": pa.table(
            {
                "code": list(DEFAULT_STATUS),
                "canonical": list(DEFAULT_STATUS),
                "status": list(DEFAULT_STATUS.values()),
            }
        ),
        "type_aliases": _alias_table(type_aliases),
        "status_vocabulary": pa.table({"code": sorted(STATUSES), "canonical": sorted(STATUSES)}),
        "status_aliases": _alias_table(status_aliases),
    }
    for name, table in tables.items():
        con.register(name, table)


def _check_aliases(field: str, aliases: Mapping[str, str], vocabulary: frozenset[str]) -> None:
    for code, target in aliases.items():
        if target not in vocabulary:
            raise ConfigError(
                f"alias {code!r} under [aliases.{field}] maps to {target!r}, which is not a"
                f" {field}; use one of: {', '.join(sorted(vocabulary))}"
            )


def _alias_table(aliases: Mapping[str, str]) -> pa.Table:
    return pa.table(
        {
            "code": pa.array(list(aliases), pa.string()),
            "canonical": pa.array(list(aliases.values()), pa.string()),
        }
    )
