"""``shipline serve``: the API, the processor and the scheduler in one process."""

from __future__ import annotations

import logging
import signal
from types import FrameType
from typing import Annotated

import typer

from shipline.errors import ConfigError
from shipline.pipeline import Pipeline
from shipline.settings import Settings


def serve(
    host: Annotated[str, typer.Option(help="Address to bind (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8080,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
    workers: Annotated[
        int, typer.Option(min=1, help="API processes (PostgreSQL only; DuckDB has one owner).")
    ] = 1,
    tls_cert: Annotated[
        str | None, typer.Option(help="PEM certificate file: serve HTTPS (with --tls-key).")
    ] = None,
    tls_key: Annotated[str | None, typer.Option(help="PEM private key of --tls-cert.")] = None,
) -> None:
    """Serve the ingestion API; this process owns the database until it stops.

    SIGTERM or Ctrl-C stops accepting connections, finishes the requests in flight,
    processes the events still pending, and closes the database.
    """
    from shipline.cli.options import open_pipeline
    from shipline.server.announce import announced_server
    from shipline.server.app import create_app
    from shipline.server.http import server_config, tls_files

    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    pipeline = open_pipeline(create=True)
    tls = {"tls_cert": tls_cert, "tls_key": tls_key}
    settings = pipeline.settings.model_copy(update={k: v for k, v in tls.items() if v})
    try:
        tls_files(settings)  # both or neither, before anything starts
    except ConfigError:
        pipeline.close()
        raise
    _banner(settings, host, port)
    if workers > 1:
        serve_workers(pipeline, host, port, log_level, workers, settings)
        return
    try:
        app = create_app(pipeline, pipeline.settings)
        config = server_config(app, settings, host=host, port=port, log_level=log_level)
        # uvicorn handles SIGINT/SIGTERM gracefully, then raises the signal again for
        # the handler it found; a no-op one lets the database close and the exit be 0.
        previous = {sig: signal.signal(sig, _ignore) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            announced_server(app, config, pipeline.settings.database).run()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    finally:
        pipeline.close()


def _banner(settings: Settings, host: str, port: int) -> None:
    """Where the server is, and how to reach it with a key, before it starts."""
    from urllib.parse import urlsplit

    from shipline.cli.render import errors

    scheme = "https" if settings.tls_cert else "http"
    base = f"{scheme}://{host}:{port}" if port else f"{scheme}://{host}:(a free port)"
    database = settings.database
    if "://" in database:
        parts = urlsplit(database)
        if parts.password:
            database = database.replace(f":{parts.password}@", ":***@", 1)
    lines = [
        f"shipline serve: database {database}",
        f"  API        {base}/v1/",
        f"  dashboard  {base}/",
        f"  API docs   {base}/docs",
        "  a read key for the dashboard: shipline keys create --scope read",
    ]
    errors.print("\n".join(lines), markup=False, highlight=False, soft_wrap=True)


def serve_workers(
    pipeline: Pipeline,
    host: str,
    port: int,
    log_level: str,
    workers: int,
    settings: Settings | None = None,
) -> None:
    """Several API processes over one PostgreSQL database.

    Each worker opens its own pipeline and processor; advisory locks make their
    ingest commits take turns and let one incremental pass run at a time.
    """
    import os

    from uvicorn.supervisors import Multiprocess

    from shipline.server.http import server_config

    settings = settings or pipeline.settings
    database = pipeline.settings.database
    dialect = pipeline.dialect
    several = pipeline.several_workers
    pipeline.close()
    if not several:
        why = {
            "duckdb": "a DuckDB file is owned by one process",
            "redshift": "Redshift has no advisory locks to elect the worker that runs the"
            " nightly base and the monitor",
        }.get(dialect, f"{dialect} cannot share its database between workers")
        raise ConfigError(
            f"--workers {workers}: {why}; use --workers 1,"
            " or a PostgreSQL database (--database postgresql://...)"
        )
    os.environ["SHIPLINE_DATABASE"] = database
    config = server_config(
        "shipline.server.factory:create_app_from_settings",
        settings,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
    )
    Multiprocess(config, sockets=[config.bind_socket()]).run()


def _ignore(_signum: int, _frame: FrameType | None) -> None:
    """Stand-in signal handler while uvicorn owns shutdown."""


def register(app: typer.Typer) -> None:
    """Add ``serve`` and ``keys`` to the ``shipline`` command."""
    from shipline.cli.keys import keys_app

    app.add_typer(keys_app, name="keys")
    app.command()(serve)
