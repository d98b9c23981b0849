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
from typing import cast

from shipline.cli.render import console
from shipline.pipeline import Pipeline
from shipline.settings import Settings


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

    While ``shipline serve`` owns a DuckDB file, the command works through that
    server (``cli.remote``); PostgreSQL and Redshift are opened beside it as ever.
    """
    from shipline.settings import load_settings
    from shipline.store.backend import is_new_database

    chosen = database or current_options().database
    settings = load_settings(database=chosen)
    remote = _beside_server(settings, create)
    if remote is not None:
        return remote
    if not create:
        return Pipeline(settings, create=False)
    new = is_new_database(settings.database)
    pipeline = Pipeline(settings, create=True)
    if new:
        console.print(f"created new database at {settings.database}", markup=False)
    return pipeline


def _beside_server(settings: Settings, create: bool) -> Pipeline | None:
    """The pipeline of the running server that owns the settings' DuckDB file, if any."""
    from shipline.server.discovery import server_file_path

    path = server_file_path(settings.database)
    if path is None or not path.exists():
        return None
    from shipline.cli.remote import BesideServerError, remote_pipeline, serving

    server = serving(settings)
    if server is None:
        return None
    if create:
        raise BesideServerError(
            f"{settings.database} is owned by `shipline serve` (pid {server.pid},"
            f" {server.url}); stop it first"
        )
    # Typed as the pipeline it stands for: it answers every method the commands call,
    # with the same results, or says that the command cannot run beside the server.
    return cast(Pipeline, remote_pipeline(settings, server))
