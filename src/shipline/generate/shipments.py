"""Realistic synthetic shipments, fast enough for ten million events.

Lifecycles come from :mod:`shipline.generate._lifecycle`; this module flattens them
into events, adds the noise a real feed has (late, duplicate and malformed rows),
orders them by arrival and writes them out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from sqlglot import exp

from shipline.events.vocabulary import DEFAULT_STATUS
from shipline.generate import _lifecycle as lc

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

TIMESTAMP = pa.timestamp("us", tz="UTC")
EVENT_SCHEMA = pa.schema(
    [
        ("shipment_id", pa.string()),
        ("event_id", pa.string()),
        ("event_timestamp", TIMESTAMP),
        ("event_type", pa.string()),
        ("status", pa.string()),
        ("location_id", pa.string()),
        ("carrier", pa.string()),
        ("event_data", pa.string()),
    ]
)

ID_NULL_P, STATUS_NULL_P, DATA_NULL_P = 0.3, 0.2, 0.35
UNKNOWN_TYPES = ("teleported", "beamed_up", "vanished")
BAD_STATUSES = ("lost_in_space", "misplaced")
# Kinds of malformed row, each one a rule a validator must enforce.
NULL_SHIPMENT, EMPTY_SHIPMENT, ILLEGAL_SHIPMENT, LONG_SHIPMENT = range(4)
UNKNOWN_TYPE, BAD_STATUS, NULL_TIMESTAMP = range(4, 7)
BAD_KINDS = 7

STATUS_NAMES = tuple(dict.fromkeys(DEFAULT_STATUS.values()))
STATUS_OF_TYPE = np.array([STATUS_NAMES.index(DEFAULT_STATUS[t]) for t in lc.EVENT_TYPE_NAMES])
CHUNK_ROWS = 1 << 20
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


@dataclass(frozen=True)
class ShipmentDataset:
    """Generated reference tables and the event feed, in arrival order."""

    locations: pa.Table
    packages: pa.Table
    events: pa.Table


@dataclass(frozen=True)
class GeneratedFiles:
    """What :func:`write_dataset` wrote."""

    locations: Path
    packages: Path
    events: list[Path]
    event_rows: int
    shipments: int


@dataclass(frozen=True)
class _Events:
    """Every distinct event, one row each, in shipment then time order."""

    ship: IntArray
    event_type: npt.NDArray[np.int8]
    time_s: IntArray
    location: npt.NDArray[np.int32]
    data_code: npt.NDArray[np.int16]  # index into the payload catalogue, -1 for none
    has_id: BoolArray
    has_status: BoolArray
    bad_kind: npt.NDArray[np.int8]  # -1 for a well-formed row
    id_key: np.uint64


def _strings(chars: npt.NDArray[np.uint8], valid: BoolArray | None = None) -> pa.Array:
    """A string array from a (rows, width) matrix of ASCII codes, without a per-row loop."""
    rows, width = chars.shape
    offsets = np.arange(rows + 1, dtype=np.int32) * np.int32(width)
    bitmap = None if valid is None else pa.py_buffer(np.packbits(valid, bitorder="little"))
    data = pa.py_buffer(np.ascontiguousarray(chars))
    return pa.StringArray.from_buffers(rows, pa.py_buffer(offsets), data, bitmap)


def _prefixed(prefix: str, tail: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    head = np.frombuffer(prefix.encode(), dtype=np.uint8)
    return np.concatenate([np.broadcast_to(head, (len(tail), len(head))), tail], axis=1)


def _numbered(prefix: str, numbers: IntArray, width: int) -> pa.Array:
    """Zero-padded ids such as ``SHP-000000123``."""
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    digits = (numbers[:, None] // powers % 10 + ord("0")).astype(np.uint8)
    return _strings(_prefixed(prefix, digits))


def _event_ids(rows: IntArray, key: np.uint64, valid: BoolArray) -> pa.Array:
    """``evt-<16 hex>`` from a keyed bijection of the row number, so ids never collide."""
    x = rows.astype(np.uint64) ^ key
    for multiplier in (0x9E3779B97F4A7C15, 0xD6E8FEB86659FD93):
        x *= np.uint64(multiplier)
        x ^= x >> np.uint64(32)
    raw = x.astype(">u8").view(np.uint8).reshape(-1, 8)
    hexed = np.empty((len(rows), 16), dtype=np.uint8)
    hexed[:, 0::2], hexed[:, 1::2] = _HEX[raw >> 4], _HEX[raw & 15]
    return _strings(_prefixed("evt-", hexed), valid)


def _corrupt_ids(ids: pa.Array, kind: npt.NDArray[np.int8], rows: IntArray) -> pa.Array:
    """Replace the shipment ids of rows malformed in their shipment id."""
    mask = (kind >= NULL_SHIPMENT) & (kind <= LONG_SHIPMENT)
    if not mask.any():
        return ids
    real, k, variant = ids.filter(mask), kind[mask], rows[mask] % 3
    # DESIGN 2: an id is 1 to 128 characters, with no control character and no space
    # around it (a space, a slash or a dash inside is fine: real feeds send them).
    separator = pc.if_else(variant == 0, "\t", pc.if_else(variant == 1, "\x1f", "-"))
    illegal = pc.binary_join_element_wise(
        pc.if_else(variant == 2, " ", ""),
        pc.utf8_slice_codeunits(real, 0, 3),
        separator,
        pc.utf8_slice_codeunits(real, 4),
        "",
    )
    bad = pc.if_else(k == LONG_SHIPMENT, pc.binary_repeat(real, 10), illegal)
    bad = pc.if_else(k == EMPTY_SHIPMENT, "", bad)
    bad = pc.if_else(k == NULL_SHIPMENT, pa.scalar(None, pa.string()), bad)
    return pc.replace_with_mask(ids, pa.array(mask), bad)


@dataclass(frozen=True)
class _Dictionaries:
    """Values the event columns take by index."""

    shipment_ids: pa.Array
    location_ids: pa.Array
    carrier_of_ship: IntArray
    catalog: pa.Array

    def batch(self, ev: _Events, rows: IntArray) -> pa.RecordBatch:
        """The events at base-row numbers ``rows`` as a record batch."""
        ship, kind = ev.ship[rows], ev.bad_kind[rows]
        etype = ev.event_type[rows].astype(np.int64)
        type_code = np.where(kind == UNKNOWN_TYPE, len(lc.EVENT_TYPE_NAMES) + rows % 3, etype)
        status_code = np.where(
            kind == BAD_STATUS, len(STATUS_NAMES) + rows % 2, STATUS_OF_TYPE[etype]
        )
        no_status = ~ev.has_status[rows] & (kind != BAD_STATUS)
        data = ev.data_code[rows]
        columns = [
            _corrupt_ids(self.shipment_ids.take(ship), kind, rows),
            _event_ids(rows, ev.id_key, ev.has_id[rows]),
            pa.array(ev.time_s[rows] * 1_000_000, type=TIMESTAMP, mask=kind == NULL_TIMESTAMP),
            pa.array(lc.EVENT_TYPE_NAMES + UNKNOWN_TYPES).take(type_code),
            pa.array(STATUS_NAMES + BAD_STATUSES).take(pa.array(status_code, mask=no_status)),
            self.location_ids.take(ev.location[rows]),
            pa.array(lc.CARRIERS).take(self.carrier_of_ship[ship]),
            self.catalog.take(pa.array(data, mask=data < 0)),
        ]
        return pa.RecordBatch.from_arrays(columns, schema=EVENT_SCHEMA)


def _enough_lifecycles(
    rng: np.random.Generator,
    world: lc.World,
    need: int,
    start_s: int,
    cutoff_s: int,
    structured: bool = False,
) -> lc.Lifecycles:
    """Simulate shipments for exactly ``need`` events."""
    pilot = lc.simulate(rng, world, 2000, start_s, cutoff_s, structured)
    per_shipment = float(pilot.present.sum()) / 2000
    n = int(need / per_shipment * 1.03) + 50
    while True:
        life = lc.simulate(rng, world, n, start_s, cutoff_s, structured)
        counts = life.present.sum(axis=1)
        total = np.cumsum(counts)
        if total[-1] >= need:
            k = int(np.searchsorted(total, need))  # shipment k crosses `need`
            short = need - (int(total[k - 1]) if k else 0)
            # Prefer a later shipment with exactly the missing number of events.
            fits = np.flatnonzero(counts[k:] == short)
            if len(fits):
                life.swap(k, k + int(fits[0]))
            else:  # none has: this one stalls part-way instead, as lost parcels do
                life.present[k, np.flatnonzero(life.present[k])[short:]] = False
            return life.head(k + 1)
        n = int(n * need / float(total[-1]) * 1.05) + 50


def _choose(rng: np.random.Generator, candidates: IntArray, k: int, size: int) -> BoolArray:
    mask = np.zeros(size, dtype=np.bool_)
    mask[rng.choice(candidates, min(k, len(candidates)), replace=False)] = True
    return mask


def _base_events(
    rng: np.random.Generator, life: lc.Lifecycles, bad: int
) -> tuple[_Events, IntArray, BoolArray]:
    """Flatten the lifecycles; also return each event's arrival time and last-in-shipment flag."""
    ship, slot = np.nonzero(life.present)
    n = len(ship)
    event_type = lc.SLOT_TYPE[slot]
    offset, count = lc.PAYLOAD_OFFSET[event_type], lc.PAYLOAD_COUNT[event_type]
    data_code = offset + (rng.random(n) * count).astype(np.int64)
    bad_kind = np.full(n, -1, dtype=np.int8)
    bad_kind[rng.choice(n, min(bad, n), replace=False)] = rng.permutation(min(bad, n)) % BAD_KINDS
    last = np.ones(n, dtype=np.bool_)
    last[:-1] = ship[1:] != ship[:-1]
    ev = _Events(
        ship=ship,
        event_type=event_type,
        time_s=life.time_s[life.present],
        location=life.route[ship, lc.SLOT_ROUTE_COL[slot]],
        data_code=np.where(rng.random(n) < DATA_NULL_P, -1, data_code).astype(np.int16),
        has_id=rng.random(n) >= ID_NULL_P,
        has_status=rng.random(n) >= STATUS_NULL_P,
        bad_kind=bad_kind,
        id_key=np.uint64(rng.integers(0, 2**63)),
    )
    # Feeds deliver within seconds to minutes; shorter than any gap, so order holds.
    arrival = ev.time_s + np.clip(rng.lognormal(np.log(25), 1.0, n), 1, 240).astype(np.int64)
    return ev, arrival, last


