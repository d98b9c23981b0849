"""``shipline metrics``, ``shipline quality`` and ``shipline alerts``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from shipline.cli import render
from shipline.cli.options import open_pipeline
from shipline.cli.render import console, print_json
from shipline.errors import ChecksFailedError
from shipline.jsonable import jsonable

alerts_app = typer.Typer(help="Alert rules: evaluate them, see their state.", no_args_is_help=True)

Json = Annotated[bool, typer.Option("--json", help="Print machine-readable results.")]
ReportOnly = Annotated[
    bool,
    typer.Option("--report-only", help="Exit 0 even when something fails (exit 10 otherwise)."),
]


def metrics(
    record: Annotated[
        bool, typer.Option(help="Also append them to monitor_metrics (pruned past retention).")
    ] = False,
    as_json: Json = False,
) -> None:
    """The monitoring metrics now, in base units (seconds, fractions, dollars, counts)."""
    from shipline.monitor import METRICS, with_unit

    with open_pipeline() as pipeline:
        values = pipeline.record_metrics() if record else pipeline.metrics()
    if as_json:
        print_json(values)
        return
    rows = [
        {
            "metric": name,
            "value": with_unit(value, METRICS[name].kind),
            "meaning": METRICS[name].help,
        }
        for name, value in values.items()
    ]
    console.print(render.rows_table(rows, ["metric", "value", "meaning"], "metrics"))


def quality(
    examples: Annotated[int, typer.Option(help="Examples to show per check.")] = 5,
    as_json: Json = False,
    report_only: ReportOnly = False,
) -> None:
    """Data-quality checks on the timeline: each a count and a few examples. Exits 10
    when a check fails, unless --report-only."""
    with open_pipeline() as pipeline:
        checks = pipeline.quality(examples=examples)
    if as_json:
        print_json([check.as_dict() for check in checks])
    else:
        _print_checks(checks)
    failing = [check.name for check in checks if not check.passed]
    if failing and not report_only:
        raise ChecksFailedError(f"quality checks failing: {', '.join(failing)}")


def _print_checks(checks: list[Any]) -> None:
    for check in checks:
        mark = "[green]ok[/]" if check.passed else f"[yellow]{check.count:,}[/]"
        rate = f" (rate {check.rate:.2%})" if check.rate else ""
        console.print(f"{mark} {check.name}{rate}: {check.description}")
        if check.examples:
            columns = list(dict.fromkeys(key for row in check.examples for key in row))
            console.print(render.rows_table(jsonable(check.examples), columns), style="dim")


@alerts_app.command("check")
def alerts_check(
    rules: Annotated[
        Path | None,
        typer.Option(help="Rules file (default: alerts_file, else the packaged rules)."),
    ] = None,
    notify: Annotated[bool, typer.Option(help="Notify rules that changed state.")] = True,
    as_json: Json = False,
    report_only: ReportOnly = False,
) -> None:
    """Evaluate the alert rules now; a rule notifies when it fires and when it resolves.
    Exits 10 while a rule fires, unless --report-only."""
    with open_pipeline() as pipeline:
        outcomes = pipeline.check_alerts(rules, notify=notify)
    if as_json:
        print_json([outcome.as_dict() for outcome in outcomes])
    else:
        _print_outcomes(outcomes)
    firing = [o.rule for o in outcomes if o.state == "firing"]
    if firing and not report_only:
        raise ChecksFailedError(f"alerts firing: {', '.join(firing)}")


def _print_outcomes(outcomes: list[Any]) -> None:
    from shipline.monitor import reading

    for o in outcomes:
        state = "[red]FIRING[/]" if o.state == "firing" else "[green]ok[/]"
        change = " (changed)" if o.changed else ""
        action = f" -> {o.action}" if o.state == "firing" else ""
        detail = f"{o.rule} [{o.severity}] {reading(o.condition, o.value)}{change}{action}"
        console.print(f"{state} {escape(detail)}")


@alerts_app.command("status")
def alerts_status(as_json: Json = False) -> None:
    """The persisted state of every rule evaluated so far."""
    from shipline.monitor import reading

    with open_pipeline() as pipeline:
        rows = pipeline.alert_states()
    if as_json:
        print_json(rows)
        return
    for row in rows:
        row["last_reading"] = reading(row["condition"], row["last_value"])
    console.print(
        render.rows_table(
            rows, ["rule_name", "state", "severity", "last_reading", "since"], "alerts"
        )
    )


def register(app: typer.Typer) -> None:
    """Add ``metrics``, ``quality`` and ``alerts`` to the ``shipline`` command."""
    app.command()(metrics)
    app.command()(quality)
    app.add_typer(alerts_app, name="alerts")
