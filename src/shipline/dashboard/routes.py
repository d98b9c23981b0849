"""The dashboard's HTTP side: the page at ``/``, its assets, and JSON under ``/dashboard/api``.

Authentication: the page and its assets are static and open (they hold no data);
every JSON endpoint takes the same ``Authorization: Bearer`` API keys as ``/v1``.
The page asks for a key once and keeps it in ``sessionStorage`` (gone when the tab
closes). Reads need the ``read`` scope; injecting a late event needs ``ingest``;
replay and rebuild need ``admin``. No loopback exception: behind a proxy every
request looks local, so the key is the only gate.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from importlib import resources
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field
from pydantic import ValidationError as PydanticValidationError
from starlette.concurrency import run_in_threadpool

from shipline.api.audit import note
from shipline.api.auth import ApiError, ReadKey
from shipline.api.headers import dashboard_policy
from shipline.api.middleware import read_body
from shipline.api.state import services
from shipline.dashboard import explain
from shipline.jsonable import jsonable
from shipline.pipeline import Pipeline
from shipline.timeline.kpis import GroupBy

ASSETS = {
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
}
Model = TypeVar("Model", bound=BaseModel)

router = APIRouter(include_in_schema=True, tags=["dashboard"])


def _asset(name: str) -> str:
    return resources.files("shipline.dashboard").joinpath("static", name).read_text("utf-8")


def _pipeline(request: Request) -> Pipeline:
    return services(request).pipeline


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def page() -> HTMLResponse:
    """The dashboard (one page; it asks for an API key and loads data from the JSON API)."""
    html = _asset("index.html")
    return HTMLResponse(
        html,
        headers={"Cache-Control": "no-cache", "Content-Security-Policy": dashboard_policy(html)},
    )


@router.get("/dashboard/static/{name}", include_in_schema=False)
def asset(name: str) -> Response:
    """A packaged asset of the page (no CDN)."""
    if name not in ASSETS:
        raise ApiError(404, "not_found", f"no dashboard asset {name!r}")
    return Response(_asset(name), media_type=ASSETS[name], headers={"Cache-Control": "no-cache"})


@router.get("/dashboard/api/pipeline")
def pipeline_view(request: Request, _key: ReadKey) -> Any:
    """Every stage's counts and rates, the checkpoint, lag, recent runs, dead letters, loads."""
    pipeline = _pipeline(request)
    status = pipeline.status().as_dict()
    processor = services(request).processor
    status["processor"] = {
        "waiting_events": processor.pending,
        "runs": processor.stats.runs,
        "failures": processor.stats.failures,
        "last_error": processor.stats.last_error,
    }
    return jsonable(
        {
            "now": datetime.now(UTC),
            "status": status,
            "stages": pipeline.stage_counts(),
            "runs": pipeline.recent_runs(10),
            "dead_letters": pipeline.open_dead_letters(10),
            "loads": pipeline.loads(limit=10),
        }
    )


