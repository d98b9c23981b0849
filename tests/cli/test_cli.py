"""The command line as a user drives it: exit codes, one-line summaries, --json."""

from __future__ import annotations

import json
import re
import subprocess
from typing import Any

from tests.conftest import Shipline
from tests.engines import fresh_database

EVENTS = (
    '{"shipment_id": "S1", "event_timestamp": "2026-01-01T00:00:00Z", "event_type": "created"}\n'
    '{"shipment_id": "S1", "event_timestamp": "2026-01-01T04:30:00Z", "event_type": "picked_up"}\n'
    '{"shipment_id": "S1", "event_timestamp": "2026-01-01T05:00:00Z", "event_type": "nope"}\n'
)


def test_ingest_process_verify_and_read_a_timeline(shipline: Shipline) -> None:
    ingested = shipline("ingest", "-", "--json", stdin=EVENTS)
    assert ingested.returncode == 0, ingested.stderr
    stats = json.loads(ingested.stdout)
    assert (stats["accepted"], stats["rejected"]) == (2, 1)

    run = shipline("incremental", "--json")
    assert json.loads(run.stdout)["rows_written"] == 2

    assert shipline("verify").returncode == 0
    timeline = json.loads(shipline("timeline", "S1", "--format", "json").stdout)
    assert [row["cumulative_transit_hours"] for row in timeline["timeline"]] == [
        "0.000000",
        "4.500000",
    ]
    assert "open dead letters 1" in shipline("status").stdout


def test_an_unknown_shipment_exits_non_zero_with_a_clear_message(shipline: Shipline) -> None:
    result = shipline("timeline", "NOPE")
    assert result.returncode == 4
    assert "shipment 'NOPE' is not in the timeline view" in result.stderr


def test_a_missing_file_is_named(shipline: Shipline) -> None:
    result = shipline("ingest", str(shipline.folder / "absent.parquet"))
    assert result.returncode == 3
    assert "absent.parquet" in result.stderr


def said(result: subprocess.CompletedProcess[str]) -> str:
    """What the command printed, as one line: rich wraps its output at the terminal width."""
    assert result.returncode == 0, result.stderr
    return " ".join(result.stdout.split())


def refused(result: subprocess.CompletedProcess[str], exit_code: int) -> str:
    """The error a command printed, as one line, once its exit code is checked."""
    assert result.returncode == exit_code, (result.stdout, result.stderr)
    return " ".join(result.stderr.split())


# init ---------------------------------------------------------------------------

CORE_TABLES = {
    "shipment_events",
    "shipment_timeline_base",
    "shipment_timeline_incremental",
    "shipment_state",
    "shipment_timeline_realtime",
    "shipment_summary",
    "processing_checkpoints",
    "dead_letters",
    "locations",
    "packages",
}


def test_init_lists_shiplines_own_tables_once(engine: str, shipline: Shipline) -> None:
    # Another shipline beside this one (on PostgreSQL, a schema of the same database)
    # must not show up in this one's list.
    with fresh_database(engine) as neighbour:
        said(Shipline(neighbour, shipline.folder)("init"))
        listed = said(shipline("init")).rsplit(": ", 1)[1].split(", ")
    assert len(listed) == len(set(listed)), listed
    assert set(listed) >= CORE_TABLES
    assert not [name for name in listed if name.startswith(("pg_", "sql_", "duckdb_"))]


# base ---------------------------------------------------------------------------

TWO_SHIPMENTS = (
    '{"shipment_id": "OLD", "event_timestamp": "2025-12-01T00:00:00Z", "event_type": "created"}\n'
    '{"shipment_id": "OLD", "event_timestamp": "2025-12-01T06:00:00Z",'
    ' "event_type": "picked_up"}\n'
    '{"shipment_id": "NEW", "event_timestamp": "2026-01-01T00:00:00Z", "event_type": "created"}\n'
)


def test_base_recomputes_the_active_shipments_and_keeps_older_ones_in_view_frozen(
    shipline: Shipline,
) -> None:
    said(shipline("ingest", "-", stdin=TWO_SHIPMENTS))

    # New events are computed whatever their age; OLD's last one is 35 days old.
    first = json.loads(said(shipline("base", "--date", "2026-01-05", "--json")))
    assert (first["process_type"], first["events"]) == ("daily_base", 3)
    assert (first["shipments_affected"], first["rows_written"]) == (2, 3)

    # 2026-01-05 less the default 10 days of lookback leaves OLD out of the next
    # base: it is not recomputed, and it stays in the view.
    again = json.loads(said(shipline("base", "--date", "2026-01-05", "--json")))
    assert (again["shipments_affected"], again["rows_written"]) == (1, 1)
    assert again["full_recompute_rows"] == 3
    assert "base date 2026-01-05" in said(shipline("status"))
    assert "2 events, 6.000000 h in transit" in said(shipline("timeline", "OLD"))
    assert json.loads(said(shipline("verify", "--all", "--json")))["shipments_checked"] == 2
    assert json.loads(said(shipline("verify", "--json")))["shipments_checked"] == 1

    line = said(shipline("base", "--date", "2025-12-05"))
    assert line.startswith("daily_base: 0 events, 2 shipments, 3 rows written in ")
    assert line.endswith("checkpoint at ingest_seq 3")


