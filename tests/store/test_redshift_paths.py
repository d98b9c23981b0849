"""Every path of the facade but the timeline runs, on Redshift's SQL.

The same calls (reference loads, status, timeline and summary reads, the monitor,
the loader's ledger, dead letters, the dashboard's queries and the API keys store)
run on plain PostgreSQL and on Redshift's SQL executed by PostgreSQL
(``tests.store.redshift_on_postgres``), over both of the Redshift backend's drivers.
They must answer alike, and as expected, and no statement sent may hold a construct
of ``POSTGRES_ONLY``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from shipline.errors import NotFoundError
from shipline.monitor.history import metric_history
from shipline.pipeline import Pipeline
from shipline.settings import Settings
from shipline.store.keys import Keyring, create_key, list_keys, revoke_key, sigv4_secret, verify_key
from tests.engines import fresh_database
from tests.store.redshift_on_postgres import (
    DRIVERS,
    RedshiftOnPostgres,
    event,
    postgres_only,
    redshift_on_postgres,
)
from tests.store.startup_proxy import StartupProxy

pytestmark = [pytest.mark.postgres]

NOW = datetime(2026, 1, 5, tzinfo=UTC)
"""The monitor's clock: after every event but the one from the future."""

FIRST_EVENTS = [
    event("SHP-1", "2026-01-01T00:00:00Z", "created", "L1"),
    event("SHP-1", "2026-01-01T05:00:00Z", "picked_up", "L1"),
    event("SHP-1", "2026-01-02T00:00:00Z", "delivered", "L2"),
    event("SHP-1", "2026-01-02T03:00:00Z", "in_transit", "L2"),  # after delivered
    event("SHP-2", "2026-01-01T01:00:00Z", "created", "L2", event_id="shp-2-created"),
    event("SHP-2", "2026-01-01T02:00:00Z", "delivered", "L9"),  # before picked up, unknown L9
    event("SHP-2", "2026-01-01T03:00:00Z", "picked_up", "L9"),
    event("shp-3", "2026-01-01T04:00:00Z", "exception", "L1"),
    event("X-4", "2026-02-01T00:00:00Z", "created", "L1"),  # from the future of NOW
    event("BAD", "2026-01-01T00:00:00Z", "nope"),
]
LATER_EVENTS = [
    event("SHP-1", "2026-01-01T10:00:00Z", "arrived_at_facility", "L2"),  # late
    event("SHP-2", "2026-01-01T01:00:00Z", "created", "L1", event_id="shp-2-created"),  # conflict
]
FIXED_BAD = json.dumps(event("BAD", "2026-01-01T00:00:00Z", "created"))

VOLATILE = {
    # Clocks and durations of this run, random ids, and this machine's paths.
    "received_at", "ingested_at", "started_at", "duration_ms", "run_id", "lag_seconds",
    "processed_timestamp", "incremental_batch_id", "incremental_processed_at",
    "last_update_time", "created_at", "revoked_at", "loaded_at", "redriven_at", "minute",
    "query_latency", "batch_duration_last", "batch_duration_mean", "batch_duration_max",
    "daily_cost", "load_id",
}  # fmt: skip


def stable(value: Any, folder: Path | None = None) -> Any:
    """``value`` without the fields that differ from one run to the next, and with
    ``folder`` (the run's own) spelled ``<folder>``."""
    if isinstance(value, dict):
        return {k: stable(item, folder) for k, item in value.items() if k not in VOLATILE}
    if isinstance(value, list | tuple):
        return [stable(item, folder) for item in value]
    if isinstance(value, str) and folder is not None:
        return value.replace(str(folder), "<folder>")
    return value


def write_landing(folder: Path) -> tuple[Path, Path, Path]:
    """Reference files and a landing folder with one good and one unreadable file."""
    folder.mkdir(parents=True)
    locations, renamed = folder / "locations.csv", folder / "locations-renamed.csv"
    two = {
        "location_id": ["L1", "L2"],
        "location_name": ["One", "Two"],
        "region": ["North", "South"],
    }
    pacsv.write_csv(pa.table(two), locations)
    one = {"location_id": ["L2"], "location_name": ["Two bis"], "region": ["South"]}
    pacsv.write_csv(pa.table(one), renamed)
    packages = folder / "packages.parquet"
    promised = [datetime(2026, 1, 1, 12, tzinfo=UTC), datetime(2026, 1, 3, tzinfo=UTC)]
    pq.write_table(
        pa.table({"shipment_id": ["SHP-1", "SHP-2"], "promised_delivery_at": promised}), packages
    )
    landing = folder / "landing" / "in"
    landing.mkdir(parents=True)
    orders = pa.table({"order_id": ["O1", "O2"], "total": [1.5, 2.5]})
    pq.write_table(orders, landing / "order_summary_20260101_001.parquet")
    (landing / "order_summary_20260102_001.parquet").write_bytes(b"not parquet")
    return locations, renamed, packages


