"""``shipline keys``: create, list, rotate and revoke API keys.

A running server sees a change within seconds (it rereads the keys table every two).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from shipline.cli.options import open_pipeline
from shipline.cli.render import console, rows_table
from shipline.store.keys import SCOPES, expiry, parse_duration

keys_app = typer.Typer(help="Create, list, rotate and revoke API keys.", no_args_is_help=True)


@keys_app.command("create")
def keys_create(
    scope: Annotated[str, typer.Option(help=f"One of {', '.join(SCOPES)}.")],
    description: Annotated[str | None, typer.Option(help="What the key is for.")] = None,
    expires_in: Annotated[
        str | None, typer.Option(help="Expire after this long: 90m, 24h, 30d, 2w.")
    ] = None,
    expires_at: Annotated[
        str | None, typer.Option(help="Expire at this ISO-8601 time (with an offset or Z).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help='Print {"id": ..., "key": ...}.')] = False,
) -> None:
    """Create a key; it is printed once, alone on the last line, and never again."""
    with open_pipeline() as pipeline:
        new = pipeline.create_key(scope, description, expiry(expires_in, expires_at))
    _print_new(new.as_dict(), as_json)


def _print_new(new: dict[str, Any], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(new))
        return
    until = f", expires {new['expires_at']}" if new["expires_at"] else ""
    typer.echo(f"id {new['id']} (scope {new['scope']}{until}); the key, shown only now:")
    typer.echo(new["key"])


@keys_app.command("rotate")
def keys_rotate(
    key_id: Annotated[str, typer.Argument(help="The key to replace.")],
    grace: Annotated[
        str, typer.Option(help="How long the old key stays valid: 24h, 7d, 0s.")
    ] = "24h",
    as_json: Annotated[bool, typer.Option("--json", help='Print {"id": ..., "key": ...}.')] = False,
) -> None:
    """A successor with the same scope; the old key keeps working for --grace, then expires."""
    with open_pipeline() as pipeline:
        new = pipeline.rotate_key(key_id, parse_duration(grace, "--grace"))
    _print_new({**new.as_dict(), "replaces": key_id}, as_json)


@keys_app.command("list")
def keys_list(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable.")] = False,
) -> None:
    """Every key: id, scope, state, created, expires, revoked (never the keys themselves)."""
    with open_pipeline() as pipeline:
        found = [key.as_dict() for key in pipeline.list_keys()]
    if as_json:
        typer.echo(json.dumps(found))
        return
    console.print(
        rows_table(
            found,
            ["id", "scope", "state", "created_at", "expires_at", "revoked_at", "description"],
            "API keys",
        )
    )


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key's id.")]) -> None:
    """Revoke a key at once (a running server notices within seconds)."""
    with open_pipeline() as pipeline:
        key = pipeline.revoke_key(key_id)
    typer.echo(f"revoked {key.key_id} at {key.revoked_at}")
