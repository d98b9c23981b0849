"""``shipline audit``: read the audit log (who read or changed what, and the outcome)."""

from __future__ import annotations

import getpass
import socket
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated

import typer

from shipline.cli.options import open_pipeline
from shipline.cli.render import console, errors, print_json, rows_table
from shipline.errors import ConfigError, ShiplineError, ValidationError
from shipline.pipeline import Pipeline
from shipline.store.audit import AuditEntry

audit_app = typer.Typer(
    help="The audit log: one row per API or dashboard data request and per CLI command"
    " that reads or changes data.",
    no_args_is_help=True,
)

COLUMNS = ["occurred_at", "actor", "client", "action", "subject", "detail", "status"]


def cli_actor() -> str:
    """Who runs this command: ``cli:`` and the local OS user."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


def record_command(pipeline: Pipeline, action: str, subject: str | None, status: int) -> None:
    """One audit row for a CLI command that read or changed data (``status``: its exit
    code)."""
    entry = AuditEntry(
        at=datetime.now(UTC),
        actor=cli_actor(),
        client=socket.gethostname(),
        action=f"cli: {action}",
        subject=subject,
        status=status,
    )
    pipeline.record_audit([entry])


CHANGING = (
    ("init",),
    ("ingest",),
    ("base",),
    ("incremental",),
    ("load",),
    ("demo",),
    ("dlq", "redrive"),
    ("dlq", "purge"),
    ("reference", "load"),
    ("retention", "apply"),
    ("holds", "release"),
    ("keys", "create"),
    ("keys", "revoke"),
    ("keys", "rotate"),
)
"""The commands that change data: each leaves an audit row (a dry run too)."""

READING = (
    ("status",),
    ("timeline",),
    ("shipments",),
    ("kpis",),
    ("stuck",),
    ("verify",),
    ("metrics",),
    ("quality",),
    ("dlq", "list"),
    ("dlq", "show"),
    ("loads", "list"),
    ("keys", "list"),
    ("audit", "list"),
)
"""The commands that read data (DESIGN: all data access logged): an audit row too."""

AUDITED = CHANGING + READING

GLOBAL_OPTIONS_WITH_VALUE = ("--database", "-d")


def audited_command(argv: Sequence[str]) -> list[str] | None:
    """The words of ``argv`` from its command on, when that command reads or changes
    data."""
    words = list(argv)
    while words and words[0].startswith("-"):
        option = words.pop(0)
        if option in GLOBAL_OPTIONS_WITH_VALUE and words:
            words.pop(0)
    for command in AUDITED:
        if tuple(words[: len(command)]) == command:
            return words
    return None


def record_invocation(argv: Sequence[str], exit_code: int) -> None:
    """After a CLI command that read or changed data: its audit row (outcome: the
    exit code).

    The command's words are its subject (ids, files, counts as the user gave them);
    a database that is not there (the command failed before making it) gets no row.
    """
    words = audited_command(argv)
    if words is None:
        return
    command = next(c for c in AUDITED if tuple(words[: len(c)]) == c)
    try:
        with open_pipeline() as pipeline:
            record_command(
                pipeline, " ".join(command), " ".join(words[len(command) :]) or None, exit_code
            )
    except ConfigError:
        # No database to record in (the command changed nothing), or a server owns it:
        # then the command went through the server, which recorded its request.
        return
    except ShiplineError as error:
        errors.print(f"warning: not recorded in the audit log: {error}", markup=False)


def _since(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError(
            f"--since {text!r}: give an ISO-8601 time such as 2026-12-01T00:00:00Z"
        ) from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


@audit_app.command("list")
def audit_list(
    key: Annotated[str | None, typer.Option("--key", help="Only this key id's rows.")] = None,
    actor: Annotated[
        str | None, typer.Option("--actor", help="Only this actor's rows (e.g. cli:alice).")
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="From this ISO-8601 time on (UTC if no offset).")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=100_000)] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable rows.")] = False,
) -> None:
    """The newest audit rows, newest first."""
    with open_pipeline() as pipeline:
        rows = pipeline.audit_log(actor=key or actor, since=_since(since), limit=limit)
    if as_json:
        print_json(rows)
        return
    console.print(rows_table(rows, COLUMNS, title=f"audit log ({len(rows)} rows)"))


def register(app: typer.Typer) -> None:
    """Add ``audit`` to the CLI."""
    app.add_typer(audit_app, name="audit")
