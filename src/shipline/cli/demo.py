"""``shipline demo``: the whole flow on generated data, narrated."""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path

import pyarrow.parquet as pq

from shipline.cli import render
from shipline.cli.render import console
from shipline.errors import ConfigError, DriftError
from shipline.generate import GeneratedFiles, generate_dataset, write_dataset
from shipline.pipeline import Pipeline

HISTORY_SHARE = 0.8
"""The first 80% of arrivals are history, ingested before the base run."""


def run_demo(
    *,
    events: int,
    batches: int,
    workdir: Path,
    database: str | None = None,
    database_from_env: bool = False,
) -> None:
    """Generate, ingest, base, stream late-laden batches, verify, and say where to look.

    ``database`` is one the user named (``--database``, or ``SHIPLINE_DATABASE`` when
    ``database_from_env``); the demo refuses it if it already holds shipline data.
    Without one, the demo writes ``workdir/demo.duckdb``, replaced with the workdir.
    """
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    if database is None:
        database = str(workdir / "demo.duckdb")
    # When the environment names the database, the next commands need no --database,
    # and repeating it would print a password the user kept off the command line.
    command = "shipline" if database_from_env else f"shipline --database {shlex.quote(database)}"

    from shipline.cli.options import open_pipeline

    with open_pipeline(create=True, database=database) as pipeline:
        _require_empty(pipeline, workdir)
        files = _generate(events, workdir)
        example = _run(pipeline, files, batches)
    console.rule("where to look next")
    console.print(
        f"{command} status\n"
        f"{command} timeline {example or 'SHIPMENT_ID'} --format json\n"
        f"{command} dlq list\n"
        f"{command} verify\n"
        f"{command} serve      # API, dashboard at http://127.0.0.1:8080/",
        markup=False,
    )


def _require_empty(pipeline: Pipeline, workdir: Path) -> None:
    """Refuse a database with shipline data in it.

    The demo's counts, its verify and its example shipment describe its own data
    only; mixed with a user's events they would mislead, and emptying the user's
    tables is not a demo's call.
    """
    held = pipeline.status()
    if held.events or held.base_rows or held.incremental_rows or held.open_dead_letters:
        raise ConfigError(
            f"this database already holds shipline data ({held.events:,} events,"
            f" {held.open_dead_letters:,} open dead letters); the demo needs one of its own:"
            " a new DuckDB file, or an empty PostgreSQL database (`createdb shipline_demo`,"
            " then --database postgresql://HOST/shipline_demo); or unset --database and"
            f" SHIPLINE_DATABASE to use {workdir / 'demo.duckdb'}"
        )


def _generate(events: int, workdir: Path) -> GeneratedFiles:
    """Sample data under ``workdir/input``, with late, duplicate and malformed records."""
    with console.status("generating sample data"):
        dataset = generate_dataset(events, seed=7, late_fraction=0.05, duplicate_fraction=0.01)
        files = write_dataset(dataset, workdir / "input")
    console.rule("1. sample data")
    console.print(
        f"{files.event_rows:,} events of {files.shipments:,} shipments, with 5% late,"
        f" 1% duplicate and 0.1% malformed records, in {files.events[0]}"
    )
    return files


def _run(pipeline: Pipeline, files: GeneratedFiles, batches: int) -> str | None:
    """Steps 2 to 5: history and base, the stream, verify, a late shipment's timeline."""
    pipeline.load_reference("locations", files.locations)
    pipeline.load_reference("packages", files.packages)
    feed = pq.read_table(files.events[0])
    history_rows = int(feed.num_rows * HISTORY_SHARE)

    console.rule("2. history, then the nightly base run")
    console.print(render.ingest_line(pipeline.ingest_table(feed.slice(0, history_rows), "demo")))
    console.print(render.run_line(pipeline.base()))

    console.rule("3. the stream: each batch triggers an incremental run")
    stream = feed.slice(history_rows)
    size = -(-stream.num_rows // batches)
    for number in range(batches):
        batch = stream.slice(number * size, size)
        ingested = pipeline.ingest_table(batch, "demo-stream")
        run = pipeline.incremental()
        console.print(
            f"batch {number + 1}: {ingested.accepted:,} new, {ingested.duplicates:,}"
            f" duplicates, {ingested.rejected:,} rejected -> {render.run_line(run)}"
        )

    console.rule("4. verify: the view against a full recompute")
    result = pipeline.verify()
    console.print(
        f"{result.shipments_checked:,} shipments and {result.rows_checked:,} rows checked:"
        f" drift {result.drift}",
        style="bold green" if result.drift == 0 else "bold red",
    )
    if result.drift:
        raise DriftError(f"the demo found {result.drift} differences; please report it")

    example = pipeline.late_shipment_example()
    if example:
        console.rule(f"5. a shipment that received a late event: {example}")
        console.print(render.rows_table(pipeline.timeline(example), _DEMO_COLUMNS))
    return example


_DEMO_COLUMNS = [
    "event_sequence",
    "event_timestamp",
    "event_type",
    "location_id",
    "status_duration",
    "cumulative_transit_hours",
    "process_type",
]
