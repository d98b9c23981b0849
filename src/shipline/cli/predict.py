"""``shipline predict``: learn the delivery model, and measure it against baselines."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from shipline.cli.options import open_pipeline
from shipline.cli.render import console, print_json
from shipline.errors import ValidationError

predict_app = typer.Typer(
    help="Predicted delivery: train the model, evaluate it on a hold-out by time.",
    no_args_is_help=True,
)
Json = Annotated[bool, typer.Option("--json", help="Print machine-readable figures.")]


@predict_app.command("train")
def predict_train(as_json: Json = False) -> None:
    """Learn a new model version from every delivered shipment, and predict every open
    shipment with it (the nightly base run does this too)."""
    with open_pipeline() as pipeline:
        result = pipeline.train_predictions()
    if as_json:
        print_json(result.as_dict())
        return
    console.print(
        f"model {result.model_version}: {result.segments:,} segments from"
        f" {result.samples:,} samples; {result.predictions:,} open shipments predicted",
        markup=False,
    )


@predict_app.command("evaluate")
def predict_evaluate(
    split: Annotated[
        str | None,
        typer.Option(
            help="Train on shipments delivered before this date or instant (ISO-8601, UTC"
            " if naive), test on those created at or after it; by default 60% of the"
            " delivered shipments are before it."
        ),
    ] = None,
    as_json: Json = False,
) -> None:
    """MAE, p50/p90 absolute error and interval coverage of the predictions at each
    event of held-out delivered shipments, beside the promised delivery, the
    carrier's estimate and the lane's median transit."""
    with open_pipeline() as pipeline:
        result = pipeline.evaluate_predictions(_instant(split) if split else None)
    if as_json:
        print_json(result.as_dict())
        return
    console.print(
        f"split {result.split.isoformat()}: trained on {result.train_shipments:,}"
        f" delivered shipments ({result.segments:,} segments), tested on"
        f" {result.test_shipments:,} created before"
        f" {result.test_until.isoformat() if result.test_until else '-'}"
        f" at {result.pairs:,} events",
        markup=False,
    )
    console.print(evaluation_table(result.overall, "overall"))
    console.print(evaluation_table(result.by_stage, "by stage", stage=True))


def evaluation_table(rows: list[dict[str, Any]], title: str, stage: bool = False) -> Table:
    """Rows of an evaluation as a table: hours, and the share inside p10..p90."""
    table = Table(title=title)
    for name in (["stage"] if stage else []) + ["method", "pairs", "MAE h", "p50 h", "p90 h"]:
        table.add_column(name)
    table.add_column("coverage p10-p90")
    for row in rows:
        coverage = row["coverage"]
        table.add_row(
            *([str(row["stage"])] if stage else []),
            str(row["method"]),
            f"{row['pairs']:,}",
            f"{row['mae_hours']:.1f}",
            f"{row['p50_hours']:.1f}",
            f"{row['p90_hours']:.1f}",
            "-" if coverage is None else f"{coverage:.0%}",
        )
    return table


def prediction_line(prediction: dict[str, Any]) -> str:
    """The timeline's line for a predicted delivery: the point, its interval, and why."""

    def shown(value: Any) -> str:
        return value.isoformat() if isinstance(value, datetime) else str(value)

    return (
        f"predicted delivery {shown(prediction['point'])} (80% between"
        f" {shown(prediction['p10'])} and {shown(prediction['p90'])}) from"
        f" {prediction['samples']:,} deliveries like it ({prediction['segment']},"
        f" model {prediction['model_version']})"
    )


def _instant(text: str) -> datetime:
    try:
        found = datetime.fromisoformat(text)
    except ValueError as error:
        raise ValidationError(f"--split: {text!r} is not an ISO-8601 date or time") from error
    return found if found.tzinfo else found.replace(tzinfo=UTC)


def register(app: typer.Typer) -> None:
    """Add ``predict`` to the CLI."""
    app.add_typer(predict_app, name="predict")