def exercise(pipeline: Pipeline, folder: Path) -> dict[str, Any]:
    """Every path but the timeline runs', through the facade; the answers, made stable."""
    locations, renamed, packages = write_landing(folder)
    answers: dict[str, Any] = {}
    answers["reference"] = [
        pipeline.load_reference("locations", locations),
        pipeline.load_reference("packages", packages),
        pipeline.load_reference("locations", renamed),
    ]
    pipeline.ingest_records(FIRST_EVENTS, "api")
    pipeline.base(as_of=date(2026, 1, 3))
    pipeline.ingest_records(LATER_EVENTS, "file:later.ndjson")
    pipeline.incremental()
    shipments = ["SHP-1", "SHP-2", "shp-3", "X-4"]
    answers["tables"] = pipeline.tables()
    answers["status"] = stable(pipeline.status().as_dict())
    answers["timeline"] = {s: stable(pipeline.timeline(s)) for s in shipments}
    answers["summary"] = {s: stable(pipeline.summary(s)) for s in shipments}

    answers["metrics"] = stable(pipeline.record_metrics(NOW))
    answers["quality"] = [stable(check.as_dict()) for check in pipeline.quality(NOW)]
    answers["alerts"] = [
        (o.rule, o.state, o.changed) for o in pipeline.check_alerts(now=NOW, notify=False)
    ]
    answers["alert_states"] = [(row["rule_name"], row["state"]) for row in pipeline.alert_states()]
    answers["tick"] = [(o.rule, o.state, o.changed) for o in pipeline.monitor_tick(now=NOW)]
    answers["latest_metrics"] = stable(pipeline.latest_metrics())
    answers["history"] = stable(metric_history(pipeline.backend, "events_total", NOW))
    exposition = pipeline.prometheus_metrics().decode().splitlines()
    answers["prometheus"] = [line for line in exposition if line.startswith("# TYPE")]

    answers["loads"] = stable(pipeline.load_files([str(folder / "landing" / "in")]), folder)
    answers["ledger"] = {
        status: stable(pipeline.loads(status=status), folder)
        for status in (None, "loaded", "failed")
    }

    letters = pipeline.dead_letters()
    answers["dead_letters"] = stable(letters, folder)
    by_source = {letter["source"]: letter["dead_letter_id"] for letter in letters}
    bad, conflict = by_source["api"], by_source["file:later.ndjson"]
    answers["dead_letter"] = stable(pipeline.dead_letter(bad), folder)
    answers["redrive_again"] = pipeline.redrive([conflict]).rejected
    answers["redrive_fixed"] = pipeline.redrive([bad], payload=FIXED_BAD).accepted
    answers["purge"] = pipeline.purge_dead_letters(list(by_source.values()))
    answers["letters_by_state"] = {
        state: [(d["dead_letter_id"], d["state"]) for d in pipeline.dead_letters(state=state)]
        for state in (None, "open", "redriven", "purged")
    }
    pipeline.incremental()
    answers["drift"] = pipeline.verify().drift
    answers["after_redrive"] = stable(pipeline.status().as_dict())

    answers["dashboard"] = dashboard_answers(pipeline)
    answers["dwell"] = {s: pipeline.location_dwell(s) for s in shipments}
    answers["keys"] = key_answers(pipeline, Keyring(folder / "keyring"))
    return answers


SEARCHES: dict[str, dict[str, Any]] = {
    "all": {},
    "prefix": {"query": "SHP"},
    "prefix_with_percent": {"query": "SHP%"},
    "status": {"status": "exception"},
    "region": {"region": "South"},
    "late": {"late": True},
    "exceptions": {"exceptions": True},
    "combined": {"query": "shp-", "region": "South", "limit": 1},
}
"""The dashboard's shipment searches, by name."""


def dashboard_answers(pipeline: Pipeline) -> dict[str, Any]:
    """What the dashboard's queries answer; the series as totals (minutes are this run's)."""
    newest = pipeline.timeline("SHP-1")[-1]["event_id"]
    seq = pipeline.ingest_seq_of(newest)
    assert seq is not None
    series = pipeline.series(60 * 24 * 365, NOW)
    return {
        "stages": stable(pipeline.stage_counts(NOW)),
        "runs": stable(pipeline.recent_runs(10)),
        "run_covering": stable(pipeline.run_covering(seq)),
        "ingest_seq_of_unknown": pipeline.ingest_seq_of("no-such-event"),
        "regions": pipeline.regions(),
        "search": {
            name: [row["shipment_id"] for row in pipeline.search_shipments(**filters)]
            for name, filters in SEARCHES.items()
        },
        "open_dead_letters": stable(pipeline.open_dead_letters(5)),
        "series": {
            "accepted": sum(int(row["accepted"]) for row in series["per_minute"]),
            "rejected": sum(int(row["rejected"]) for row in series["per_minute"]),
            "runs": stable(series["runs"]),
            "monitor": {name: len(points) for name, points in series["monitor"].items()},
        },
    }


