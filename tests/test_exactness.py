"""The product's core promise, as a property (DESIGN section 3).

Random events arrive in random batches and orders, with duplicates, conflicts, late
events, newer and older revisions and retractions (before and after the event they
retract), some of them sent as DCSA Track & Trace events through the importer
(revised by ``eventUpdatedDateTime``, retracted by ``isRetracted``), between
interleaved base, incremental, replay and rebuild runs that leave shipments older
than the lookback frozen; in some scenarios one shipment is poisoned (events no run
can compute, as an older version stored them). After every run the poisoned
shipment, and only it, is held, the store kept exactly the records an independent
model of DESIGN 2a accepts, and for every other shipment the real-time view and the
summary equal a full recompute over each event's current revision: both the engine's
own ``verify --all`` and an independent Python reading of the contract.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shipline.events.vocabulary import DEFAULT_STATUS
from shipline.pipeline import Pipeline
from shipline.settings import Settings
from tests.engines import fresh_database
from tests.oracle import (
    accepted_records,
    current_revisions,
    expected_dwell,
    expected_facts,
    expected_summary,
    expected_timeline,
)
from tests.timeline.test_holds import store_poison

T0 = datetime(2026, 1, 1, tzinfo=UTC)
LOCATIONS = {"HUB-1": ("Hub One", "north"), "HUB-2": ("Hub Two", "south")}

events = st.fixed_dictionaries(
    {
        "shipment_id": st.sampled_from(["S1", "S2", "S3", "S4"]),
        # Few distinct instants, so ties (ordered by event_id) are common.
        "event_timestamp": st.integers(0, 40).map(
            lambda k: (T0 + timedelta(hours=7 * k, microseconds=k % 3)).isoformat()
        ),
        "event_type": st.sampled_from(sorted(DEFAULT_STATUS)),
        "location_id": st.sampled_from([None, "HUB-1", "HUB-2", "DEPOT-9"]),
    },
    optional={
        "event_id": st.sampled_from([f"e{i}" for i in range(30)]),
        "status": st.sampled_from(["in_transit", "exception", "delivered"]),
        "carrier": st.sampled_from(["ACME", "Globex"]),
        "revision": st.integers(0, 3),
        # Rare, so most scenarios keep most of their events.
        "retracted": st.sampled_from([False, False, False, True]),
    },
)

DCSA_CODES = {
    "arrived_at_facility": ("TRANSPORT", "ARRI"),
    "departed_facility": ("TRANSPORT", "DEPA"),
    "picked_up": ("EQUIPMENT", "PICK"),
    "in_transit": ("EQUIPMENT", "LOAD"),
    "ready_for_pickup": ("EQUIPMENT", "AVPU"),
    "customs_hold": ("EQUIPMENT", "INSP"),
    "delivered": ("EQUIPMENT", "DROP"),
}
"""The event types a DCSA actual event can say, by its type and code."""

dcsa_events = st.fixed_dictionaries(
    {
        "dcsa": st.just(True),
        "shipment_id": st.sampled_from(["S1", "S2", "S3", "S4"]),
        "event_timestamp": st.integers(0, 40).map(
            lambda k: (T0 + timedelta(hours=7 * k, microseconds=k % 3)).isoformat()
        ),
        "event_type": st.sampled_from(sorted(DCSA_CODES)),
        "location_id": st.sampled_from([None, "HUB-1", "HUB-2", "DEPOT-9"]),
        # Their own ids: a DCSA event's stored content (its event_data) is never that
        # of a plain record, so the two never share an id here.
        "event_id": st.sampled_from([f"d{i}" for i in range(10)]),
    },
    optional={
        "updated_after_seconds": st.integers(0, 3),
        "retracted": st.sampled_from([False, False, False, True]),
    },
)


def as_dcsa(record: dict[str, Any]) -> dict[str, Any]:
    """A record as a DCSA 3.0 actual event says it."""
    kind, code = DCSA_CODES[record["event_type"]]
    event: dict[str, Any] = {
        "eventID": record["event_id"],
        "eventDateTime": record["event_timestamp"],
        "eventClassification": {
            "eventTypeCode": kind,
            "eventClassifierCode": "ACT",
            f"{kind.lower()}EventTypeCode": code,
        },
        "shipmentDetails": {
            "documentReference": {"typeCode": "TRD", "reference": record["shipment_id"]}
        },
    }
    if record["location_id"] is not None:
        event["eventLocation"] = {"UNLocationCode": record["location_id"]}
    if "updated_after_seconds" in record:
        updated = T0 + timedelta(seconds=record["updated_after_seconds"])
        event["eventUpdatedDateTime"] = updated.isoformat()
    if "retracted" in record:
        event["isRetracted"] = record["retracted"]
    return event


def as_sent(record: dict[str, Any]) -> dict[str, Any]:
    """What the model is told was sent: a DCSA event as the record it stands for (its
    update time is its revision, in microseconds)."""
    if not record.get("dcsa"):
        return record
    sent = {k: v for k, v in record.items() if k not in ("dcsa", "updated_after_seconds")}
    if "updated_after_seconds" in record:
        updated = T0 + timedelta(seconds=record["updated_after_seconds"])
        sent["revision"] = (updated - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    return sent


runs = st.one_of(
    st.just(("incremental", None)),
    st.just(("incremental", None)),
    st.just(("incremental", None)),
    st.tuples(st.just("replay"), st.integers(0, 40)),
    st.tuples(st.just("base"), st.integers(0, 20)),
    st.tuples(st.just("rebuild"), st.integers(0, 20)),
    st.just(("none", None)),
)


@st.composite
def scenarios(draw: st.DrawFn) -> list[tuple[str, Any]]:
    """Events in a random arrival order, cut into batches, some delivered twice, with a
    random run after each batch: so late events land on timelines already built."""
    pool = draw(st.lists(st.one_of(events, events, dcsa_events), min_size=1, max_size=24))
    arrival = draw(st.permutations(pool))
    redelivered = draw(st.lists(st.sampled_from(pool), max_size=4))
    stream = list(arrival)
    for record in redelivered:
        stream.insert(draw(st.integers(0, len(stream))), record)
    cuts = sorted(draw(st.lists(st.integers(1, len(stream)), max_size=6, unique=True)))
    steps: list[tuple[str, Any]] = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        if stream[start:end]:
            steps.append(("ingest", stream[start:end]))
        steps.append(draw(runs))
    steps.append(draw(runs))
    if draw(st.booleans()):
        steps.insert(draw(st.integers(0, len(steps))), ("poison", POISONED))
    return steps


POISONED = "S4"
"""The shipment a scenario may poison."""


def stored_records(pipeline: Pipeline, upto: int) -> list[dict[str, Any]]:
    """The records clients sent that are stored up to ``upto`` (a poisoned shipment's
    own records have timestamps beyond what a client of PostgreSQL can even read)."""
    return pipeline.backend.fetch_dicts(
        "SELECT * FROM shipment_events WHERE ingest_seq <= ? AND source <> 'old-version'",
        [upto],
    )


def assert_exact(pipeline: Pipeline, sent: list[dict[str, Any]], poisoned: bool) -> None:
    """The poisoned shipment is held, the store holds what the model accepts of the
    records ``sent`` so far, and the view equals the Python contract over the current
    revision of every processed event of every other shipment: none leaves the view
    for its age."""
    held = {hold.shipment_id for hold in pipeline.holds()}
    assert held == ({POISONED} if poisoned else set())
    everything = stored_records(pipeline, 2**62)
    assert Counter(map(stored_key, everything)) == Counter(map(stored_key, accepted_records(sent)))
    checkpoint = pipeline.status().checkpoint
    # Revisions apply across shipments (an event may move), so the current revisions
    # are found among every record before the held shipments are left out.
    current = [
        event
        for event in current_revisions(stored_records(pipeline, checkpoint.last_ingest_seq))
        if event["shipment_id"] not in held
    ]
    expected = expected_timeline(current, LOCATIONS)
    actual = {
        (row["shipment_id"], row["event_id"]): {
            key: row[key] for key in next(iter(expected.values()), {})
        }
        for row in pipeline.backend.fetch_dicts("SELECT * FROM shipment_timeline_realtime")
        if row["shipment_id"] not in held
    }
    assert actual.keys() == expected.keys()
    for key, row in expected.items():
        assert actual[key] == row, key
    summaries = {
        row["shipment_id"]: row
        for row in pipeline.backend.fetch_dicts("SELECT * FROM shipment_summary")
    }
    for shipment_id, metrics in expected_summary(expected).items():
        assert {k: summaries[shipment_id][k] for k in metrics} == metrics
    assert_kpi_facts(pipeline, expected, held)
    verified = pipeline.verify(every_shipment=True)
    assert verified.drift == 0
    assert verified.held_shipments == len(held)


def assert_kpi_facts(
    pipeline: Pipeline, expected: dict[tuple[str, str], dict[str, Any]], held: set[str]
) -> None:
    """The facts the runs keep for the KPIs are those of the shipments' rows."""
    facts = expected_facts(expected)
    kept = {
        row.pop("shipment_id"): row
        for row in pipeline.backend.fetch_dicts(
            "SELECT shipment_id, picked_up_at, delivered_at, delivered_sequence,"
            " attempted_sequence, exception_count FROM shipment_state WHERE in_view"
        )
        if row["shipment_id"] not in held
    }
    assert kept == facts
    in_view = set(kept)
    dwell = [
        ((row["shipment_id"], row["location_id"]), int(row["dwell_us"]))
        for row in pipeline.backend.fetch_dicts("SELECT * FROM shipment_dwell")
        if row["shipment_id"] in in_view
    ]
    assert len(dwell) == len(dict(dwell)), "one row per shipment and location"
    assert dict(dwell) == expected_dwell(expected)


