"""Operations routes: liveness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from shipline.api.state import services

router = APIRouter(tags=["ops"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """Liveness: the process answers (no authentication)."""
    return {"status": "ok"}


@router.get("/metrics", response_class=Response)
def get_metrics(request: Request) -> Response:
    """Prometheus text format."""
    found = services(request)
    return Response(found.metrics.render(found.pipeline), media_type="text/plain; version=0.0.4")
