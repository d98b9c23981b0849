"""Read routes: a shipment's timeline and summary, and the pipeline's status."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Request

from shipline.api.auth import ReadKey
from shipline.api.state import services
from shipline.jsonable import jsonable

router = APIRouter(tags=["read"])


@router.get("/v1/shipments/{shipment_id:path}/timeline")
def get_timeline(request: Request, shipment_id: str, _key: ReadKey) -> Any:
    """The shipment's rows of the real-time view, in order."""
    pipeline = services(request).pipeline
    timeline = pipeline.timeline(shipment_id)
    return jsonable(
        {
            "shipment_id": timeline[0]["shipment_id"],
            "timeline": timeline,
            "estimates": pipeline.estimates(shipment_id),
            "prediction": pipeline.prediction(shipment_id),
            "references": pipeline.references(shipment_id),
        }
    )


@router.get("/v1/shipments/{shipment_id:path}")
def get_shipment(request: Request, shipment_id: str, _key: ReadKey) -> Any:
    """The shipment's performance metrics (shipment_summary) and predicted delivery."""
    return jsonable(services(request).pipeline.summary(shipment_id))


@router.get("/v1/status")
def get_status(request: Request, _key: ReadKey) -> Any:
    """Checkpoint, counts, lag, and the processor's own figures."""
    found = services(request)
    data = found.pipeline.status().as_dict()
    stats = found.processor.stats
    data["processor"] = {
        "running": found.processing,
        "waiting_events": found.processor.pending,
        "runs": stats.runs,
        "failures": stats.failures,
        "base_runs": stats.base_runs,
        "last_error": stats.last_error,
    }
    data["group_commits"] = asdict(found.ingest_queue.stats)
    return jsonable(data)
