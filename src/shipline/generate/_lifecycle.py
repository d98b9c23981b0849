"""The simulated world behind the generator: locations, routes and lifecycles.

Everything is computed column-wise over all shipments at once; the only Python
loops run over lifecycle slots and other fixed, small catalogues.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from shipline.events.vocabulary import DEFAULT_STATUS

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

# (city, country, region, latitude, longitude)
CITIES: tuple[tuple[str, str, str, float, float], ...] = (
    ("New York", "US", "us-east", 40.71, -74.01),
    ("Newark", "US", "us-east", 40.74, -74.17),
    ("Atlanta", "US", "us-east", 33.75, -84.39),
    ("Memphis", "US", "us-east", 35.15, -90.05),
    ("Louisville", "US", "us-east", 38.25, -85.76),
    ("Chicago", "US", "us-east", 41.88, -87.63),
    ("Miami", "US", "us-east", 25.76, -80.19),
    ("Toronto", "CA", "us-east", 43.65, -79.38),
    ("Montreal", "CA", "us-east", 45.50, -73.57),
    ("Los Angeles", "US", "us-west", 34.05, -118.24),
    ("Oakland", "US", "us-west", 37.80, -122.27),
    ("Seattle", "US", "us-west", 47.61, -122.33),
    ("Phoenix", "US", "us-west", 33.45, -112.07),
    ("Denver", "US", "us-west", 39.74, -104.99),
    ("Salt Lake City", "US", "us-west", 40.76, -111.89),
    ("Vancouver", "CA", "us-west", 49.28, -123.12),
    ("Frankfurt", "DE", "eu-central", 50.11, 8.68),
    ("Leipzig", "DE", "eu-central", 51.34, 12.37),
    ("Cologne", "DE", "eu-central", 50.94, 6.96),
    ("Munich", "DE", "eu-central", 48.14, 11.58),
    ("Warsaw", "PL", "eu-central", 52.23, 21.01),
    ("Prague", "CZ", "eu-central", 50.08, 14.44),
    ("Vienna", "AT", "eu-central", 48.21, 16.37),
    ("Zurich", "CH", "eu-central", 47.38, 8.54),
    ("London", "GB", "eu-west", 51.51, -0.13),
    ("Birmingham", "GB", "eu-west", 52.49, -1.89),
    ("Paris", "FR", "eu-west", 48.86, 2.35),
    ("Lyon", "FR", "eu-west", 45.76, 4.84),
    ("Amsterdam", "NL", "eu-west", 52.37, 4.90),
    ("Brussels", "BE", "eu-west", 50.85, 4.35),
    ("Madrid", "ES", "eu-west", 40.42, -3.70),
    ("Dublin", "IE", "eu-west", 53.35, -6.26),
    ("Tokyo", "JP", "apac", 35.68, 139.69),
    ("Osaka", "JP", "apac", 34.69, 135.50),
    ("Singapore", "SG", "apac", 1.35, 103.82),
    ("Hong Kong", "HK", "apac", 22.32, 114.17),
    ("Shanghai", "CN", "apac", 31.23, 121.47),
    ("Seoul", "KR", "apac", 37.57, 126.98),
    ("Sydney", "AU", "apac", -33.87, 151.21),
    ("Melbourne", "AU", "apac", -37.81, 144.96),
)
FACILITY_TYPES = ("hub", "depot", "customs", "pickup_point")
FACILITY_TITLES = ("Hub", "Depot", "Customs", "Pickup Point")
HUB, DEPOT, CUSTOMS, PICKUP_POINT = range(4)
FACILITY_WEIGHTS = (0.25, 0.45, 0.1, 0.2)

CARRIERS = (
    "UPS", "FedEx", "DHL Express", "USPS", "DPD", "GLS",
    "Royal Mail", "PostNL", "La Poste", "Canada Post", "Japan Post", "Aramex",
)  # fmt: skip
CARRIER_WEIGHTS = (0.15, 0.14, 0.12, 0.11, 0.08, 0.06, 0.06, 0.05, 0.05, 0.06, 0.06, 0.06)
# With ``structured``: how much slower than the median each carrier moves, and the
# steps that wait over a Sunday (UTC) for Monday.
CARRIER_PACE = np.array([0.85, 0.8, 0.75, 1.2, 1.0, 1.1, 1.25, 0.95, 1.1, 1.3, 0.9, 1.4])
SUNDAY_WAITS = ("picked_up", "out_for_delivery", "retry", "delivered")

SERVICE_LEVELS = ("express", "standard", "economy")
SERVICE_WEIGHTS = (0.2, 0.6, 0.2)
PROMISED_DAYS = np.array([1, 3, 5], dtype=np.int64)
SPEED = np.array([0.3, 0.9, 1.5])

# Terminal paths; the weights are the "few percent" of non-standard lifecycles.
NORMAL, ATTEMPTED, PICKUP, RETURNED, CANCELLED = range(5)
PATH_WEIGHTS = (0.905, 0.04, 0.03, 0.01, 0.015)
HOP_WEIGHTS = (0.3, 0.35, 0.25, 0.1)
MAX_HOPS = len(HOP_WEIGHTS)
IN_TRANSIT_P, EXCEPTION_P, CUSTOMS_HOLD_P, DOMESTIC_P = 0.4, 0.025, 0.4, 0.8

DEST = MAX_HOPS + 1  # route column of the destination; columns 0..MAX_HOPS are hops
MIN_GAP_S, MAX_GAP_S = 300, 30 * 3600


class Slot(NamedTuple):
    """One possible step of a lifecycle, in time order."""

    kind: str
    event_type: str
    route_col: int  # which column of the route gives the location
    hop: int
    median_min: float  # the gap since the previous event
    sigma: float
    extra_min: float = 0.0  # a delay this step adds to the next step's gap


def _slots() -> tuple[Slot, ...]:
    slots = [
        Slot("created", "created", 0, 0, 0, 0),
        Slot("cancelled", "cancelled", 0, 0, 120, 1.0),
        Slot("picked_up", "picked_up", 0, 0, 240, 0.8),
    ]
    for k in range(MAX_HOPS):
        slots += [
            Slot("departed", "departed_facility", k, k, 150 if k == 0 else 180, 0.7),
            Slot("in_transit", "in_transit", k, k, 200, 0.6),
            Slot("arrived", "arrived_at_facility", k + 1, k, 420, 0.6),
        ]
        if k == 0:  # cross-border routes clear customs at their first stop
            slots.append(Slot("customs", "customs_hold", 1, 0, 30, 0.8, extra_min=600))
        slots.append(Slot("exception", "exception", k + 1, k, 60, 0.8, extra_min=480))
    return (
        *slots,
        Slot("out_for_delivery", "out_for_delivery", DEST, 0, 480, 0.5),
        Slot("attempted", "delivery_attempted", DEST, 0, 240, 0.6),
        Slot("retry", "out_for_delivery", DEST, 0, 1080, 0.3),
        Slot("ready", "ready_for_pickup", DEST, 0, 180, 0.6, extra_min=1080),
        Slot("returned", "returned_to_sender", DEST, 0, 1200, 0.4),
        Slot("delivered", "delivered", DEST, 0, 180, 0.7),
    )


SLOTS = _slots()
EVENT_TYPE_NAMES: tuple[str, ...] = tuple(DEFAULT_STATUS)
SLOT_TYPE = np.array([EVENT_TYPE_NAMES.index(s.event_type) for s in SLOTS], dtype=np.int8)
SLOT_ROUTE_COL = np.array([s.route_col for s in SLOTS], dtype=np.int64)


def _payloads() -> tuple[tuple[str, ...], IntArray, IntArray]:
    """``event_data`` JSON texts, and each event type's offset and count among them."""
    temperatures = [round(t, 1) for t in np.arange(-5.0, 35.01, 0.5).tolist()]
    scans = [
        {"scan": s, "temperature_c": t} for s in ("barcode", "rfid", "manual") for t in temperatures
    ]
    reasons = {
        "customs_hold": ("documents_missing", "duties_unpaid", "inspection"),
        "exception": ("damaged", "address_issue", "weather_delay", "missorted"),
        "delivery_attempted": ("recipient_absent", "access_denied", "business_closed"),
        "returned_to_sender": ("refused", "undeliverable", "unclaimed"),
        "cancelled": ("customer_request", "payment_failed", "duplicate_order"),
    }
    by_type: dict[str, list[dict[str, object]]] = {
        "created": [{"channel": c} for c in ("api", "web", "edi", "retail")],
        "ready_for_pickup": [{"hold_days": d} for d in (5, 7, 10, 14)],
        "delivered": [
            {"proof": p, "signed_by": n}
            for p in ("signature", "photo", "safe_place")
            for n in ("A. Smith", "J. Chen", "M. Garcia", "K. Müller", "R. Tanaka", "front desk")
        ],
        **{t: [{"reason": r} for r in rs] for t, rs in reasons.items()},
    }
    blocks = [by_type.get(t, scans) for t in EVENT_TYPE_NAMES]
    counts = np.array([len(b) for b in blocks], dtype=np.int64)
    offsets = np.cumsum(counts) - counts
    texts = tuple(json.dumps(p, ensure_ascii=False) for b in blocks for p in b)
    return texts, offsets, counts


