"""Turning results into terminal output: one-line summaries, tables, JSON."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from rich.console import Console

from shipline.cli.table import display as display
from shipline.cli.table import rows_table as rows_table
from shipline.ingest.service import IngestResult
from shipline.jsonable import jsonable
from shipline.timeline.runs import ReplaySelection, RunPlan, RunResult

console = Console()
errors = Console(stderr=True)


def print_json(data: Any) -> None:
    """Machine-readable output on stdout, one document."""
    console.print_json(json.dumps(jsonable(data)))


def run_line(result: RunResult) -> str:
    """The one-line summary of a base or incremental run."""
    share = (
        f" ({result.rows_written / result.full_recompute_rows:.2%} of a full recompute's"
        f" {result.full_recompute_rows:,})"
        if result.full_recompute_rows and result.process_type == "incremental"
        else ""
    )
    late = (
        f", {result.late_shipments:,} recomputed from their history"
        f" ({'replayed, ' if result.replay else ''}late, revised or held)"
        if result.late_shipments
        else ""
    )
    return (
        f"{result.process_type}: {result.events:,} events, {result.shipments_affected:,}"
        f" shipments{late}, {result.rows_written:,} rows written{share}"
        f" in {result.duration_ms:,.0f} ms; checkpoint at ingest_seq {result.to_ingest_seq:,}"
        + (f"\n{replay_line(result.replay)}" if result.replay else "")
    )


def replay_line(selection: ReplaySelection) -> str:
    """What a replay selected, and by which of its two rules (DESIGN 4)."""
    since = selection.replay_from.isoformat()
    if not selection.shipments:
        return (
            f"replay from {since}: no stored event was ingested or timestamped at or after"
            " it, so it selected nothing beyond the new events"
        )
    return (
        f"replay from {since} selected {selection.shipments:,} shipments"
        f" ({selection.events:,} stored events): {selection.ingested_shipments:,} with an"
        f" event ingested at or after it ({selection.ingested_events:,} events),"
        f" {selection.timestamped_shipments:,} with an event timestamped at or after it"
        f" ({selection.timestamped_events:,} events)"
    )


def plan_line(plan: RunPlan) -> str:
    """What a base or incremental run would do now, said before it does it."""
    share = f" ({plan.rows / plan.view_rows:.2%})" if plan.view_rows else ""
    if plan.process_type == "incremental":
        why = (
            f", {plan.recomputed_shipments:,} of them recomputed from their history"
            if plan.recomputed_shipments
            else ""
        )
        head = f"incremental --dry-run: {plan.events:,} new events; would process"
    else:
        cutoff = plan.cutoff.date().isoformat() if plan.cutoff else "?"
        why = (
            ", every shipment (--rebuild)"
            if plan.rebuild
            else f", those active since {cutoff} or changed since the last base"
        )
        head = f"base{' --rebuild' if plan.rebuild else ''} --dry-run: would recompute"
    line = (
        f"{head} {plan.shipments:,} shipments{why}, writing {plan.rows:,} rows of the"
        f" view's {plan.view_rows:,}{share}; nothing was written"
    )
    return line + (f"\n{replay_line(plan.replay)}" if plan.replay else "")


def ingest_line(result: IngestResult) -> str:
    """The one-line summary of an ingest."""
    return (
        f"ingest: {result.received:,} records, {result.accepted:,} accepted,"
        f" {result.duplicates:,} duplicates, {result.rejected:,} rejected to dead_letters"
        + "".join(f", {count:,} {name}" for name, count in side_counts(result).items() if count)
        + f" in {result.duration_ms:,.0f} ms"
        + "".join(f"; skipped {count:,} {reason}" for reason, count in result.skipped.items())
    )


def side_counts(result: IngestResult) -> dict[str, int]:
    """What the accepted records were besides new events."""
    return {
        "revisions": result.revisions,
        "retractions": result.retractions,
        "estimates": result.estimates,
        "references": result.references,
    }


def redrive_line(result: IngestResult, asked: int) -> str:
    """The one-line summary of a redrive of ``asked`` dead letters.

    A record refused again stays open with its new reason; it is not a new dead letter.
    """
    line = (
        f"redrive: {result.received:,} records, {result.accepted:,} accepted,"
        f" {result.duplicates:,} duplicates, {result.rejected:,} still refused (left open)"
        f" in {result.duration_ms:,.0f} ms"
    )
    return line + not_open_note(asked, result.received)


def not_open_note(asked: int, acted_on: int) -> str:
    """What to say when some of the dead letters asked for were not open ones."""
    skipped = asked - acted_on
    if skipped <= 0:
        return ""
    return (
        f"; {skipped:,} of the {asked:,} ids asked for are not open dead letters"
        " (see `shipline dlq list --state all`)"
    )


def ingest_stats(result: IngestResult) -> dict[str, Any]:
    """``--json`` stats of an ingest."""
    return {
        "events": result.received,
        "accepted": result.accepted,
        "duplicates": result.duplicates,
        "rejected": result.rejected,
        **side_counts(result),
        "skipped": result.skipped,
        "first_ingest_seq": result.first_ingest_seq,
        "last_ingest_seq": result.last_ingest_seq,
        "duration_ms": round(result.duration_ms, 3),
        "errors": [
            {
                "index": e.index,
                "line": e.line_number,
                **({"file": e.file} if e.file is not None else {}),
                "errors": e.errors,
                "dead_letter_id": e.dead_letter_id,
            }
            for e in result.errors[:100]
        ],
        "refused_files": result.refused_files,
    }


def rows_csv(rows: list[dict[str, Any]]) -> str:
    """Rows as CSV text with a header."""
    if not rows:
        return ""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    for row in rows:
        writer.writerow({key: jsonable(value) for key, value in row.items()})
    return out.getvalue()
