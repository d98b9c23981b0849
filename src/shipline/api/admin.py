"""Admin routes for API keys: create, list, revoke and rotate (admin scope only).

A key's secret appears in exactly one answer: the one that creates it (``POST``
here, or a rotation, which creates a successor).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from shipline.api.auth import AdminKey
from shipline.api.state import services
from shipline.store.keys import expiry, parse_duration

router = APIRouter(prefix="/v1/admin/keys", tags=["admin"])


class KeyRequest(BaseModel):
    """A key to create: its scope, what it is for, and when it expires (or never)."""

    model_config = ConfigDict(extra="forbid")

    scope: str
    description: str | None = Field(default=None, max_length=500)
    expires_in: str | None = Field(default=None, description="e.g. 30d, 24h, 2w")
    expires_at: str | None = Field(default=None, description="ISO-8601 with an offset")


class RotateRequest(BaseModel):
    """How long the old key stays valid beside its successor."""

    model_config = ConfigDict(extra="forbid")

    grace: str = Field(default="24h", description="e.g. 24h, 7d, 0s")


@router.post("", status_code=201)
async def create_key(request: Request, body: KeyRequest, _key: AdminKey) -> dict[str, Any]:
    """Create a key; the answer is the only place its secret ``key`` ever appears."""
    found = services(request)
    expires_at = expiry(body.expires_in, body.expires_at)
    new = await run_in_threadpool(
        found.pipeline.create_key, body.scope, body.description, expires_at
    )
    found.keys.forget()
    return new.as_dict()


@router.get("")
async def list_keys(request: Request, _key: AdminKey) -> dict[str, Any]:
    """Every key with its state (active, revoked, expired); never a secret."""
    found = services(request)
    keys = await run_in_threadpool(found.pipeline.list_keys)
    return {"keys": [key.as_dict() for key in keys]}


@router.delete("/{key_id}")
async def revoke_key(request: Request, key_id: str, _key: AdminKey) -> dict[str, Any]:
    """Revoke a key at once (this server refuses it from the next request)."""
    found = services(request)
    key = await run_in_threadpool(found.pipeline.revoke_key, key_id)
    found.keys.forget()
    return key.as_dict()


@router.post("/{key_id}/rotate", status_code=201)
async def rotate_key(
    request: Request, key_id: str, _key: AdminKey, body: RotateRequest | None = None
) -> dict[str, Any]:
    """A successor with the same scope (its secret shown now); the old key stays valid
    for ``grace``, then expires."""
    found = services(request)
    grace = parse_duration((body or RotateRequest()).grace, "grace")
    new = await run_in_threadpool(found.pipeline.rotate_key, key_id, grace)
    found.keys.forget()
    return {**new.as_dict(), "replaces": key_id}