PAYLOADS, PAYLOAD_OFFSET, PAYLOAD_COUNT = _payloads()


@dataclass(frozen=True)
class World:
    """Locations as parallel arrays, indexed by location number."""

    city: IntArray
    facility: IntArray
    country: IntArray  # index into countries
    region: IntArray  # index into regions
    countries: tuple[str, ...]
    regions: tuple[str, ...]
    latitude: npt.NDArray[np.float64]
    longitude: npt.NDArray[np.float64]


@dataclass(frozen=True)
class Lifecycles:
    """Per-shipment attributes plus the (shipment x slot) presence and time grids."""

    created_s: IntArray
    service: IntArray
    carrier: IntArray
    weight_kg: npt.NDArray[np.float64]
    route: npt.NDArray[np.int32]  # (shipments, DEST + 1) location numbers
    present: BoolArray  # (shipments, len(SLOTS))
    time_s: IntArray  # (shipments, len(SLOTS)); meaningful where present

    def swap(self, a: int, b: int) -> None:
        """Exchange shipments ``a`` and ``b`` in place."""
        for column in (self.created_s, self.service, self.carrier, self.weight_kg):
            column[[a, b]] = column[[b, a]]
        for grid in (self.route, self.present, self.time_s):
            grid[[a, b]] = grid[[b, a]]

    def head(self, n: int) -> Lifecycles:
        """The first ``n`` shipments (views, not copies)."""
        return Lifecycles(
            created_s=self.created_s[:n],
            service=self.service[:n],
            carrier=self.carrier[:n],
            weight_kg=self.weight_kg[:n],
            route=self.route[:n],
            present=self.present[:n],
            time_s=self.time_s[:n],
        )


