"""``shipline``: every command calls the Pipeline facade and renders its result."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from shipline import __version__
from shipline.cli import render
from shipline.cli.analytics import register as register_analytics
from shipline.cli.audit import record_invocation
from shipline.cli.audit import register as register_audit
from shipline.cli.config import register as register_config
from shipline.cli.config import write_starters
from shipline.cli.exits import run_cli
from shipline.cli.holds import register as register_holds
from shipline.cli.load import register as register_loader
from shipline.cli.monitor import register as register_monitor
from shipline.cli.options import Options, current_options, open_pipeline, use
from shipline.cli.predict import prediction_line
from shipline.cli.predict import register as register_predict
from shipline.cli.render import console, print_json
from shipline.cli.retention import register as register_retention
from shipline.cli.serve import register
from shipline.errors import DriftError, NothingAcceptedError, StuckError, ValidationError
from shipline.events.formats import FORMATS
from shipline.events.json_records import parse_json_lines
from shipline.events.shapes import PLAIN_FORMATS, read_events_data, records_to_raw
from shipline.ingest import dead_letters
from shipline.jsonable import jsonable

app = typer.Typer(
    help="shipline keeps exact, fresh per-shipment timelines from shipment events.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
generate_app = typer.Typer(help="Write realistic sample data.", no_args_is_help=True)
dlq_app = typer.Typer(help="List, show, redrive and purge dead letters.", no_args_is_help=True)
reference_app = typer.Typer(help="Load reference data (locations, packages).", no_args_is_help=True)
app.add_typer(generate_app, name="generate")
app.add_typer(dlq_app, name="dlq")
app.add_typer(reference_app, name="reference")
register(app)
register_loader(app, generate_app)
register_monitor(app)
register_analytics(app)
register_holds(app)
register_retention(app)
register_audit(app)
register_config(app)
register_predict(app)

Json = Annotated[bool, typer.Option("--json", help="Print machine-readable stats.")]
DryRun = Annotated[
    bool,
    typer.Option(
        "--dry-run",
        help="Say how many shipments and rows the run would recompute, and write nothing.",
    ),
]


def _version(value: bool) -> None:
    if value:
        console.print(f"shipline {__version__}", markup=False)
        raise typer.Exit()


@app.callback()
def _global(
    ctx: typer.Context,
    database: Annotated[
        str | None,
        typer.Option(
            "--database",
            "-d",
            envvar="SHIPLINE_DATABASE",
            help="A DuckDB file (default ./shipline.duckdb; `shipline init` creates it),"
            " a postgresql:// or a redshift:// URL.",
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, help="Print shipline's version and exit.", callback=_version
        ),
    ] = False,
) -> None:
    # typer reads SHIPLINE_DATABASE here (as Settings would) so that `demo` can tell
    # a database the user named from the default it picks for itself. The source is
    # compared by name: typer's enum is its own copy of click's.
    source = ctx.get_parameter_source("database")
    ctx.obj = use(
        Options(
            database=database,
            database_from_env=source is not None and source.name == "ENVIRONMENT",
        )
    )


def _files_of(paths: list[str]) -> list[Path]:
    """The files named, a folder's files (not hidden, in name order) in its place."""
    files: list[Path] = []
    missing: list[str] = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            files.extend(
                sorted(f for f in path.iterdir() if f.is_file() and not f.name.startswith("."))
            )
        elif path.is_file():
            files.append(path)
        else:
            missing.append(name)
    if missing:
        raise ValidationError(f"no such file: {', '.join(missing)}")
    return files


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=render.errors,
        transient=True,
    )


@app.command()
def init() -> None:
    """Create the database if it is a new DuckDB file, and every table and view in it;
    write a commented starter shipline.toml and alerts.yaml where there is none."""
    with open_pipeline(create=True) as pipeline:
        tables = pipeline.tables()
    console.print(f"initialised {pipeline.settings.database}: " + ", ".join(tables))
    for written in write_starters(pipeline.settings):
        console.print(f"wrote {written} (commented; edit it to change the defaults)")