@router.get("/dashboard/api/shipments")
def shipments(
    request: Request,
    _key: ReadKey,
    q: Annotated[str, Query(max_length=64)] = "",
    status: Annotated[str | None, Query(max_length=32)] = None,
    region: Annotated[str | None, Query(max_length=128)] = None,
    late: bool = False,
    exceptions: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Any:
    """Shipments matching an id prefix and filters, with the filters' choices."""
    pipeline = _pipeline(request)
    found = pipeline.search_shipments(
        query=q.strip(),
        status=status or None,
        region=region or None,
        late=late,
        exceptions=exceptions,
        limit=limit,
    )
    return jsonable(
        {
            "shipments": found,
            "statuses": list(pipeline.statuses),
            "regions": pipeline.regions(),
        }
    )


@router.get("/dashboard/api/shipments/{shipment_id}")
def shipment(request: Request, shipment_id: str, _key: ReadKey) -> Any:
    """A shipment's summary, its timeline rows and its dwell per location (404 if unknown)."""
    pipeline = _pipeline(request)
    return jsonable(
        {
            "summary": pipeline.summary(shipment_id),
            "timeline": pipeline.timeline(shipment_id),
            "dwell": pipeline.location_dwell(shipment_id),
        }
    )


@router.get("/dashboard/api/metrics")
def metrics(
    request: Request, _key: ReadKey, minutes: Annotated[int, Query(ge=1, le=10_080)] = 60
) -> Any:
    """Metrics over time, the monitor's latest metrics, and every alert rule with its state.

    The figures are the monitor's newest recorded snapshot (``shipline serve`` records
    one on a schedule), or collected now when none has been recorded yet.
    """
    from shipline.monitor import load_rules, resolve_rules_path

    pipeline = _pipeline(request)
    now_values = pipeline.latest_metrics() or pipeline.metrics()
    persisted = {row["rule_name"]: row for row in pipeline.alert_states()}
    rules = load_rules(resolve_rules_path(pipeline.settings.alerts_file))
    alerts = []
    for rule in rules:
        state = persisted.get(rule.name)
        alerts.append(
            {
                "rule": rule.name,
                "condition": rule.condition.text,
                "severity": rule.severity,
                "action": rule.action,
                "metric": rule.condition.metric,
                "value": now_values.get(rule.condition.metric),
                "holds_now": rule.condition.holds(now_values),
                "state": None if state is None else state["state"],
                "since": None if state is None else state["since"],
                "last_evaluated_at": None if state is None else state["last_evaluated_at"],
            }
        )
    return jsonable({"series": pipeline.series(minutes), "now": now_values, "alerts": alerts})


STUCK_SHOWN = 50
"""The stuck shipments the performance tab lists (the longest past their usual gap)."""


@router.get("/dashboard/api/performance")
def performance(request: Request, _key: ReadKey, by: GroupBy = "carrier") -> Any:
    """KPIs per carrier, lane or location, and the shipments stuck longest."""
    pipeline = _pipeline(request)
    started = time.perf_counter()
    stuck = pipeline.stuck(limit=STUCK_SHOWN)
    return jsonable(
        {
            "kpis": pipeline.kpis(by).as_dict(),
            "overall": pipeline.kpis(None).as_dict()["groups"],
            "stuck": [shipment.as_dict() for shipment in stuck],
            "stuck_shown": STUCK_SHOWN,
            "duration_ms": (time.perf_counter() - started) * 1000,
        }
    )


class LateEventBody(BaseModel):
    """A late event to inject into a shipment, before its event at ``position``."""

    shipment_id: str = Field(min_length=1, max_length=64)
    position: int = Field(ge=1, description="1-based sequence the late event will take.")
    event_type: str = "in_transit"
    location_id: str | None = Field(default=None, max_length=64)


class ReplayBody(BaseModel):
    """A shipment to show a recovery path on; replay starts at its event ``position``."""

    shipment_id: str = Field(min_length=1, max_length=64)
    mode: str = Field(default="replay", pattern="^(replay|rebuild)$")
    position: int = Field(default=1, ge=1)


async def _body(request: Request, model: type[Model]) -> Model:
    """The request's body as ``model``, read only now: after the key was checked."""
    raw = await read_body(request, services(request).settings.api_max_request_bytes)
    try:
        body = model.model_validate_json(raw)
    except PydanticValidationError as error:
        raise RequestValidationError(error.errors(include_url=False, include_input=False)) from None
    note(request.state, subject=getattr(body, "shipment_id", None))
    return body


def _schema(model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI request body of a route that reads ``model`` itself."""
    content = {"application/json": {"schema": model.model_json_schema()}}
    return {"requestBody": {"required": True, "content": content}}


@router.post("/dashboard/api/explain/late-event", openapi_extra=_schema(LateEventBody))
async def late_event(request: Request, _key: ReadKey) -> Any:
    """Simulate a late event on a copy of the shipment's events and explain, row by
    row, what the incremental run recomputed and what it cost. The store is unchanged."""
    body = await _body(request, LateEventBody)
    return await run_in_threadpool(_simulate_late_event, _pipeline(request), body)


def _simulate_late_event(pipeline: Pipeline, body: LateEventBody) -> Any:
    with pipeline.sandbox(body.shipment_id) as scratch:
        shipment_id = scratch.shipment_id(body.shipment_id)
        before = scratch.timeline(shipment_id)
        plan = explain.plan_late_event(before, body.position, body.event_type, body.location_id)
        ingested = scratch.ingest_records([plan.record], "dashboard:simulation")
        if ingested.accepted != 1:
            raise ApiError(422, "not_accepted", f"the late event was refused: {ingested.errors}")
        started = time.perf_counter()
        run = scratch.incremental().as_dict()
        run_ms = (time.perf_counter() - started) * 1000
        after = scratch.timeline(shipment_id)
    return jsonable(
        {
            "simulated": True,
            "event": plan.record,
            "run_ms": run_ms,
            "run": run,
            "cost": explain.cost(run, _store_rows(pipeline) + 1),
            "before": before,
            "after": after,
            "rows": explain.compare_rows(before, after, plan.event_id),
        }
    )


def _store_rows(pipeline: Pipeline) -> int:
    """The rows of the user's timeline view: what a full recompute of it writes."""
    return pipeline.status().checkpoint.view_rows


@router.post("/dashboard/api/explain/recovery", openapi_extra=_schema(ReplayBody))
async def recovery(request: Request, _key: ReadKey) -> Any:
    """Simulate a replay from one of a shipment's events, or a rebuild, on a copy of
    its events and explain the rows. The store is unchanged."""
    body = await _body(request, ReplayBody)
    return await run_in_threadpool(_simulate_recovery, _pipeline(request), body)


def _simulate_recovery(pipeline: Pipeline, body: ReplayBody) -> Any:
    with pipeline.sandbox(body.shipment_id) as scratch:
        shipment_id = scratch.shipment_id(body.shipment_id)
        before = scratch.timeline(shipment_id)
        if body.mode == "replay":
            replay_from = before[min(body.position, len(before)) - 1]["event_timestamp"]
            result = scratch.incremental(replay_from)
        else:
            replay_from = None
            result = scratch.base(rebuild=True)
        after = scratch.timeline(shipment_id)
    run = result.as_dict()
    return jsonable(
        {
            "simulated": True,
            "mode": body.mode,
            "replay_from": replay_from,
            "run": run,
            "cost": explain.cost(run, _store_rows(pipeline)),
            "before": before,
            "after": after,
            "rows": explain.compare_rows(
                before, after, unchanged_reason=explain.UNCHANGED_REASONS[body.mode]
            ),
        }
    )
