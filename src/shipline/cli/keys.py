"""``shipline keys``: create, list and revoke API keys (while the server is stopped)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from shipline.cli.options import open_pipeline
from shipline.cli.render import console, rows_table
from shipline.store.keys import SCOPES

keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)


@keys_app.command("create")
def keys_create(
    scope: Annotated[str, typer.Option(help=f"One of {', '.join(SCOPES)}.")],
    description: Annotated[str | None, typer.Option(help="What the key is for.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help='Print {"id": ..., "key": ...}.')] = False,
) -> None:
    """Create a key; it is printed once, alone on the last line, and never again."""
    with open_pipeline() as pipeline:
        new = pipeline.create_key(scope, description)
    if as_json:
        typer.echo(json.dumps({"id": new.key_id, "key": new.key, "scope": new.scope}))
        return
    typer.echo(f"id {new.key_id} (scope {new.scope}); the key, shown only now:")
    typer.echo(new.key)


@keys_app.command("list")
def keys_list(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable.")] = False,
) -> None:
    """Every key: id, scope, created, revoked (never the keys themselves)."""
    with open_pipeline() as pipeline:
        found = [key.as_dict() for key in pipeline.list_keys()]
    if as_json:
        typer.echo(json.dumps(found))
        return
    console.print(
        rows_table(found, ["id", "scope", "created_at", "revoked_at", "description"], "API keys")
    )


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key's id.")]) -> None:
    """Revoke a key at once (a running server notices within seconds)."""
    with open_pipeline() as pipeline:
        key = pipeline.revoke_key(key_id)
    typer.echo(f"revoked {key.key_id} at {key.revoked_at}")
