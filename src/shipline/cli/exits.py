"""How the ``shipline`` command ends: one line on stderr and an exit code, no traceback.

shipline's own errors carry their code (``errors.py``); a command-line usage error
(an unknown option, a missing argument) exits ``USAGE``, apart from a configuration
error (2); Ctrl-C exits ``INTERRUPTED``. Every command writes in transactions, so an
interrupted one leaves nothing half-written.
"""

from __future__ import annotations

import typer
from typer import rich_utils

from shipline.cli import render
from shipline.errors import ShiplineError

USAGE = 64
"""A command line click could not parse (sysexits' EX_USAGE); click itself says 2."""
INTERRUPTED = 130
"""Ctrl-C (128 + SIGINT), as a shell reports it."""
_CLICK_USAGE = 2


def run_cli(app: typer.Typer) -> int:
    """Run ``app`` on the command line; the exit code it ends with."""
    try:
        outcome = app(standalone_mode=False)
    except ShiplineError as error:
        render.errors.print(f"error: {error}", style="bold red", markup=False)
        return error.exit_code
    except typer.TyperException as error:  # click's usage errors, in typer's copy
        rich_utils.rich_format_error(error)  # type: ignore[arg-type]
        return USAGE if error.exit_code == _CLICK_USAGE else error.exit_code
    except typer.Abort:
        render.errors.print("aborted", style="bold red")
        return 1
    except KeyboardInterrupt:
        return _interrupted()
    if outcome == INTERRUPTED:  # typer turns Ctrl-C in a command into Exit(130)
        return _interrupted()
    return outcome if isinstance(outcome, int) else 0


def _interrupted() -> int:
    render.errors.print(
        "interrupted; nothing was committed by the step in progress (a file being"
        " ingested, a timeline run); what finished before it stays",
        style="bold red",
        markup=False,
    )
    return INTERRUPTED