def _arrival_order(
    rng: np.random.Generator,
    ev: _Events,
    arrival: IntArray,
    last: BoolArray,
    late: float,
    dup: float,
) -> IntArray:
    """Base-row numbers in arrival order, with late arrivals and duplicate deliveries."""
    n = len(arrival)
    is_late = _choose(rng, np.flatnonzero(~last), round(late * n), n)
    # A late event arrives after the next on-time event of its shipment (the last never is late).
    next_on_time = np.minimum.accumulate(np.where(is_late, n, np.arange(n))[::-1])[::-1]
    delay = np.clip(rng.lognormal(np.log(6 * 3600), 1.0, n), 3600, 4 * 86400).astype(np.int64)
    arrival = np.where(is_late, arrival[next_on_time] + delay, arrival)
    dup_of = rng.choice(np.flatnonzero(ev.bad_kind < 0), round(dup * n), replace=False)
    redelivery = np.clip(rng.lognormal(np.log(2400), 1.5, len(dup_of)), 30, 3 * 86400)
    arrivals = np.concatenate([arrival, arrival[dup_of] + redelivery.astype(np.int64)])
    order = np.argsort(arrivals, kind="stable")
    return np.concatenate([np.arange(n), dup_of])[order]


def _locations_table(world: lc.World) -> tuple[pa.Table, pa.Array]:
    n = len(world.city)
    ids = _numbered("LOC-", np.arange(1, n + 1), max(4, len(str(n))))
    name = pc.binary_join_element_wise(
        pa.array([c[0] for c in lc.CITIES]).take(world.city),
        pa.array(lc.FACILITY_TITLES).take(world.facility),
        " ",
    )
    # Later locations of the same city and type are numbered: "Leipzig Hub 2".
    key = world.city * len(lc.FACILITY_TYPES) + world.facility
    order = np.argsort(key, kind="stable")
    ordinal = np.empty(n, dtype=np.int64)
    ordinal[order] = np.arange(n) - np.searchsorted(key[order], key[order])
    number = pc.cast(pa.array(ordinal + 1), pa.string())
    suffix = pc.if_else(pa.array(ordinal > 0), pc.binary_join_element_wise(" ", number, ""), "")
    table = pa.table(
        {
            "location_id": ids,
            "location_name": pc.binary_join_element_wise(name, suffix, ""),
            "region": pa.array(world.regions).take(world.region),
            "country": pa.array(world.countries).take(world.country),
            "facility_type": pa.array(lc.FACILITY_TYPES).take(world.facility),
            "latitude": world.latitude,
            "longitude": world.longitude,
        }
    )
    return table, ids


