"""Operations routes: liveness, Prometheus metrics, and the API docs page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response

from shipline.api.headers import docs_policy
from shipline.api.state import services

router = APIRouter(tags=["ops"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """Liveness: the process answers (no authentication)."""
    return {"status": "ok"}


@router.get("/metrics", response_class=Response)
def get_metrics(request: Request) -> Response:
    """Prometheus text format: the figures of the last few seconds, not a query per scrape."""
    found = services(request)
    return Response(found.metrics.render(), media_type="text/plain; version=0.0.4")


@router.get("/docs", include_in_schema=False)
def docs(request: Request) -> HTMLResponse:
    """Swagger UI over ``/openapi.json``, with a policy that allows its one inline script."""
    page = get_swagger_ui_html(
        openapi_url=request.app.openapi_url, title=f"{request.app.title} - Swagger UI"
    )
    html = bytes(page.body).decode("utf-8")
    return HTMLResponse(html, headers={"Content-Security-Policy": docs_policy(html)})