@app.command()
def ingest(
    paths: Annotated[list[str], typer.Argument(help="Files of events, or - for stdin.")],
    as_json: Json = False,
    file_format: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="The industry format the files are in ("
            + ", ".join(FORMATS)
            + "); without it, a .json, .jsonld, .edi, .x12 or .214 file's content tells."
            " For stdin also csv, ndjson, json or parquet (shipline's own records).",
        ),
    ] = None,
) -> None:
    """Validate and store events from files or folders of them (Parquet, CSV, JSON,
    NDJSON, or an industry format), or stdin."""
    with open_pipeline() as pipeline:
        if paths == ["-"]:
            data = sys.stdin.buffer.read()
            if file_format in PLAIN_FORMATS:
                result = pipeline.ingest_table(read_events_data(data, file_format), "stdin")
            elif file_format is not None:
                result = pipeline.ingest_feed(data, file_format, "stdin")
            else:
                records, lines = parse_json_lines(data.decode("utf-8", errors="surrogateescape"))
                result = pipeline.ingest_table(records_to_raw(records, lines), "stdin")
        else:
            files = _files_of(paths)
            with _progress() as progress:
                task = progress.add_task("ingesting", total=len(files))
                result = pipeline.ingest_files(
                    files,
                    on_file=lambda _path, _result: progress.advance(task),
                    file_format=file_format,
                )
    if as_json:
        print_json(render.ingest_stats(result))
    else:
        console.print(render.ingest_line(result), markup=False)
        for error in result.errors[:10]:
            where = (
                f"line {error.line_number}"
                if error.line_number is not None
                else f"record {error.index}"
            )
            if error.file is not None:
                where = f"{error.file} {where}"
            console.print(f"  {where}: {'; '.join(error.errors)}", style="yellow", markup=False)
        if len(result.errors) > 10:
            console.print(f"  … and {len(result.errors) - 10:,} more: shipline dlq list")
    if result.refused_files:
        raise ValidationError(
            f"{len(result.refused_files)} file(s) refused, nothing of them stored: "
            + "; ".join(result.refused_files)
        )
    if result.accepted + result.duplicates == 0 and not result.skipped:
        raise NothingAcceptedError(
            f"no record accepted of {result.received:,}; see the reasons above"
            " (`shipline dlq list`)"
        )


@app.command()
def base(
    on: Annotated[
        datetime | None, typer.Option("--date", formats=["%Y-%m-%d"], help="Base date (UTC).")
    ] = None,
    rebuild: Annotated[
        bool, typer.Option(help="Also recompute every shipment's state from raw events.")
    ] = False,
    dry_run: DryRun = False,
    as_json: Json = False,
) -> None:
    """The daily base run: recompute recently active shipments in full."""
    as_of = on.date() if on else None
    with open_pipeline() as pipeline:
        if dry_run:
            plan = pipeline.plan_base(as_of=as_of, rebuild=rebuild)
            _print_run(plan.as_dict() if as_json else render.plan_line(plan), as_json)
            return
        result = pipeline.base(as_of=as_of, rebuild=rebuild)
    _print_run(result.as_dict() if as_json else render.run_line(result), as_json)


@app.command()
def incremental(
    replay_from: Annotated[
        str | None,
        typer.Option(help="Reprocess events ingested or timestamped at or after this time."),
    ] = None,
    dry_run: DryRun = False,
    as_json: Json = False,
) -> None:
    """Process the events accepted since the checkpoint. With --replay-from, also
    recompute every shipment with an event ingested or timestamped at or after it;
    the summary says how many each rule selected."""
    replay = _parse_time(replay_from) if replay_from else None
    with open_pipeline() as pipeline:
        if dry_run:
            plan = pipeline.plan_incremental(replay_from=replay)
            _print_run(plan.as_dict() if as_json else render.plan_line(plan), as_json)
            return
        result = pipeline.incremental(replay_from=replay)
    _print_run(result.as_dict() if as_json else render.run_line(result), as_json)