def _packages_table(
    life: lc.Lifecycles, shipment_ids: pa.Array, location_ids: pa.Array
) -> pa.Table:
    order = np.argsort(life.created_s, kind="stable")
    service = life.service[order]
    promised = (life.created_s[order] + lc.PROMISED_DAYS[service] * 86400) * 1_000_000
    return pa.table(
        {
            "shipment_id": shipment_ids.take(order),
            "service_level": pa.array(lc.SERVICE_LEVELS).take(service),
            "promised_delivery_at": pa.array(promised, type=TIMESTAMP),
            "weight_kg": life.weight_kg[order],
            "origin_location_id": location_ids.take(life.route[order, 0]),
            "destination_location_id": location_ids.take(life.route[order, lc.DEST]),
        }
    )


def generate_dataset(
    events: int,
    *,
    seed: int = 0,
    start: datetime | None = None,
    days: int = 14,
    late_fraction: float = 0.05,
    duplicate_fraction: float = 0.01,
    bad_fraction: float = 0.001,
    locations: int = 200,
    structured: bool = False,
) -> ShipmentDataset:
    """Generate about ``events`` event rows (within 5%) for shipments created over ``days``.

    ``start`` (UTC if naive) defaults to midnight UTC ``days`` days ago; lifecycles are
    cut at the end of the window, or at now if that comes first. A ``late_fraction`` of
    events arrive hours to days after a later event of their shipment, a
    ``duplicate_fraction`` arrive again byte-identical, and a ``bad_fraction`` of rows
    are malformed. ``structured`` makes carriers differ in pace and Sundays delay
    pickups and deliveries (see ``_lifecycle.simulate``). The same arguments give
    identical tables.
    """
    if events < 1 or days < 1 or locations < len(lc.FACILITY_TYPES):
        raise ValueError(f"need events >= 1, days >= 1 and locations >= {len(lc.FACILITY_TYPES)}")
    for fraction in (late_fraction, duplicate_fraction, bad_fraction):
        if not 0.0 <= fraction < 1.0:
            raise ValueError(f"fractions must lie in [0, 1), got {fraction}")
    now = datetime.now(UTC)
    if start is None:
        start = now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=days)
    elif start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    start_s = int(start.timestamp())
    cutoff_s = min(start_s + days * 86400, int(now.timestamp()))
    if cutoff_s <= start_s:
        raise ValueError(f"start {start.isoformat()} is not in the past")

    world_rng, life_rng, event_rng = np.random.default_rng(seed).spawn(3)
    world = lc.build_world(world_rng, locations)
    locations_table, location_ids = _locations_table(world)
    life = _enough_lifecycles(
        life_rng,
        world,
        max(1, round(events / (1 + duplicate_fraction))),
        start_s,
        cutoff_s,
        structured,
    )
    numbers = np.empty(len(life.created_s), dtype=np.int64)
    numbers[np.argsort(life.created_s, kind="stable")] = np.arange(1, len(numbers) + 1)
    shipment_ids = _numbered("SHP-", numbers, 9)

    ev, arrival, last = _base_events(event_rng, life, round(bad_fraction * events))
    order = _arrival_order(event_rng, ev, arrival, last, late_fraction, duplicate_fraction)
    del arrival, last
    catalog = pa.array(lc.PAYLOADS, type=pa.string())
    dictionaries = _Dictionaries(shipment_ids, location_ids, life.carrier, catalog)
    batches = [
        dictionaries.batch(ev, order[i : i + CHUNK_ROWS]) for i in range(0, len(order), CHUNK_ROWS)
    ]
    return ShipmentDataset(
        locations=locations_table,
        packages=_packages_table(life, shipment_ids, location_ids),
        events=pa.Table.from_batches(batches, schema=EVENT_SCHEMA),
    )


