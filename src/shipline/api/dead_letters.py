"""Dead-letter routes (admin): list, show, redrive and purge."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from shipline.api.auth import AdminKey
from shipline.api.state import services
from shipline.ingest import dead_letters
from shipline.jsonable import jsonable

router = APIRouter(tags=["dead letters"])


class IdsBody(BaseModel):
    """Dead letters to act on."""

    ids: list[int] = Field(min_length=1)
    payload: str | None = Field(default=None, description="A fixed record for one id.")


@router.get("/v1/dead-letters")
def list_dead_letters(
    request: Request,
    _key: AdminKey,
    state: Annotated[str, Query(pattern=f"^({'|'.join(dead_letters.STATES)}|all)$")] = "open",
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> Any:
    """The newest dead letters of a state (open by default)."""
    pipeline = services(request).pipeline
    return jsonable(pipeline.dead_letters(None if state == "all" else state, limit))


@router.get("/v1/dead-letters/{dead_letter_id}")
def show_dead_letter(request: Request, dead_letter_id: int, _key: AdminKey) -> Any:
    """One dead letter, whole."""
    return jsonable(services(request).pipeline.dead_letter(dead_letter_id))


@router.post("/v1/dead-letters/redrive")
def redrive(request: Request, body: IdsBody, _key: AdminKey) -> Any:
    """Validate dead letters again and ingest them; ``payload`` replaces one's text."""
    found = services(request)
    result = found.pipeline.redrive(body.ids, body.payload)
    found.processor.notify(result.accepted)
    return {
        "received": result.received,
        "accepted": result.accepted,
        "duplicates": result.duplicates,
        "rejected": result.rejected,
        "errors": [{"index": e.index, "errors": e.errors} for e in result.errors],
    }


@router.post("/v1/dead-letters/purge")
def purge(request: Request, body: IdsBody, _key: AdminKey) -> dict[str, int]:
    """Mark dead letters purged (kept for audit)."""
    return {"purged": services(request).pipeline.purge_dead_letters(body.ids)}
