"""``shipline load``, ``shipline loads``, ``shipline generate orders`` and ``shipline convert``."""

from __future__ import annotations

import logging
import signal
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from shipline.cli import render
from shipline.cli.options import open_pipeline
from shipline.cli.render import console, print_json
from shipline.errors import LoadError, ValidationError
from shipline.pipeline import Pipeline

loads_app = typer.Typer(help="The load ledger: which files were loaded, when, how.")
convert_app = typer.Typer(help="Convert data files.", no_args_is_help=True)

Json = Annotated[bool, typer.Option("--json", help="Print machine-readable results.")]


def _line(outcome: dict[str, Any]) -> str:
    key = outcome["file_key"]
    if outcome["status"] == "loaded":
        return (
            f"[green]loaded[/] {key} -> {outcome['table']}: {outcome['rows']:,} rows"
            f" ({outcome['inserted']:,} inserted, {outcome['updated']:,} updated)"
            f" in {outcome['duration_ms']:,.0f} ms"
        )
    if outcome["status"] == "skipped":
        return f"[dim]skipped[/] {key}: {escape(str(outcome['error'] or 'already loaded'))}"
    moved = f"; moved to {outcome['quarantined_to']}" if outcome["quarantined_to"] else ""
    return f"[red]failed[/] {key}: {outcome['error']}{moved}"


def load(
    paths: Annotated[
        list[str] | None,
        typer.Argument(help="Files, landing folders or s3://bucket/prefix addresses."),
    ] = None,
    watch: Annotated[
        str | None,
        typer.Option(help="Poll this landing folder (or s3://bucket/prefix) for new files."),
    ] = None,
    interval: Annotated[
        float | None, typer.Option(help="Seconds between polls (default loader_poll_seconds).")
    ] = None,
    max_polls: Annotated[
        int | None, typer.Option(help="Stop watching after this many polls.")
    ] = None,
    as_json: Json = False,
) -> None:
    """Load landing-zone files into warehouse tables (upsert by key, one transaction each)."""
    if not paths and not watch:
        raise ValidationError("give files or folders to load, or --watch DIR")
    if paths and watch:
        raise ValidationError("give either files to load or --watch DIR, not both")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    with open_pipeline() as pipeline:
        if watch:
            _watch(pipeline, watch, interval, max_polls, as_json)
            return
        outcomes = pipeline.load_files(
            paths or [], on_file=None if as_json else lambda o: console.print(_line(o))
        )
    if as_json:
        print_json(outcomes)
    failed = [o for o in outcomes if o["status"] == "failed"]
    if failed:
        raise LoadError(
            f"{len(failed)} of {len(outcomes)} file(s) failed; see `shipline loads list"
            " --status failed`, fix the files and load them again"
        )
    if not as_json:
        loaded = sum(1 for o in outcomes if o["status"] == "loaded")
        console.print(f"load: {loaded} loaded, {len(outcomes) - loaded} skipped")


def _watch(
    pipeline: Pipeline,
    location: str,
    interval: float | None,
    max_polls: int | None,
    as_json: bool,
) -> None:
    stop = {"requested": False}
    polls = {"count": 0}

    def request_stop(*_: object) -> None:
        stop["requested"] = True

    def should_stop() -> bool:
        """Asked once after each poll."""
        polls["count"] += 1
        return stop["requested"] or (max_polls is not None and polls["count"] >= max_polls)

    def show(outcome: dict[str, Any]) -> None:
        if as_json:
            print_json(outcome)
        else:
            console.print(_line(outcome))

    previous = signal.signal(signal.SIGTERM, request_stop)
    render.errors.print(f"watching {location}; Ctrl-C or SIGTERM stops")
    started = time.monotonic()
    try:
        pipeline.watch_files(location, should_stop, on_file=show, interval_seconds=interval)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
    render.errors.print(f"stopped watching after {time.monotonic() - started:,.0f} s")


def loads_list(
    status: Annotated[str, typer.Option(help="loaded, failed or all")] = "all",
    limit: Annotated[int, typer.Option()] = 50,
    as_json: Json = False,
) -> None:
    """The newest rows of the load ledger."""
    if status not in ("loaded", "failed", "all"):
        raise ValidationError(f"--status: {status!r}; use loaded, failed or all")
    with open_pipeline() as pipeline:
        rows = pipeline.loads(None if status == "all" else status, limit)
    if as_json:
        print_json(rows)
        return
    console.print(
        render.rows_table(
            rows,
            [
                "load_id",
                "loaded_at",
                "file_key",
                "table_name",
                "status",
                "rows",
                "inserted",
                "updated",
                "duration_ms",
                "error",
            ],
            "loads",
            drop_first=("duration_ms", "inserted", "updated", "loaded_at", "table_name", "rows"),
        )
    )


def generate_orders(
    out: Annotated[Path, typer.Option(help="Landing folder to write into.")] = Path("landing"),
    orders: Annotated[int, typer.Option(help="How many orders.")] = 10_000,
    days: Annotated[int, typer.Option(help="Days of orders, ending 2025-11-13.")] = 3,
    seed: Annotated[int, typer.Option()] = 0,
    file_format: Annotated[str, typer.Option("--format", help="parquet or json")] = "parquet",
    files_per_day: Annotated[int, typer.Option(help="Files per table and day.")] = 1,
) -> None:
    """Write order_summary, order_items and order_flattened in the date-partitioned layout."""
    from shipline.generate.orders import generate_orders as generate
    from shipline.generate.orders import write_orders

    if file_format not in ("parquet", "json"):
        raise ValidationError(f"--format: {file_format!r}; use parquet or json")
    try:
        data = generate(orders, seed=seed, days=days)
        files = write_orders(
            data,
            out,
            file_format=file_format,  # type: ignore[arg-type]
            files_per_day=files_per_day,
        )
    except ValueError as error:
        raise ValidationError(str(error)) from error
    console.print(
        f"generate: {data.summary.num_rows:,} orders, {data.items.num_rows:,} lines in"
        f" {len(files)} {file_format} file(s) under {out}; load them with `shipline load {out}`"
    )


def convert_json_to_parquet(
    source: Annotated[Path, typer.Argument(help="A JSON array or NDJSON file (.gz too).")],
    target: Annotated[Path, typer.Argument(help="The Parquet file to write.")],
    as_json: Json = False,
) -> None:
    """Convert JSON to Parquet: narrowed integers, dictionary-encoded low-cardinality strings."""
    from shipline.loader.convert import json_to_parquet

    result = json_to_parquet(source, target)
    if as_json:
        print_json(result.__dict__)
        return
    console.print(
        f"convert: {result.rows:,} rows, {result.columns} columns -> {target}"
        f" ({result.bytes_in:,} -> {result.bytes_out:,} bytes); int32:"
        f" {', '.join(result.narrowed) or '-'}; dictionary: {', '.join(result.dictionary) or '-'}"
    )


def register(app: typer.Typer, generate_app: typer.Typer) -> None:
    """Add ``load``, ``loads``, ``generate orders`` and ``convert`` to ``shipline``."""
    app.command("load")(load)
    loads_app.command("list")(loads_list)
    app.add_typer(loads_app, name="loads")
    generate_app.command("orders")(generate_orders)
    convert_app.command("json-to-parquet")(convert_json_to_parquet)
    app.add_typer(convert_app, name="convert")
