"""``shipline config show``, and the commented starter files ``shipline init`` writes."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit, urlunsplit

import typer
from pydantic import SecretStr
from rich.table import Table

from shipline.cli.options import current_options
from shipline.cli.render import console, print_json
from shipline.settings import (
    Settings,
    config_file,
    is_shared_folder,
    load_settings,
    setting_sources,
)

config_app = typer.Typer(help="The settings shipline runs with.", no_args_is_help=True)

STARTER = """\
# shipline's settings. Each one has a default: uncomment a line to change it.
# A SHIPLINE_* variable overrides this file (SHIPLINE_LOOKBACK_DAYS=5), and
# `shipline config show` prints every setting, its value and where it came from.
# shipline reads the shipline.toml of the working folder or of the nearest folder
# above it; relative paths here are relative to this file's folder.
# SHIPLINE_CONFIG names another file instead.

{database}
# lookback_days = 10                # the base run recomputes shipments active in 10 days
# retention_days = 730              # a shipment leaves the store whole after two years
# alerts_file = "alerts.yaml"       # the rules of `shipline alerts check` and the server
# verify_max_pending_seconds = 300  # `verify` fails as stuck when events wait longer
# duckdb_memory_limit = "3GiB"      # cap DuckDB's memory (default 3 GiB); it spills past it

# [sources.x12]                     # the zone of a source's local times (no offset)
# timezone = "America/Chicago"

# [aliases.event_type]              # a carrier's codes onto shipline's vocabulary
# DLV = "delivered"
"""


def starter_settings(database: str) -> str:
    """A commented ``shipline.toml`` naming ``database``; a URL stays out of the file
    (it may carry a password: set SHIPLINE_DATABASE)."""
    if "://" in database:
        line = '# database = "shipline.duckdb"   # a URL with a password: set SHIPLINE_DATABASE'
    else:
        line = f"database = {json.dumps(database)}  # a DuckDB file, or a postgresql:// URL"
    return STARTER.format(database=line)


def write_starters(settings: Settings) -> list[Path]:
    """Write a starter ``shipline.toml`` and ``alerts.yaml`` where none is; the files
    written. A file that exists is never touched, nor is one SHIPLINE_CONFIG names, and
    nothing is written in a folder anyone may write to (``/tmp``)."""
    written: list[Path] = []
    if is_shared_folder(Path.cwd()):
        return written  # anyone's folder: a settings file here would be anyone's to read
    path = config_file()
    if path == Path("shipline.toml") and not path.exists():
        _write_new(path, starter_settings(settings.database))
        written.append(path)
    alerts = Path(settings.alerts_file)
    if not alerts.exists():
        rules = resources.files("shipline.monitor").joinpath("default_alerts.yaml")
        _write_new(alerts, rules.read_text(encoding="utf-8"))
        written.append(alerts)
    return written


def _write_new(path: Path, text: str) -> None:
    with path.open("x", encoding="utf-8") as file:  # "x": never over a file made meanwhile
        file.write(text)


@config_app.command("show")
def show(
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable rows.")] = False,
) -> None:
    """Every setting's value and where it came from: a flag, a SHIPLINE_* variable,
    the settings file, or the default."""
    options = current_options()
    flags = {} if options.database_from_env else {"database": options.database}
    settings = load_settings(**flags)
    sources = setting_sources(**flags)
    rows = [
        {"setting": name, "value": shown(getattr(settings, name)), "source": sources[name]}
        for name in Settings.model_fields
    ]
    if as_json:
        print_json(rows)
        return
    table = Table(title=f"settings (file {config_file()})", title_justify="left")
    table.add_column("setting", no_wrap=True)
    table.add_column("value", overflow="fold")
    table.add_column("source", overflow="fold")
    for row in rows:
        style = None if row["source"] == "default" else "bold"
        table.add_row(row["setting"], row["value"], row["source"], style=style)
    console.print(table)


def shown(value: Any) -> str:
    """A setting's value as text; a secret (a key, a password in a URL) is never shown."""
    if isinstance(value, SecretStr):
        return HIDDEN
    if value is None:
        return "-"
    if hasattr(value, "model_dump"):
        value = value.model_dump()
    if isinstance(value, dict | list):
        return json.dumps(_masked(value), default=str)
    return _without_password(str(value))


HIDDEN = "(set, hidden)"


def _masked(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: HIDDEN if "secret" in str(key) and item else _masked(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_masked(item) for item in value]
    return value


def _without_password(text: str) -> str:
    if "://" not in text:
        return text
    parts = urlsplit(text)
    if parts.password is None:
        return text
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def register(app: typer.Typer) -> None:
    """Add ``config`` to the ``shipline`` command."""
    app.add_typer(config_app, name="config")
