"""Local times: a timestamp without an offset, read in an IANA zone (DESIGN 2a).

The zone is the event location's (``locations.timezone``), else the source's
(``[sources.NAME] timezone`` in shipline.toml); the same holds for the
``estimated_at`` of a record's estimates (an X12 appointment in local time). A
time with neither is left as it is, for validation to refuse with a reason that
names both fixes.

Daylight-saving changes, one rule: a wall-clock time that happens twice (clocks go
back) is the first of the two instants; one that never happens (clocks go forward)
is refused with its reason, since any instant chosen for it would be a guess.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pyarrow as pa
import pyarrow.compute as pc

from shipline.store import Backend

LOCAL_TIME = r"^\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d(\.\d{1,9})?$"
"""An RFC 3339 date and time with nothing after the seconds: no ``Z``, no offset."""


_LOCAL_ESTIMATE = r'"estimated_at": "\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d(\.\d{1,9})?"'
"""An estimate, in a record's ``estimates`` JSON, whose time has no offset."""


def resolve_local_times(backend: Backend, raw: pa.Table, source_zone: str | None) -> pa.Table:
    """``raw`` with each local ``event_timestamp`` and ``estimated_at`` given its
    zone's offset, or refused (as a shape error) when the zone is unknown or the time
    does not exist in it."""
    raw = _resolve(backend, raw, source_zone, "event_timestamp", LOCAL_TIME, _event_time)
    return _resolve(backend, raw, source_zone, "estimates", _LOCAL_ESTIMATE, _estimates)


Resolver = Callable[[str, str, "str | None"], tuple[str, list[str]]]
"""``(value, zone, location whose zone it is)``: the value resolved, and problems."""


def _resolve(
    backend: Backend,
    raw: pa.Table,
    source_zone: str | None,
    name: str,
    pattern: str,
    resolver: Resolver,
) -> pa.Table:
    """``raw`` with the values of string column ``name`` that match ``pattern``
    resolved in their location's zone, else the source's."""
    if name not in raw.column_names or not pa.types.is_string(raw.column(name).type):
        return raw
    column = raw.column(name)
    local = pc.fill_null(pc.match_substring_regex(column, pattern), False)
    if not pc.any(local).as_py():
        return raw
    rows = pc.indices_nonzero(local)
    # Only the local values are read into Python: they matched an ASCII pattern, while
    # another value of the column may hold bytes that are not UTF-8 (its own error).
    texts = pc.take(column, rows).to_pylist()
    locations = (
        [_text(value) for value in pc.take(raw.column("location_id"), rows)]
        if "location_id" in raw.column_names
        else [None] * len(texts)
    )
    zones = _location_zones(backend, {location for location in locations if location})
    errors = _shape_errors(raw)
    for position, (index, location) in enumerate(zip(rows.to_pylist(), locations, strict=True)):
        zone_name = (zones.get(location) if location else None) or source_zone
        if zone_name is None:
            continue  # validation refuses the time, naming both fixes
        whose = location if location in zones else None
        texts[position], problems = resolver(texts[position], zone_name, whose)
        if problems:
            errors[index] = [*(errors[index] or []), *problems]
    raw = _replaced(raw, name, local, texts)
    return _with_errors(raw, errors)


def _event_time(text: str, zone_name: str, whose: str | None) -> tuple[str, list[str]]:
    resolved, problem = _in_zone(text, zone_name, whose, "event_timestamp")
    return (text, [problem]) if problem is not None else (resolved, [])


def _estimates(text: str, zone_name: str, whose: str | None) -> tuple[str, list[str]]:
    """A record's estimates (JSON) with each local ``estimated_at`` resolved."""
    estimates = json.loads(text)
    problems = []
    for estimate in estimates:
        at = estimate.get("estimated_at") if isinstance(estimate, dict) else None
        if isinstance(at, str) and re.fullmatch(LOCAL_TIME, at):
            estimate["estimated_at"], problem = _in_zone(at, zone_name, whose, "estimates")
            if problem is not None:
                problems.append(problem)
    return json.dumps(estimates, ensure_ascii=False), problems


def _replaced(raw: pa.Table, name: str, mask: pa.Array, texts: list[str]) -> pa.Table:
    """``raw`` with the masked values of string column ``name`` replaced by ``texts``."""
    column = pc.replace_with_mask(
        _array(raw.column(name)), _array(mask), pa.array(texts, pa.string())
    )
    return raw.set_column(raw.column_names.index(name), name, column)


def _with_errors(raw: pa.Table, errors: list[list[str] | None]) -> pa.Table:
    shape_errors = pa.array(errors, pa.list_(pa.string()))
    if "shape_errors" not in raw.column_names:
        return raw.append_column("shape_errors", shape_errors)
    return raw.set_column(raw.column_names.index("shape_errors"), "shape_errors", shape_errors)


def _in_zone(text: str, zone_name: str, location: str | None, field: str) -> tuple[str, str | None]:
    """The time with its offset in the zone, or the reason it cannot have one."""
    whose = f"location {location!r}'s zone" if location else "the source's zone"
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        return text, f"{field}: {whose} {zone_name!r} is not an IANA time zone name"
    wall = datetime.fromisoformat(_microseconds(text))
    first = wall.replace(tzinfo=zone, fold=0)
    if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != wall:
        return text, (
            f"{field}: {text!r} does not exist in {zone_name} (the clocks skip it"
            " at a daylight-saving change); send it with its UTC offset"
        )
    return first.isoformat(), None


def _microseconds(text: str) -> str:
    """The time with at most six fractional digits (instants are kept to the us)."""
    head, dot, fraction = text.replace("t", "T").partition(".")
    return f"{head}.{fraction[:6]}" if dot else head


def _location_zones(backend: Backend, location_ids: set[str]) -> Mapping[str, str]:
    if not location_ids:
        return {}
    placeholders = ", ".join("?" for _ in location_ids)
    rows = backend.fetchall(
        f"SELECT location_id, timezone FROM locations WHERE location_id IN ({placeholders})"
        " AND timezone IS NOT NULL",
        sorted(location_ids),
    )
    return {str(location): str(zone) for location, zone in rows}


def _array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def _text(value: pa.Scalar) -> str | None:
    """A string scalar's text, or None when it is null or not UTF-8."""
    try:
        found = value.as_py()
    except UnicodeDecodeError:
        return None
    return found if isinstance(found, str) else None


def _shape_errors(raw: pa.Table) -> list[list[str] | None]:
    if "shape_errors" in raw.column_names:
        found: list[list[str] | None] = raw.column("shape_errors").to_pylist()
        return found
    return [None] * raw.num_rows