@pytest.mark.slow
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=scenarios())
def test_view_equals_full_recompute_whatever_the_arrival(steps: list[tuple[str, Any]]) -> None:
    with Pipeline(Settings(database=":memory:", lookback_days=10)) as pipeline:
        run_steps(pipeline, steps)


@pytest.mark.slow
@pytest.mark.postgres
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=scenarios())
def test_view_equals_full_recompute_on_postgres(steps: list[tuple[str, Any]]) -> None:
    with (
        fresh_database("postgres") as database,
        Pipeline(Settings(database=database, lookback_days=10)) as pipeline,
    ):
        run_steps(pipeline, steps)


def run_steps(pipeline: Pipeline, steps: list[tuple[str, Any]]) -> None:
    pipeline.backend.execute(
        "INSERT INTO locations (location_id, location_name, region) VALUES"
        " ('HUB-1', 'Hub One', 'north'), ('HUB-2', 'Hub Two', 'south')"
    )
    sent: list[dict[str, Any]] = []
    poisoned = False
    for action, argument in steps:
        if action == "ingest":
            plain = [record for record in argument if not record.get("dcsa")]
            dcsa = [record for record in argument if record.get("dcsa")]
            if plain:
                pipeline.ingest_records(plain, "test")
            if dcsa:
                pipeline.ingest_document({"events": [as_dcsa(r) for r in dcsa]}, "dcsa", "test")
            # Plain and DCSA ids never meet, so the order between the two is free.
            sent.extend(as_sent(record) for record in plain + dcsa)
        elif action == "poison":
            store_poison(pipeline, argument)
            poisoned = True
        elif action in ("incremental", "replay"):
            replay_from = T0 + timedelta(hours=7 * argument) if action == "replay" else None
            pipeline.incremental(replay_from=replay_from)
            assert_exact(pipeline, sent, poisoned)
        elif action in ("base", "rebuild"):
            as_of = date(2026, 1, 1) + timedelta(days=argument)
            pipeline.base(as_of=as_of, rebuild=action == "rebuild")
            assert_exact(pipeline, sent, poisoned)


def stored_key(record: dict[str, Any]) -> tuple[Any, ...]:
    """A stored record's identity and content, as the model and the store both hold it."""
    return (
        record["event_id"],
        record["shipment_id"],
        record["event_timestamp"],
        record["event_type"],
        record["status"],
        record["location_id"],
        record["carrier"],
        record["revision"],
        bool(record["retracted"]),
    )
