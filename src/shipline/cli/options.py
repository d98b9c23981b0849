"""What the global options say, for the invocation, and the pipeline they open.

The callback of ``shipline`` puts an ``Options`` on ``ctx.obj`` (as SQLMesh's CLI
carries its context) and makes it this invocation's with ``use``; every command
opens its pipeline with ``open_pipeline``, which reads it. A ``ContextVar`` carries
it rather than click's context stack, because typer keeps its own copy of click,
whose stack a public ``click`` import does not see.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass

from shipline.cli.render import console
from shipline.pipeline import Pipeline


@dataclass(frozen=True)
class Options:
    """The global options of one invocation."""

    database: str | None = None
    database_from_env: bool = False
    """Whether ``database`` came from SHIPLINE_DATABASE (``demo`` tells it apart from
    a default it may pick for itself)."""


_current: ContextVar[Options | None] = ContextVar("shipline_cli_options", default=None)


def use(options: Options) -> Options:
    """Make ``options`` this invocation's; return them."""
    _current.set(options)
    return options


def current_options() -> Options:
    """This invocation's options (the defaults outside a command)."""
    return _current.get() or Options()


def open_pipeline(*, create: bool = False, database: str | None = None) -> Pipeline:
    """The pipeline over ``database`` (by default the one --database and the settings name).

    Only ``init``, ``serve`` and ``demo`` pass ``create``, and say when they made a new
    DuckDB file; every other command refuses a database that is not there, so that a
    mistyped name is an error rather than an empty database.
    """
    from shipline.settings import load_settings
    from shipline.store.backend import is_new_database

    chosen = database or current_options().database
    if not create:
        return Pipeline.open(database=chosen)
    settings = load_settings(database=chosen)
    new = is_new_database(settings.database)
    pipeline = Pipeline(settings, create=True)
    if new:
        console.print(f"created new database at {settings.database}", markup=False)
    return pipeline