def test_base_rebuild_recomputes_and_verifies_clean(shipline: Shipline) -> None:
    said(shipline("ingest", "-", stdin=TWO_SHIPMENTS + EVENTS))
    said(shipline("incremental"))

    rebuilt = json.loads(said(shipline("base", "--date", "2025-12-05", "--rebuild", "--json")))
    # No new events since the incremental run; every shipment is recomputed in full.
    assert (rebuilt["events"], rebuilt["shipments_affected"], rebuilt["rows_written"]) == (0, 3, 5)
    assert rebuilt["to_ingest_seq"] == 5
    assert "drift 0" in said(shipline("verify"))


def test_base_refuses_a_date_that_is_not_one(shipline: Shipline) -> None:
    assert "Invalid value for '--date'" in refused(shipline("base", "--date", "2026-13-01"), 64)


# reference load -----------------------------------------------------------------

ONE_EVENT_AT_LOC_A = (
    '{"shipment_id": "S1", "event_timestamp": "2026-01-01T00:00:00Z", "event_type": "created",'
    ' "location_id": "LOC-A"}\n'
)


def _shipment(shipline: Shipline) -> dict[str, Any]:
    said(shipline("ingest", "-", stdin=ONE_EVENT_AT_LOC_A))
    said(shipline("incremental"))
    return dict(json.loads(said(shipline("timeline", "S1", "--format", "json"))))


def test_reference_load_parquet_upserts_by_key(shipline: Shipline) -> None:
    said(shipline("generate", "shipments", "--events", "300", "--out", "data"))
    for _ in range(2):  # a second load replaces the rows rather than adding to them
        assert said(shipline("reference", "load", "locations", "data/locations.parquet")) == (
            "reference: 200 rows upserted into locations"
        )
    packages = said(shipline("reference", "load", "packages", "data/packages.parquet"))
    assert re.fullmatch(r"reference: [\d,]+ rows upserted into packages", packages)


def test_reference_load_csv_locations(shipline: Shipline) -> None:
    (shipline.folder / "locations.csv").write_text(
        "location_id,location_name,region,country,facility_type,latitude,longitude\n"
        "LOC-A,Alpha Hub,emea,DE,hub,52.5,13.4\n"
        "LOC-B,Beta Depot,apac,JP,depot,35.6,139.8\n"
    )
    assert said(shipline("reference", "load", "locations", "locations.csv")) == (
        "reference: 2 rows upserted into locations"
    )
    (row,) = _shipment(shipline)["timeline"]
    assert (row["location_name"], row["region"]) == ("Alpha Hub", "emea")


def test_reference_load_csv_packages(shipline: Shipline) -> None:
    # pyarrow reads the fractional-second timestamps as timestamp[ns, UTC], which
    # the server engines store as microseconds.
    (shipline.folder / "packages.csv").write_text(
        "shipment_id,service_level,promised_delivery_at,weight_kg,origin_location_id,"
        "destination_location_id\n"
        "S1,express,2026-01-02 00:00:00.000000Z,1.5,LOC-A,LOC-B\n"
    )
    assert said(shipline("reference", "load", "packages", "packages.csv")) == (
        "reference: 1 rows upserted into packages"
    )
    summary = _shipment(shipline)["shipment"]
    assert summary["promised_delivery_at"] == "2026-01-02T00:00:00+00:00"


def test_reference_load_refuses_a_file_that_repeats_a_key(shipline: Shipline) -> None:
    (shipline.folder / "locations.csv").write_text(
        "location_id,location_name\nLOC-A,Alpha\nLOC-B,Beta\nLOC-A,Alpha again\n"
    )
    assert refused(shipline("reference", "load", "locations", "locations.csv"), 3) == (
        "error: locations.csv: location_id 'LOC-A' appears 2 times (1 value(s) repeat);"
        " keep one row per location_id"
    )


def test_reference_load_names_a_missing_file_or_table(shipline: Shipline) -> None:
    assert refused(shipline("reference", "load", "locations", "absent.csv"), 3) == (
        "error: no such file: absent.csv"
    )
    (shipline.folder / "x.csv").write_text("id\n1\n")
    assert refused(shipline("reference", "load", "carriers", "x.csv"), 3) == (
        "error: reference table 'carriers': use locations or packages"
    )


# dlq ----------------------------------------------------------------------------

FIXED = (
    '{"shipment_id": "S1", "event_timestamp": "2026-01-01T05:00:00Z", "event_type": "delivered"}'
)


