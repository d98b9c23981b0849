"""Dead-letter routes (admin): list, show, redrive and purge.

Every answer is bounded: a listing returns at most ``MAX_LIST`` dead letters with
their payloads cut to ``LIST_PAYLOAD_CHARS`` (``before_id`` pages on; one dead
letter is shown whole), and a redrive or purge takes at most ``MAX_IDS`` ids.
Bodies are read after the key and its scope are checked, never before.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from pydantic import ValidationError as PydanticValidationError
from starlette.concurrency import run_in_threadpool

from shipline.api.audit import note
from shipline.api.auth import AdminKey
from shipline.api.middleware import read_body
from shipline.api.state import services
from shipline.ingest import dead_letters
from shipline.jsonable import jsonable

router = APIRouter(tags=["dead letters"])

MAX_LIST = 1000
"""Dead letters one listing returns at most."""
LIST_PAYLOAD_CHARS = 2000
"""How much of each payload a listing shows (``GET /v1/dead-letters/{id}`` has it all)."""
MAX_IDS = 1000
"""Dead letters one redrive or purge acts on at most."""


class IdsBody(BaseModel):
    """Dead letters to act on."""

    ids: list[int] = Field(min_length=1, max_length=MAX_IDS)
    payload: str | None = Field(default=None, description="A fixed record for one id.")


async def ids_body(request: Request) -> IdsBody:
    """The request's ``IdsBody``, read within the size limit (422 as FastAPI words it)."""
    raw = await read_body(request, services(request).settings.api_max_request_bytes)
    try:
        body = IdsBody.model_validate_json(raw)
    except PydanticValidationError as error:
        raise RequestValidationError(error.errors(include_url=False, include_input=False)) from None
    note(request.state, detail=f"ids={len(body.ids)}")
    return body


IDS_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": IdsBody.model_json_schema()}},
    }
}


@router.get("/v1/dead-letters")
def list_dead_letters(
    request: Request,
    _key: AdminKey,
    state: Annotated[str, Query(pattern=f"^({'|'.join(dead_letters.STATES)}|all)$")] = "open",
    limit: Annotated[int, Query(ge=1, le=MAX_LIST)] = 100,
    before_id: Annotated[int | None, Query(ge=1)] = None,
) -> Any:
    """The newest dead letters of a state (open by default), payloads shortened.

    To page on, pass the last ``dead_letter_id`` of a page as ``before_id``.
    """
    return jsonable(
        services(request).pipeline.dead_letters(
            state=None if state == "all" else state,
            limit=limit,
            payload_chars=LIST_PAYLOAD_CHARS,
            before_id=before_id,
        )
    )


@router.get("/v1/dead-letters/{dead_letter_id}")
def show_dead_letter(request: Request, dead_letter_id: int, _key: AdminKey) -> Any:
    """One dead letter, whole."""
    return jsonable(services(request).pipeline.dead_letter(dead_letter_id))


@router.post("/v1/dead-letters/redrive", openapi_extra=IDS_SCHEMA)
async def redrive(request: Request, _key: AdminKey) -> Any:
    """Validate dead letters again and ingest them; ``payload`` replaces one's text."""
    body = await ids_body(request)
    found = services(request)
    result = await run_in_threadpool(found.pipeline.redrive, body.ids, body.payload)
    found.processor.notify(result.accepted)
    return {
        "received": result.received,
        "accepted": result.accepted,
        "duplicates": result.duplicates,
        "rejected": result.rejected,
        "errors": [{"index": e.index, "errors": e.errors} for e in result.errors],
    }


@router.post("/v1/dead-letters/purge", openapi_extra=IDS_SCHEMA)
async def purge(request: Request, _key: AdminKey) -> dict[str, int]:
    """Mark dead letters purged (kept for audit)."""
    body = await ids_body(request)
    purged = await run_in_threadpool(services(request).pipeline.purge_dead_letters, body.ids)
    return {"purged": purged}