def build_world(rng: np.random.Generator, n: int) -> World:
    """Draw ``n`` locations over the city catalogue, guaranteeing every facility type."""
    city = rng.integers(0, len(CITIES), n)
    facility = rng.choice(len(FACILITY_TYPES), n, p=FACILITY_WEIGHTS)
    facility[: len(FACILITY_TYPES)] = np.arange(len(FACILITY_TYPES))
    countries = tuple(sorted({c[1] for c in CITIES}))
    regions = tuple(sorted({c[2] for c in CITIES}))
    city_country = np.array([countries.index(c[1]) for c in CITIES])
    city_region = np.array([regions.index(c[2]) for c in CITIES])
    city_lat = np.array([c[3] for c in CITIES])
    city_lon = np.array([c[4] for c in CITIES])
    return World(
        city=city,
        facility=facility.astype(np.int64),
        country=city_country[city],
        region=city_region[city],
        countries=countries,
        regions=regions,
        latitude=np.round(city_lat[city] + rng.normal(0, 0.08, n), 5),
        longitude=np.round(city_lon[city] + rng.normal(0, 0.08, n), 5),
    )


def _pick(
    rng: np.random.Generator,
    group: IntArray,
    members: BoolArray,
    member_group: IntArray,
    avoid: IntArray | None = None,
) -> IntArray:
    """For each row, a random member in the row's group (any member if the group has none).

    A pick equal to ``avoid`` moves to the next member, so it differs whenever it can.
    """
    ids = np.flatnonzero(members)
    order = np.argsort(member_group[ids], kind="stable")
    ids, sorted_group = ids[order], member_group[ids][order]
    n_groups = int(max(group.max(initial=0), sorted_group.max(initial=0))) + 1
    starts = np.searchsorted(sorted_group, np.arange(n_groups))
    counts = np.searchsorted(sorted_group, np.arange(n_groups), side="right") - starts
    count = counts[group]
    # An empty group falls back to the whole member list.
    base = np.where(count > 0, starts[group], 0)
    count = np.where(count > 0, count, len(ids))
    pos = (rng.random(len(group)) * count).astype(np.int64)
    picked = ids[base + pos]
    if avoid is not None:
        picked = np.where(picked == avoid, ids[base + (pos + 1) % count], picked)
    return picked


def _route(
    rng: np.random.Generator, world: World, n: int
) -> tuple[IntArray, npt.NDArray[np.int32], BoolArray]:
    """Per shipment: the hop count, the route (origin, stops, destination) and cross-border."""
    is_depot = world.facility == DEPOT
    origin = np.flatnonzero(is_depot)[rng.integers(0, int(is_depot.sum()), n)]
    deliverable = is_depot | (world.facility == PICKUP_POINT)
    domestic = _pick(rng, world.country[origin], deliverable, world.country, avoid=origin)
    nowhere = np.zeros(n, dtype=np.int64)
    anywhere = _pick(rng, nowhere, deliverable, np.zeros_like(world.country), avoid=origin)
    dest = np.where(rng.random(n) < DOMESTIC_P, domestic, anywhere)
    cross = world.country[origin] != world.country[dest]
    hops = rng.choice(np.arange(1, MAX_HOPS + 1), n, p=HOP_WEIGHTS)
    hops = np.where(cross, np.maximum(hops, 2), hops)

    route = np.empty((n, DEST + 1), dtype=np.int32)
    route[:, 0], route[:, DEST] = origin, dest
    is_hub = world.facility == HUB
    prev = origin
    for k in range(1, MAX_HOPS + 1):
        home = world.region[origin] if k == 1 else world.region[dest]
        hub = _pick(rng, home, is_hub, world.region, avoid=prev)
        if k == 1:
            customs = _pick(rng, world.country[dest], world.facility == CUSTOMS, world.country)
            hub = np.where(cross, customs, hub)
        prev = np.where(hops == k, dest, hub)
        route[:, k] = prev
    return hops, route, cross


