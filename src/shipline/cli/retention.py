"""``shipline retention``: remove shipments past the retention period, whole."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer

from shipline.cli.options import open_pipeline
from shipline.cli.render import console, print_json

retention_app = typer.Typer(
    help="Shipments past retention_days (730 by default): see or remove them.",
    no_args_is_help=True,
)


@retention_app.command("apply")
def retention_apply(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would go; remove nothing.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable stats.")] = False,
) -> None:
    """Remove every shipment whose latest event is older than retention_days: its events,
    timeline rows, state, estimates and references. The nightly run does this too."""
    with open_pipeline() as pipeline:
        result = pipeline.apply_retention(dry_run=dry_run)
    if as_json:
        print_json(asdict(result))
        return
    verb = "would remove" if dry_run else "removed"
    console.print(
        f"retention: {verb} {result.shipments:,} shipments ({result.events:,} events,"
        f" {result.view_rows:,} view rows) whose latest event is before"
        f" {result.cutoff.isoformat()}",
        markup=False,
    )


def register(app: typer.Typer) -> None:
    """Add ``retention`` to the CLI."""
    app.add_typer(retention_app, name="retention")