def _iso_timestamps(events: pa.Table) -> pa.Table:
    """``event_timestamp`` as ISO-8601 text in UTC with a ``Z`` suffix."""
    naive = pc.cast(events["event_timestamp"], pa.timestamp("us"))
    iso = pc.strftime(naive, format="%Y-%m-%dT%H:%M:%SZ")
    return events.set_column(
        events.schema.get_field_index("event_timestamp"), "event_timestamp", iso
    )


def _write_ndjson(events: pa.Table, path: Path) -> None:
    with duckdb.connect() as con:
        con.register("part", _iso_timestamps(events))
        columns = ", ".join(
            exp.to_identifier(name, quoted=True).sql("duckdb")
            for name in EVENT_SCHEMA.names
            if name != "event_data"
        )
        target = exp.Literal.string(str(path)).sql("duckdb")
        # event_data is written as a nested JSON object, as a feed would send it.
        con.execute(
            f"COPY (SELECT {columns}, json(event_data) AS event_data FROM part) "
            f"TO {target} (FORMAT JSON)"
        )


def write_dataset(
    dataset: ShipmentDataset,
    out_dir: Path,
    *,
    file_format: Literal["parquet", "ndjson", "csv"] = "parquet",
    batches: int = 1,
) -> GeneratedFiles:
    """Write the reference tables and the events, split into ``batches`` arrival-order files."""
    if batches < 1:
        raise ValueError(f"batches must be at least 1, got {batches}")
    if file_format not in ("parquet", "ndjson", "csv"):
        raise ValueError(f"unknown file format {file_format!r}")
    out_dir.mkdir(parents=True, exist_ok=True)
    locations, packages = out_dir / "locations.parquet", out_dir / "packages.parquet"
    pq.write_table(dataset.locations, locations)
    pq.write_table(dataset.packages, packages)
    rows = dataset.events.num_rows
    paths = []
    for i in range(batches):
        lo, hi = rows * i // batches, rows * (i + 1) // batches
        part = dataset.events.slice(lo, hi - lo)
        path = out_dir / f"events-{i + 1:04d}.{file_format}"
        if file_format == "parquet":
            pq.write_table(part, path)
        elif file_format == "csv":
            pacsv.write_csv(_iso_timestamps(part), path)
        else:
            _write_ndjson(part, path)
        paths.append(path)
    return GeneratedFiles(locations, packages, paths, rows, dataset.packages.num_rows)