def simulate(
    rng: np.random.Generator,
    world: World,
    n: int,
    start_s: int,
    cutoff_s: int,
    structured: bool = False,
) -> Lifecycles:
    """Simulate ``n`` shipments created uniformly in [start_s, cutoff_s), cut at cutoff_s.

    ``structured`` adds what a delivery prediction can learn beyond service and route:
    carriers that differ in pace (``CARRIER_PACE``), and pickups and deliveries that
    wait over a Sunday. Without it, the draws (and so the data) are as they were.
    """
    created = start_s + (rng.random(n) * (cutoff_s - start_s)).astype(np.int64)
    hops, route, cross = _route(rng, world, n)
    service = rng.choice(len(SERVICE_LEVELS), n, p=SERVICE_WEIGHTS)
    path = rng.choice(len(PATH_WEIGHTS), n, p=PATH_WEIGHTS)
    in_transit = rng.random((n, MAX_HOPS)) < IN_TRANSIT_P
    customs_hold = cross & (rng.random(n) < CUSTOMS_HOLD_P)
    exception_hop = np.where(
        rng.random(n) < EXCEPTION_P, (rng.random(n) * hops).astype(np.int64), -1
    )
    moving = path != CANCELLED
    final_step = {
        "out_for_delivery": np.isin(path, (NORMAL, ATTEMPTED, RETURNED)),
        "attempted": np.isin(path, (ATTEMPTED, RETURNED)),
        "retry": path == ATTEMPTED,
        "ready": path == PICKUP,
        "returned": path == RETURNED,
        "delivered": np.isin(path, (NORMAL, ATTEMPTED, PICKUP)),
    }

    present = np.zeros((n, len(SLOTS)), dtype=np.bool_)
    time_s = np.zeros((n, len(SLOTS)), dtype=np.int64)
    speed = SPEED[service]
    if structured:  # drawn first, since each gap depends on it
        carrier = rng.choice(len(CARRIERS), n, p=CARRIER_WEIGHTS).astype(np.int64)
        speed = speed * CARRIER_PACE[carrier]
    t = created.copy()
    pending = np.zeros(n, dtype=np.int64)
    for s, slot in enumerate(SLOTS):
        if slot.kind == "created":
            here = np.ones(n, dtype=np.bool_)
        elif slot.kind in ("cancelled", "picked_up"):
            here = ~moving if slot.kind == "cancelled" else moving
        elif slot.kind in ("departed", "arrived"):
            here = moving & (slot.hop < hops)
        elif slot.kind == "in_transit":
            here = moving & (slot.hop < hops) & in_transit[:, slot.hop]
        elif slot.kind == "customs":
            here = moving & customs_hold
        elif slot.kind == "exception":
            here = moving & (exception_hop == slot.hop)
        else:
            here = final_step[slot.kind]
        if s > 0:
            gap = slot.median_min * 60 * speed * np.exp(slot.sigma * rng.standard_normal(n))
            step = np.clip(gap, MIN_GAP_S, MAX_GAP_S).astype(np.int64) + pending
            t += np.where(here, step, 0)
            pending = np.where(here, 0, pending)
            if structured and slot.kind in SUNDAY_WAITS:
                t += np.where(here & ((t // 86400 + 3) % 7 == 6), 86400, 0)
        if slot.extra_min:
            extra = slot.extra_min * 60 * np.exp(0.5 * rng.standard_normal(n))
            pending += np.where(here, extra.astype(np.int64), 0)
        present[:, s] = here & (t <= cutoff_s)
        time_s[:, s] = t
    return Lifecycles(
        created_s=created,
        service=service.astype(np.int64),
        carrier=carrier
        if structured
        else rng.choice(len(CARRIERS), n, p=CARRIER_WEIGHTS).astype(np.int64),
        weight_kg=np.round(rng.lognormal(np.log(2.0), 0.9, n).clip(0.05, 70.0), 2),
        route=route,
        present=present,
        time_s=time_s,
    )
