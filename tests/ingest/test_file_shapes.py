"""A file of the wrong shape is refused once, naming what it lacks and what it has,
not row by row; headers match whatever their case; a ``;``-separated CSV is read."""

from __future__ import annotations

import io
import json
import subprocess

import pyarrow as pa
import pyarrow.parquet as pq

from tests.conftest import Shipline

ROWS = "S1,2026-01-01T00:00:00Z,created\nS1,2026-01-01T04:00:00Z,picked_up\n"


def stats(result: subprocess.CompletedProcess[str]) -> dict[str, int]:
    assert result.returncode == 0, result.stderr
    data: dict[str, int] = json.loads(result.stdout)
    return data


def refusal(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 3, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return " ".join(result.stderr.split())


def test_a_csv_without_a_required_column_is_refused_once(shipline: Shipline) -> None:
    path = shipline.folder / "no_time.csv"
    path.write_text("shipment_id,when,event_type\n" + ROWS)
    message = refusal(shipline("ingest", str(path)))
    assert "1 file(s) refused" in message
    assert "no_time.csv: missing column event_timestamp; found shipment_id, when, event_type" in (
        message
    )
    assert "open dead letters 0" in " ".join(shipline("status").stdout.split())


def test_a_parquet_file_without_a_required_column_is_refused_once(shipline: Shipline) -> None:
    path = shipline.folder / "no_type.parquet"
    pq.write_table(
        pa.table({"shipment_id": ["S1"], "event_timestamp": ["2026-01-01T00:00Z"]}), path
    )
    message = refusal(shipline("ingest", str(path)))
    assert "missing column event_type; found shipment_id, event_timestamp" in message


def test_a_reference_table_in_a_folder_of_events_says_where_it_belongs(
    shipline: Shipline,
) -> None:
    folder = shipline.folder / "data"
    folder.mkdir()
    (folder / "events.csv").write_text("shipment_id,event_timestamp,event_type\n" + ROWS)
    pq.write_table(
        pa.table({"shipment_id": ["S1"], "promised_delivery_at": ["2026-01-03T00:00Z"]}),
        folder / "packages.parquet",
    )
    message = refusal(shipline("ingest", str(folder)))
    assert (
        "it looks like the packages reference table: load it with"
        " `shipline reference load packages packages.parquet`"
    ) in message


def test_headers_match_whatever_their_case(shipline: Shipline) -> None:
    csv_path = shipline.folder / "upper.csv"
    csv_path.write_text("Shipment_ID, EVENT_TIMESTAMP ,Event_Type\n" + ROWS)
    assert stats(shipline("ingest", str(csv_path), "--json"))["accepted"] == 2
    parquet_path = shipline.folder / "upper.parquet"
    pq.write_table(
        pa.table(
            {
                "SHIPMENT_ID": ["S2"],
                "Event_Timestamp": ["2026-01-02T00:00:00Z"],
                "EVENT_TYPE": ["created"],
            }
        ),
        parquet_path,
    )
    assert stats(shipline("ingest", str(parquet_path), "--json"))["accepted"] == 1


def test_a_semicolon_separated_csv_is_read(shipline: Shipline) -> None:
    path = shipline.folder / "european.csv"
    path.write_text("shipment_id;event_timestamp;event_type\n" + ROWS.replace(",", ";"))
    assert stats(shipline("ingest", str(path), "--json"))["accepted"] == 2


def test_csv_and_parquet_on_stdin_with_format(shipline: Shipline) -> None:
    csv_text = "shipment_id,event_timestamp,event_type\n" + ROWS
    assert (
        stats(shipline("ingest", "--format", "csv", "-", "--json", stdin=csv_text))["accepted"] == 2
    )
    missing = shipline("ingest", "--format", "csv", "-", stdin="shipment_id,event_type\nS1,x\n")
    assert "stdin: missing column event_timestamp" in refusal(missing)
    ndjson = (
        '{"shipment_id": "S3", "event_timestamp": "2026-01-03T00:00:00Z",'
        ' "event_type": "created"}\n'
    )
    assert (
        stats(shipline("ingest", "--format", "ndjson", "-", "--json", stdin=ndjson))["accepted"]
        == 1
    )


def test_parquet_bytes_are_read_as_a_parquet_file_is() -> None:
    from shipline.events.shapes import read_events_data

    sink = io.BytesIO()
    pq.write_table(
        pa.table({"Shipment_Id": ["S1"], "event_timestamp": ["t"], "event_type": ["created"]}), sink
    )
    table = read_events_data(sink.getvalue(), "parquet")
    assert table.column_names[:3] == ["shipment_id", "event_timestamp", "event_type"]