def key_answers(pipeline: Pipeline, keyring: Keyring) -> dict[str, Any]:
    """Create, list, verify, SigV4 and revoke API keys in the keys store."""
    backend = pipeline.backend
    admin = create_key(backend, keyring, "admin", "ops")
    reader = create_key(backend, keyring, "read")
    answers: dict[str, Any] = {
        "listed": [(k.scope, k.description, k.active) for k in list_keys(backend)],
        "verified": [
            None if found is None else found.scope
            for found in (verify_key(backend, reader.key), verify_key(backend, "shpl_nope"))
        ],
    }
    pair = sigv4_secret(backend, keyring, admin.key_id)
    answers["sigv4_recovers_the_key"] = pair is not None and pair[1] == admin.key
    revoked = revoke_key(backend, reader.key_id)
    again = revoke_key(backend, reader.key_id)
    answers["revoked_once"] = (
        revoked.revoked_at is not None and again.revoked_at == revoked.revoked_at
    )
    answers["active"] = [k.scope for k in list_keys(backend, include_revoked=False)]
    answers["revoked_verifies"] = verify_key(backend, reader.key) is not None
    with pytest.raises(NotFoundError):
        revoke_key(backend, "SHPLNOSUCHKEY")
    return answers


@dataclass(frozen=True)
class RedshiftRun:
    """``exercise``'s answers on Redshift's SQL, and every statement that was sent."""

    answers: dict[str, Any]
    statements: list[str]


@pytest.fixture(scope="module")
def on_postgres(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``exercise``'s answers on plain PostgreSQL."""
    folder = tmp_path_factory.mktemp("postgres")
    with fresh_database("postgres") as database:
        settings = Settings(database=database, alerts_file=str(folder / "none.yaml"))
        with Pipeline(settings) as pipeline:
            return exercise(pipeline, folder / "run")


@pytest.fixture(scope="module", params=DRIVERS)
def on_redshift(
    request: pytest.FixtureRequest, proxy: StartupProxy, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RedshiftRun]:
    """``exercise`` on Redshift's SQL, over each driver."""
    folder = tmp_path_factory.mktemp(f"redshift-{request.param}")
    with fresh_database("postgres") as database:
        backend: RedshiftOnPostgres = redshift_on_postgres(database, request.param, proxy)
        settings = Settings(database=database, alerts_file=str(folder / "none.yaml"))
        with Pipeline(settings, backend=backend) as pipeline:
            answers = exercise(pipeline, folder / "run")
        yield RedshiftRun(answers, backend.statements)


def test_every_path_answers_on_redshift_sql_as_on_postgres(
    on_redshift: RedshiftRun, on_postgres: dict[str, Any]
) -> None:
    for name, expected in on_postgres.items():
        assert on_redshift.answers[name] == expected, name


def test_every_path_on_redshift_sql_gives_the_expected_answers(on_redshift: RedshiftRun) -> None:
    answers = on_redshift.answers
    assert answers["reference"] == [2, 2, 1]
    assert answers["drift"] == 0
    assert [row["event_sequence"] for row in answers["timeline"]["SHP-1"]] == [1, 2, 3, 4, 5]
    assert answers["summary"]["SHP-1"]["on_time"] is False
    assert answers["summary"]["SHP-2"]["on_time"] is True
    found = {check["name"]: check["count"] for check in answers["quality"]}
    assert found == {
        "silent_shipments": 3,  # all in view but X-4, whose one event is in the future
        "stuck_shipments": 0,  # too few gaps for any usual gap
        "delivered_before_picked_up": 1,
        "events_after_delivered": 2,  # SHP-1's in_transit, SHP-2's picked_up
        "conflicting_duplicates": 1,
        "unknown_locations": 1,
        "future_events": 1,
    }
    search = answers["dashboard"]["search"]
    assert search["all"] == ["X-4", "SHP-1", "shp-3", "SHP-2", "BAD"]  # newest activity first
    assert search["prefix"] == ["SHP-1", "shp-3", "SHP-2"]  # case-insensitive
    assert search["prefix_with_percent"] == []  # a literal %, not a wildcard
    assert search["status"] == ["shp-3"] and search["exceptions"] == ["shp-3"]
    assert search["late"] == ["SHP-1"]
    assert search["region"] == ["SHP-1"] and search["combined"] == ["SHP-1"]
    assert answers["dashboard"]["regions"] == ["North", "South"]
    assert [(r["status"], r["rows"]) for r in answers["loads"]] == [("loaded", 2), ("failed", 0)]
    assert [row["status"] for row in answers["ledger"]["failed"]] == ["failed"]
    assert answers["redrive_again"] == 1 and answers["redrive_fixed"] == 1
    assert answers["purge"] == 2  # the conflict and the loader's file; the fixed one was redriven
    assert answers["letters_by_state"]["open"] == []
    assert answers["keys"] == {
        "listed": [("admin", "ops", True), ("read", None, True)],
        "verified": ["read", None],
        "sigv4_recovers_the_key": True,
        "revoked_once": True,
        "active": ["admin"],
        "revoked_verifies": False,
    }


def test_no_statement_sent_to_redshift_holds_postgres_only_sql(on_redshift: RedshiftRun) -> None:
    assert len(on_redshift.statements) > 100
    assert postgres_only(on_redshift.statements) == []