def _print_run(output: Any, as_json: bool) -> None:
    if as_json:
        print_json(output)
    else:
        console.print(output, markup=False)


def _parse_time(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError as error:
        raise ValidationError(f"--replay-from: {text!r} is not an ISO-8601 time") from error
    if value.tzinfo is None:
        raise ValidationError(f"--replay-from: {text!r} has no UTC offset; add Z or +HH:MM")
    return value


@app.command()
def verify(
    as_json: Json = False,
    every_shipment: Annotated[
        bool,
        typer.Option("--all", help="Check every shipment in the view, not only the active window."),
    ] = False,
) -> None:
    """The drift audit: compare the real-time view with a full recompute, and say how
    far it is behind the store. Exits 6 on drift, 8 when the view is stuck."""
    with open_pipeline() as pipeline:
        result = pipeline.verify(every_shipment=every_shipment)
    if as_json:
        print_json(result.as_dict())
    else:
        console.print(
            f"verify: {result.shipments_checked:,} shipments, {result.rows_checked:,} rows"
            f" checked in {result.duration_ms:,.0f} ms; drift {result.drift}"
            f" ({result.differing_rows} rows, {result.differing_summaries} summaries,"
            f" {result.differing_facts} KPI facts, {result.missing_shipments} missing shipments)",
            markup=False,
        )
        console.print(
            f"behind the store: {result.pending_events:,} pending events (oldest waited"
            f" {result.oldest_pending_seconds:,.0f} s), {result.held_shipments:,} held shipments",
            markup=False,
            style="red" if result.stuck else None,
        )
        for example in result.examples:
            console.print(f"  {jsonable(example)}", style="red", markup=False)
    if result.drift:
        raise DriftError(
            f"{result.drift} differences from a full recompute; run `shipline base --rebuild`"
            " and report the examples above"
        )
    if result.stuck:
        raise StuckError(
            "the view is behind the store: "
            + (
                f"{result.held_shipments} held shipment(s); see `shipline holds list`"
                if result.held_shipments
                else f"events have waited {result.oldest_pending_seconds:,.0f} s for a run"
                " (verify_max_pending_seconds); is `shipline serve` running? or run"
                " `shipline incremental`"
            )
        )


@app.command()
def status(as_json: Json = False) -> None:
    """Checkpoint, counts and processing lag."""
    with open_pipeline() as pipeline:
        current = pipeline.status()
    if as_json:
        print_json(current.as_dict())
        return
    cp = current.checkpoint
    console.print(
        f"checkpoint: ingest_seq {cp.last_ingest_seq:,} of {current.newest_ingest_seq:,}"
        f" ({current.pending_events:,} pending, lag {current.lag_seconds:,.1f} s);"
        f" last {cp.process_type or 'run: none yet'} at {cp.last_update_time or '-'},"
        f" base date {cp.base_date or '-'}"
    )
    console.print(
        f"events {current.events:,}; shipments {current.shipments:,}; timeline rows:"
        f" base {current.base_rows:,}, incremental {current.incremental_rows:,};"
        f" open dead letters {current.open_dead_letters:,}"
    )
    if current.held_shipments:
        console.print(
            f"held shipments {current.held_shipments:,}: see `shipline holds list`",
            style="red",
            markup=False,
        )


TIMELINE_TABLE_COLUMNS = [
    "event_sequence",
    "event_timestamp",
    "event_type",
    "status",
    "location_id",
    "region",
    "time_since_prev_event",
    "status_duration",
    "cumulative_transit_hours",
    "location_transition_count",
    "process_type",
]


@app.command()
def timeline(
    shipment_id: str,
    output: Annotated[str, typer.Option("--format", help="table, json or csv")] = "table",
) -> None:
    """One shipment's timeline from the real-time view."""
    if output not in ("table", "json", "csv"):
        raise ValidationError(f"--format: {output!r}; use table, json or csv")
    with open_pipeline() as pipeline:
        rows = pipeline.timeline(shipment_id)
        summary = pipeline.summary(shipment_id)
        estimates = pipeline.estimates(shipment_id)
        references = pipeline.references(shipment_id)
    if output == "json":
        print_json(
            {
                "shipment": summary,
                "timeline": rows,
                "estimates": estimates,
                "references": references,
            }
        )
    elif output == "csv":
        sys.stdout.write(render.rows_csv(rows))
    else:
        console.print(render.rows_table(rows, TIMELINE_TABLE_COLUMNS, title=shipment_id))
        console.print(
            f"status {summary['current_status']} at {summary['current_location_id']};"
            f" {summary['event_count']} events, {summary['total_transit_hours']} h in transit;"
            f" delivered {summary['delivered_at'] or '-'}, promised"
            f" {summary['promised_delivery_at'] or '-'}, on time {summary['on_time']}"
        )
        for estimate in estimates:
            console.print(
                f"estimate {estimate['kind']} {estimate['estimated_at'].isoformat()}"
                f" from {estimate['source']} ({estimate['classifier'] or 'no classifier'})",
                markup=False,
            )
        if summary.get("prediction"):
            console.print(prediction_line(summary["prediction"]), markup=False)
        if references:
            named = ", ".join(f"{r['reference_type']} {r['reference']}" for r in references)
            console.print(f"also known as {named}", markup=False)


@generate_app.command("shipments")
def generate_shipments(
    out: Annotated[Path, typer.Option(help="Folder to write into.")] = Path("data"),
    events: Annotated[int, typer.Option(help="About how many events.")] = 100_000,
    seed: Annotated[int, typer.Option()] = 0,
    days: Annotated[int, typer.Option(help="Days of history.")] = 14,
    file_format: Annotated[
        str, typer.Option("--format", help="parquet, ndjson or csv")
    ] = "parquet",
    batches: Annotated[int, typer.Option(help="Split the events into this many files.")] = 1,
    late_fraction: Annotated[float, typer.Option()] = 0.05,
    duplicate_fraction: Annotated[float, typer.Option()] = 0.01,
    bad_fraction: Annotated[float, typer.Option()] = 0.001,
) -> None:
    """Write locations, packages and shipment events that follow carrier lifecycles."""
    from shipline.generate import generate_dataset, write_dataset

    if file_format not in ("parquet", "ndjson", "csv"):
        raise ValidationError(f"--format: {file_format!r}; use parquet, ndjson or csv")
    try:
        dataset = generate_dataset(
            events,
            seed=seed,
            days=days,
            late_fraction=late_fraction,
            duplicate_fraction=duplicate_fraction,
            bad_fraction=bad_fraction,
        )
        files = write_dataset(dataset, out, file_format=file_format, batches=batches)  # type: ignore[arg-type]
    except ValueError as error:
        raise ValidationError(str(error)) from error
    console.print(
        f"generate: {files.event_rows:,} events of {files.shipments:,} shipments in"
        f" {len(files.events)} file(s) under {out}; reference data {files.locations.name},"
        f" {files.packages.name}"
    )


@reference_app.command("load")
def reference_load(
    table: Annotated[str, typer.Argument(help="locations or packages")],
    path: Path,
) -> None:
    """Upsert a reference file (Parquet or CSV) by its key."""
    if not path.is_file():
        raise ValidationError(f"no such file: {path}")
    with open_pipeline() as pipeline:
        rows = pipeline.load_reference(table, path)
    console.print(f"reference: {rows:,} rows upserted into {table}")


@dlq_app.command("list")
def dlq_list(
    status: Annotated[str, typer.Option(help="open, redriven, purged or all")] = "open",
    limit: Annotated[int, typer.Option()] = 50,
    as_json: Json = False,
    old_state: Annotated[
        str | None, typer.Option("--state", hidden=True, help="The older name of --status.")
    ] = None,
) -> None:
    """The newest dead letters."""
    state = old_state or status
    if state not in (*dead_letters.STATES, "all"):
        named = "--state" if old_state else "--status"
        raise ValidationError(f"{named}: {state!r}; use {', '.join(dead_letters.STATES)} or all")
    with open_pipeline() as pipeline:
        rows = pipeline.dead_letters(None if state == "all" else state, limit)
    if as_json:
        print_json(rows)
    else:
        console.print(
            render.rows_table(
                rows, ["dead_letter_id", "received_at", "source", "state", "reason"], "dead letters"
            )
        )


@dlq_app.command("show")
def dlq_show(dead_letter_id: int) -> None:
    """One dead letter, whole."""
    with open_pipeline() as pipeline:
        print_json(pipeline.dead_letter(dead_letter_id))


@dlq_app.command("redrive")
def dlq_redrive(
    ids: Annotated[list[int], typer.Argument(help="Dead letter ids.")],
    payload: Annotated[
        str | None, typer.Option(help="A fixed record (JSON) to use instead of one's payload.")
    ] = None,
    as_json: Json = False,
) -> None:
    """Validate dead letters again and ingest them (after adding an alias, say)."""
    with open_pipeline() as pipeline:
        result = pipeline.redrive(ids, payload)
    if as_json:
        print_json(render.ingest_stats(result))
    else:
        console.print(render.redrive_line(result, asked=len(set(ids))))
        for error in result.errors:
            console.print(f"  still refused: {'; '.join(error.errors)}", style="yellow")


@dlq_app.command("purge")
def dlq_purge(
    ids: Annotated[list[int] | None, typer.Argument(help="Dead letter ids.")] = None,
    source: Annotated[
        str | None, typer.Option(help="Every open one of this source (dcsa: also dcsa:…).")
    ] = None,
    before: Annotated[
        str | None,
        typer.Option(help="Every open one received before this time (UTC if no offset)."),
    ] = None,
    every: Annotated[bool, typer.Option("--all", help="Every open dead letter.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Mark dead letters purged: kept for audit, no longer open. Name ids, or select
    with --source and/or --before, or --all (these ask first, unless --yes)."""
    selecting = source is not None or before is not None
    if sum((bool(ids), selecting, every)) != 1:
        raise ValidationError("dlq purge: name dead letter ids, or --source/--before, or --all")
    if ids:
        with open_pipeline() as pipeline:
            count = pipeline.purge_dead_letters(ids)
        console.print(f"purged {count} dead letter(s)" + render.not_open_note(len(set(ids)), count))
        return
    cutoff = _purge_cutoff(before) if before is not None else None
    with open_pipeline() as pipeline:
        matching = pipeline.count_open_dead_letters(source, cutoff)
        if matching == 0:
            console.print("no open dead letter matches; nothing purged")
            return
        if not yes:
            typer.confirm(f"purge {matching:,} open dead letter(s)?", abort=True, err=True)
        count = pipeline.purge_open_dead_letters(source, cutoff)
    console.print(f"purged {count:,} dead letter(s)")


def _purge_cutoff(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError as error:
        raise ValidationError(f"--before: {text!r} is not an ISO-8601 date or time") from error
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@app.command()
def demo(
    events: Annotated[int, typer.Option(min=1, help="Size of the sample data set.")] = 200_000,
    batches: Annotated[int, typer.Option(min=1, help="Incremental batches to stream.")] = 5,
    workdir: Annotated[
        Path, typer.Option(help="Where the demo writes its data (and, by default, its database).")
    ] = Path("demo-data"),
) -> None:
    """Generate data, run the base, stream incremental batches with late events, verify.

    It runs on --database (or SHIPLINE_DATABASE) when given, which must hold no
    shipline data yet; otherwise on WORKDIR/demo.duckdb, replaced on every run.
    """
    from shipline.cli.demo import run_demo

    run_demo(
        events=events,
        batches=batches,
        workdir=workdir,
        database=current_options().database,
        database_from_env=current_options().database_from_env,
    )


def main() -> None:
    """Entry point: map shipline's errors, usage errors and Ctrl-C to a message and an
    exit code (the table in the README), never a traceback."""
    code = run_cli(app)
    record_invocation(sys.argv[1:], code)
    sys.exit(code)
