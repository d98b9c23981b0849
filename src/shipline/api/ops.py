"""Operations routes: liveness, Prometheus metrics, and the API docs page.

The docs page loads Swagger UI from the ``swagger-ui-py`` package, served at
``DOCS_ASSETS`` (``create_app`` mounts ``docs_assets()``), so it works offline.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles

from shipline.api.headers import docs_policy
from shipline.api.state import services

router = APIRouter(tags=["ops"])

DOCS_ASSETS = "/docs/assets"
"""Where Swagger UI's own files are served, on the server's origin."""


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
    assets = request.scope.get("root_path", "") + DOCS_ASSETS
    page = get_swagger_ui_html(
        openapi_url=request.app.openapi_url,
        title=f"{request.app.title} - Swagger UI",
        swagger_js_url=f"{assets}/swagger-ui-bundle.js",
        swagger_css_url=f"{assets}/swagger-ui.css",
        swagger_favicon_url=f"{assets}/favicon-32x32.png",
    )
    html = bytes(page.body).decode("utf-8")
    return HTMLResponse(html, headers={"Content-Security-Policy": docs_policy(html)})


def docs_assets() -> StaticFiles:
    """Swagger UI's files (scripts, stylesheet, icons) as the package ships them."""
    return StaticFiles(directory=Path(str(files("swagger_ui") / "static")))
