"""``shipline holds``: shipments held out of the timeline runs, and their release."""

from __future__ import annotations

from typing import Annotated

import typer

from shipline.cli import render
from shipline.cli.options import open_pipeline
from shipline.cli.render import console, print_json

holds_app = typer.Typer(
    help="Shipments whose data made a timeline run fail: list them, release them.",
    no_args_is_help=True,
)


@holds_app.command("list")
def holds_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable rows.")] = False,
) -> None:
    """Every held shipment, with the error that held it."""
    with open_pipeline() as pipeline:
        holds = [hold.as_dict() for hold in pipeline.holds()]
    if as_json:
        print_json(holds)
        return
    if not holds:
        console.print("no shipment is held")
        return
    console.print(
        render.rows_table(
            holds, ["shipment_id", "held_at", "process_type", "retry", "reason"], "held shipments"
        )
    )


@holds_app.command("release")
def holds_release(
    shipment_ids: Annotated[list[str], typer.Argument(help="Held shipment ids.")],
) -> None:
    """Retry held shipments: the next incremental run recomputes each whole, and the
    hold ends if it succeeds (run `shipline incremental`, or let `serve` do it)."""
    with open_pipeline() as pipeline:
        released = pipeline.release_holds(shipment_ids)
    asked = len(set(shipment_ids))
    note = f"; {asked - released} of the {asked} are not held" if released < asked else ""
    console.print(f"released {released} held shipment(s) for retry{note}", markup=False)


def register(app: typer.Typer) -> None:
    """Add ``holds`` to the CLI."""
    app.add_typer(holds_app, name="holds")