def _dead_letter(shipline: Shipline) -> int:
    """Ingest EVENTS, whose third record is refused, and return its dead letter id."""
    stats = json.loads(said(shipline("ingest", "-", "--json", stdin=EVENTS)))
    (error,) = stats["errors"]
    return int(error["dead_letter_id"])


def test_dlq_list_and_show_a_refused_record(shipline: Shipline) -> None:
    letter = _dead_letter(shipline)

    (listed,) = json.loads(said(shipline("dlq", "list", "--json")))
    assert (listed["dead_letter_id"], listed["state"]) == (letter, "open")
    assert listed["reason"].startswith('line 3: event_type: unknown value "nope"')

    shown = json.loads(said(shipline("dlq", "show", str(letter))))
    assert json.loads(shown["payload"])["event_type"] == "nope"
    assert shown["source"] == "stdin"
    assert shown["errors"][0].startswith('event_type: unknown value "nope"')  # a list, once

    assert refused(shipline("dlq", "show", "999"), 4) == "error: dead letter 999 does not exist"
    assert refused(shipline("dlq", "list", "--state", "closed"), 3) == (
        "error: --state: 'closed'; use open, redriven, purged or all"
    )


def test_dlq_redrive_with_a_fixed_payload(shipline: Shipline) -> None:
    letter = _dead_letter(shipline)

    again = said(shipline("dlq", "redrive", str(letter)))
    assert again.startswith("redrive: 1 records, 0 accepted, 0 duplicates, 1 still refused")
    assert 'still refused: event_type: unknown value "nope"' in again

    fixed = json.loads(said(shipline("dlq", "redrive", str(letter), "--payload", FIXED, "--json")))
    assert (fixed["events"], fixed["accepted"], fixed["rejected"]) == (1, 1, 0)
    (redriven,) = json.loads(said(shipline("dlq", "list", "--state", "redriven", "--json")))
    assert redriven["dead_letter_id"] == letter

    said(shipline("incremental"))
    timeline = json.loads(said(shipline("timeline", "S1", "--format", "json")))
    assert [row["event_type"] for row in timeline["timeline"]] == [
        "created",
        "picked_up",
        "delivered",
    ]


def test_dlq_redrive_payload_fixes_one_letter_only(shipline: Shipline) -> None:
    letter = _dead_letter(shipline)
    assert refused(shipline("dlq", "redrive", str(letter), "999", "--payload", FIXED), 3) == (
        "error: --payload fixes exactly one dead letter; give one id"
    )


def test_dlq_purge_closes_a_letter_and_keeps_it(shipline: Shipline) -> None:
    letter = _dead_letter(shipline)
    assert said(shipline("dlq", "purge", str(letter))) == "purged 1 dead letter(s)"
    (purged,) = json.loads(said(shipline("dlq", "list", "--state", "all", "--json")))
    assert (purged["dead_letter_id"], purged["state"]) == (letter, "purged")
    assert said(shipline("dlq", "purge", str(letter), "999")) == (
        "purged 0 dead letter(s); 2 of the 2 ids asked for are not open dead letters"
        " (see `shipline dlq list --state all`)"
    )


# generate shipments -------------------------------------------------------------


def test_generate_shipments_writes_files_that_ingest(shipline: Shipline) -> None:
    line = said(
        shipline(
            "generate",
            "shipments",
            "--events",
            "500",
            "--out",
            "data",
            "--format",
            "csv",
            "--batches",
            "2",
        )
    )
    match = re.fullmatch(
        r"generate: ([\d,]+) events of ([\d,]+) shipments in 2 file\(s\) under data;"
        r" reference data locations.parquet, packages.parquet",
        line,
    )
    assert match, line
    written = int(match[1].replace(",", ""))
    files = sorted(path.name for path in (shipline.folder / "data").iterdir())
    assert files == ["events-0001.csv", "events-0002.csv", "locations.parquet", "packages.parquet"]

    stats = json.loads(
        said(shipline("ingest", "data/events-0001.csv", "data/events-0002.csv", "--json"))
    )
    assert stats["events"] == written
    assert stats["accepted"] + stats["duplicates"] + stats["rejected"] == written
    assert stats["accepted"] > 0


def test_generate_shipments_refuses_an_unknown_format(shipline: Shipline) -> None:
    assert refused(shipline("generate", "shipments", "--format", "xml"), 3) == (
        "error: --format: 'xml'; use parquet, ndjson or csv"
    )


def test_a_reason_with_brackets_prints_as_it_says_and_the_version_prints(
    shipline: Shipline,
) -> None:
    record = '{"shipment_id": "S", "event_timestamp": "2026-01-01T00:00:00Z",'
    record += ' "event_type": "created", "status": "lost"}\n'
    shipline("ingest", "-", stdin=record)
    # The table folds long cells over lines: read it without its spaces and borders.
    listed = re.sub(r"[\s│]", "", shipline("dlq", "list").stdout)
    assert "[aliases.status]inshipline.toml" in listed
    version = shipline("--version")
    assert (version.returncode, version.stdout.split()[0]) == (0, "shipline")
